"""The vector index beside the store: a million vectors searched in tens of milliseconds, with a
tenth of their size in memory.

Chosen by measurement (bench/vectors.py, "Vector index" in bench/RESULTS.md): one sign bit a
dimension, taken from the mean vector (64 bytes for a 512-d vector), held in memory and scanned
by Hamming distance; the ``RESCORE`` nearest by bits are then scored exactly from float16 copies
of the vectors in a file that is mapped, not read, so only their rows are paged in. At a million
vectors that holds 72 MiB (codes and rowids) where the float32 matrix held 1,953 MiB, and found
the exact top 10 on the bench's vectors. HNSW indexes (faiss, usearch) answer faster still but
hold the float vectors and a graph in memory, and need native packages.

Below ``INDEX_FROM`` vectors the exact float32 matrix stays (:class:`VectorMatrix`): it is small,
and a scan of it takes a few milliseconds.

Files, in ``<database>.vectors/<model>/``: ``rowids.i64``, ``codes.u64`` and ``rows.f16`` (raw
arrays, a row a vector), and ``meta.json``, written last. The index is never stale: ``meta.json``
records the store's generation of the model's vectors (the ``embeddings`` row of ``sync_state``,
changed with every write of vectors) and their count, and an index whose generation or count does
not match the store's, or whose files are missing or of the wrong size, is rebuilt from the
``embeddings`` table. ``papersift embed`` brings it up to date at the end of its run (a re-embedded
paper's row written over, a new one appended, ``meta.json`` last): a run killed before that leaves
the old generation, and the next search rebuilds.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import write_atomic
from ..store import Store

STATE_SOURCE = "embeddings"  # sync_state row whose value changes whenever a model's vectors do
INDEX_FROM = 20_000  # vectors: below, the exact matrix (40 MB at 512-d, a 2 ms scan)
RESCORE = 1_000  # candidates by Hamming distance scored exactly
BUILD_CHUNK = 20_000
UPDATE_MOST = 100_000  # vectors an embed run brings into the index; past it, the index is rebuilt
FILES = {"rowids": ("rowids.i64", np.int64), "codes": ("codes.u64", np.uint64), "rows": ("rows.f16", np.float16)}


@dataclass(frozen=True)
class VectorMatrix:
    """Every stored vector of one model in memory, float32, keyed by the papers' rowids (as FTS5
    is): exact search, for a store below ``INDEX_FROM`` vectors or ``--exact``."""

    rowids: np.ndarray  # int64, sorted
    vectors: np.ndarray  # float32 (n, dim)
    generation: str | None

    def nearest(
        self, query: np.ndarray, depth: int, allowed: np.ndarray | None = None, exclude: Iterable[int] = ()
    ) -> list[tuple[int, float]]:
        """(rowid, cosine) of the ``depth`` nearest, best first, among ``allowed`` rowids, none of ``exclude``."""
        if len(self.rowids) == 0:
            return []
        scores = self.vectors @ query.astype(np.float32)
        keep = _mask(self.rowids, allowed, exclude)
        if keep is not None:
            scores = np.where(keep, scores, -np.inf)
        return _best(self.rowids, scores, depth)

    @property
    def memory_bytes(self) -> int:
        return self.rowids.nbytes + self.vectors.nbytes


@dataclass(frozen=True)
class VectorIndex:
    """Sign bits in memory, float16 rows mapped from disk (see the module)."""

    folder: Path
    generation: str | None
    rowids: np.ndarray  # int64 (n,), in file order
    columns: np.ndarray  # uint64 (words, n): each word of every code together, for a fast scan
    centre: np.ndarray  # float32 (dim,)
    rows: np.ndarray  # float16 (n, dim), a read-only memory map

    def nearest(
        self, query: np.ndarray, depth: int, allowed: np.ndarray | None = None, exclude: Iterable[int] = ()
    ) -> list[tuple[int, float]]:
        n = len(self.rowids)
        if n == 0 or depth < 1:
            return []
        keep = _mask(self.rowids, allowed, exclude)
        if keep is not None and int(keep.sum()) <= RESCORE:  # few pass the filters: score them all
            candidates = np.flatnonzero(keep)
        else:
            distance = self.hamming(query)
            if keep is not None:
                distance[~keep] = np.iinfo(distance.dtype).max
            count = min(max(RESCORE, depth), n)
            candidates = np.sort(np.argpartition(distance, count - 1)[:count])
            if keep is not None:
                candidates = candidates[keep[candidates]]
        scores = self.rows[candidates].astype(np.float32) @ query.astype(np.float32)
        return _best(self.rowids[candidates], scores, depth)

    def hamming(self, query: np.ndarray) -> np.ndarray:
        """Bits that differ between each code and the query's, word by word over the columns: eight
        passes over a million uint64 take a few milliseconds, a (n, 8) array summed by rows ten times more."""
        code = codes_of(query[None, :], self.centre)[0]
        distance = np.bitwise_count(self.columns[0] ^ code[0]).astype(np.uint16)
        for column, word in zip(self.columns[1:], code[1:]):
            distance += np.bitwise_count(column ^ word)
        return distance

    @property
    def memory_bytes(self) -> int:
        """What the index holds in memory; the mapped rows are the page cache's, a few pages a query."""
        return held_bytes(len(self.rowids), len(self.centre))


