"""The paper store: one SQLite file that every stage reads and writes.

WAL mode, append-only migrations keyed on ``PRAGMA user_version``, an FTS5 index, and every
write inside a transaction. A paper is the merge (a fold, oldest record first) of every
source record that shares one of its dedup keys; the records themselves are kept.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ..models import Enrichment, Paper, Topic
from ..text import segment

UpsertStatus = Literal["new", "updated", "unchanged"]

# Append-only: never edit a migration that has shipped, add a new one at the end.
MIGRATIONS: list[str] = [
    # 1: papers, their source records and keys, versions, runs, sync cursors
    """
    CREATE TABLE papers (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        modified_at TEXT NOT NULL,
        source TEXT GENERATED ALWAYS AS (json_extract(data, '$.source')) VIRTUAL,
        title TEXT GENERATED ALWAYS AS (json_extract(data, '$.title')) VIRTUAL,
        published TEXT GENERATED ALWAYS AS (json_extract(data, '$.published')) VIRTUAL,
        venue TEXT GENERATED ALWAYS AS (json_extract(data, '$.venue')) VIRTUAL,
        area TEXT GENERATED ALWAYS AS (json_extract(data, '$.topic.area')) VIRTUAL,
        subarea TEXT GENERATED ALWAYS AS (json_extract(data, '$.topic.subarea')) VIRTUAL
    );
    CREATE INDEX papers_published ON papers(published);
    CREATE INDEX papers_subarea ON papers(subarea);
    CREATE INDEX papers_source ON papers(source);
    CREATE TABLE paper_keys (key TEXT PRIMARY KEY, paper_id TEXT NOT NULL) WITHOUT ROWID;
    CREATE INDEX paper_keys_paper ON paper_keys(paper_id);
    CREATE TABLE records (
        key TEXT PRIMARY KEY,
        paper_id TEXT NOT NULL,
        data TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_changed TEXT NOT NULL
    );
    CREATE INDEX records_paper ON records(paper_id);
    CREATE TABLE paper_versions (
        paper_id TEXT NOT NULL,
        record_key TEXT NOT NULL,
        version INTEGER,
        data TEXT NOT NULL,
        replaced_at TEXT NOT NULL
    );
    CREATE INDEX paper_versions_paper ON paper_versions(paper_id);
    CREATE VIRTUAL TABLE papers_fts USING fts5(title, abstract, keywords, translated, tokenize='unicode61');
    CREATE TABLE fulltext (paper_id TEXT PRIMARY KEY, text TEXT NOT NULL, origin TEXT, created_at TEXT NOT NULL);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        params TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'running',
        started_at TEXT NOT NULL,
        finished_at TEXT,
        stats TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE run_items (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        item TEXT NOT NULL,
        state TEXT NOT NULL,
        error TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (run_id, item)
    ) WITHOUT ROWID;
    CREATE TABLE sync_state (source TEXT NOT NULL, key TEXT NOT NULL, value TEXT, updated_at TEXT NOT NULL,
                             PRIMARY KEY (source, key)) WITHOUT ROWID;
    """,
    # 2: what later stages add: enrichments, the LLM log/cache, embeddings, topics, curation
    """
    CREATE TABLE enrichments (
        paper_id TEXT NOT NULL,
        lang TEXT NOT NULL,
        status TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (paper_id, lang)
    ) WITHOUT ROWID;
    CREATE INDEX enrichments_status ON enrichments(status);
    CREATE TABLE llm_calls (
        id INTEGER PRIMARY KEY,
        cache_key TEXT,
        run_id INTEGER,
        paper_id TEXT,
        backend TEXT,
        model TEXT,
        request TEXT,
        response TEXT,
        reasoning TEXT,
        tokens_in INTEGER,
        tokens_out INTEGER,
        tokens_reasoning INTEGER,
        tokens_cached INTEGER,
        cost REAL,
        duration REAL,
        error TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX llm_calls_cache ON llm_calls(cache_key);
    CREATE INDEX llm_calls_run ON llm_calls(run_id);
    CREATE TABLE embeddings (
        paper_id TEXT NOT NULL,
        model TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (paper_id, model)
    ) WITHOUT ROWID;
    CREATE TABLE predictions (
        paper_id TEXT NOT NULL,
        method TEXT NOT NULL,
        area TEXT,
        subarea TEXT,
        confidence REAL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (paper_id, method)
    ) WITHOUT ROWID;
    CREATE TABLE labels (
        id INTEGER PRIMARY KEY,
        paper_id TEXT NOT NULL,
        area TEXT,
        subarea TEXT,
        origin TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE curation (
        paper_id TEXT PRIMARY KEY,
        starred INTEGER NOT NULL DEFAULT 0,
        hidden INTEGER NOT NULL DEFAULT 0,
        read INTEGER NOT NULL DEFAULT 0,
        note TEXT,
        updated_at TEXT NOT NULL
    );
    """,
    # 3: what the web catalog loads to filter and count at 100k papers without reading the large
    # JSON rows, kept by triggers: a narrow copy of the facet columns, one row per keyword of each
    # paper (the source's keywords, else those generated in a language), and change counters
    """
    CREATE TABLE paper_facets (
        rowid INTEGER PRIMARY KEY,
        area TEXT,
        subarea TEXT,
        source TEXT,
        venue TEXT,
        published TEXT
    );
    CREATE TRIGGER paper_facets_insert AFTER INSERT ON papers BEGIN
        INSERT INTO paper_facets VALUES (new.rowid, new.area, new.subarea, new.source, new.venue, new.published);
    END;
    CREATE TRIGGER paper_facets_update AFTER UPDATE OF data ON papers BEGIN
        UPDATE paper_facets SET area = new.area, subarea = new.subarea, source = new.source, venue = new.venue,
            published = new.published WHERE rowid = new.rowid;
    END;
    CREATE TRIGGER paper_facets_delete AFTER DELETE ON papers BEGIN
        DELETE FROM paper_facets WHERE rowid = old.rowid;
    END;
    INSERT INTO paper_facets SELECT rowid, area, subarea, source, venue, published FROM papers;
    CREATE TABLE paper_keywords (
        keyword TEXT NOT NULL,
        paper_rowid INTEGER NOT NULL,
        origin TEXT NOT NULL,
        PRIMARY KEY (keyword, paper_rowid, origin)
    ) WITHOUT ROWID;
    CREATE INDEX paper_keywords_paper ON paper_keywords(paper_rowid);
    CREATE TRIGGER paper_keywords_insert AFTER INSERT ON papers BEGIN
        INSERT OR IGNORE INTO paper_keywords SELECT value, new.rowid, 'source' FROM json_each(new.data, '$.keywords');
    END;
    CREATE TRIGGER paper_keywords_update AFTER UPDATE OF data ON papers BEGIN
        DELETE FROM paper_keywords WHERE paper_rowid = old.rowid AND origin = 'source';
        INSERT OR IGNORE INTO paper_keywords SELECT value, new.rowid, 'source' FROM json_each(new.data, '$.keywords');
    END;
    CREATE TRIGGER paper_keywords_delete AFTER DELETE ON papers BEGIN
        DELETE FROM paper_keywords WHERE paper_rowid = old.rowid;
    END;
    CREATE TRIGGER enrichment_keywords_insert AFTER INSERT ON enrichments BEGIN
        DELETE FROM paper_keywords WHERE origin = new.lang AND paper_rowid = (SELECT rowid FROM papers WHERE id = new.paper_id);
        INSERT OR IGNORE INTO paper_keywords
            SELECT j.value, p.rowid, new.lang FROM papers p, json_each(new.data, '$.card.keywords') j
            WHERE p.id = new.paper_id AND json_array_length(p.data, '$.keywords') = 0;
    END;
    CREATE TRIGGER enrichment_keywords_delete AFTER DELETE ON enrichments BEGIN
        DELETE FROM paper_keywords WHERE origin = old.lang AND paper_rowid = (SELECT rowid FROM papers WHERE id = old.paper_id);
    END;
    INSERT OR IGNORE INTO paper_keywords SELECT j.value, p.rowid, 'source' FROM papers p, json_each(p.data, '$.keywords') j;
    INSERT OR IGNORE INTO paper_keywords
        SELECT j.value, p.rowid, e.lang FROM enrichments e JOIN papers p ON p.id = e.paper_id, json_each(e.data, '$.card.keywords') j
        WHERE json_array_length(p.data, '$.keywords') = 0;
    CREATE TABLE change_counters (part TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO change_counters VALUES ('papers', 0), ('enrichments', 0), ('curation', 0);
    CREATE TRIGGER papers_changed_insert AFTER INSERT ON paper_facets BEGIN
        UPDATE change_counters SET n = n + 1 WHERE part = 'papers';
    END;
    CREATE TRIGGER papers_changed_update AFTER UPDATE ON paper_facets BEGIN
        UPDATE change_counters SET n = n + 1 WHERE part = 'papers';
    END;
    CREATE TRIGGER papers_changed_delete AFTER DELETE ON paper_facets BEGIN
        UPDATE change_counters SET n = n + 1 WHERE part = 'papers';
    END;
    CREATE TRIGGER enrichments_changed_insert AFTER INSERT ON enrichments BEGIN
        UPDATE change_counters SET n = n + 1 WHERE part = 'enrichments';
    END;
    CREATE TRIGGER enrichments_changed_delete AFTER DELETE ON enrichments BEGIN
        UPDATE change_counters SET n = n + 1 WHERE part = 'enrichments';
    END;
    CREATE TRIGGER curation_changed_insert AFTER INSERT ON curation BEGIN
        UPDATE change_counters SET n = n + 1 WHERE part = 'curation';
    END;
    CREATE TRIGGER curation_changed_update AFTER UPDATE ON curation BEGIN
        UPDATE change_counters SET n = n + 1 WHERE part = 'curation';
    END;
    CREATE TRIGGER curation_changed_delete AFTER DELETE ON curation BEGIN
        UPDATE change_counters SET n = n + 1 WHERE part = 'curation';
    END;
    """,
    # 4: the store writes a paper's facet row and source keywords itself (Store._facets) and
    # counts the change once a transaction: the per-row triggers re-read the JSON row for each
    # column and bumped the counter for every paper, a third of a bulk import's time in SQLite
    """
    DROP TRIGGER IF EXISTS paper_facets_insert;
    DROP TRIGGER IF EXISTS paper_facets_update;
    DROP TRIGGER IF EXISTS paper_keywords_insert;
    DROP TRIGGER IF EXISTS paper_keywords_update;
    DROP TRIGGER IF EXISTS papers_changed_insert;
    DROP TRIGGER IF EXISTS papers_changed_update;
    """,
    # 5: deep-dive articles, one a paper and language (the JSON of publish.deepdive.DeepDive)
    """
    CREATE TABLE deepdives (
        paper_id TEXT NOT NULL,
        lang TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (paper_id, lang)
    ) WITHOUT ROWID;
    """,
    # 6: the daily run: each digest it composed (the JSON of daily.digest.DailyDigest) and, per
    # delivery channel, whether it was sent, so that nothing is lost or sent twice
    """
    CREATE TABLE daily_digests (
        id INTEGER PRIMARY KEY,
        day TEXT NOT NULL,
        through_rowid INTEGER NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE daily_deliveries (
        digest_id INTEGER NOT NULL REFERENCES daily_digests(id),
        channel TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        sent_at TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (digest_id, channel)
    ) WITHOUT ROWID;
    """,
]

LIST_FIELDS = ("keywords", "categories")
# Fields a newer arXiv version replaces; the rest keep the first source that had them.
VERSIONED_FIELDS = ("title", "abstract", "authors", "version", "updated", "url_pdf", "withdrawn")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def paper_id_for(first_key: str) -> str:
    return hashlib.sha1(first_key.encode()).hexdigest()[:12]


def merge(base: Paper, record: Paper) -> Paper:
    """Fold one more source record into a paper: fill gaps, union lists, take newer versions."""
    merged = base.model_dump()
    new = record.model_dump()
    newer = bool(record.arxiv_id) and (record.version or 0) > (base.version or 0)
    for field, value in new.items():
        if field in ("id", "source", "source_id"):
            continue
        if newer and field in VERSIONED_FIELDS and value not in (None, [], ""):
            merged[field] = value
        elif field in LIST_FIELDS:
            seen = {v.casefold() for v in merged[field]}
            merged[field] = merged[field] + [v for v in value if v.casefold() not in seen]
        elif field == "extra":
            merged["extra"] = {**value, **merged["extra"]}
        elif merged[field] in (None, [], {}, "") or (field == "withdrawn" and value):
            merged[field] = value
    return Paper.model_validate(merged)


def _facet_values(paper: Paper) -> tuple[str | None, ...]:
    topic = paper.topic or Topic()
    return topic.area, topic.subarea, paper.source, paper.venue, paper.published.isoformat() if paper.published else None


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of ``size`` items (the last may be shorter); ``itertools.batched`` from 3.12."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class StoreError(Exception):
    pass


def describe_database_error(exc: sqlite3.Error, db: str | Path, busy_timeout: float | None = None) -> str:
    """One line that says what went wrong with the database and what to do: locked by another
    writer, read-only, full, or else. SQLite rolls the unfinished transaction back in each case."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        wait = f"{busy_timeout:g} s (busy_timeout)" if busy_timeout is not None else "busy_timeout"
        return (f"{db}: another process kept the database locked for over {wait}; the unfinished "
                "transaction was rolled back: try again once the other has finished")
    if "readonly" in text or "read-only" in text:
        return f"{db}: the database is read-only ({text}): make the file and its folder writable, or use another database"
    if "full" in text or "disk I/O" in text:
        return (f"{db}: the database cannot grow ({text}): the disk is full or a file size limit was reached; "
                "the unfinished transaction was rolled back: free some space and try again")
    return f"{db}: database error: {text}"


class Store:
    """A papersift database. Open one per thread; connections are not shared."""

    def __init__(self, path: str | Path, *, readonly: bool = False, busy_timeout: float = 30.0):
        self.path = Path(path)
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"file:{self.path}?mode=ro" if readonly else str(self.path)
        try:
            self.conn = sqlite3.connect(uri, uri=readonly, isolation_level=None, check_same_thread=False,
                                        timeout=busy_timeout)
            self.conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a papersift database ({exc})") from exc
        self.conn.execute("PRAGMA synchronous=NORMAL")
        # A bounded 64 MiB page cache and in-memory savepoint journals: imports of 100k papers
        # touch index pages all over the file, and the default 2 MiB cache halves their speed.
        self.conn.execute("PRAGMA cache_size=-65536")
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._depth = 0
        self._papers_changed = False  # counted in change_counters when the transaction commits
        self._lock = threading.RLock()
        if not readonly:
            self.migrate()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- schema ---------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise StoreError(f"{self.path}: schema version {current} is newer than this papersift ({len(MIGRATIONS)})")
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            # executescript commits on its own, so the migration and its version bump are one script
            self.conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")

    # --- transactions ---------------------------------------------------------------------

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

    def _atomic(self):
        """A transaction, unless this thread is in one already: then the outer transaction makes
        the work atomic, and a savepoint per call would only cost time (bulk imports call this
        once a record). Call with ``self._lock`` held."""
        return self.transaction() if self._depth == 0 else nullcontext(self.conn)

    # --- papers ---------------------------------------------------------------------------

    def upsert(self, record: Paper) -> tuple[str, UpsertStatus]:
        """Store one source record and refresh the paper it belongs to. Idempotent."""
        record_key = record.record_key()
        data = record.model_dump_json(exclude={"id"})
        with self._lock, self._atomic() as db:
            row = db.execute("SELECT paper_id, data FROM records WHERE key = ?", (record_key,)).fetchone()
            if row and row[1] == data:
                return row[0], "unchanged"
            keys = record.dedup_keys()
            paper_id = row[0] if row else self._find_by_keys(keys)
            stamp = now()
            if paper_id is None:
                paper_id = paper_id_for(keys[0])
                db.execute(
                    "INSERT INTO records (key, paper_id, data, first_seen, last_changed) VALUES (?, ?, ?, ?, ?)",
                    (record_key, paper_id, data, stamp, stamp),
                )
                self._add_keys(paper_id, keys)
                paper = record.model_copy(update={"id": paper_id})
                cur = db.execute(
                    "INSERT INTO papers (id, data, created_at, modified_at) VALUES (?, ?, ?, ?)",
                    (paper_id, paper.model_dump_json(), stamp, stamp),
                )
                self._facets(cur.lastrowid, paper, new=True)
                self._index(cur.lastrowid, paper)
                return paper_id, "new"
            if row:
                old = Paper.model_validate_json(row[1])
                if old.version != record.version:
                    db.execute(
                        "INSERT INTO paper_versions (paper_id, record_key, version, data, replaced_at) VALUES (?, ?, ?, ?, ?)",
                        (paper_id, record_key, old.version, row[1], stamp),
                    )
                db.execute("UPDATE records SET data = ?, last_changed = ? WHERE key = ?", (data, stamp, record_key))
            else:
                db.execute(
                    "INSERT INTO records (key, paper_id, data, first_seen, last_changed) VALUES (?, ?, ?, ?, ?)",
                    (record_key, paper_id, data, stamp, stamp),
                )
            self._add_keys(paper_id, keys)
            status = self._refold(paper_id)
            return paper_id, status

    def upsert_many(self, records: Iterable[Paper], *, batch_size: int = 1000) -> dict[str, int]:
        counts = {"new": 0, "updated": 0, "unchanged": 0}
        with self.transaction():
            for batch in batched(records, batch_size):
                for _, status in self.upsert_batch(batch):
                    counts[status] += 1
        return counts

    def upsert_batch(self, records: Sequence[Paper]) -> list[tuple[str, UpsertStatus]]:
        """Store many source records: the same store, ids and statuses as :meth:`upsert` called
        on each in turn, in one transaction.

        Most records of a bulk import are papers the store has never seen: those whose record and
        dedup keys are new to the store and appear once in the batch are written with one
        statement per table for the whole batch. The rest (a changed record, a merge, keys
        shared inside the batch) go through :meth:`upsert`; they share no key with the bulk
        ones, so the order between the two groups cannot change the outcome.
        """
        prepared = [(r, r.record_key(), r.model_dump_json(exclude={"id"}), r.dedup_keys()) for r in records]
        record_keys = Counter(key for _, key, _, _ in prepared)
        dedup_keys = Counter(k for *_, keys in prepared for k in keys)
        results: list[tuple[str, UpsertStatus] | None] = [None] * len(prepared)
        with self._lock, self._atomic() as db:
            stored = {
                key: (paper_id, data)
                for key, paper_id, data in db.execute(
                    "SELECT key, paper_id, data FROM records WHERE key IN (SELECT value FROM json_each(?))",
                    (json.dumps(list(record_keys)),),
                )
            }
            known = {
                key
                for (key,) in db.execute(
                    "SELECT key FROM paper_keys WHERE key IN (SELECT value FROM json_each(?))", (json.dumps(list(dedup_keys)),)
                )
            }
            fresh, rest = [], []
            for i, (record, record_key, data, keys) in enumerate(prepared):
                alone = record_keys[record_key] == 1 and all(dedup_keys[k] == 1 for k in keys)
                if alone and record_key in stored and stored[record_key][1] == data:
                    results[i] = (stored[record_key][0], "unchanged")
                elif alone and record_key not in stored and not known.intersection(keys):
                    fresh.append(i)
                else:
                    rest.append(i)
            for i, paper_id in zip(fresh, self._insert_new([prepared[i] for i in fresh])):
                results[i] = (paper_id, "new")
            for i in rest:
                results[i] = self.upsert(prepared[i][0])
        return results

    def _insert_new(self, prepared: list[tuple[Paper, str, str, list[str]]]) -> list[str]:
        """Write papers known to be new, one statement per table; returns their ids."""
        if not prepared:
            return []
        db, stamp = self.conn, now()
        first_rowid = db.execute("SELECT coalesce(max(rowid), 0) + 1 FROM papers").fetchone()[0]
        ids = [paper_id_for(keys[0]) for *_, keys in prepared]
        rowids = range(first_rowid, first_rowid + len(prepared))
        db.executemany(
            "INSERT INTO records (key, paper_id, data, first_seen, last_changed) VALUES (?, ?, ?, ?, ?)",
            [(key, pid, data, stamp, stamp) for (_, key, data, _), pid in zip(prepared, ids)],
        )
        db.executemany(
            "INSERT OR IGNORE INTO paper_keys (key, paper_id) VALUES (?, ?)",
            [(k, pid) for (*_, keys), pid in zip(prepared, ids) for k in keys],
        )
        # The paper is its only record with the id added: the record's JSON minus "id" (the first
        # field), so one JSON dump a record serves both rows.
        db.executemany(
            "INSERT INTO papers (rowid, id, data, created_at, modified_at) VALUES (?, ?, ?, ?, ?)",
            [(rowid, pid, f'{{"id":"{pid}",{data[1:]}', stamp, stamp) for rowid, pid, (_, _, data, _) in zip(rowids, ids, prepared)],
        )
        papers = [record for record, *_ in prepared]
        self._facets_many(list(zip(rowids, papers)))
        db.executemany(
            "INSERT INTO papers_fts (rowid, title, abstract, keywords, translated) VALUES (?, ?, ?, ?, '')",
            [(rowid, *self._fts_columns(paper)) for rowid, paper in zip(rowids, papers)],
        )
        return ids

    def _find_by_keys(self, keys: list[str]) -> str | None:
        marks = ",".join("?" * len(keys))
        rows = self.conn.execute(f"SELECT key, paper_id FROM paper_keys WHERE key IN ({marks})", keys).fetchall()
        found = dict(rows)
        return next((found[k] for k in keys if k in found), None)

    def _add_keys(self, paper_id: str, keys: list[str]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO paper_keys (key, paper_id) VALUES (?, ?)", [(k, paper_id) for k in keys]
        )

    def _refold(self, paper_id: str) -> UpsertStatus:
        rows = self.conn.execute(
            "SELECT data FROM records WHERE paper_id = ? ORDER BY first_seen, rowid", (paper_id,)
        ).fetchall()
        records = [Paper.model_validate_json(r[0]) for r in rows]
        paper = records[0]
        for record in records[1:]:
            paper = merge(paper, record)
        rowid, old_data = self.conn.execute("SELECT rowid, data FROM papers WHERE id = ?", (paper_id,)).fetchone()
        old = Paper.model_validate_json(old_data)
        if old.topic and old.topic.origin == "user":
            paper.topic = old.topic  # a user's correction outlives source updates
        paper = paper.model_copy(update={"id": paper_id})
        new_data = paper.model_dump_json()
        if new_data == old_data:
            return "unchanged"
        self.conn.execute("UPDATE papers SET data = ?, modified_at = ? WHERE id = ?", (new_data, now(), paper_id))
        self._facets(rowid, paper)
        self._index(rowid, paper, replace=True)
        return "updated"

    def _facets(self, rowid: int, paper: Paper, *, new: bool = False) -> None:
        """The paper's row in the narrow tables the web catalog filters and counts on."""
        if not new:
            self.conn.execute("DELETE FROM paper_keywords WHERE paper_rowid = ? AND origin = 'source'", (rowid,))
        self._facets_many([(rowid, paper)])

    def _facets_many(self, papers: list[tuple[int, Paper]]) -> None:
        self._papers_changed = True
        self.conn.executemany(
            "INSERT OR REPLACE INTO paper_facets (rowid, area, subarea, source, venue, published) VALUES (?, ?, ?, ?, ?, ?)",
            [(rowid, *_facet_values(paper)) for rowid, paper in papers],
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO paper_keywords (keyword, paper_rowid, origin) VALUES (?, ?, 'source')",
            [(k, rowid) for rowid, paper in papers for k in paper.keywords],
        )

    def _index(self, rowid: int, paper: Paper, *, replace: bool = False, translated: str = "") -> None:
        if replace:
            translated = self.conn.execute(
                "SELECT translated FROM papers_fts WHERE rowid = ?", (rowid,)
            ).fetchone()
            translated = translated[0] if translated else ""
            self.conn.execute("DELETE FROM papers_fts WHERE rowid = ?", (rowid,))
        self.conn.execute(
            "INSERT INTO papers_fts (rowid, title, abstract, keywords, translated) VALUES (?, ?, ?, ?, ?)",
            (rowid, *self._fts_columns(paper), translated),
        )

    @staticmethod
    def _fts_columns(paper: Paper) -> tuple[str, str, str]:
        return segment(paper.title or ""), segment(paper.abstract or ""), segment(" ".join(paper.keywords))

    def set_translated_text(self, paper_id: str, text: str) -> None:
        """Index text in the reader's language (the enrichment) beside the original."""
        with self.transaction() as db:
            rowid, data = db.execute("SELECT rowid, data FROM papers WHERE id = ?", (paper_id,)).fetchone()
            db.execute("DELETE FROM papers_fts WHERE rowid = ?", (rowid,))
            self._index(rowid, Paper.model_validate_json(data), translated=segment(text))

    def set_topic(self, paper_id: str, topic: Topic) -> None:
        """Set a paper's topic; a user's correction is also kept as a training label."""
        with self.transaction() as db:
            paper = self.get(paper_id)
            paper.topic = topic
            rowid = db.execute(
                "UPDATE papers SET data = ?, modified_at = ? WHERE id = ? RETURNING rowid", (paper.model_dump_json(), now(), paper_id)
            ).fetchone()[0]
            self._facets(rowid, paper)
            db.execute(
                "INSERT INTO labels (paper_id, area, subarea, origin, created_at) VALUES (?, ?, ?, ?, ?)",
                (paper_id, topic.area, topic.subarea, topic.origin, now()),
            )

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

    def get(self, paper_id: str) -> Paper:
        row = self.conn.execute("SELECT data FROM papers WHERE id = ?", (paper_id,)).fetchone()
        if row is None:
            raise KeyError(paper_id)
        return Paper.model_validate_json(row[0])

    def resolve(self, ref: str) -> str:
        """A paper id from its id, an arXiv id, a DOI or an OpenReview id."""
        if self.conn.execute("SELECT 1 FROM papers WHERE id = ?", (ref,)).fetchone():
            return ref
        candidates = [ref] if ":" in ref else []
        try:
            from ..models import split_arxiv_id

            candidates.append(f"arxiv:{split_arxiv_id(ref)[0]}")
        except ValueError:
            pass
        candidates += [f"doi:{ref.lower()}", f"openreview:{ref}"]
        found = self._find_by_keys(candidates)
        if found is None:
            raise KeyError(ref)
        return found

    def records_of(self, paper_id: str) -> list[Paper]:
        rows = self.conn.execute(
            "SELECT data FROM records WHERE paper_id = ? ORDER BY first_seen, rowid", (paper_id,)
        ).fetchall()
        return [Paper.model_validate_json(r[0]) for r in rows]

    def versions_of(self, paper_id: str) -> list[Paper]:
        rows = self.conn.execute(
            "SELECT data FROM paper_versions WHERE paper_id = ? ORDER BY rowid", (paper_id,)
        ).fetchall()
        return [Paper.model_validate_json(r[0]) for r in rows]

    def iter_papers(self, where: str = "", params: Iterable[Any] = (), *, order: str = "rowid", limit: int | None = None) -> Iterator[Paper]:
        """Stream papers; ``where`` is a SQL condition over the papers table's columns."""
        sql = f"SELECT data FROM papers {'WHERE ' + where if where else ''} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for (data,) in self.conn.execute(sql, list(params)):
            yield Paper.model_validate_json(data)

    def count(self, where: str = "", params: Iterable[Any] = ()) -> int:
        return self.conn.execute(f"SELECT count(*) FROM papers {'WHERE ' + where if where else ''}", list(params)).fetchone()[0]

    def set_fulltext(self, paper_id: str, text: str, origin: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO fulltext (paper_id, text, origin, created_at) VALUES (?, ?, ?, ?)",
                (paper_id, text, origin, now()),
            )

    def fulltext(self, paper_id: str) -> str | None:
        row = self.conn.execute("SELECT text FROM fulltext WHERE paper_id = ?", (paper_id,)).fetchone()
        return row[0] if row else None

    def stats(self) -> dict[str, Any]:
        def grouped(sql: str) -> dict[str, int]:
            return {str(k): n for k, n in self.conn.execute(sql)}

        return {
            "papers": self.count(),
            "records": self.conn.execute("SELECT count(*) FROM records").fetchone()[0],
            "by_source": grouped(
                "SELECT substr(key, 1, instr(key, ':') - 1) AS s, count(*) FROM records GROUP BY s ORDER BY 2 DESC"
            ),
            "by_label": grouped(
                "SELECT coalesce(subarea, '(none)'), count(*) FROM papers GROUP BY 1 ORDER BY 2 DESC"
            ),
            "by_date": grouped(
                "SELECT coalesce(substr(published, 1, 7), '(none)'), count(*) FROM papers GROUP BY 1 ORDER BY 1 DESC"
            ),
            "enrichments": grouped("SELECT status, count(*) FROM enrichments GROUP BY status"),
        }

    # --- runs: per-item state so that a killed job resumes -------------------------------

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

    def runs(self, kind: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        sql = "SELECT id, kind, params, status, started_at, finished_at, stats FROM runs"
        rows = self.conn.execute(sql + (" WHERE kind = ?" if kind else "") + " ORDER BY id DESC LIMIT ?", ([kind] if kind else []) + [limit])
        return [
            {"id": r[0], "kind": r[1], "params": json.loads(r[2]), "status": r[3], "started_at": r[4], "finished_at": r[5], "stats": json.loads(r[6])}
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
