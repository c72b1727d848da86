"""The lexical index beside a large store: BM25 top-k with block-max WAND, where FTS5 scores every match.

papersift's queries are words OR-ed, and FTS5 scores every row a query matches, with no top-k
pruning: at a million papers, 2-4 common words match most of them and a query took 311 ms at p95
(bench/lexical.py, "Lexical search at scale" in bench/RESULTS.md). Tantivy, an on-disk engine with
block-max WAND, answered the same queries in 3.3 ms (filtered: 6.9 ms against 417) from an index a
sixth of FTS5's size. Below ``INDEX_FROM`` papers FTS5 is fast enough and stays the one engine;
from there, this index.

It indexes exactly what FTS5 holds (the ``papers_fts`` rows, words already segmented) as one field
in which each column is written as many times as its BM25 weight: FTS5 weighs a column's term
counts that way, with one length for the row. Built so, it ranked a paper first for its own TL;DR
as often as FTS5 on catalog-dev.jsonl (97.6%); four boosted fields, Lucene's way, did so less often.

SQLite stays the one source of truth. The store notes every full-text write in
``lexical_changes`` once an index is kept (``Store.keep_lexical_log``); before a search the index
applies the changes after the last it applied (``meta.json``, written after the index commits)
and the store trims them. An index that is missing, damaged or of another version is rebuilt
from ``papers_fts``; while another process holds its writer, the search uses FTS5.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_atomic
from ..store import Store
from ..store.search import best_allowed
from .selection import Selection

INDEX_FROM = 100_000  # papers: below, FTS5 (its p95 at 100,000 papers is tens of milliseconds)
WEIGHTS = (3, 1, 2, 1)  # title, abstract, keywords, translated: hybrid.BM25_WEIGHTS as repetitions
VERSION = 1
WRITER_HEAP = 128 * 2**20
NAMED_MOST = 2_000  # allowed papers named to the index (a term set); more are read deeper and dropped


def index_folder(db: Path) -> Path:
    return db.with_name(db.name + ".lexical")


def weighted(title: str, abstract: str, keywords: str, translated: str) -> str:
    return " ".join(
        " ".join([text] * weight) for text, weight in zip((title, abstract, keywords, translated), WEIGHTS) if text
    )


@dataclass
class LexicalIndex:
    folder: Path
    index: object  # tantivy.Index
    schema: object  # tantivy.Schema
    through: int  # the last change of the store's log this index holds

    def ranking(self, match: str, depth: int, allowed: Selection) -> list[tuple[int, float]]:
        """(rowid, BM25) of the ``depth`` best papers for an FTS5 MATCH expression of quoted words
        and phrases OR-ed (``hybrid.fts_query``: Tantivy's query language reads it the same way),
        among the ``allowed``: a few named to the index, more by reading deeper and dropping the
        others (a filter a twentieth of the store passes reads about twenty times as deep)."""
        import tantivy

        query = self.index.parse_query(match, ["text"])
        searcher = self.index.searcher()
        if allowed.rowids is None:
            return self._best(searcher, query, depth)
        if len(allowed.rowids) <= NAMED_MOST:
            rowids = tantivy.Query.term_set_query(self.schema, "rowid", allowed.rowids.tolist())
            both = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, rowids)])
            return self._best(searcher, both, depth)
        share = len(allowed.rowids) / max(1, searcher.num_docs)
        fetch = min(searcher.num_docs, math.ceil(depth / share * 1.5))
        return best_allowed(lambda n: self._best(searcher, query, n), allowed.rowids, depth, fetch)

    @staticmethod
    def _best(searcher, query, depth: int) -> list[tuple[int, float]]:
        hits = searcher.search(query, depth, count=False).hits
        # the rowids from their fast field, a column: reading each hit's stored document was most of the time
        rowids = searcher.fast_field_values("rowid", [address for _, address in hits])
        return [(rowid, score) for rowid, (score, _) in zip(rowids, hits)]

    @property
    def size_bytes(self) -> int:
        return _bytes_in(self.folder)


def _bytes_in(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _schema():
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("rowid", stored=True, indexed=True, fast=True)
    builder.add_text_field("text", tokenizer_name="default")
    return builder.build()


def _document(row):
    import tantivy

    rowid, *columns = row
    return tantivy.Document(rowid=rowid, text=weighted(*columns))


def _write_meta(folder: Path, through: int) -> None:
    write_atomic(folder / "meta.papersift.json", json.dumps({"version": VERSION, "through": through}))


def _read_meta(folder: Path) -> dict | None:
    try:
        meta = json.loads((folder / "meta.papersift.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if meta.get("version") == VERSION else None


def build_index(store: Store) -> LexicalIndex:
    """A new index of every full-text row, replacing whatever the folder held."""
    import tantivy

    through = store.keep_lexical_log()  # writes from now on are noted: none is lost while this reads
    folder = index_folder(store.path)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    schema = _schema()
    index = tantivy.Index(schema, path=str(folder))
    writer = index.writer(WRITER_HEAP, 1)
    for row in store.fulltext_rows():
        writer.add_document(_document(row))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    _write_meta(folder, through)
    store.trim_lexical_changes(through)
    return LexicalIndex(folder, index, schema, through)


def open_index(store: Store) -> LexicalIndex | None:
    """The index in its folder, or None where it is missing, damaged or of another version."""
    import tantivy

    folder = index_folder(store.path)
    meta = _read_meta(folder)
    if meta is None:
        return None
    try:
        index = tantivy.Index.open(str(folder))
    except (ValueError, OSError):
        return None
    return LexicalIndex(folder, index, index.schema, meta["through"])


def update_index(store: Store, lexical: LexicalIndex) -> LexicalIndex:
    """The index with the store's full-text writes since it was last brought up to date."""
    rowids, through = store.lexical_changes_after(lexical.through)
    if through == lexical.through:
        return lexical
    writer = lexical.index.writer(WRITER_HEAP, 1)  # ValueError while another process holds it
    for rowid in rowids:
        writer.delete_documents_by_term("rowid", rowid)
    for row in store.fulltext_rows(rowids):
        writer.add_document(_document(row))
    writer.commit()
    writer.wait_merging_threads()
    lexical.index.reload()
    _write_meta(lexical.folder, through)
    store.trim_lexical_changes(through)
    return LexicalIndex(lexical.folder, lexical.index, lexical.schema, through)


_cache: dict[str, LexicalIndex] = {}
_cache_lock = threading.Lock()


def lexical_index(store: Store) -> LexicalIndex | None:
    """The up-to-date index for the store's searches, built or brought up to date first; None below
    ``INDEX_FROM`` papers, without Tantivy installed, or while another process writes the index,
    where FTS5 answers."""
    try:
        import tantivy  # noqa: F401  (optional: FTS5 answers without it)
    except ImportError:
        return None
    if store.max_rowid() < INDEX_FROM:  # papers are never deleted: the count, without counting
        return None
    key = str(store.path.resolve())
    with _cache_lock, _writing(store) as ours:
        if not ours:  # another process builds or updates it just now
            return None
        lexical = _cache.get(key)
        meta = _read_meta(index_folder(store.path))
        if lexical is None or meta is None or meta["through"] != lexical.through:
            lexical = open_index(store)  # opened afresh: it sees what another process committed
        try:
            lexical = build_index(store) if lexical is None else update_index(store, lexical)
        except ValueError:  # its writer is another's just now (Tantivy's own lock)
            return None
        _cache[key] = lexical
        return lexical


@contextlib.contextmanager
def _writing(store: Store) -> Iterator[bool]:
    """Whether this process may build or update the index: a lock file beside it, not waited for
    (a search does not wait on another process's build; FTS5 answers it meanwhile)."""
    with open(store.path.with_name(store.path.name + ".lexical.lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def lexical_summary(store: Store) -> dict:
    """What answers lexical queries, for ``papersift stats``."""
    folder = index_folder(store.path)
    meta = _read_meta(folder)
    if meta is None:
        return {"engine": "fts5", "index_from": INDEX_FROM}
    return {"engine": "tantivy", "folder": str(folder), "bytes": _bytes_in(folder), "through": meta["through"]}
