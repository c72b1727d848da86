"""Runs: the bookkeeping that lets a killed job resume, and the sources' sync cursors.

Owns ``runs`` (one a job: its kind, parameters, status and stats), ``run_items`` (each item's
state in a run) and ``sync_state`` (per source, the cursors of incremental fetching, and other
small values that must outlive a process).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from .base import Connection, now


class JobRunning(RuntimeError):
    """Another process is running the same job on the same store."""


class RunTables(Connection):
    @contextmanager
    def job(self, name: str) -> Iterator[None]:
        """Run the job ``name`` (enrich, embed, classify, daily) as its only writer on this store.

        An exclusive lock on ``<db>.<name>.lock``: a second process raises :class:`JobRunning`,
        naming the one that runs, instead of doing the same work again (and paying twice). The
        kernel releases the lock when the process ends, even by SIGKILL, so a killed job never
        blocks the next. A store in memory has no other process to keep out.
        """
        if str(self.path) == ":memory:":
            yield
            return
        path = self.path.with_name(f"{self.path.name}.{name}.lock")
        with path.open("a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise JobRunning(
                    f"{self.path}: another papersift {name} is running on this database ({holder}; lock {path}):"
                    " wait for it to finish, or stop it; a new run then resumes where it left off"
                ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}, since {datetime.now(UTC).isoformat(timespec='seconds')}")
            fh.flush()
            try:
                yield
            finally:
                fh.seek(0)
                fh.truncate()
                fcntl.flock(fh, fcntl.LOCK_UN)

    def start_run(self, kind: str, params: dict[str, Any], *, resume: bool = True) -> int:
        """Open a run, or reopen the last unfinished run of the same kind and parameters."""
        encoded = json.dumps(params, sort_keys=True, default=str)
        with self.transaction() as db:
            if resume:
                row = db.execute(
                    "SELECT id FROM runs WHERE kind = ? AND params = ? AND status != 'done' ORDER BY id DESC LIMIT 1",
                    (kind, encoded),
                ).fetchone()
                if row:
                    db.execute("UPDATE runs SET status = 'running' WHERE id = ?", (row[0],))
                    return row[0]
            return db.execute(
                "INSERT INTO runs (kind, params, started_at) VALUES (?, ?, ?)", (kind, encoded, now())
            ).lastrowid

    def finish_run(self, run_id: int, stats: dict[str, Any], status: str = "done") -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, stats = ? WHERE id = ?",
                (status, now(), json.dumps(stats, default=str), run_id),
            )

    def mark_item(self, run_id: int, item: str, state: str, error: str | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO run_items (run_id, item, state, error, updated_at) VALUES (?, ?, ?, ?, ?)",
                (run_id, item, state, error, now()),
            )

    def items_in_state(self, run_id: int, state: str) -> set[str]:
        rows = self.conn.execute("SELECT item FROM run_items WHERE run_id = ? AND state = ?", (run_id, state))
        return {r[0] for r in rows}

    def item_count(self, run_id: int) -> int:
        """How many items the run has marked, in any state."""
        return self.conn.execute("SELECT count(*) FROM run_items WHERE run_id = ?", (run_id,)).fetchone()[0]

    def runs(self, kind: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        sql = "SELECT id, kind, params, status, started_at, finished_at, stats FROM runs"
        rows = self.conn.execute(
            sql + (" WHERE kind = ?" if kind else "") + " ORDER BY id DESC LIMIT ?", ([kind] if kind else []) + [limit]
        )
        return [
            {
                "id": r[0],
                "kind": r[1],
                "params": json.loads(r[2]),
                "status": r[3],
                "started_at": r[4],
                "finished_at": r[5],
                "stats": json.loads(r[6]),
            }
            for r in rows
        ]

    # --- incremental fetching -------------------------------------------------------------

    def get_state(self, source: str, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM sync_state WHERE source = ? AND key = ?", (source, key)).fetchone()
        return row[0] if row else None

    def set_state(self, source: str, key: str, value: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO sync_state (source, key, value, updated_at) VALUES (?, ?, ?, ?)",
                (source, key, value, now()),
            )
