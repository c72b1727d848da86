"""Vectors: each paper's embedding, per model, with the hash of the text it was made from.

Owns ``embeddings`` (float32 vectors as blobs; rows of papers the reader's library holds but
the store does not are keyed by a ``library:`` id instead of a paper id).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from .base import Connection, batched

CHUNK = 500  # ids a query binds at once


class VectorTables(Connection):
    def save_vectors(self, model: str, vectors: Iterable[tuple[str, str, bytes]]) -> None:
        """Store (or replace) ``(paper_id, content_hash, vector blob)`` of ``model``."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO embeddings (paper_id, model, content_hash, vector) VALUES (?, ?, ?, ?)",
                [(paper_id, model, digest, blob) for paper_id, digest, blob in vectors],
            )

    def vector_hashes(self, model: str) -> dict[str, str]:
        """Paper id -> the hash of the text its vector of ``model`` was made from."""
        return dict(self.conn.execute("SELECT paper_id, content_hash FROM embeddings WHERE model = ?", (model,)))

    def vector_blobs(self, model: str, paper_ids: list[str]) -> Iterator[tuple[str, bytes]]:
        """(paper id, vector blob) of those of these papers that have a vector of ``model``."""
        for chunk in batched(paper_ids, CHUNK):
            marks = ",".join("?" * len(chunk))
            yield from self.conn.execute(
                f"SELECT paper_id, vector FROM embeddings WHERE model = ? AND paper_id IN ({marks})", [model, *chunk]
            )

    def vector_chunks(self, model: str, size: int) -> Iterator[tuple[list[int], list[bytes]]]:
        """(paper rowids, vector blobs) of every stored paper with a vector of ``model``, by rowid,
        ``size`` at a time: a million vectors are read without holding them all."""
        cursor = self.conn.execute(
            "SELECT p.rowid, e.vector FROM embeddings e JOIN papers p ON p.id = e.paper_id WHERE e.model = ? ORDER BY p.rowid",
            (model,),
        )
        while rows := cursor.fetchmany(size):
            yield [r[0] for r in rows], [r[1] for r in rows]

    def vector_count(self, model: str) -> int:
        """How many stored papers have a vector of ``model`` (library rows not counted)."""
        return self.conn.execute(
            "SELECT count(*) FROM embeddings e JOIN papers p ON p.id = e.paper_id WHERE e.model = ?", (model,)
        ).fetchone()[0]

    def papers_without_vectors(self, model: str) -> int:
        """How many stored papers have no vector of ``model``."""
        return self.conn.execute(
            "SELECT count(*) FROM papers WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.paper_id = papers.id AND e.model = ?)",
            (model,),
        ).fetchone()[0]


def stored_vector_bytes(db: Path, model: str) -> int | None:
    """The size of one stored vector of ``model`` in the database file ``db``, read without opening
    it as a store; None when it holds none. Raises ``sqlite3.Error`` when the file cannot be read."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT length(vector) FROM embeddings WHERE model = ? LIMIT 1", (model,)).fetchone()
    return row[0] if row else None
