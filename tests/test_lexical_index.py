"""The lexical index beside a large store (papersift.search.lexical): it finds what FTS5 finds, follows
every write of the full-text rows, is rebuilt when missing or damaged, and leaves a small store to FTS5."""

from __future__ import annotations

import fcntl

import numpy as np
import pytest

from papersift.models import Paper
from papersift.search import lexical, search
from papersift.search.hybrid import fts_query, lexical_ranking
from papersift.search.selection import EVERY_PAPER, Selection

TOPICS = ["speculative decoding", "reward models", "sparse attention", "protein folding", "tool agents"]


def paper(i: int) -> Paper:
    topic = TOPICS[i % len(TOPICS)]
    return Paper(
        source="jsonl",
        source_id=f"p{i}",
        title=f"Study {i} of {topic}",
        abstract=f"We study {topic} at scale, paper number {i}, with experiments on {TOPICS[(i + 1) % 5]}.",
        keywords=[topic],
    )


@pytest.fixture
def large(store, monkeypatch):
    """A store the index serves: its size threshold lowered to the few papers a test holds."""
    monkeypatch.setattr(lexical, "INDEX_FROM", 0)
    store.upsert_many([paper(i) for i in range(40)])
    return store


def rowid(store, source_id: str) -> int:
    return store.conn.execute("SELECT rowid FROM papers WHERE data ->> '$.source_id' = ?", (source_id,)).fetchone()[0]


def fts5(store, query: str, depth: int = 10, allowed: Selection = EVERY_PAPER) -> list[int]:
    return [r for r, _ in store.bm25_ranking(fts_query(query), depth, (3.0, 1.0, 2.0, 1.0), allowed.rowids)]


def ranked(store, query: str, depth: int = 10, allowed: Selection = EVERY_PAPER) -> list[int]:
    return [r for r, _ in lexical_ranking(store, query, depth, allowed)]


def test_a_large_store_is_searched_through_the_index_and_finds_what_fts5_finds(large):
    for query in ["speculative decoding", "reward models", '"sparse attention"', "protein"]:
        assert set(ranked(large, query)) == set(fts5(large, query)), query
    summary = lexical.lexical_summary(large)
    assert summary["engine"] == "tantivy" and summary["bytes"] > 0
    only = rowid(large, "p17")
    assert ranked(large, "Study 17")[0] == only == fts5(large, "Study 17")[0]


def test_the_index_follows_new_papers_and_translations_and_the_store_trims_what_it_applied(large):
    ranked(large, "reward")  # built
    new_id = large.upsert(Paper(source="jsonl", source_id="new", title="Quokka routing", abstract="Quokka."))[0]
    old_id = large.conn.execute("SELECT id FROM papers WHERE rowid = ?", (rowid(large, "p3"),)).fetchone()[0]
    large.set_translated_text(old_id, "奖励 模型 的 研究")
    assert large.conn.execute("SELECT count(*) FROM lexical_changes").fetchone()[0] == 2

    assert ranked(large, "quokka") == [large.rowid_of(new_id)]
    assert ranked(large, "奖励") == [large.rowid_of(old_id)]
    assert large.conn.execute("SELECT count(*) FROM lexical_changes").fetchone()[0] == 0
    assert ranked(large, "reward") == fts5(large, "reward") or set(ranked(large, "reward")) == set(
        fts5(large, "reward")
    )


def test_a_filter_is_answered_by_the_index_for_a_few_papers_and_for_most(large):
    rowids = np.array(sorted(rowid(large, f"p{i}") for i in (2, 7, 12)), dtype=np.int64)
    assert sorted(ranked(large, "sparse attention", allowed=Selection(rowids))) == rowids.tolist()
    most = np.array(sorted(set(range(1, 41)) - set(rowids.tolist())), dtype=np.int64)
    found = ranked(large, "sparse attention", depth=40, allowed=Selection(most, most=True))
    assert found and not set(found) & set(rowids.tolist())
    assert set(found) == set(fts5(large, "sparse attention", 40)) - set(rowids.tolist())


@pytest.mark.parametrize("every", [2, 9])
def test_a_filter_passing_more_papers_than_it_names_is_read_deeper_and_finds_what_fts5_finds(large, monkeypatch, every):
    monkeypatch.setattr(lexical, "NAMED_MOST", 3)
    passing = np.array([rowid(large, f"p{i}") for i in range(0, 40, every)], dtype=np.int64)
    passing.sort()
    for query in ["sparse attention", "reward models experiments"]:
        expected = fts5(large, query, 5, allowed=Selection(passing))
        assert ranked(large, query, depth=5, allowed=Selection(passing)) == [r for r in expected], query


def test_what_another_process_applied_to_the_index_is_seen_here(large):
    ranked(large, "reward")  # this process's index, held
    numbat = large.upsert(Paper(source="jsonl", source_id="numbat", title="Numbat sampling", abstract="Numbat."))[0]
    lexical.update_index(large, lexical.open_index(large))  # the other process applies the change, trims it
    assert large.conn.execute("SELECT count(*) FROM lexical_changes").fetchone()[0] == 0
    assert ranked(large, "numbat") == [large.rowid_of(numbat)]


def test_a_missing_or_damaged_index_is_rebuilt(large):
    ranked(large, "agents")
    folder = lexical.index_folder(large.path)
    lexical._cache.clear()
    (folder / "meta.papersift.json").write_text("{not json")
    assert set(ranked(large, "agents")) == set(fts5(large, "agents"))
    lexical._cache.clear()
    for f in folder.iterdir():
        if f.suffix != ".json":
            f.unlink()
    assert lexical.open_index(large) is None
    assert set(ranked(large, "agents")) == set(fts5(large, "agents"))


def test_while_another_process_builds_the_index_fts5_answers_and_nothing_waits(large):
    with open(large.path.with_name(large.path.name + ".lexical.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other process, building
        assert lexical.lexical_index(large) is None
        assert ranked(large, "protein") == fts5(large, "protein") != []
    assert lexical.lexical_index(large) is not None


def test_while_another_process_writes_the_index_fts5_answers(large):
    index = lexical.lexical_index(large)
    large.upsert(Paper(source="jsonl", source_id="late", title="Wombat kernels", abstract="Wombat."))
    held = index.index.writer(lexical.WRITER_HEAP, 1)  # the other process's writer
    try:
        assert lexical.lexical_index(large) is None
        assert ranked(large, "wombat") == fts5(large, "wombat") != []
    finally:
        del held


def test_a_small_store_is_left_to_fts5_and_notes_no_change(store):
    store.upsert_many([paper(i) for i in range(10)])
    assert lexical.lexical_index(store) is None
    assert search(store, "reward", mode="lexical")
    assert not lexical.index_folder(store.path).exists()
    assert store.conn.execute("SELECT count(*) FROM lexical_changes").fetchone()[0] == 0
    assert lexical.lexical_summary(store)["engine"] == "fts5"
