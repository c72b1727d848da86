"""The daily run's digests and their deliveries.

Owns ``daily_digests`` (each digest composed, the JSON of ``daily.picks_digest.DailyDigest``, with the
newest paper rowid it considered) and ``daily_deliveries`` (per digest and channel: pending,
sent or failed, and how many attempts).
"""

from __future__ import annotations

from .base import Connection, now


class DailyTables(Connection):
    def add_digest(self, day: str, through_rowid: int, channels: list[str]) -> int:
        """A new digest row, its JSON still empty, with a pending delivery per channel; its id."""
        with self.transaction() as db:
            digest_id = db.execute(
                "INSERT INTO daily_digests (day, through_rowid, data, created_at) VALUES (?, ?, '{}', ?)",
                (day, through_rowid, now()),
            ).lastrowid
            db.executemany(
                "INSERT INTO daily_deliveries (digest_id, channel, updated_at) VALUES (?, ?, ?)",
                [(digest_id, channel, now()) for channel in channels],
            )
        return digest_id

    def set_digest_data(self, digest_id: int, data: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE daily_digests SET data = ? WHERE id = ?", (data, digest_id))

    def digest_data(self, digest_id: int) -> str | None:
        """The JSON of the digest, or None if there is no such digest."""
        row = self.conn.execute("SELECT data FROM daily_digests WHERE id = ?", (digest_id,)).fetchone()
        return row[0] if row else None

    def recent_digest_data(self, limit: int) -> list[str]:
        """The JSON of the latest ``limit`` digests, newest first."""
        return [r[0] for r in self.conn.execute("SELECT data FROM daily_digests ORDER BY id DESC LIMIT ?", (limit,))]

    def pending_deliveries(self) -> list[tuple[int, str, int]]:
        """(digest id, channel, attempts so far) of every delivery not sent yet, oldest digest first."""
        return self.conn.execute(
            "SELECT digest_id, channel, attempts FROM daily_deliveries WHERE status != 'sent' ORDER BY digest_id, channel"
        ).fetchall()

    def record_delivery(self, digest_id: int, channel: str, error: str | None, attempts: int) -> None:
        """Add ``attempts`` to a delivery and mark it sent, or failed with ``error``."""
        with self.transaction() as db:
            db.execute(
                "UPDATE daily_deliveries SET status = ?, attempts = attempts + ?, error = ?, sent_at = ?, updated_at = ?"
                " WHERE digest_id = ? AND channel = ?",
                ("failed" if error else "sent", attempts, error, None if error else now(), now(), digest_id, channel),
            )
