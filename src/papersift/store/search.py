"""Search's reads: BM25 over the full-text index, papers by rowid, and whether a model has vectors.

Nothing here writes. The query text given to :meth:`SearchQueries.bm25_ranking` must already be a safe FTS5 expression (see ``papersift.search.hybrid.fts_query``).
"""

from __future__ import annotations

import json

import numpy as np

from .base import Connection


def _ranked(rows) -> list[tuple[int, float]]:
    return [(r[0], float(r[1])) for r in rows]


def _member(sorted_rowids: np.ndarray, rowid: int) -> bool:
    i = int(np.searchsorted(sorted_rowids, rowid))
    return i < len(sorted_rowids) and sorted_rowids[i] == rowid


class SearchQueries(Connection):
    """Search's reads (nothing here writes)."""

    def bm25_ranking(
        self,
        match: str,
        depth: int,
        weights: tuple[float, ...],
        allowed: np.ndarray | None = None,
        *,
        allowed_is_most: bool = False,
    ) -> list[tuple[int, float]]:
        """(rowid, -bm25) of the ``depth`` best matches of ``match``, best first, among the sorted
        rowids ``allowed`` when given.

        ``allowed_is_most``: the allowed papers are most of the store. Then the unfiltered best are
        read and the others dropped, deeper until ``depth`` are left (or no match is), which gives the
        same list as the filtered query without handing SQLite a list of most of the store's rowids.
        """
        bm25 = f"-bm25(papers_fts, {', '.join(str(w) for w in weights)})"
        matches = f"SELECT rowid, {bm25} AS score FROM papers_fts WHERE papers_fts MATCH ?"
        if allowed is None:
            return _ranked(self.conn.execute(f"{matches} ORDER BY score DESC LIMIT ?", (match, depth)))
        if allowed_is_most:
            fetch = 2 * depth
            while True:
                ranked = _ranked(self.conn.execute(f"{matches} ORDER BY score DESC LIMIT ?", (match, fetch)))
                kept = [(rowid, score) for rowid, score in ranked if _member(allowed, rowid)]
                if len(kept) >= depth or len(ranked) < fetch:
                    return kept[:depth]
                fetch *= 4
        # FTS5 first (materialised), then membership: SQLite would otherwise run MATCH once per allowed rowid
        return _ranked(
            self.conn.execute(
                f"WITH m AS MATERIALIZED ({matches}) SELECT rowid, score FROM m"
                " WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY score DESC LIMIT ?",
                (match, json.dumps(allowed.tolist()), depth),
            )
        )

    def paper_json_by_rowid(self, rowids: list[int]) -> dict[int, str]:
        """The stored JSON of these papers (those that exist), by rowid."""
        return self.lookup("SELECT rowid, data FROM papers WHERE rowid IN ({marks})", rowids)

    def rowid_of(self, paper_id: str) -> int | None:
        """The rowid of a paper (by its own id), as the full-text index and the vector matrix key it."""
        row = self.conn.execute("SELECT rowid FROM papers WHERE id = ?", (paper_id,)).fetchone()
        return row[0] if row else None

    def has_vectors(self, model: str) -> bool:
        """Whether any paper has a vector of ``model``."""
        return self.conn.execute("SELECT 1 FROM embeddings WHERE model = ? LIMIT 1", (model,)).fetchone() is not None
