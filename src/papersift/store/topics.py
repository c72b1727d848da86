"""Topics: a paper's class as set by a model or a user, and the labels the classifier learns from.

Owns ``labels`` (every topic set by hand or by a source, kept as training labels) and
``predictions`` (each method's latest guess for a paper). The topic itself is a field of the
paper's row (:mod:`.papers`).
"""

from __future__ import annotations

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
