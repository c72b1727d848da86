"""The model of a reader (``papersift.daily.reader``): what it learns from the library, the stars
and the hides, and how it says why a paper was picked.

The store here holds papers of three topics, written from each topic's own words; a reader's
library is papers of one or two of them. The embedding block is left out (no vectors) except in
the last test, where a library written in Chinese finds English papers through it alone.
"""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import sparse

from papersift.daily.picks_digest import reason_text
from papersift.daily.rank import Interests, rank
from papersift.daily.reader import ReaderModel, side_by_side
from papersift.models import Paper, Topic

TODAY = date(2026, 11, 29)
TOPICS = {
    "graphs": "graph neural network message passing node classification molecular graphs edge features",
    "rl": "reinforcement learning policy gradient reward model verifiable rewards GRPO rollouts",
    "speech": "speech recognition acoustic model spectrogram audio transcription wav2vec",
}
COMMON = "we propose a method and show results on benchmarks with strong baselines and ablations".split()


def papers_of(topic: str, n: int, seed: int) -> list[Paper]:
    rng = random.Random(f"{topic}:{seed}")
    words = TOPICS[topic].split()
    return [
        Paper(
            id=f"{topic}-{seed}-{i}",
            source="file",
            title=" ".join(rng.sample(words, 4)).capitalize(),
            abstract=" ".join(rng.sample(words, 6) + rng.sample(COMMON, 6)) + ".",
            published=TODAY,
        )
        for i in range(n)
    ]


@pytest.fixture
def store() -> list[Paper]:
    return [p for topic in TOPICS for p in papers_of(topic, 30, seed=0)]


def day() -> list[Paper]:
    return [p for topic in TOPICS for p in papers_of(topic, 5, seed=1)]


def ranked(model: ReaderModel | None, today: list[Paper]) -> list[str]:
    nobody = Interests(vectors=np.zeros((0, 1)), labels=[])
    return [pick.paper_id for pick in rank(today, {}, nobody, top=len(today), today=TODAY, diversity=0, model=model)]


def mean_place(order: list[str], topic: str) -> float:
    return float(np.mean([i for i, pid in enumerate(order) if pid.startswith(topic)]))


def test_the_library_s_topic_comes_first(store):
    model = ReaderModel.train(store, {}, [p.id for p in store if p.id.startswith("rl")][:10])
    order = ranked(model, day())
    assert all(pid.startswith("rl") for pid in order[:5]), order


def test_ten_hides_of_a_topic_push_it_down_the_next_day(store):
    rl, graphs, speech = ([p.id for p in store if p.id.startswith(t)] for t in ("rl", "graphs", "speech"))
    library = rl[:10] + graphs[:3] + speech[:3]  # mostly one topic, a little of two others
    before = ranked(ReaderModel.train(store, {}, library), day())
    after = ranked(ReaderModel.train(store, {}, library, hidden=graphs[10:20]), day())
    assert mean_place(after, "graphs") > mean_place(before, "graphs") + 1
    assert mean_place(after, "graphs") > mean_place(after, "speech")  # below the topic it stood level with


def test_stars_pull_a_topic_up(store):
    library = [p.id for p in store if p.id.startswith("rl")][:10]
    before = ranked(ReaderModel.train(store, {}, library), day())
    starred = [p.id for p in store if p.id.startswith("speech")][:10]
    after = ranked(ReaderModel.train(store, {}, library + starred), day())
    assert mean_place(after, "speech") < mean_place(before, "speech") - 1


def test_a_pick_names_the_terms_that_lifted_it_and_each_occurs_in_the_paper(store):
    model = ReaderModel.train(store, {}, [p.id for p in store if p.id.startswith("rl")][:10])
    today = day()
    nobody = Interests(vectors=np.zeros((0, 1)), labels=[])
    picks = rank(today, {}, nobody, top=3, today=TODAY, model=model)
    by_id = {p.id: p for p in today}
    for pick in picks:
        (terms,) = [w.removeprefix("terms ") for w in pick.why if w.startswith("terms ")]
        text = f"{by_id[pick.paper_id].title} {by_id[pick.paper_id].abstract}".lower()
        named = terms.split(", ")
        assert named and all(term in text for term in named), (named, text)
        assert list(pick.evidence["terms"]) == named and all(w > 0 for w in pick.evidence["terms"].values())
        reader_words = TOPICS["rl"].lower().split()
        assert all(word in reader_words for term in named for word in term.split())  # the reader's topic lifted it


def test_nothing_to_learn_from_is_no_model(store):
    assert ReaderModel.train(store, {}, []) is None
    assert ReaderModel.train(store, {}, [p.id for p in store]) is None


