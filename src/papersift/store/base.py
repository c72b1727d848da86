"""The connection every table module works through: opening the file, transactions, errors.

Owns no table. The transaction counts a change of the papers (``change_counters``, see
:mod:`.papers`) once, when it commits.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of ``size`` items (the last may be shorter); ``itertools.batched`` from 3.12."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class StoreError(Exception):
    """The database cannot be used. ``environment``: the machine's fault (a read-only or missing
    folder, permissions), not the file's (not a database, a newer schema)."""

    def __init__(self, message: str, *, environment: bool = False):
        super().__init__(message)
        self.environment = environment


def _unopenable(path: Path, exc: sqlite3.Error) -> StoreError:
    """Why SQLite could not open ``path``, found by looking: its message alone ("unable to open
    database file") is the same for a read-only disk, a missing folder and a permission."""
    if "not a database" in str(exc) or "encrypted" in str(exc):
        return StoreError(f"{path}: not a papersift database ({exc})")
    if "disk I/O" in str(exc):
        return StoreError(
            f"{path}: cannot open the database: a write failed ({exc}): is the disk full?", environment=True
        )
    folder = path.parent
    if not folder.is_dir():
        cause = f"the folder {folder} does not exist"
    elif os.statvfs(folder).f_flag & os.ST_RDONLY:
        cause = f"the file system of {folder} is read-only"
    elif not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        cause = f"no permission to write {path if path.exists() else folder}"
    else:
        cause = str(exc)
    return StoreError(f"{path}: cannot open the database: {cause}", environment=True)


def describe_database_error(exc: sqlite3.Error, db: str | Path, busy_timeout: float | None = None) -> str:
    """One line that says what went wrong with the database and what to do: locked by another
    writer, read-only, full, or else. SQLite rolls the unfinished transaction back in each case."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        wait = f"{busy_timeout:g} s (busy_timeout)" if busy_timeout is not None else "busy_timeout"
        return (
            f"{db}: another process kept the database locked for over {wait}; the unfinished "
            "transaction was rolled back: try again once the other has finished"
        )
    if "readonly" in text or "read-only" in text:
        return (
            f"{db}: the database is read-only ({text}): make the file and its folder writable, or use another database"
        )
    if "full" in text or "disk I/O" in text:
        return (
            f"{db}: the database cannot grow ({text}): the disk is full or a file size limit was reached; "
            "the unfinished transaction was rolled back: free some space and try again"
        )
    return f"{db}: database error: {text}"


IN_LIST_CHUNK = 10_000  # parameters per IN (...) list, well under SQLite's limit


class Connection:
    """One SQLite connection in WAL mode and its transactions; the table modules' common base."""

    def __init__(self, path: str | Path, *, readonly: bool = False, busy_timeout: float = 30.0):
        self.path = Path(path)
        uri = f"file:{self.path}?mode=ro" if readonly else str(self.path)
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(
                uri, uri=readonly, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create its folder: {exc.strerror}", environment=True) from exc
        except sqlite3.DatabaseError as exc:
            raise _unopenable(self.path, exc) from exc
        self.conn.execute("PRAGMA synchronous=NORMAL")
        # A bounded 64 MiB page cache and in-memory savepoint journals: imports of 100k papers
        # touch index pages all over the file, and the default 2 MiB cache halves their speed.
        self.conn.execute("PRAGMA cache_size=-65536")
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._depth = 0
        self._papers_changed = False  # counted in change_counters when the transaction commits
        self._lock = threading.RLock()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A transaction; nested calls become savepoints, so an inner failure undoes only itself."""
        with self._lock:
            name = f"sp{self._depth}"
            self.conn.execute("BEGIN IMMEDIATE" if self._depth == 0 else f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._papers_changed = False
                # After some errors (a full disk, an I/O error) SQLite has rolled the whole
                # transaction back itself: nothing is left to undo, and ROLLBACK would raise
                # "no transaction is active" over the error that matters.
                if self.conn.in_transaction:
                    if self._depth == 0:
                        self.conn.execute("ROLLBACK")
                    else:
                        self.conn.execute(f"ROLLBACK TO {name}")
                        self.conn.execute(f"RELEASE {name}")
                raise
            self._depth -= 1
            if self._depth == 0 and self._papers_changed:
                self._papers_changed = False
                self.conn.execute("UPDATE change_counters SET n = n + 1 WHERE part = 'papers'")
            self.conn.execute("COMMIT" if self._depth == 0 else f"RELEASE {name}")

    def lookup(self, sql: str, keys: list) -> dict:
        """``dict(rows)`` of ``sql`` (with one ``{marks}`` for an IN list) over ``keys``, in chunks."""
        found: dict = {}
        for chunk in batched(keys, IN_LIST_CHUNK):
            found.update(self.conn.execute(sql.format(marks=",".join("?" * len(chunk))), chunk))
        return found

    def _atomic(self):
        """A transaction, unless this thread is in one already: then the outer transaction makes
        the work atomic, and a savepoint per call would only cost time (bulk imports call this
        once a record). Call with ``self._lock`` held."""
        return self.transaction() if self._depth == 0 else nullcontext(self.conn)
