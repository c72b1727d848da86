"""Search: BM25 and vectors fused, in English and Chinese, with filters and safe query syntax.

The judged queries below were written by reading the abstracts of ../shared/data/catalog-dev.jsonl:
each lists the records (by their ``id``) that a reader looking for the topic wants to see.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from conftest import SAMPLE, shared_file
from stores import build_store, cached_store
from typer.testing import CliRunner

from papersift.cli import app
from papersift.models import Card, Enrichment, Reading, Topic
from papersift.search import Filters, SearchError, embed_store, more_like, search, similar
from papersift.search.embeddings import OpenAIEmbedder, USEEmbedder
from papersift.search.hybrid import fts_query, reciprocal_rank_fusion
from papersift.search.index import vector_searcher
from papersift.store import Store

runner = CliRunner()

JUDGED = {
    "spec": (
        "speeding up generation with a small draft model whose tokens the large model verifies",
        "推测解码：用小的草稿模型加速大模型推理",
        ["cfb9a97ae24", "c24e6857171", "cf62e123ef8", "c146b651e94", "c8d09ebcaed", "c8630323ed4", "c138c623da1"],
    ),
    "ssm": (
        "state space models such as Mamba as an alternative to Transformers",
        "状态空间模型 Mamba 替代 Transformer",
        ["ca5a2e15ef5", "c8c3742c810", "cafa51fa823", "cc9432bb8ef", "c33cfc50365"],
    ),
    "unlearning": (
        "machine unlearning: removing the influence of training data from a language model",
        "机器遗忘：消除训练数据对大模型的影响",
        ["c2ab67c82a8", "cda69a3a66f", "c4afa54d8f4"],
    ),
    "medicine": (
        "language models for medicine, clinical diagnosis and doctors",
        "面向医疗和临床诊断的大模型",
        ["c6f806bec73", "c86b9c1a167", "cda46b35bff", "cc24ff2366d", "c71a97475b4", "cc10702cb23"],
    ),
    "dllm-speed": (
        "accelerating inference of diffusion large language models",
        "加速扩散大语言模型的推理",
        [
            "ce7344d8070",
            "c9e989a0163",
            "cb4f3b17e76",
            "c589e0aad22",
            "cd7e473599a",
            "c215698b749",
            "cef3ff74101",
            "c6216632aa8",
            "caa6958bc52",
        ],
    ),
    "tokenization": (
        "tokenization and subword units of language models",
        "语言模型的分词与子词",
        ["c5c0f230726", "cb6612b2469", "cba5ef98479"],
    ),
    "jailbreak": (
        "defending models against jailbreak attacks",
        "防御越狱攻击",
        ["c77d81b8b0b", "c49662677da"],
    ),
    "moe-compression": (
        "compressing mixture-of-experts models by pruning, merging or quantizing experts",
        "压缩混合专家模型：专家剪枝、合并与量化",
        ["c31b9eb8403", "c739d14579e", "cd88f09aea6", "c17327cbd61", "c9148db73bf", "ce8fe157a55"],
    ),
    "prm": (
        "process reward models that verify each reasoning step",
        "过程奖励模型：验证每一步推理",
        ["cd977d6964d", "ccaa39d4f0c", "c8cc545a480", "c899d970dd1", "cc9ee384743"],
    ),
    "video": (
        "video understanding and segmentation with vision-language models",
        "用视觉语言模型理解和分割视频",
        ["ce89daa25c9", "c5a53a9dc3a", "c240a1f4225", "ca3b525f379", "ccdb7b849e7"],
    ),
}


@pytest.fixture(scope="session")
def catalog(tmp_path_factory) -> Store:
    """The 481 shared papers, embedded."""
    source = shared_file("data/catalog-dev.jsonl")
    store = cached_store(source, tmp_path_factory.getbasetemp() / "catalog-dev.db")
    yield store
    store.close()


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory) -> Store:
    store = build_store(tmp_path_factory.getbasetemp() / "sample.db", SAMPLE)
    yield store
    store.close()


def paper_id_of(store: Store, record_id: str) -> str:
    return store.conn.execute("SELECT paper_id FROM records WHERE key = ?", (f"file:{record_id}",)).fetchone()[0]


def recall_at_10(store: Store, query: str, relevant: list[str], mode: str) -> float:
    wanted = {paper_id_of(store, r) for r in relevant}
    found = {hit.paper.id for hit in search(store, query, limit=10, mode=mode)}
    return len(wanted & found) / len(wanted)


def test_hybrid_recall_is_at_least_that_of_each_method_in_english_and_chinese(catalog):
    recall = {}
    for lang, column in (("en", 0), ("zh", 1)):
        for mode in ("lexical", "vector", "hybrid"):
            recall[lang, mode] = np.mean([recall_at_10(catalog, q[column], q[2], mode) for q in JUDGED.values()])
    print({f"{lang}/{mode}": round(r, 3) for (lang, mode), r in recall.items()})
    for lang in ("en", "zh"):
        assert recall[lang, "hybrid"] >= recall[lang, "lexical"]
        assert recall[lang, "hybrid"] >= recall[lang, "vector"]
    # a Chinese query finds English papers by meaning, where words alone cannot
    assert recall["zh", "hybrid"] >= 0.3 > recall["zh", "lexical"]


def test_a_chinese_query_finds_the_english_paper(catalog):
    hits = search(catalog, "推测解码", limit=10)
    assert {paper_id_of(catalog, r) for r in JUDGED["spec"][2]} & {h.paper.id for h in hits}


def test_hits_carry_score_and_the_rank_each_method_gave(sample_store):
    hits = search(sample_store, "speculative decoding KV cache", limit=5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(set(h.ranks) <= {"lexical", "vector"} and h.ranks for h in hits)
    assert any(len(h.ranks) == 2 for h in hits)  # found by both, so fused near the top


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced quote',
        "agents AND",
        "NEAR(a b",
        "reasoning*",
        "title:agent",
        "-",
        "()",
        "a OR OR b",
        "^start",
        "'single'",
        "col:value:more",
        '""',
        "知识图谱 AND 医疗",
        "x" * 500,
    ],
)
def test_user_query_syntax_never_raises(sample_store, query):
    for mode in ("hybrid", "lexical", "vector"):
        try:
            hits = search(sample_store, query, limit=5, mode=mode)
        except SearchError as exc:  # only for queries without a single word
            assert "empty query" in str(exc)
        else:
            assert isinstance(hits, list)


def test_fts_query_quotes_every_word_and_keeps_balanced_phrases():
    assert fts_query("chain of thought AND NEAR(x") == '"chain" OR "of" OR "thought" OR "AND" OR "NEAR" OR "x"'
    assert fts_query('"chain of thought" reasoning') == '"chain of thought" OR "reasoning"'
    assert fts_query('"unbalanced') == '"unbalanced"'
    assert fts_query("  *()  ") is None
    assert '"推理"' in fts_query("思维链推理")  # Chinese is segmented as the index is


def test_empty_query_lists_by_filter_or_says_what_is_missing(sample_store):
    with pytest.raises(SearchError, match="empty query"):
        search(sample_store, "   ")
    hits = search(sample_store, "", filters=Filters(subarea="reasoning-cot"), limit=50)
    assert len(hits) == 5 and {h.paper.topic.subarea for h in hits} == {"reasoning-cot"}


def test_filters_restrict_every_mode(tmp_path, sample_store):
    for mode in ("hybrid", "lexical", "vector"):
        hits = search(sample_store, "language models", mode=mode, limit=50, filters=Filters(subarea="agents-tools"))
        assert hits and {h.paper.topic.subarea for h in hits} == {"agents-tools"}
    assert search(sample_store, "language models", filters=Filters(source="arxiv")) == []
    keyword = sample_store.get(search(sample_store, "agent", limit=1)[0].paper.id).keywords[0]
    assert all(
        keyword.lower() in [k.lower() for k in h.paper.keywords]
        for h in search(sample_store, "models", filters=Filters(keyword=keyword.upper()), limit=50)
    )
    assert search(sample_store, "models", filters=Filters(status="flagged")) == []
    assert len(search(sample_store, "models", filters=Filters(status="pending"), limit=5)) == 5


def test_a_filter_that_keeps_most_papers_ranks_as_one_that_names_them(sample_store):
    """When most papers pass, BM25 drops the others from its unfiltered list instead of being told them all."""
    from papersift.search.hybrid import BM25_WEIGHTS

    match = fts_query("language models for reasoning and agents")
    every = np.array(sorted(r[0] for r in sample_store.conn.execute("SELECT rowid FROM papers")))
    allowed = every[every % 3 != 0]
    for depth in (2, 5, 20, 100):
        named = sample_store.bm25_ranking(match, depth, BM25_WEIGHTS, allowed)
        assert named and set(r for r, _ in named) <= set(allowed.tolist())
        assert sample_store.bm25_ranking(match, depth, BM25_WEIGHTS, allowed, allowed_is_most=True) == named


def test_date_venue_and_starred_filters(store, sample_records):
    from papersift.sources.files import paper_from_mapping

    for i, raw in enumerate(sample_records[:6]):
        store.upsert(
            paper_from_mapping({**raw, "published": f"2025-0{i + 1}-15", "venue": "ICLR 2026" if i % 2 else "NeurIPS"})
        )
    embed_store(store, USEEmbedder.shared())
    ids = [p.id for p in store.iter_papers()]
    store.conn.execute("INSERT INTO curation (paper_id, starred, updated_at) VALUES (?, 1, 'now')", (ids[0],))
    spring = search(
        store, "language model", limit=50, filters=Filters(date_from=date(2025, 2, 1), date_to=date(2025, 4, 30))
    )
    assert sorted(str(h.paper.published) for h in spring) == ["2025-02-15", "2025-03-15", "2025-04-15"]
    assert {h.paper.venue for h in search(store, "model", limit=50, filters=Filters(venue="iclr"))} == {"ICLR 2026"}
    assert [h.paper.id for h in search(store, "model", limit=50, filters=Filters(starred=True))] == [ids[0]]
    assert len(search(store, "model", limit=50, filters=Filters(starred=False))) == 5


def test_similar_and_more_like_these(sample_store):
    agents = [p.id for p in sample_store.iter_papers("subarea = ?", ["multimodal-foundation"])]
    neighbours = similar(sample_store, agents[0], limit=5)
    assert agents[0] not in {h.paper.id for h in neighbours} and len(neighbours) == 5
    assert [h.score for h in neighbours] == sorted((h.score for h in neighbours), reverse=True)
    more = more_like(sample_store, agents[:3], limit=4)
    assert not set(agents[:3]) & {h.paper.id for h in more}
    # the mean of three multimodal papers sits among the other multimodal ones
    assert {h.paper.id for h in more} & set(agents[3:])
    with pytest.raises(SearchError, match="no paper"):
        similar(sample_store, "nope")


def test_only_new_or_changed_papers_are_embedded_again_and_the_matrix_follows(store, sample_records):
    from papersift.sources.files import paper_from_mapping

    for raw in sample_records[:4]:
        store.upsert(paper_from_mapping(raw))
    embedder = USEEmbedder.shared()
    assert embed_store(store, embedder).embedded == 4
    before = vector_searcher(store, embedder.name)
    assert embed_store(store, embedder).as_dict() == {"model": "use-m3", "embedded": 0, "unchanged": 4, "errors": []}
    assert vector_searcher(store, embedder.name) is before  # cached while nothing changed
    # an enrichment adds the translated title and TL;DR to the embedded text
    paper = next(store.iter_papers())
    reading = Reading(**sample_records[0]["summary_zh"])
    card = Card(
        title="知识引导的临床弃权",
        tldr=reading.problem[:200],
        reading=reading,
        keywords=["临床"],
        digest=reading.method,
    )
    store.save_enrichment(Enrichment(paper_id=paper.id, lang="zh", status="ok", card=card))
    assert embed_store(store, embedder).embedded == 1
    after = vector_searcher(store, embedder.name)
    assert after is not before and after.vectors.shape == (4, 512)
    # and its Chinese text is searchable by words too
    assert search(store, "临床", mode="lexical")[0].paper.id == paper.id


def test_openai_compatible_embedding_server(store, sample_records):
    from support.llm_server import ScriptedServer

    from papersift.sources.files import paper_from_mapping

    for raw in sample_records[:3]:
        store.upsert(paper_from_mapping(raw))
    with ScriptedServer() as server:
        embedder = OpenAIEmbedder(server.base_url, "test-embed")
        report = embed_store(store, embedder)
        assert report.embedded == 3 and report.model == "openai:test-embed"
        hits = search(store, "reasoning", mode="vector", embedder=embedder, limit=3)
    assert len(hits) == 3 and all(-1.0 <= h.score <= 1.0 for h in hits)
    # a server that is gone fails the batch with a clear message, nothing half-written
    embedder = OpenAIEmbedder("http://127.0.0.1:9/v1", "test-embed")
    store.upsert(paper_from_mapping(sample_records[3]))
    report = embed_store(store, embedder)
    assert report.embedded == 0 and "127.0.0.1:9" in report.errors[0]


def test_vector_mode_without_embeddings_says_what_to_run(store, sample_records):
    from papersift.sources.files import paper_from_mapping

    store.upsert(paper_from_mapping(sample_records[0]))
    with pytest.raises(SearchError, match="papersift embed"):
        search(store, "clinical", mode="vector", embedder=USEEmbedder.shared())
    assert search(store, "clinical", mode="hybrid", embedder=USEEmbedder.shared())  # falls back to words


def test_a_search_by_words_only_never_looks_at_the_vectors(sample_store, monkeypatch):
    def scan(model):  # a scan of the whole embeddings table where the model has no vector
        raise AssertionError("the vectors were looked at")

    monkeypatch.setattr(sample_store, "has_vectors", scan)
    assert search(sample_store, "reasoning", mode="lexical")


def test_cli_search_prints_json_hits_best_first(tmp_path, sample_store):
    db = str(sample_store.path)
    result = runner.invoke(
        app, ["--db", db, "search", "reinforcement learning for reasoning", "--json", "--limit", "3"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    hits = out["hits"]
    assert len(hits) == 3 and all({"id", "title", "abstract", "score", "ranks", "source_id"} <= set(h) for h in hits)
    assert out["vectors"] == {"model": "use-m3", "papers": 35, "without_vectors": 0, "notice": None}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    bad = runner.invoke(app, ["--db", db, "search", "x", "--flag", "weird"])
    assert bad.exit_code == 2 and "--flag" in bad.output
    assert runner.invoke(app, ["--db", db, "search", '"NEAR(', "--json"]).exit_code == 0
    empty = runner.invoke(app, ["--db", db, "search", "  "])
    assert empty.exit_code == 2 and "empty query" in empty.output
    similar_out = runner.invoke(app, ["--db", db, "similar", hits[0]["id"], "--json", "-n", "2"])
    assert similar_out.exit_code == 0 and len(json.loads(similar_out.stdout)["hits"]) == 2


def test_cli_search_and_similar_say_how_many_papers_have_no_vectors_and_what_to_run(tmp_path):
    db = str(tmp_path / "fresh.db")
    assert runner.invoke(app, ["--db", db, "ingest", "file", str(SAMPLE)]).exit_code == 0  # and no embed

    text = runner.invoke(app, ["--db", db, "search", "clinical diagnosis"])
    assert text.exit_code == 0
    assert "35 of 35 papers have no use-m3 vectors" in text.output and "papersift embed" in text.output
    as_json = json.loads(runner.invoke(app, ["--db", db, "search", "clinical diagnosis", "--json"]).stdout)
    assert (
        as_json["hits"]
        and as_json["vectors"]["without_vectors"] == 35
        and "papersift embed" in as_json["vectors"]["notice"]
    )
    # similar works by vectors alone: with none it finds nothing, and says why
    similar_out = runner.invoke(app, ["--db", db, "similar", as_json["hits"][0]["id"]])
    assert (
        similar_out.exit_code == 0
        and "no papers found" in similar_out.output
        and "papersift embed" in similar_out.output
    )
    # words only, asked for: nothing to say
    lexical = runner.invoke(app, ["--db", db, "search", "clinical diagnosis", "--mode", "lexical", "--json"])
    assert json.loads(lexical.stdout)["vectors"] is None and "papersift embed" not in lexical.output

    assert runner.invoke(app, ["--db", db, "embed"]).exit_code == 0
    after = runner.invoke(app, ["--db", db, "search", "clinical diagnosis"])
    assert after.exit_code == 0 and "papersift embed" not in after.output


def test_vector_coverage_counts_papers_without_a_vector_of_the_model(store, sample_records):
    from papersift.search import vector_coverage
    from papersift.sources.files import paper_from_mapping

    for raw in sample_records[:3]:
        store.upsert(paper_from_mapping(raw))
    embedder = USEEmbedder.shared()
    assert vector_coverage(store, embedder.name).without_vectors == 3
    embed_store(store, embedder)
    store.upsert(paper_from_mapping(sample_records[3]))
    coverage = vector_coverage(store, embedder.name)
    assert (coverage.papers, coverage.without_vectors) == (4, 1) and "1 of 4 papers" in coverage.notice
    assert vector_coverage(store, "another-model").without_vectors == 4  # vectors of one model never count for another


def test_cli_embed_reports_counts(tmp_path):
    db = str(tmp_path / "e.db")
    assert runner.invoke(app, ["--db", db, "ingest", "file", str(SAMPLE)]).exit_code == 0
    first = runner.invoke(app, ["--db", db, "embed", "--json"])
    assert first.exit_code == 0 and json.loads(first.stdout)["embedded"] == 35
    assert json.loads(runner.invoke(app, ["--db", db, "embed", "--json"]).stdout)["unchanged"] == 35


def test_user_topic_changes_the_subarea_filter(sample_store):
    paper = search(sample_store, "", filters=Filters(subarea="llm-pretraining"), limit=1)[0].paper
    sample_store.set_topic(paper.id, Topic(area=paper.topic.area, subarea="reasoning-cot", origin="user"))
    try:
        assert paper.id in {
            h.paper.id for h in search(sample_store, "", filters=Filters(subarea="reasoning-cot"), limit=50)
        }
    finally:
        sample_store.set_topic(paper.id, paper.topic)


def test_a_query_with_no_words_to_match_is_ranked_by_its_vectors_alone():
    """A Chinese query over English papers: BM25 finds nothing, and the fusion is the vectors' order."""
    vectors = [(7, 0.9), (3, 0.8), (5, 0.7)]
    fused = reciprocal_rank_fusion({"lexical": [], "vector": vectors})
    assert [rowid for rowid, _, _ in fused] == [7, 3, 5]
    named = reciprocal_rank_fusion({"lexical": [(5, 9.0)], "vector": vectors})  # a name BM25 finds exactly
    assert named[0][0] == 5
