"""Enrichments: each paper's card in a reader's language, and its deep-dive articles.

Owns ``enrichments`` (one a paper and language, the JSON of :class:`~papersift.models.Enrichment`;
a trigger copies a card's keywords into ``paper_keywords``) and ``deepdives`` (one a paper and
language, the JSON of the deep-dive article).
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..models import Enrichment
from .base import now
from .papers import PaperTables


class EnrichmentTables(PaperTables):
    def save_enrichment(self, enrichment: Enrichment) -> None:
        """Store (or replace) a paper's enrichment in one language, and index its text for search."""
        if enrichment.created_at is None:
            enrichment = enrichment.model_copy(update={"created_at": datetime.now(UTC).replace(microsecond=0)})
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO enrichments (paper_id, lang, status, data, created_at) VALUES (?, ?, ?, ?, ?)",
                (enrichment.paper_id, enrichment.lang, enrichment.status, enrichment.model_dump_json(),
                 enrichment.created_at.isoformat()),
            )
            if enrichment.card:
                card = enrichment.card
                self.set_translated_text(
                    enrichment.paper_id, " ".join([card.title, card.tldr, " ".join(card.keywords), card.digest])
                )

    def save_deepdive(self, paper_id: str, lang: str, data: str) -> None:
        """Store (or replace) a paper's deep-dive article in one language, as its JSON."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO deepdives (paper_id, lang, data, created_at) VALUES (?, ?, ?, ?)",
                       (paper_id, lang, data, now()))

    def deepdives(self, lang: str, paper_id: str | None = None) -> dict[str, str]:
        """Paper id -> the JSON of its deep-dive in ``lang`` (of one paper when ``paper_id`` is given)."""
        where, params = ("lang = ? AND paper_id = ?", (lang, paper_id)) if paper_id else ("lang = ?", (lang,))
        return dict(self.conn.execute(f"SELECT paper_id, data FROM deepdives WHERE {where} ORDER BY created_at DESC", params))

    def enrichment(self, paper_id: str, lang: str) -> Enrichment | None:
        row = self.conn.execute(
            "SELECT data FROM enrichments WHERE paper_id = ? AND lang = ?", (paper_id, lang)
        ).fetchone()
        return Enrichment.model_validate_json(row[0]) if row else None

    def enrichment_counts(self) -> dict[str, int]:
        """Enrichments by status."""
        return {str(k): n for k, n in self.conn.execute("SELECT status, count(*) FROM enrichments GROUP BY status")}
