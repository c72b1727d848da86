"""Curation: what a reader marks on papers.

Owns ``curation``: one row a paper, made on its first change (starred, hidden, read, a note); and
``signing_keys``: the random keys that sign the links acting on those marks from outside the app.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from .base import Connection, now

MARKS = ("starred", "hidden", "read", "note", "updated_at")


class CurationTables(Connection):
    def marks_of(self, paper_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Paper id -> its ``MARKS`` (the flags as bools), of the papers that have any."""
        ids = list(paper_ids)
        rows = self.conn.execute(
            f"SELECT paper_id, {', '.join(MARKS)} FROM curation WHERE paper_id IN ({','.join('?' * len(ids))})", ids
        )
        return {
            paper_id: {
                "starred": bool(starred),
                "hidden": bool(hidden),
                "read": bool(read),
                "note": note,
                "updated_at": updated_at,
            }
            for paper_id, starred, hidden, read, note, updated_at in rows
        }

    def set_marks(
        self, paper_id: str, *, starred: bool, hidden: bool, read: bool, note: str | None, updated_at: str
    ) -> None:
        """Replace all of a paper's marks."""
        with self.transaction() as db:
            db.execute(
                f"INSERT OR REPLACE INTO curation (paper_id, {', '.join(MARKS)}) VALUES (?, ?, ?, ?, ?, ?)",
                (paper_id, int(starred), int(hidden), int(read), note, updated_at),
            )

    def starred_papers(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT paper_id FROM curation WHERE starred = 1")]

    def hidden_papers(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT paper_id FROM curation WHERE hidden = 1")]

    def read_papers(self) -> list[str]:
        """The papers marked read and not hidden: opened and kept."""
        return [r[0] for r in self.conn.execute("SELECT paper_id FROM curation WHERE read = 1 AND hidden = 0")]

    def signing_key(self, name: str) -> bytes:
        """The store's key called ``name``: 32 random bytes, made the first time it is asked for and
        kept, so a link signed by one run is still good for the web app of the same store."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO signing_keys (name, key, created_at) VALUES (?, ?, ?)",
                (name, secrets.token_bytes(32), now()),
            )
            return bytes(db.execute("SELECT key FROM signing_keys WHERE name = ?", (name,)).fetchone()[0])
