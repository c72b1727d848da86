"""Vector search at arXiv scale, measured before choosing (issue 27): what each way of holding and
scanning a million 512-d vectors costs in memory, time and recall, on this machine, in one run.

The vectors are synthetic, made to have the statistics of the real ones: multilingual USE vectors
of 300 papers of ``catalog-dev.jsonl`` have a mean whose norm is 0.71, so two unrelated ML
papers sit at cosine 0.50 on average and a paper's nearest neighbour among 300 at 0.71. Here a
vector is ``normalise(a·mean + b·topic + e·noise)`` with a² = 0.5, b² = 0.25, e² = 0.25 and a topic
for every 50 papers: unrelated papers at cosine 0.50, papers of one topic at 0.75. The queries are
new vectors drawn the same way. Embedding a million real abstracts would take days on 2 cores.

Compared, each against exact float32 search of the same matrix (which defines recall@10):

- ``float32 exact``: ``vectors @ q``, what papersift does today;
- ``int8 scan + float32 rescoring``: the matrix as int8 (a quarter of the memory), scanned in
  blocks, the best 100 rescored with their float32 vectors read from a file on disk;
- ``binary + int8 rescoring``: one bit a dimension of the centred vector (1/32 of the memory),
  Hamming distance by ``numpy.bitwise_count``, the best ``R`` rescored with the int8 matrix;
- ``binary + float32 rescoring (disk)``: the same, rescored from the float32 file, so that only the
  bits are held in memory;
- ANN indexes from the package index, when installed (``pip install -e '.[bench]'``): faiss
  ``IndexHNSWFlat`` and usearch's HNSW with int8 vectors.

    python bench/vectors.py                       # 100,000 and 1,000,000 vectors
    python bench/vectors.py --sizes 100000 --write  # and replace "## Vector index" in bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from results import write_section

DIM = 512
PER_TOPIC = 50
K = 10
QUERIES = 200
RESCORE = 100  # candidates an int8 scan hands to float32 rescoring
BLOCK = 65_536  # rows upcast at a time: the scan's working memory stays a few MB
ANN_LIMIT = 300_000  # HNSW builds above this take longer than a bench run here


def synthetic(n: int, seed: int, mean: np.ndarray, topics: np.ndarray) -> np.ndarray:
    """``n`` unit vectors with the real vectors' cosine statistics (see the module)."""
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(topics), size=n)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, BLOCK):
        rows = slice(start, min(n, start + BLOCK))
        noise = rng.standard_normal((rows.stop - rows.start, DIM)).astype(np.float32) / np.sqrt(DIM)
        block = np.sqrt(0.5) * mean + np.sqrt(0.25) * topics[which[rows]] + np.sqrt(0.25) * noise
        out[rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def unit(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    v = rng.standard_normal(shape).astype(np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def top(scores: np.ndarray, k: int) -> np.ndarray:
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best], kind="stable")]


class Exact:
    name = "float32 exact (today)"

    def __init__(self, vectors: np.ndarray, _: Path):
        self.vectors = vectors

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return top(self.vectors @ q, k)

    def nbytes(self) -> int:
        return self.vectors.nbytes


class Int8:
    name = f"int8 scan + float32 rescoring of {RESCORE} (disk)"

    def __init__(self, vectors: np.ndarray, folder: Path):
        self.scale = 127.0 / float(np.abs(vectors).max())
        self.codes = np.round(vectors * self.scale).astype(np.int8)
        self.disk = on_disk(vectors, folder)

    def scan(self, q: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [self.codes[i : i + BLOCK].astype(np.float32) @ q for i in range(0, len(self.codes), BLOCK)]
        )

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        candidates = np.sort(top(self.scan(q), RESCORE))
        return candidates[top(self.disk[candidates] @ q, k)]

    def nbytes(self) -> int:
        return self.codes.nbytes


class Binary:
    def __init__(self, vectors: np.ndarray, folder: Path, rescore: int, from_disk: bool):
        self.centre = vectors.mean(axis=0)
        self.bits = np.packbits(vectors - self.centre > 0, axis=1).view(np.uint64)
        self.rescore = rescore
        self.from_disk = from_disk
        self.name = f"binary + {'float32 (disk)' if from_disk else 'int8'} rescoring of {rescore}"
        if from_disk:
            self.rows = on_disk(vectors, folder)
        else:
            scale = 127.0 / float(np.abs(vectors).max())
            self.rows = np.round(vectors * scale).astype(np.int8)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        code = np.packbits(q - self.centre > 0).view(np.uint64)
        distance = np.bitwise_count(self.bits ^ code).sum(axis=1, dtype=np.uint16)
        candidates = np.sort(np.argpartition(distance, self.rescore - 1)[: self.rescore])
        return candidates[top(self.rows[candidates].astype(np.float32) @ q, k)]

    def nbytes(self) -> int:
        return self.bits.nbytes + (0 if self.from_disk else self.rows.nbytes)


