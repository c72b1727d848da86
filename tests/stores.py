"""Stores the search and classifier tests share: a file of papers ingested and embedded, with a
cached copy so the slow embedding is done once per machine."""

from __future__ import annotations

import hashlib
from pathlib import Path

from papersift.config import cache_dir
from papersift.search import embed_store
from papersift.search.embeddings import USEEmbedder
from papersift.sources.base import ingest
from papersift.sources.files import read_jsonl
from papersift.store import MIGRATIONS, Store


def build_store(path: Path, source: Path) -> Store:
    store = Store(path)
    if store.count() == 0:
        ingest(store, read_jsonl(source), where=str(source))
    embed_store(store, USEEmbedder.shared())
    return store


def cached_store(source: Path, path: Path) -> Store:
    """A copy of an embedded store of ``source``, kept in the cache across runs (embedding the
    481 shared papers takes 15 s to minutes on a busy 2-core machine; only changes are redone)."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    schema = len(MIGRATIONS)  # a store built by an older schema is rebuilt, not trusted
    cache = cache_dir() / "test-stores" / f"{source.stem}-{digest}-v{schema}.db"  # the session's (conftest)
    with build_store(cache, source) as built, Store(path) as copy:
        built.conn.backup(copy.conn)
    return Store(path)
