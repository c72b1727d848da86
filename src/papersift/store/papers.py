"""Papers: the merged paper, its source records and keys, its replaced versions, its full text,
and what search and the web catalog read instead of the JSON rows.

Owns ``papers``, ``records``, ``paper_keys``, ``paper_versions``, ``fulltext``, the full-text
index ``papers_fts``, the catalog's narrow copies ``paper_facets`` and ``paper_keywords`` (their
``source`` rows; the enrichment trigger writes the others) and the ``papers`` row of
``change_counters``. A paper is the merge (a fold, oldest record first) of every source record
that shares one of its dedup keys; the records themselves are kept.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from ..models import Paper, Topic, split_arxiv_id
from ..text import segment
from .base import Connection, batched, now

UpsertStatus = Literal["new", "updated", "unchanged"]
# A paper's day: when it was published, else when it was first stored (papers.created_at)
DAY = "coalesce(published, substr(created_at, 1, 10))"

LIST_FIELDS = ("keywords", "categories")
# Fields a newer arXiv version replaces; the rest keep the first source that had them.
VERSIONED_FIELDS = ("title", "abstract", "authors", "version", "updated", "url_pdf", "withdrawn")


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
    return (
        topic.area,
        topic.subarea,
        paper.source,
        paper.venue,
        paper.published.isoformat() if paper.published else None,
    )


class PaperTables(Connection):
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
                    "SELECT key FROM paper_keys WHERE key IN (SELECT value FROM json_each(?))",
                    (json.dumps(list(dedup_keys)),),
                )
            }
            fresh, rest = [], []
            for i, (_record, record_key, data, keys) in enumerate(prepared):
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
        first_rowid = self.max_rowid() + 1
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
            [
                (rowid, pid, f'{{"id":"{pid}",{data[1:]}', stamp, stamp)
                for rowid, pid, (_, _, data, _) in zip(rowids, ids, prepared)
            ],
        )
        papers = [record for record, *_ in prepared]
        self._facets_many(list(zip(rowids, papers)))
        db.executemany(
            "INSERT INTO papers_fts (rowid, title, abstract, keywords, translated) VALUES (?, ?, ?, ?, '')",
            [(rowid, *self._fts_columns(paper)) for rowid, paper in zip(rowids, papers)],
        )
        self.log_lexical_changes(rowids)
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
            translated = self.conn.execute("SELECT translated FROM papers_fts WHERE rowid = ?", (rowid,)).fetchone()
            translated = translated[0] if translated else ""
            self.conn.execute("DELETE FROM papers_fts WHERE rowid = ?", (rowid,))
        self.conn.execute(
            "INSERT INTO papers_fts (rowid, title, abstract, keywords, translated) VALUES (?, ?, ?, ?, ?)",
            (rowid, *self._fts_columns(paper), translated),
        )
        self.log_lexical_changes([rowid])

    @staticmethod
    def _fts_columns(paper: Paper) -> tuple[str, str, str]:
        return segment(paper.title or ""), segment(paper.abstract or ""), segment(" ".join(paper.keywords))

    def set_translated_text(self, paper_id: str, text: str) -> None:
        """Index text in the reader's language (the enrichment) beside the original."""
        with self.transaction() as db:
            rowid, data = db.execute("SELECT rowid, data FROM papers WHERE id = ?", (paper_id,)).fetchone()
            db.execute("DELETE FROM papers_fts WHERE rowid = ?", (rowid,))
            self._index(rowid, Paper.model_validate_json(data), translated=segment(text))

    def _replace_data(self, paper: Paper) -> None:
        """Write a changed paper over its row (and its facets)."""
        rowid = self.conn.execute(
            "UPDATE papers SET data = ?, modified_at = ? WHERE id = ? RETURNING rowid",
            (paper.model_dump_json(), now(), paper.id),
        ).fetchone()[0]
        self._facets(rowid, paper)

    def get(self, paper_id: str) -> Paper:
        row = self.conn.execute("SELECT data FROM papers WHERE id = ?", (paper_id,)).fetchone()
        if row is None:
            raise KeyError(paper_id)
        return Paper.model_validate_json(row[0])

    def resolve(self, ref: str) -> str:
        """A paper id from its id, an arXiv id, a DOI or an OpenReview id."""
        if self.has_paper(ref):
            return ref
        candidates = [ref] if ":" in ref else []
        try:
            candidates.append(f"arxiv:{split_arxiv_id(ref)[0]}")
        except ValueError:
            pass
        candidates += [f"doi:{ref.lower()}", f"openreview:{ref}"]
        found = self._find_by_keys(candidates)
        if found is None:
            raise KeyError(ref)
        return found

    def has_paper(self, paper_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM papers WHERE id = ?", (paper_id,)).fetchone() is not None

    def max_rowid(self) -> int:
        """The rowid of the paper stored last (0: none yet); papers stored later have larger ones."""
        return self.conn.execute("SELECT coalesce(max(rowid), 0) FROM papers").fetchone()[0]

    def papers_after(self, rowid: int) -> list[tuple[int, Paper]]:
        """(rowid, paper) of every paper stored after the one with ``rowid``, in the order they came."""
        rows = self.conn.execute("SELECT rowid, data FROM papers WHERE rowid > ? ORDER BY rowid", (rowid,)).fetchall()
        return [(r, Paper.model_validate_json(data)) for r, data in rows]

    def find_by_source_id(self, source_id: str) -> str | None:
        """The paper with a source record of this id in any source (record keys are ``source:id``)."""
        row = self.conn.execute("SELECT paper_id FROM records WHERE key LIKE ? LIMIT 1", (f"%:{source_id}",)).fetchone()
        return row[0] if row else None

    def abstracts(self) -> Iterator[tuple[str, str | None]]:
        """(paper id, abstract) of every paper, without reading the rest of it."""
        yield from self.conn.execute("SELECT id, json_extract(data, '$.abstract') FROM papers")

    def subareas(self) -> list[tuple[str, str | None]]:
        """(paper id, sub-area) of every paper, in the order they came."""
        return self.conn.execute("SELECT id, subarea FROM papers ORDER BY rowid").fetchall()

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

    def iter_papers(
        self, where: str = "", params: Iterable[Any] = (), *, order: str = "rowid", limit: int | None = None
    ) -> Iterator[Paper]:
        """Stream papers; ``where`` is a SQL condition over the papers table's columns."""
        sql = f"SELECT data FROM papers {'WHERE ' + where if where else ''} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for (data,) in self.conn.execute(sql, list(params)):
            yield Paper.model_validate_json(data)

    def iter_papers_by_day(
        self,
        *,
        ids: Sequence[str] | None = None,
        on: str | None = None,
        since: str | None = None,
        after: str | None = None,
    ) -> Iterator[tuple[Paper, str]]:
        """Stream (paper, its day: the date it was published, else the day it was first stored) in the
        order they came; of these ids, of the day ``on``, from the day ``since``, after the day
        ``after`` (ISO dates), each when given."""
        conditions, params = [], []
        if ids is not None:
            conditions.append(f"id IN ({','.join('?' * len(ids))})")
            params += ids
        for value, test in ((on, "day = ?"), (since, "day >= ?"), (after, "day > ?")):
            if value is not None:
                conditions.append(test)
                params.append(value)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        for data, paper_day in self.conn.execute(
            f"SELECT data, {DAY} AS day FROM papers {where} ORDER BY rowid", params
        ):
            yield Paper.model_validate_json(data), paper_day

    def newest_day(self) -> str | None:
        """The latest day of any paper (see :meth:`iter_papers_by_day`); None when there is none."""
        return self.conn.execute(f"SELECT max({DAY}) FROM papers").fetchone()[0]

    def newest_papers(
        self,
        limit: int,
        *,
        subarea: str | None = None,
        source: str | None = None,
        enrichment_statuses: Iterable[str] = (),
    ) -> list[Paper]:
        """At most ``limit`` papers, newest published first (then in the order they came); of the
        sub-area and the source, and with an enrichment in each of the statuses, when given."""
        conditions, params = [], []
        for value, test in ((subarea, "subarea = ?"), (source, "source = ?")):
            if value:
                conditions.append(test)
                params.append(value)
        for status in enrichment_statuses:
            conditions.append("id IN (SELECT paper_id FROM enrichments WHERE status = ?)")
            params.append(status)
        return list(self.iter_papers(" AND ".join(conditions), params, order="published DESC, rowid", limit=limit))

    def count(self, where: str = "", params: Iterable[Any] = ()) -> int:
        return self.conn.execute(
            f"SELECT count(*) FROM papers {'WHERE ' + where if where else ''}", list(params)
        ).fetchone()[0]

    def set_fulltext(self, paper_id: str, text: str, origin: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO fulltext (paper_id, text, origin, created_at) VALUES (?, ?, ?, ?)",
                (paper_id, text, origin, now()),
            )

    def fulltext(self, paper_id: str) -> str | None:
        row = self.conn.execute("SELECT text FROM fulltext WHERE paper_id = ?", (paper_id,)).fetchone()
        return row[0] if row else None

    def paper_stats(self) -> dict[str, Any]:
        """Papers and records, by source, label and month."""

        def grouped(sql: str) -> dict[str, int]:
            return {str(k): n for k, n in self.conn.execute(sql)}

        return {
            "papers": self.count(),
            "records": self.conn.execute("SELECT count(*) FROM records").fetchone()[0],
            "by_source": grouped(
                "SELECT substr(key, 1, instr(key, ':') - 1) AS s, count(*) FROM records GROUP BY s ORDER BY 2 DESC"
            ),
            "by_label": grouped("SELECT coalesce(subarea, '(none)'), count(*) FROM papers GROUP BY 1 ORDER BY 2 DESC"),
            "by_date": grouped(
                "SELECT coalesce(substr(published, 1, 7), '(none)'), count(*) FROM papers GROUP BY 1 ORDER BY 1 DESC"
            ),
        }
