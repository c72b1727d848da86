"""The store: one SQLite file, idempotent upserts, merges across sources, versions, runs."""

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from papersift.models import READING_FIELDS, Paper, Topic
from papersift.store import MIGRATIONS, Store, StoreError


def arxiv(version=1, **kw):
    base = dict(
        source="arxiv",
        source_id="2505.09388",
        arxiv_id="2505.09388",
        version=version,
        title="Qwen3 Technical Report",
        authors=["An Yang", "Baosong Yang"],
        abstract="We present Qwen3, ranging from 0.6 to 235 billion parameters.",
    )
    return Paper(**{**base, **kw})


def test_a_new_database_is_in_wal_mode_at_the_latest_schema(store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version == len(MIGRATIONS)


def test_importing_the_same_record_twice_changes_nothing(store):
    first = store.upsert(arxiv())
    assert first[1] == "new"
    before = store.conn.execute("SELECT data, modified_at FROM papers").fetchall()
    assert store.upsert(arxiv()) == (first[0], "unchanged")
    assert store.conn.execute("SELECT data, modified_at FROM papers").fetchall() == before


def test_the_same_paper_from_two_sources_merges_and_keeps_both_records(store):
    pid, _ = store.upsert(arxiv())
    hf = Paper(
        source="hf",
        source_id="2505.09388",
        arxiv_id="2505.09388",
        title="Qwen3 Technical Report",
        abstract="We present Qwen3.",
        keywords=["LLM", "MoE"],
        extra={"upvotes": 120},
    )
    assert store.upsert(hf) == (pid, "updated")
    paper = store.get(pid)
    assert paper.keywords == ["LLM", "MoE"]
    assert paper.extra["upvotes"] == 120
    assert paper.abstract.startswith("We present Qwen3, ranging")  # the first source's text is kept
    assert [r.source for r in store.records_of(pid)] == ["arxiv", "hf"]
    assert store.count() == 1


def test_same_normalised_title_and_first_author_merge_but_other_authors_do_not(store):
    a, _ = store.upsert(
        Paper(source="rss", source_id="x1", title="Attention Is All You Need!", authors=["Ashish Vaswani"])
    )
    b, _ = store.upsert(
        Paper(source="bibtex", source_id="vaswani17", title="attention is all you need", authors=["Vaswani, Ashish"])
    )
    c, _ = store.upsert(
        Paper(source="rss", source_id="x2", title="Attention Is All You Need", authors=["Someone Else"])
    )
    assert a == b != c


def test_doi_matches_across_sources(store):
    a, _ = store.upsert(Paper(source="bibtex", source_id="k", title="A", doi="https://doi.org/10.1000/XYZ"))
    b, _ = store.upsert(Paper(source="file", source_id="f", title="B", doi="10.1000/xyz"))
    assert a == b


def test_titleless_papers_are_keyed_by_abstract_and_never_merged_with_each_other(store):
    a, _ = store.upsert(Paper(source="file", source_id="1", abstract="First abstract."))
    b, _ = store.upsert(Paper(source="file", source_id="2", abstract="Second abstract."))
    assert a != b and store.count() == 2


def test_a_new_arxiv_version_updates_the_paper_and_keeps_the_history(store):
    pid, _ = store.upsert(arxiv())
    assert store.upsert(arxiv(version=2, abstract="Revised: Qwen3 now has 119 languages.")) == (pid, "updated")
    assert store.get(pid).version == 2
    assert store.get(pid).abstract.startswith("Revised")
    assert [p.version for p in store.versions_of(pid)] == [1]


def test_a_user_topic_survives_a_source_update(store):
    pid, _ = store.upsert(arxiv())
    store.set_topic(pid, Topic(area="llm", subarea="reasoning-cot", origin="user"))
    store.upsert(arxiv(version=2))
    assert store.get(pid).topic.subarea == "reasoning-cot"
    assert store.conn.execute("SELECT subarea, origin FROM labels").fetchall() == [("reasoning-cot", "user")]


def test_a_failed_transaction_leaves_the_database_as_it_was(store):
    store.upsert(arxiv())
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert(Paper(source="file", source_id="new", title="Never stored"))
        raise RuntimeError("crash mid-import")
    assert store.count() == 1


def test_resolve_finds_a_paper_by_any_of_its_ids(store):
    pid, _ = store.upsert(arxiv(doi="10.1/ABC"))
    assert store.resolve(pid) == pid
    assert store.resolve("2505.09388v2") == pid
    assert store.resolve("10.1/abc") == pid
    with pytest.raises(KeyError):
        store.resolve("9999.99999")


def test_full_text_search_indexes_english_and_segmented_chinese(store):
    pid, _ = store.upsert(arxiv())
    store.set_translated_text(pid, "混合专家模型的技术报告")
    hits = lambda q: store.conn.execute("SELECT rowid FROM papers_fts WHERE papers_fts MATCH ?", (q,)).fetchall()
    assert hits("qwen3") and hits("专家") and hits("报告")


def test_runs_resume_with_their_per_item_state(store):
    run = store.start_run("enrich", {"lang": "zh"})
    store.mark_item(run, "p1", "done")
    store.mark_item(run, "p2", "failed", "timeout")
    assert store.start_run("enrich", {"lang": "zh"}) == run  # unfinished: resumed, not restarted
    assert store.items_in_state(run, "done") == {"p1"}
    store.finish_run(run, {"ok": 1})
    assert store.start_run("enrich", {"lang": "zh"}) != run
    assert store.runs("enrich")[1]["stats"] == {"ok": 1}


def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("just some text, not SQLite " * 100)
    with pytest.raises(StoreError, match="notes.db"):
        Store(bogus)


def test_a_database_from_a_newer_papersift_is_refused(tmp_path):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_facet_rows_follow_inserts_updates_and_topic_corrections(store):
    def facets():
        return store.conn.execute("SELECT area, subarea, source, published FROM paper_facets").fetchall()

    def keywords():
        return sorted(k for (k,) in store.conn.execute("SELECT keyword FROM paper_keywords WHERE origin = 'source'"))

    def changes():
        return store.conn.execute("SELECT n FROM change_counters WHERE part = 'papers'").fetchone()[0]

    before = changes()
    pid, _ = store.upsert(
        arxiv(keywords=["MoE"], published="2025-05-14", topic=Topic(area="llm", subarea="llm-pretraining"))
    )
    assert facets() == [("llm", "llm-pretraining", "arxiv", "2025-05-14")] and keywords() == ["MoE"]
    store.upsert(
        Paper(source="hf", source_id="2505.09388", arxiv_id="2505.09388", title="Qwen3", keywords=["thinking budget"])
    )
    assert keywords() == ["MoE", "thinking budget"]
    store.set_topic(pid, Topic(area="llm", subarea="reasoning-cot", origin="user"))
    assert facets()[0][:2] == ("llm", "reasoning-cot")
    assert changes() == before + 3  # once a committed write, not once a row

    with store.transaction():
        for i in range(5):
            store.upsert(Paper(source="file", source_id=str(i), title=f"Paper {i}"))
    assert changes() == before + 4


def test_a_stored_enrichment_carries_when_it_was_made(store):
    from papersift.models import READING_FIELDS, Card, Enrichment, Reading

    pid, _ = store.upsert(arxiv())
    card = Card(
        title="Qwen3 技术报告",
        tldr="一句话",
        reading=Reading(**{f: "内容" for f in READING_FIELDS}),
        keywords=["MoE"],
        digest="段落",
    )
    store.save_enrichment(Enrichment(paper_id=pid, lang="zh", status="ok", card=card))
    saved = store.enrichment(pid, "zh")
    stamp = store.conn.execute("SELECT created_at FROM enrichments").fetchone()[0]
    assert saved.created_at is not None and saved.created_at.isoformat() == stamp


# --- batched upserts: the bulk-import path must give exactly what one-by-one upserts give ---

_record = st.builds(
    Paper,
    source=st.sampled_from(["arxiv", "file", "hf"]),
    source_id=st.sampled_from(["a", "b", "c", None]),
    arxiv_id=st.sampled_from(["2501.00001", "2501.00002", None]),
    doi=st.sampled_from(["10.1/x", None]),
    version=st.sampled_from([1, 2, None]),
    title=st.sampled_from(["Sparse Attention", "sparse attention!", "Dense Models", None]),
    authors=st.sampled_from([["Ada Lovelace"], ["Alan Turing"], []]),
    abstract=st.sampled_from(["One abstract.", "Another abstract, 3.5x faster.", "中文摘要"]),
    keywords=st.lists(st.sampled_from(["LLM", "llm", "MoE"]), max_size=2),
    topic=st.sampled_from([None, Topic(area="llm", subarea="reasoning-cot")]),
)


def _contents(store: Store) -> dict:
    """Everything the store holds, by paper id, without timestamps or rowids (which may differ)."""
    q = store.conn.execute
    return {
        "papers": q("SELECT id, data FROM papers ORDER BY id").fetchall(),
        "records": q("SELECT key, paper_id, data FROM records ORDER BY key").fetchall(),
        "keys": q("SELECT key, paper_id FROM paper_keys ORDER BY key").fetchall(),
        "versions": q("SELECT paper_id, record_key, version, data FROM paper_versions ORDER BY 1, 2, 3, 4").fetchall(),
        "facets": q(
            "SELECT p.id, f.area, f.subarea, f.source, f.venue, f.published FROM paper_facets f "
            "JOIN papers p ON p.rowid = f.rowid ORDER BY p.id"
        ).fetchall(),
        "keywords": q(
            "SELECT p.id, k.keyword, k.origin FROM paper_keywords k JOIN papers p ON p.rowid = k.paper_rowid "
            "ORDER BY 1, 2, 3"
        ).fetchall(),
        "fts": q(
            "SELECT p.id, f.title, f.abstract, f.keywords, f.translated FROM papers_fts f "
            "JOIN papers p ON p.rowid = f.rowid ORDER BY p.id"
        ).fetchall(),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.lists(_record, max_size=4), batch=st.lists(_record, max_size=12))
def test_a_batch_upsert_stores_what_upserting_one_by_one_stores(tmp_path_factory, before, batch):
    one_by_one = Store(tmp_path_factory.mktemp("seq") / "s.db")
    batched = Store(tmp_path_factory.mktemp("batch") / "b.db")
    for store in (one_by_one, batched):
        for record in before:
            store.upsert(record)
    expected = [one_by_one.upsert(record) for record in batch]
    with batched.transaction():
        assert batched.upsert_batch(batch) == expected
    assert _contents(batched) == _contents(one_by_one)
    one_by_one.close()
    batched.close()


def test_a_batch_of_new_papers_is_searchable_and_faceted(store):
    papers = [
        Paper(
            source="file",
            source_id=str(i),
            title=f"Paper {i} on sparse attention",
            keywords=["MoE"],
            abstract="An abstract.",
            topic=Topic(area="llm", subarea="efficiency-compression"),
        )
        for i in range(3)
    ]
    assert [status for _, status in store.upsert_batch(papers)] == ["new"] * 3
    assert store.conn.execute("SELECT count(*) FROM papers_fts WHERE papers_fts MATCH 'sparse'").fetchone()[0] == 3
    assert (
        store.conn.execute("SELECT count(*) FROM paper_facets WHERE subarea = 'efficiency-compression'").fetchone()[0]
        == 3
    )
    assert store.conn.execute("SELECT count(*) FROM paper_keywords WHERE keyword = 'MoE'").fetchone()[0] == 3
    assert store.get(store.upsert_batch(papers)[0][0]).title == "Paper 0 on sparse attention"


def test_a_refused_card_lends_no_keyword_facet_and_no_searchable_text(store):
    from papersift.models import Card, Enrichment, Reading
    from papersift.text import segment

    paper_id = store.upsert(Paper(source="file", title="Sparse Attention at Scale", abstract="We sparsify attention."))[
        0
    ]
    rowid = store.conn.execute("SELECT rowid FROM papers WHERE id = ?", (paper_id,)).fetchone()[0]

    def save(status: str, keyword: str) -> None:
        reading = Reading(**dict.fromkeys(READING_FIELDS, "稀疏注意力的解读"))
        card = Card(title=f"{keyword}的标题", tldr="一句话", reading=reading, keywords=[keyword], digest="速递")
        store.save_enrichment(Enrichment(paper_id=paper_id, lang="zh", status=status, card=card))

    def indexed(word: str) -> bool:
        phrase = f'translated : "{segment(word)}"'  # as the store segments Chinese for FTS5
        return bool(store.conn.execute("SELECT 1 FROM papers_fts WHERE papers_fts MATCH ?", (phrase,)).fetchone())

    def keyword_rows() -> list[tuple[int, str]]:
        return [row for rows in store.keyword_rows("zh") for row in rows]

    save("ok", "稀疏注意力")
    assert (rowid, "稀疏注意力") in keyword_rows() and indexed("稀疏注意力")
    save("poor", "这段文本描述了方法")  # a rejected card's sentence as a "keyword"
    assert [k for r, k in keyword_rows() if r == rowid] == []
    assert not indexed("稀疏注意力") and not indexed("这段文本描述了方法")
