"""Enrichments: each paper's card in a reader's language, and its deep-dive articles.

Owns ``enrichments`` (one a paper and language, the JSON of :class:`~papersift.models.Enrichment`;
a trigger copies a card's keywords into ``paper_keywords``) and ``deepdives`` (one a paper and
language, the JSON of the deep-dive article).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ..models import Enrichment, Paper
from .base import now
from .papers import PaperTables

PAGE = 256  # papers read at a time while a run is enriching


class EnrichmentTables(PaperTables):
    def save_enrichment(self, enrichment: Enrichment) -> None:
        """Store (or replace) a paper's enrichment in one language, and index its text for search."""
        if enrichment.created_at is None:
            enrichment = enrichment.model_copy(update={"created_at": datetime.now(UTC).replace(microsecond=0)})
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO enrichments (paper_id, lang, status, data, created_at) VALUES (?, ?, ?, ?, ?)",
                (
                    enrichment.paper_id,
                    enrichment.lang,
                    enrichment.status,
                    enrichment.model_dump_json(),
                    enrichment.created_at.isoformat(),
                ),
            )
            # Searched (and shown in snippets) only where the card passed its checks; a refused
            # card's text is cleared from the index, not left from an earlier card.
            card = enrichment.card if enrichment.status == "ok" else None
            text = " ".join([card.title, card.tldr, " ".join(card.keywords), card.digest]) if card else ""
            self.set_translated_text(enrichment.paper_id, text)

    def save_deepdive(self, paper_id: str, lang: str, data: str) -> None:
        """Store (or replace) a paper's deep-dive article in one language, as its JSON."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO deepdives (paper_id, lang, data, created_at) VALUES (?, ?, ?, ?)",
                (paper_id, lang, data, now()),
            )

    def deepdives(self, lang: str, paper_id: str | None = None) -> dict[str, str]:
        """Paper id -> the JSON of its deep-dive in ``lang`` (of one paper when ``paper_id`` is given)."""
        where, params = ("lang = ? AND paper_id = ?", (lang, paper_id)) if paper_id else ("lang = ?", (lang,))
        return dict(
            self.conn.execute(f"SELECT paper_id, data FROM deepdives WHERE {where} ORDER BY created_at DESC", params)
        )

    def enrichment(self, paper_id: str, lang: str) -> Enrichment | None:
        row = self.conn.execute(
            "SELECT data FROM enrichments WHERE paper_id = ? AND lang = ?", (paper_id, lang)
        ).fetchone()
        return Enrichment.model_validate_json(row[0]) if row else None

    def enrichment_counts(self, lang: str | None = None) -> dict[str, int]:
        """Enrichments by status (in ``lang``, else in every language), largest first."""
        rows = self.conn.execute(
            "SELECT status, count(*) FROM enrichments WHERE ? IS NULL OR lang = ? GROUP BY status ORDER BY 2 DESC",
            (lang, lang),
        )
        return {str(k): n for k, n in rows}

    def enrichments_of(self, paper_id: str) -> list[tuple[str, str, str]]:
        """(language, status, JSON of the enrichment) of each of the paper's enrichments."""
        return self.conn.execute(
            "SELECT lang, status, data FROM enrichments WHERE paper_id = ?", (paper_id,)
        ).fetchall()

    def deepdives_of(self, paper_id: str) -> dict[str, str]:
        """Language -> the JSON of the paper's deep-dive in it."""
        return dict(self.conn.execute("SELECT lang, data FROM deepdives WHERE paper_id = ?", (paper_id,)))

    def usable_enrichment_langs(self, paper_id: str) -> list[str]:
        """The languages the paper has an enrichment in that did not fail, in order."""
        rows = self.conn.execute(
            "SELECT lang FROM enrichments WHERE paper_id = ? AND status != 'failed' ORDER BY lang", (paper_id,)
        )
        return [lang for (lang,) in rows]

    def usably_enriched_papers(self) -> set[str]:
        """The papers with an enrichment that did not fail, in any language."""
        return {r[0] for r in self.conn.execute("SELECT DISTINCT paper_id FROM enrichments WHERE status != 'failed'")}

    def card_sources(self, lang: str) -> Iterator[tuple[str, str, Paper]]:
        """(paper id, hash of the text its card in ``lang`` was written from, the paper now) of each
        card that did not fail and recorded that hash."""
        rows = self.conn.execute(
            "SELECT e.paper_id, json_extract(e.data, '$.source_hash'), p.data FROM enrichments e JOIN papers p ON p.id = e.paper_id"
            " WHERE e.lang = ? AND e.status != 'failed' AND json_extract(e.data, '$.source_hash') IS NOT NULL",
            (lang,),
        )
        for paper_id, recorded, data in rows:
            yield paper_id, recorded, Paper.model_validate_json(data)

    def enrichments_with_abstracts(self) -> Iterator[tuple[str | None, str]]:
        """(the paper's abstract, JSON of the enrichment) of every enrichment, in any language."""
        yield from self.conn.execute(
            "SELECT json_extract(p.data, '$.abstract'), e.data FROM enrichments e JOIN papers p ON p.id = e.paper_id"
        )

    def papers_to_enrich(
        self,
        lang: str,
        run_id: int,
        *,
        force: bool = False,
        paper_ids: list[str] | None = None,
        subarea: str | None = None,
        source: str | None = None,
        limit: int | None = None,
    ) -> tuple[Iterator[Paper], int]:
        """The papers run ``run_id`` still has to do in ``lang`` (of these ids, sub-area, source: when
        given), at most ``limit``, streamed; and how many they are. Unless ``force``, a paper with a
        card that did not fail is done (a failed one is tried again by a later run)."""
        conditions = ["id NOT IN (SELECT item FROM run_items WHERE run_id = ?)"]  # what this run already did
        params: list[Any] = [run_id]
        if not force:
            conditions.append(
                "NOT EXISTS (SELECT 1 FROM enrichments e WHERE e.paper_id = papers.id AND e.lang = ? AND e.status != 'failed')"
            )
            params.append(lang)
        if paper_ids:
            conditions.append(f"id IN ({','.join('?' * len(paper_ids))})")
            params += paper_ids
        if subarea:
            conditions.append("subarea = ?")
            params.append(subarea)
        if source:
            conditions.append("source = ?")
            params.append(source)
        where = " AND ".join(conditions)
        total = self.count(where, params)
        return self._pages(where, params, limit), min(total, limit) if limit is not None else total

    def _pages(self, where: str, params: list[Any], limit: int | None) -> Iterator[Paper]:
        """The papers matching ``where``, a page at a time (keyset on rowid: no cursor stays open across writes)."""
        last, yielded = 0, 0
        while limit is None or yielded < limit:
            page = min(PAGE, limit - yielded) if limit is not None else PAGE
            rows = self.conn.execute(
                f"SELECT rowid, data FROM papers WHERE rowid > ? AND {where} ORDER BY rowid LIMIT ?",
                [last, *params, page],
            ).fetchall()
            if not rows:
                return
            for rowid, data in rows:
                last = rowid
                yielded += 1
                yield Paper.model_validate_json(data)