def test_a_library_in_chinese_finds_english_papers_through_the_multilingual_embedding():
    from papersift.search.embeddings import USEEmbedder

    chinese = [
        Paper(
            id="zh-1",
            source="file",
            title="基于可验证奖励的强化学习",
            abstract="我们用策略梯度和奖励模型训练语言模型的推理能力。",
        ),
        Paper(
            id="zh-2",
            source="file",
            title="强化学习中的奖励模型",
            abstract="奖励模型为策略优化提供信号，我们研究其过度优化问题。",
        ),
    ]
    english = [
        Paper(id="en-rl", source="file", title="Policy gradient with verifiable rewards for reasoning",
              abstract="We train language models with reinforcement learning from verifiable rewards."),
        Paper(id="en-speech", source="file", title="Streaming speech recognition",
              abstract="An acoustic model for low-latency transcription of audio."),
        Paper(id="en-graphs", source="file", title="Message passing on molecular graphs",
              abstract="A graph neural network for molecular property prediction."),
    ]  # fmt: skip
    corpus = chinese + english
    vectors = dict(
        zip([p.id for p in corpus], USEEmbedder.shared().embed([p.title + " " + p.abstract for p in corpus]))
    )
    model = ReaderModel.train(corpus, vectors, ["zh-1", "zh-2"])
    assert model is not None
    nobody = Interests(vectors=np.zeros((0, 1)), labels=[])
    picks = rank(english, vectors, nobody, top=3, today=TODAY, diversity=0, model=model)
    assert picks[0].paper_id == "en-rl"


def test_a_paper_it_learnt_from_scores_as_a_new_one_with_the_same_text_would(store):
    model = ReaderModel.train(store, {}, [p.id for p in store if p.id.startswith("rl")][:10])
    same_text = [p.model_copy(update={"id": f"copy-of-{p.id}"}) for p in store[::7]]
    assert np.allclose(model.scores(store[::7], {}), model.scores(same_text, {}))


def test_feedback_from_the_command_line_is_what_the_next_run_learns_from(tmp_path, store):
    """``papersift feedback REF up|down`` as a reader gives it; the daily run's model of the reader
    (papersift.daily.run.reader_model) then ranks the hidden topic below the one it stood level with."""
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from papersift.cli import app
    from papersift.config import Settings
    from papersift.daily.library import Library
    from papersift.daily.run import DailyReport, interests_for, reader_model
    from papersift.store import Store

    db = tmp_path / "papers.db"
    with Store(db) as saved:
        ids = {p.id: saved.upsert(p.model_copy(update={"id": None}))[0] for p in store + day()}
    rl, graphs, speech = ([ids[p.id] for p in store if p.id.startswith(t)] for t in ("rl", "graphs", "speech"))
    give = lambda ref, verdict: CliRunner().invoke(app, ["--db", str(db), "feedback", ref, verdict])  # noqa: E731
    for ref in rl[:10] + graphs[:3] + speech[:3]:
        assert give(ref, "up").exit_code == 0

    no_vectors = SimpleNamespace(name="none")  # the model learns from words alone here
    today = [p.model_copy(update={"id": ids[p.id]}) for p in day()]
    topic = {ids[p.id]: p.id.split("-")[0] for p in day()}

    def places() -> dict[str, float]:
        with Store(db) as current:
            interests = interests_for(current, no_vectors, Library([], []), Settings(db=db), DailyReport())
            model = reader_model(current, no_vectors, Library([], []), interests, today, {})
        order = ranked(model, today)
        return {t: float(np.mean([i for i, pid in enumerate(order) if topic[pid] == t])) for t in TOPICS}

    before = places()
    for ref in graphs[10:20]:
        assert give(ref, "down").exit_code == 0
    after = places()
    assert after["graphs"] > before["graphs"] + 1 and after["graphs"] > after["speech"]
    assert give(graphs[0], "sideways").exit_code == 2


def test_a_store_without_an_english_word_still_gives_a_model():
    corpus = [
        Paper(id=f"zh-{i}", source="file", title=title, abstract="摘要。")
        for i, title in enumerate(["强化学习", "奖励模型", "语音识别", "图神经网络"])
    ]
    model = ReaderModel.train(corpus, {}, ["zh-0"])
    assert model is not None and model.scores(corpus, {})[0] == max(model.scores(corpus, {}))


def test_a_paper_s_sub_area_counts_where_its_words_say_nothing():
    """Two sub-areas written in the same words: only the classifier's sub-area tells them apart."""
    same = [
        p.model_copy(update={"id": f"{p.id}-{s}", "topic": Topic(subarea=s, origin="model")})
        for s in ("rl-alignment", "rl-robotics")
        for p in papers_of("rl", 20, seed=0)
    ]
    library = {p.id for p in same if p.topic.subarea == "rl-alignment"}
    model = ReaderModel.train(same, {}, list(library)[:10])
    scores = model.scores(same, {})
    liked = [s for p, s in zip(same, scores) if p.topic.subarea == "rl-alignment"]
    other = [s for p, s in zip(same, scores) if p.topic.subarea == "rl-robotics"]
    assert min(liked) > max(other)
    blind = ReaderModel.train(same, {}, list(library)[:10], topic_weight=0.0)
    assert not min(blind.scores(same, {})[:20]) > max(blind.scores(same, {})[20:])  # the words alone cannot


