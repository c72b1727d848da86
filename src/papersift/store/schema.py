"""The schema: the append-only migrations, keyed on ``PRAGMA user_version``, and applying them.

Owns the tables' definitions (each table's rows belong to the module its docstring names) and
the checks of a database file that ``papersift doctor`` makes without opening it as a store.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .base import Connection, StoreError

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
    # 5: deep-dive articles, one a paper and language (the JSON of enrich.deepdive.DeepDive)
    """
    CREATE TABLE deepdives (
        paper_id TEXT NOT NULL,
        lang TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (paper_id, lang)
    ) WITHOUT ROWID;
    """,
    # 6: the daily run: each digest it composed (the JSON of daily.picks_digest.DailyDigest) and, per
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
    # 7: a card that did not pass its checks (flagged, poor) lends nothing to the keyword facets:
    # its keywords are those of a reading the reader is not shown
    """
    DROP TRIGGER enrichment_keywords_insert;
    CREATE TRIGGER enrichment_keywords_insert AFTER INSERT ON enrichments BEGIN
        DELETE FROM paper_keywords WHERE origin = new.lang AND paper_rowid = (SELECT rowid FROM papers WHERE id = new.paper_id);
        INSERT OR IGNORE INTO paper_keywords
            SELECT j.value, p.rowid, new.lang FROM papers p, json_each(new.data, '$.card.keywords') j
            WHERE p.id = new.paper_id AND json_array_length(p.data, '$.keywords') = 0 AND new.status = 'ok';
    END;
    DELETE FROM paper_keywords WHERE origin != 'source' AND NOT EXISTS (
        SELECT 1 FROM enrichments e JOIN papers p ON p.id = e.paper_id
        WHERE p.rowid = paper_keywords.paper_rowid AND e.lang = paper_keywords.origin AND e.status = 'ok'
    );
    UPDATE change_counters SET n = n + 1 WHERE part = 'enrichments';
    """,
    # 8: the store's own signing keys (the daily email's feedback links), made on first use
    """
    CREATE TABLE signing_keys (name TEXT PRIMARY KEY, key BLOB NOT NULL, created_at TEXT NOT NULL) WITHOUT ROWID;
    """,
    # 9: the papers whose full-text row was written, in order, while a lexical index is kept beside
    # the store (search/lexical.py): the index applies them and trims what it applied. AUTOINCREMENT:
    # a number is never given twice, even after the rows below it are trimmed.
    """
    CREATE TABLE lexical_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, paper_rowid INTEGER NOT NULL);
    """,
]


class Schema(Connection):
    @property
    def schema_version(self) -> int:
        return version_of(self.conn)

    def migrate(self) -> None:
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise StoreError(f"{self.path}: schema version {current} is newer than this papersift ({len(MIGRATIONS)})")
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            # executescript commits on its own, so the migration and its version bump are one script
            self.conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")


# --- a database file looked at without opening it as a Store (which would migrate it) ----------


def open_existing(path: Path, timeout: float) -> sqlite3.Connection:
    """The file read-write, never created; SQLite falls back to reading when it is write-protected."""
    return sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, timeout=timeout)


def integrity_problems(conn: sqlite3.Connection, most: int = 5) -> list[str]:
    """SQLite's integrity check: ``["ok"]``, or up to ``most`` problems."""
    return [row[0] for row in conn.execute(f"PRAGMA integrity_check({int(most)})")]


def version_of(conn: sqlite3.Connection) -> int:
    """The schema version the file is at (0: never migrated)."""
    return conn.execute("PRAGMA user_version").fetchone()[0]


def probe_write(conn: sqlite3.Connection) -> None:
    """A write that touches the file, undone: it fails where the file or its folder is read-only."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE papersift_doctor_probe (x INTEGER)")
        conn.execute("INSERT INTO papersift_doctor_probe VALUES (1)")
    finally:
        conn.execute("ROLLBACK")
