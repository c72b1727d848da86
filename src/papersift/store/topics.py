"""Topics: a paper's class as set by a model or a user, and the labels the classifier learns from.

Owns ``labels`` (every topic set by hand or by a source, kept as training labels) and
``predictions`` (each method's latest guess for a paper). The topic itself is a field of the
paper's row (:mod:`.papers`).
"""

from __future__ import annotations

from typing import Any

from ..models import Topic
from .base import now
from .papers import PaperTables


class TopicTables(PaperTables):
    def set_topic(self, paper_id: str, topic: Topic) -> None:
        """Set a paper's topic; a user's correction is also kept as a training label."""
        with self.transaction() as db:
            paper = self.get(paper_id)
            paper.topic = topic
            self._replace_data(paper)
            db.execute(
                "INSERT INTO labels (paper_id, area, subarea, origin, created_at) VALUES (?, ?, ?, ?, ?)",
                (paper_id, topic.area, topic.subarea, topic.origin, now()),
            )

    def user_corrections(self) -> dict[str, str]:
        """The latest sub-area a user gave each paper (``labels`` keeps every correction)."""
        rows = self.conn.execute(
            "SELECT paper_id, subarea FROM labels WHERE origin = 'user' AND subarea IS NOT NULL ORDER BY id"
        )
        return dict(rows.fetchall())

    def save_prediction(
        self, paper_id: str, method: str, area: str | None, subarea: str | None, confidence: float | None
    ) -> None:
        """Record (or replace) one method's prediction for a paper."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO predictions (paper_id, method, area, subarea, confidence, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (paper_id, method, area, subarea, confidence, now()),
            )

    def predictions_of(self, paper_id: str) -> list[dict[str, Any]]:
        """Each method's prediction for the paper: method, area, subarea, confidence."""
        rows = self.conn.execute(
            "SELECT method, area, subarea, confidence FROM predictions WHERE paper_id = ?", (paper_id,)
        )
        return [{"method": m, "area": a, "subarea": s, "confidence": c} for m, a, s, c in rows]
