"""The catalog's reads: the narrow columns its filters and facets are built from, papers by id or
rowid for a page, and the counts of the stats, digest index and about pages.

Nothing here writes: the tables belong to the other modules; these are the catalog's views of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from sqlite3 import Cursor

from .base import Connection

ROWS_A_CHUNK = 100_000


def _chunks(cursor: Cursor) -> Iterator[list]:
    while rows := cursor.fetchmany(ROWS_A_CHUNK):
        yield rows


class CatalogQueries(Connection):
    """The catalog's reads (nothing here writes)."""

    # --- the catalog's columns -------------------------------------------------------------------------

    def facet_rows(self) -> Iterator[list[tuple[int, str | None, str | None, str | None, str | None, str | None]]]:
        """(rowid, area, subarea, source, venue, published) of every paper, from the narrow
        ``paper_facets``, ``ROWS_A_CHUNK`` at a time: a million papers as one list of tuples took
        more memory than all the catalog's arrays."""
        yield from _chunks(self.conn.execute("SELECT rowid, area, subarea, source, venue, published FROM paper_facets"))

    def keyword_rows(self, lang: str) -> Iterator[list[tuple[int, str]]]:
        """(paper rowid, keyword): the source's keywords and the cards' in ``lang``, ``ROWS_A_CHUNK`` at a time."""
        yield from _chunks(
            self.conn.execute("SELECT paper_rowid, keyword FROM paper_keywords WHERE origin IN ('source', ?)", (lang,))
        )

    def enrichment_status_rows(self, lang: str) -> list[tuple[int, str]]:
        """(paper rowid, enrichment status) of the papers enriched in ``lang``."""
        return self.conn.execute(
            "SELECT p.rowid, e.status FROM enrichments e CROSS JOIN papers p ON p.id = e.paper_id WHERE e.lang = ?",
            (lang,),
        ).fetchall()

    def curation_rows(self) -> list[tuple[int, int, int, int]]:
        """(paper rowid, starred, read, hidden) of every paper a reader has marked."""
        return self.conn.execute(
            "SELECT p.rowid, c.starred, c.read, c.hidden FROM curation c CROSS JOIN papers p ON p.id = c.paper_id"
        ).fetchall()

    def any_hidden(self) -> bool:
        """Whether a reader has hidden any paper (if not, the default filter keeps every paper)."""
        return self.conn.execute("SELECT 1 FROM curation WHERE hidden = 1 LIMIT 1").fetchone() is not None

    def change_counters(self) -> dict[str, int]:
        """The store's change counters (papers, enrichments, curation), moved by triggers on every write."""
        return dict(self.conn.execute("SELECT part, n FROM change_counters"))

    # --- papers by id or rowid -------------------------------------------------------------------------

    def ids_by_rowid(self, rowids: list[int]) -> dict[int, str]:
        return self.lookup("SELECT rowid, id FROM papers WHERE rowid IN ({marks})", rowids)

    def rowids_by_id(self, ids: list[str]) -> dict[str, int]:
        return self.lookup("SELECT id, rowid FROM papers WHERE id IN ({marks})", ids)

    def paper_json_by_id(self, ids: list[str]) -> dict[str, str]:
        """The stored JSON of these papers (those that exist), by id."""
        return self.lookup("SELECT id, data FROM papers WHERE id IN ({marks})", ids)

    # --- the stats and digest index pages --------------------------------------------------------------

    def day_counts(self, limit: int) -> dict[str, int]:
        """Papers per day, newest ``limit`` days: the published date, else (undated papers) the day stored."""
        days: dict[str, int] = dict(
            self.conn.execute(
                "SELECT published, count(*) FROM papers WHERE published IS NOT NULL GROUP BY 1 ORDER BY 1 DESC LIMIT ?",
                (limit,),
            )
        )
        # undated papers are few; their day is the day they were stored (as the digest has it)
        for day, n in self.conn.execute(
            "SELECT substr(created_at, 1, 10), count(*) FROM papers WHERE published IS NULL GROUP BY 1"
        ):
            days[day] = days.get(day, 0) + n
        return days

    def keyword_counts(self, lang: str, after: str, until: str) -> dict[str, int]:
        """Papers per keyword (the source's and the cards' in ``lang``) published in (``after``, ``until``]."""
        return dict(
            self.conn.execute(
                "SELECT keyword, count(*) FROM paper_keywords WHERE origin IN ('source', ?) AND paper_rowid IN "
                "(SELECT rowid FROM papers WHERE published > ? AND published <= ?) GROUP BY 1",
                (lang, after, until),
            )
        )

    def newest_published(self) -> str | None:
        """The latest published date (ISO), or None when no paper has one."""
        return self.conn.execute("SELECT max(published) FROM papers").fetchone()[0]

    def subarea_counts(self) -> list[tuple[str | None, int]]:
        """(sub-area, papers), largest first."""
        return self.conn.execute("SELECT subarea, count(*) FROM papers GROUP BY 1 ORDER BY 2 DESC").fetchall()

    # --- the about page: what the LLM cost -------------------------------------------------------------

    def llm_cost_by_model(self) -> list[tuple]:
        """(backend, model, calls, errors, tokens_in, tokens_out, tokens_reasoning, cost, seconds) per
        (backend, model) of the LLM log, most calls first."""
        return self.conn.execute(
            "SELECT backend, model, count(*), count(error), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), "
            "coalesce(sum(tokens_reasoning), 0), sum(cost), coalesce(sum(duration), 0) FROM llm_calls GROUP BY 1, 2 ORDER BY 3 DESC"
        ).fetchall()

    def run_costs(self, limit: int = 30) -> list[tuple]:
        """(id, kind, status, started_at, finished_at, calls, tokens_in, tokens_out, cost) of the latest
        ``limit`` runs, newest first, with their LLM calls summed."""
        return self.conn.execute(
            "SELECT r.id, r.kind, r.status, r.started_at, r.finished_at, count(l.id), coalesce(sum(l.tokens_in), 0), "
            "coalesce(sum(l.tokens_out), 0), sum(l.cost) FROM runs r LEFT JOIN llm_calls l ON l.run_id = r.id "
            "GROUP BY r.id ORDER BY r.id DESC LIMIT ?",
            (limit,),
        ).fetchall()