class Faiss:
    name = "faiss IndexHNSWFlat (M 32, efSearch 64)"

    def __init__(self, vectors: np.ndarray, _: Path):
        import faiss

        faiss.omp_set_num_threads(os.cpu_count() or 1)
        self.index = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 80
        self.index.add(vectors)
        self.index.hnsw.efSearch = 64
        self.n = len(vectors)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(q[None, :], k)[1][0]

    def nbytes(self) -> int:
        return self.n * (DIM * 4 + 32 * 2 * 4)  # vectors and about 2·M links a vector


class USearch:
    name = "usearch HNSW, int8 vectors (connectivity 16)"

    def __init__(self, vectors: np.ndarray, _: Path):
        from usearch.index import Index

        self.index = Index(ndim=DIM, metric="cos", dtype="i8", connectivity=16)
        self.index.add(np.arange(len(vectors)), vectors, threads=os.cpu_count() or 1)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self.index.search(q, k).keys)

    def nbytes(self) -> int:
        return int(self.index.memory_usage)


def on_disk(vectors: np.ndarray, folder: Path) -> np.ndarray:
    """The float32 vectors as a file read on demand, as the store's blobs would be."""
    path = folder / f"vectors-{len(vectors)}.f32"
    if not path.exists():
        vectors.tofile(path)
    return np.memmap(path, dtype=np.float32, mode="r", shape=vectors.shape)


def measure(make: Callable[[], object], queries: np.ndarray, truth: list[np.ndarray]) -> dict:
    started = time.perf_counter()
    index = make()
    built = time.perf_counter() - started
    times, recalls = [], []
    for q, expected in zip(queries, truth):
        t = time.perf_counter()
        found = index.search(q, K)
        times.append(time.perf_counter() - t)
        recalls.append(len(set(found.tolist()) & set(expected.tolist())) / K)
    return {
        "name": index.name,
        "build_s": built,
        "p50_ms": float(np.percentile(times, 50)) * 1000,
        "p95_ms": float(np.percentile(times, 95)) * 1000,
        "recall_at_10": float(np.mean(recalls)),
        "mib": index.nbytes() / 2**20,
    }


def installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def run(n: int, folder: Path) -> list[dict]:
    rng = np.random.default_rng(0)
    mean = unit(rng, (DIM,))
    topics = unit(rng, (max(1, n // PER_TOPIC), DIM))
    vectors = synthetic(n, 1, mean, topics)
    queries = synthetic(QUERIES, 2, mean, topics)
    truth = [top(vectors @ q, K) for q in queries]
    makers: list[Callable[[], object]] = [
        lambda: Exact(vectors, folder),
        lambda: Int8(vectors, folder),
        *(lambda r=r: Binary(vectors, folder, r, from_disk=False) for r in (200, 1000)),
        lambda: Binary(vectors, folder, 1000, from_disk=True),
    ]
    if n <= ANN_LIMIT:
        makers += [
            m
            for m, module in ((lambda: Faiss(vectors, folder), "faiss"), (lambda: USearch(vectors, folder), "usearch"))
            if installed(module)
        ]
    rows = []
    for make in makers:
        row = measure(make, queries, truth)
        rows.append({"papers": n, **row})
        print(
            f"{n:>9,} {row['name']:<50} recall {row['recall_at_10']:.3f} p50 {row['p50_ms']:.1f} ms"
            f" p95 {row['p95_ms']:.1f} ms {row['mib']:.0f} MiB build {row['build_s']:.1f} s",
            flush=True,
        )
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "## Vector index",
        "",
        f"`python bench/vectors.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()},"
        f" {os.cpu_count()} cores, load average at the end {' / '.join(f'{x:.1f}' for x in os.getloadavg())}."
        " Synthetic 512-d unit vectors with the real USE vectors' cosine statistics (module docstring); 200 new"
        " vectors as queries, one at a time; recall@10 against exact float32 search of the same matrix; memory is"
        " what the method holds in RAM (a file read on demand is not counted); ANN indexes only where installed and"
        f" up to {ANN_LIMIT:,} vectors. The float32 file the rescoring reads was written just before, so its reads"
        " came from the page cache: from a cold disk each query reads its candidates' rows (2 KiB each) at random."
        " hnswlib (an sdist that needs a compiler) and sqlite-vec (measured slower than numpy here before, see"
        " Search) are not in the table.",
        "",
        "| vectors | method | recall@10 | p50 ms | p95 ms | memory MiB | build s |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['papers']:,} | {r['name']} | {r['recall_at_10']:.3f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} |"
        f" {r['mib']:.0f} | {r['build_s']:.1f} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--write", action="store_true", help="replace '## Vector index' in bench/RESULTS.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            rows += run(n, Path(tmp))
    text = markdown(rows)
    print(text)
    if args.write:
        write_section("Vector index", text)


if __name__ == "__main__":
    main()