def test_a_sub_area_the_classifier_was_unsure_of_lifts_a_paper_less():
    """Same words, same sub-area: the paper the classifier placed there at 0.9 stands above the one
    it placed there at 0.3."""
    same = [
        p.model_copy(update={"id": f"{p.id}-{s}", "topic": Topic(subarea=s, origin="model", confidence=0.9)})
        for s in ("rl-alignment", "rl-robotics")
        for p in papers_of("rl", 20, seed=0)
    ]
    library = [p.id for p in same if p.topic.subarea == "rl-alignment"][:10]
    new = papers_of("rl", 1, seed=5)[0]
    sure, unsure = (
        new.model_copy(update={"id": f"day-{c}", "topic": Topic(subarea="rl-alignment", origin="model", confidence=c)})
        for c in (0.9, 0.3)
    )
    model = ReaderModel.train([*same, sure, unsure], {}, library)
    assert model.scores([sure], {})[0] > model.scores([unsure], {})[0]
    assert model.topic_lift(sure)[1] == pytest.approx(3 * model.topic_lift(unsure)[1])
    told = unsure.model_copy(update={"topic": Topic(subarea="rl-alignment", origin="source", confidence=0.3)})
    assert model.topic_lift(told)[1] > model.topic_lift(sure)[1]  # a source's sub-area is no guess


@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            st.lists(st.lists(st.floats(0.125, 1, width=32), min_size=5, max_size=5), min_size=n, max_size=n),
            st.lists(st.lists(st.floats(-1, 1, width=32), min_size=3, max_size=3), min_size=n, max_size=n),
        )
    )
)
def test_the_blocks_side_by_side_are_what_scipy_s_hstack_builds(blocks):
    words, dense = blocks
    sparse_words = sparse.csr_matrix(np.array(words, dtype=np.float32) * (np.arange(5) % 2))  # some zeros
    built = side_by_side(sparse_words, [np.array(dense, dtype=np.float32)])
    expected = sparse.hstack([sparse_words, sparse.csr_matrix(np.array(dense, dtype=np.float32))])
    assert np.array_equal(built.toarray(), expected.toarray())


def test_a_pick_lifted_by_its_sub_area_says_so_in_the_reader_s_words():
    same = [
        p.model_copy(update={"id": f"{p.id}-{s}", "topic": Topic(subarea=s, origin="model")})
        for s in ("rl-alignment", "rl-robotics")
        for p in papers_of("rl", 20, seed=0)
    ]
    model = ReaderModel.train(same, {}, [p.id for p in same[:10]])
    (pick,) = rank(same[10:], {}, Interests(vectors=np.zeros((0, 1)), labels=[]), top=1, today=TODAY, model=model)
    assert "sub-area rl-alignment" in pick.why and pick.evidence["subarea"]["rl-alignment"] > 0
    assert reason_text("sub-area rl-alignment", "zh", "对齐与指令微调") == "你常读的子领域 对齐与指令微调"


def test_picks_passed_over_push_their_topic_down_less_than_hides(store):
    rl, graphs, speech = ([p.id for p in store if p.id.startswith(t)] for t in ("rl", "graphs", "speech"))
    library = rl[:10] + graphs[:3] + speech[:3]
    before = ranked(ReaderModel.train(store, {}, library), day())
    dismissed = ranked(ReaderModel.train(store, {}, library, dismissed=graphs[10:20]), day())
    hidden = ranked(ReaderModel.train(store, {}, library, hidden=graphs[10:20]), day())
    assert mean_place(before, "graphs") < mean_place(dismissed, "graphs") <= mean_place(hidden, "graphs")


def test_the_picks_of_earlier_digests_the_reader_did_not_touch_are_the_dismissed_ones(tmp_path, store):
    """Starred, read or hidden, a pick was acted on; the others were shown and passed over."""
    from papersift import curation
    from papersift.daily.picks_digest import DailyDigest, DigestPaper
    from papersift.daily.run import dismissed_picks
    from papersift.daily.synthesis import Synthesis
    from papersift.publish.view import view_of
    from papersift.store import Store

    with Store(tmp_path / "papers.db") as saved:
        ids = [saved.upsert(p.model_copy(update={"id": None}))[0] for p in store[:5]]
        assert dismissed_picks(saved) == []  # no digest yet
        shown = [DigestPaper(rank=i, score=1.0, why=[], view=view_of(saved, pid, "zh")) for i, pid in enumerate(ids)]
        digest = DailyDigest(day=TODAY, lang="zh", considered=5, synthesis=Synthesis(status="off"), papers=shown)
        saved.set_digest_data(saved.add_digest(TODAY.isoformat(), 0, []), digest.model_dump_json())
        saved.add_digest(TODAY.isoformat(), 0, [])  # a run that stopped before writing its digest
        curation.star(saved, ids[0])
        curation.mark_read(saved, ids[1])
        curation.hide(saved, ids[2])
        assert dismissed_picks(saved) == ids[3:]
        assert saved.read_papers() == [ids[1]]
