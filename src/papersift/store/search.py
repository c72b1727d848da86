"""Search's reads: BM25 over the full-text index, papers by rowid, and whether a model has vectors;
and the log of full-text rows written, which a lexical index beside the store follows.

Nothing here writes but that log. The query text given to :meth:`SearchQueries.bm25_ranking` must already be a safe FTS5 expression (see ``papersift.search.hybrid.fts_query``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from .base import Connection, now


def _ranked(rows) -> list[tuple[int, float]]:
    return [(r[0], float(r[1])) for r in rows]


def best_allowed(
    rank: Callable[[int], list[tuple[int, float]]], allowed: np.ndarray, depth: int, fetch: int
) -> list[tuple[int, float]]:
    """The ``depth`` best of a ranking among the sorted rowids ``allowed``, read from the unfiltered
    ranking (``rank(n)``: its ``n`` best, from ``fetch`` on): the others dropped, four times deeper
    until ``depth`` are left or the ranking runs out. The same list as the filtered ranking, without
    naming every allowed rowid to the engine."""
    if len(allowed) == 0:
        return []
    while True:
        ranked = rank(fetch)
        found = np.fromiter((rowid for rowid, _ in ranked), dtype=np.int64, count=len(ranked))
        position = np.searchsorted(allowed, found).clip(max=len(allowed) - 1)
        kept = [pair for pair, ok in zip(ranked, allowed[position] == found) if ok]
        if len(kept) >= depth or len(ranked) < fetch:
            return kept[:depth]
        fetch *= 4


LEXICAL_STATE = ("lexical", "index")  # the sync_state row that says a lexical index is kept


class SearchQueries(Connection):
    """Search's reads, and the lexical change log."""

    def log_lexical_changes(self, rowids: list[int]) -> None:
        """Note the papers whose full-text row was just written, where a lexical index is kept (one
        statement: nothing is noted for a store without one)."""
        self.conn.execute(
            "INSERT INTO lexical_changes (paper_rowid) SELECT value FROM json_each(?)"
            " WHERE EXISTS (SELECT 1 FROM sync_state WHERE source = ? AND key = ?)",
            (json.dumps(list(rowids)), *LEXICAL_STATE),
        )

    def keep_lexical_log(self) -> int:
        """Start noting full-text writes for a lexical index; the last change noted so far, which
        an index built from the rows read after this already holds."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO sync_state (source, key, value, updated_at) VALUES (?, ?, '', ?)",
                (*LEXICAL_STATE, now()),
            )
            return self.last_lexical_change()

    def last_lexical_change(self) -> int:
        return self.conn.execute("SELECT coalesce(max(seq), 0) FROM lexical_changes").fetchone()[0]

    def lexical_changes_after(self, seq: int) -> tuple[list[int], int]:
        """The papers whose full-text row was written after change ``seq``, and the last change."""
        rows = self.conn.execute("SELECT seq, paper_rowid FROM lexical_changes WHERE seq > ?", (seq,)).fetchall()
        return list(dict.fromkeys(r[1] for r in rows)), max((r[0] for r in rows), default=seq)

    def trim_lexical_changes(self, through: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM lexical_changes WHERE seq <= ?", (through,))

    def fulltext_rows(self, rowids: list[int] | None = None):
        """(rowid, title, abstract, keywords, translated) of the full-text index, as it holds them
        (words already segmented): every row, or those of ``rowids``."""
        columns = "SELECT rowid, title, abstract, keywords, translated FROM papers_fts"
        if rowids is None:
            return self.conn.execute(columns)
        return self.conn.execute(f"{columns} WHERE rowid IN (SELECT value FROM json_each(?))", (json.dumps(rowids),))

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
            return best_allowed(
                lambda n: _ranked(self.conn.execute(f"{matches} ORDER BY score DESC LIMIT ?", (match, n))),
                allowed,
                depth,
                2 * depth,
            )
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