def held_bytes(count: int, dim: int) -> int:
    """Memory an index of ``count`` vectors of ``dim`` holds: rowids, codes and the centre."""
    return count * 8 + count * -(-dim // 64) * 8 + dim * 4


def _mask(rowids: np.ndarray, allowed: np.ndarray | None, exclude: Iterable[int]) -> np.ndarray | None:
    """Which rows may be returned; None: all of them."""
    exclude = np.fromiter(exclude, dtype=np.int64)
    if allowed is None and len(exclude) == 0:
        return None
    keep = np.isin(rowids, allowed) if allowed is not None else np.ones(len(rowids), dtype=bool)
    if len(exclude):
        keep &= ~np.isin(rowids, exclude)
    return keep


def _best(rowids: np.ndarray, scores: np.ndarray, depth: int) -> list[tuple[int, float]]:
    depth = min(depth, len(scores))
    if depth < 1:
        return []
    top = np.argpartition(-scores, depth - 1)[:depth]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(rowids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]


def codes_of(vectors: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(n, dim / 64) uint64: a bit a dimension, set where the vector is above the centre."""
    bits = np.packbits(vectors - centre > 0, axis=1)
    pad = -bits.shape[1] % 8
    if pad:
        bits = np.pad(bits, ((0, 0), (0, pad)))
    return np.ascontiguousarray(bits).view(np.uint64)


# --- the index's files -----------------------------------------------------------------------


def index_folder(db: Path, model: str) -> Path:
    return Path(f"{db}.vectors") / re.sub(r"[^\w.\-]+", "_", model)


def _meta(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def indexed_generation(store: Store, model: str) -> str | None:
    """The generation of the vectors the model's index holds; None when there is none."""
    meta = _meta(index_folder(store.path, model))
    return meta.get("generation") if meta else None


def open_index(store: Store, model: str, vectors: int | None = None) -> VectorIndex | None:
    """The model's index, or None when it is missing, damaged or not the store's vectors;
    ``vectors``: the store's count of them, where the caller has it (the count reads them all)."""
    folder = index_folder(store.path, model)
    meta = _meta(folder)
    if meta is None or meta.get("generation") != store.get_state(STATE_SOURCE, model):
        return None
    try:
        count, dim = int(meta["count"]), int(meta["dim"])
        words = -(-dim // 64)
        sizes = {"rowids": count * 8, "codes": count * words * 8, "rows": count * dim * 2}
        if any((folder / FILES[k][0]).stat().st_size != size for k, size in sizes.items()):
            return None
        if count != (store.vector_count(model) if vectors is None else vectors):
            return None
        rowids = np.fromfile(folder / FILES["rowids"][0], dtype=np.int64)
        codes = np.fromfile(folder / FILES["codes"][0], dtype=np.uint64).reshape(count, words)
        rows = np.memmap(folder / FILES["rows"][0], dtype=np.float16, mode="r", shape=(count, dim))
        centre = np.asarray(meta["centre"], dtype=np.float32)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return VectorIndex(folder, meta["generation"], rowids, np.ascontiguousarray(codes.T), centre, rows)


def build_index(
    store: Store,
    model: str,
    *,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> VectorIndex:
    """Write the model's index from the ``embeddings`` table, a chunk at a time: the store's
    vectors never sit in memory all at once."""
    folder = index_folder(store.path, model)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").unlink(missing_ok=True)  # killed while building: rebuilt next time
    generation = store.get_state(STATE_SOURCE, model)
    total = store.vector_count(model)
    if on_total:
        on_total(total)
    centre, count, dim = None, 0, 0
    handles = {k: (folder / name).open("wb") for k, (name, _) in FILES.items()}
    try:
        for rowids, vectors in store.vector_chunks(model, BUILD_CHUNK):
            matrix = np.frombuffer(b"".join(vectors), dtype=np.float32).reshape(len(vectors), -1)
            if centre is None:  # the first chunk's mean: a sample of the store, taken in rowid order
                centre, dim = matrix.mean(axis=0), matrix.shape[1]
            np.asarray(rowids, dtype=np.int64).tofile(handles["rowids"])
            codes_of(matrix, centre).tofile(handles["codes"])
            matrix.astype(np.float16).tofile(handles["rows"])
            count += len(rowids)
            if on_progress:
                on_progress(len(rowids))
    finally:
        for handle in handles.values():
            handle.close()
    centre = centre if centre is not None else np.zeros(0, dtype=np.float32)
    _write_meta(folder, model, generation, count, dim, centre)
    index = open_index(store, model, count)
    if index is None:
        raise OSError(f"the vector index in {folder} could not be read back after building it")
    return index


def _write_meta(folder: Path, model: str, generation: str | None, count: int, dim: int, centre: np.ndarray) -> None:
    meta = {"model": model, "generation": generation, "count": count, "dim": dim, "centre": centre.tolist()}
    write_atomic(folder / "meta.json", json.dumps(meta))


def update_index(store: Store, model: str, before: str | None, rows: dict[int, np.ndarray]) -> bool:
    """Bring an index that held the vectors of generation ``before`` up to the store's, with the
    ``rows`` (rowid: vector) written since: each overwrites its paper's row or is appended. False,
    leaving it to be rebuilt, when there is no such index."""
    folder = index_folder(store.path, model)
    meta = _meta(folder)
    if meta is None or meta.get("generation") != before or not rows or not meta.get("count"):
        return False
    count, dim = int(meta["count"]), int(meta["dim"])
    centre = np.asarray(meta["centre"], dtype=np.float32)
    rowids = np.fromfile(folder / FILES["rowids"][0], dtype=np.int64)
    if len(rowids) != count:
        return False
    (folder / "meta.json").unlink()  # from here until the new meta, the index is not to be trusted
    order = np.argsort(rowids)
    new = np.fromiter(rows, dtype=np.int64)
    matrix = np.stack([rows[r] for r in new]).astype(np.float32)
    positions = order[np.searchsorted(rowids, new, sorter=order).clip(max=count - 1)]  # count > 0: checked above
    known = rowids[positions] == new
    if known.any():
        codes = np.memmap(folder / FILES["codes"][0], dtype=np.uint64, mode="r+", shape=(count, -(-dim // 64)))
        stored = np.memmap(folder / FILES["rows"][0], dtype=np.float16, mode="r+", shape=(count, dim))
        codes[positions[known]] = codes_of(matrix[known], centre)
        stored[positions[known]] = matrix[known].astype(np.float16)
        codes.flush()
        stored.flush()
        del codes, stored
    added = ~known
    for key, values in (
        ("rowids", new[added]),
        ("codes", codes_of(matrix[added], centre)),
        ("rows", matrix[added].astype(np.float16)),
    ):
        with (folder / FILES[key][0]).open("ab") as handle:
            values.tofile(handle)
    _write_meta(folder, model, store.get_state(STATE_SOURCE, model), count + int(added.sum()), dim, centre)
    return True


# --- the searcher a query uses, cached per database and model ----------------------------------

_cache: dict[tuple[str, str, bool | None], VectorMatrix | VectorIndex] = {}
_cache_lock = threading.Lock()


def load_matrix(store: Store, model: str, generation: str | None = None) -> VectorMatrix:
    """The model's vectors as one float32 matrix (of the store's ``generation`` of them)."""
    rowid_chunks, vector_chunks = [], []
    for rowids, vectors in store.vector_chunks(model, BUILD_CHUNK):
        rowid_chunks.append(np.asarray(rowids, dtype=np.int64))
        vector_chunks.append(np.frombuffer(b"".join(vectors), dtype=np.float32).reshape(len(vectors), -1))
    if not rowid_chunks:
        return VectorMatrix(np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32), generation)
    return VectorMatrix(np.concatenate(rowid_chunks), np.concatenate(vector_chunks), generation)


def vector_searcher(
    store: Store, model: str, exact: bool | None = None, on_build: Callable[[], None] | None = None
) -> VectorMatrix | VectorIndex:
    """What searches the model's vectors: the exact matrix below ``INDEX_FROM`` vectors or when
    ``exact``, else the index, rebuilt first when it is missing or not the store's (``on_build``
    is told before). Cached per database until the store's vectors change."""
    generation = store.get_state(STATE_SOURCE, model)
    key = (str(store.path.resolve()), model, exact)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached.generation == generation:
            return cached
        found = None if exact else ensure_index(store, model, force=exact is False, on_build=on_build)
        _cache[key] = found or load_matrix(store, model, generation)
        return _cache[key]


def ensure_index(
    store: Store,
    model: str,
    *,
    force: bool = False,
    on_build: Callable[[], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> VectorIndex | None:
    """The model's index, built first where it is missing or behind the store; None below
    ``INDEX_FROM`` vectors unless ``force``d, where the exact matrix serves."""
    vectors = store.vector_count(model)
    if not force and vectors < INDEX_FROM:
        return None
    index = open_index(store, model, vectors)
    if index is None:
        if on_build:
            on_build()
        index = build_index(store, model, on_total=on_total, on_progress=on_progress)
    return index


def index_summary(store: Store, model: str) -> dict:
    """What holds the model's vectors for search, and its memory, for ``papersift stats``."""
    vectors = store.vector_count(model)
    folder = index_folder(store.path, model)
    meta = _meta(folder)
    summary = {"model": model, "vectors": vectors, "index_from": INDEX_FROM}
    if vectors < INDEX_FROM:
        return summary | {
            "search": "exact",
            "memory_mib": round(vectors * ((meta or {}).get("dim") or 512) * 4 / 2**20, 1),
        }
    if meta is None or meta.get("generation") != store.get_state(STATE_SOURCE, model):
        return summary | {"search": "index, rebuilt at the next search or embed", "memory_mib": None}
    count, dim = int(meta["count"]), int(meta["dim"])
    memory = held_bytes(count, dim)
    files = sum((folder / name).stat().st_size for name, _ in FILES.values() if (folder / name).exists())
    return summary | {"search": "index", "memory_mib": round(memory / 2**20, 1), "file_mib": round(files / 2**20, 1)}
