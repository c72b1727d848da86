"""Topics: the taxonomy, the supervised and zero-shot classifiers, and honest evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE, shared_file
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC
from typer.testing import CliRunner

from papersift.classify import pipeline, supervised
from papersift.classify.zeroshot import ZeroShotClassifier
from papersift.cli import app
from papersift.config import load_settings
from papersift.models import Topic
from papersift.search.embeddings import USEEmbedder, embed_store
from papersift.sources.files import paper_from_mapping, read_jsonl
from papersift.store import Store
from papersift.taxonomy import TaxonomyError, load_taxonomy, read_taxonomy

runner = CliRunner()
SEVEN = [
    "instruction-tuning-alignment",
    "reasoning-cot",
    "efficiency-compression",
    "agents-tools",
    "multimodal-foundation",
    "model-architecture",
    "llm-pretraining",
]
UNLABELLED = 7  # the last record of each of the seven sub-areas in the sample loses its label


# --- the taxonomy --------------------------------------------------------------------------


def test_the_default_taxonomy_has_the_seven_llm_subareas_beside_other_areas():
    taxonomy = load_taxonomy(load_settings())
    llm = taxonomy.area("基础/前沿模型 (含LLM)")  # the label the shared catalog stores
    assert llm.key == "foundation-models"
    assert taxonomy.subarea_keys(llm.key) == SEVEN
    assert taxonomy.label("instruction-tuning-alignment", "zh") == "指令微调与对齐"
    assert taxonomy.label("instruction-tuning-alignment", "en") == "Alignment"
    assert taxonomy.label("agents-tools") == "Agent 与工具使用"
    assert taxonomy.label("reasoning-cot", "fr") == taxonomy.label("reasoning-cot", "en")  # falls back to English
    assert taxonomy.area_of("llm-pretraining") is llm
    others = taxonomy.areas[1:]
    assert len(others) >= 5 and all(a.subareas and a.description for a in others)
    assert all(s.description for a in taxonomy.areas for s in a.subareas)
    assert taxonomy.order("foundation-models") < taxonomy.order("reasoning-cot") < taxonomy.order("computer-vision")


def test_a_user_taxonomy_replaces_the_default(tmp_path, monkeypatch):
    own = tmp_path / "mine.toml"
    own.write_text(
        '[[areas]]\nkey = "nlp"\nlabels = { en = "NLP", zh = "自然语言处理" }\n'
        '[[areas.subareas]]\nkey = "mt"\nlabels = { en = "Translation", zh = "机器翻译" }\ndescription = "machine translation"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("PAPERSIFT_TAXONOMY", str(own))
    taxonomy = load_taxonomy(load_settings())
    assert taxonomy.subarea_keys() == ["mt"] and taxonomy.label("nlp", "zh") == "自然语言处理"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[[areas]]\nkey = 'x'\n", "areas.0.labels: Field required"),
        (
            "[[areas]]\nkey = 'Bad Key'\nlabels = {en='x'}\n[[areas.subareas]]\nkey='y'\nlabels={en='y'}\n",
            "areas.0.key",
        ),
        ("[[areas]\n", "invalid TOML"),
        ("[[areas]]\nkey='a'\nlabels={en='a'}\n[[areas.subareas]]\nkey='a'\nlabels={en='a'}\n", "unique"),
    ],
)
def test_a_broken_taxonomy_file_is_named_with_the_field_at_fault(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TaxonomyError, match="bad.toml") as caught:
        read_taxonomy(path)
    assert message in str(caught.value)


# --- the supervised classifier -------------------------------------------------------------


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory) -> Path:
    """The sample, embedded once; the last paper of each sub-area without its label."""
    records = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    last = {r["subcategory_key"]: i for i, r in enumerate(records)}
    path = tmp_path_factory.getbasetemp() / "classify-template.db"
    with Store(path) as store:
        for i, raw in enumerate(records):
            if i in last.values():
                raw = {k: v for k, v in raw.items() if k not in ("category", "subcategory", "subcategory_key")}
            store.upsert(paper_from_mapping(raw))
        embed_store(store, USEEmbedder.shared())
    return path


@pytest.fixture
def labelled_store(sample_template, tmp_path, monkeypatch) -> Store:
    monkeypatch.setenv("PAPERSIFT_CACHE_DIR", str(tmp_path / "cache"))  # trained models land here
    with Store(sample_template, readonly=True) as template:
        store = Store(tmp_path / "labelled.db")
        template.conn.backup(store.conn)
    yield store
    store.close()


def topics(store: Store) -> dict[str, Topic | None]:
    return {p.id: p.topic for p in store.iter_papers()}


def test_classify_assigns_unlabelled_papers_and_keeps_every_prediction(labelled_store):
    before = topics(labelled_store)
    report = pipeline.classify_store(labelled_store, load_taxonomy(), USEEmbedder.shared())
    assert report.classified == report.assigned == UNLABELLED
    assert report.model["n_train"] == 35 - UNLABELLED and set(report.model["bases"].split("+")) <= {
        "word",
        "char",
        "emb",
    }
    rows = labelled_store.conn.execute("SELECT paper_id, method, area, subarea, confidence FROM predictions").fetchall()
    assert len(rows) == UNLABELLED and {r[1] for r in rows} == {"supervised"}
    assert all(r[2] == "foundation-models" and r[3] in SEVEN and 0 < r[4] <= 1 for r in rows)
    after = topics(labelled_store)
    for paper_id, _method, area, subarea, confidence in rows:
        assert before[paper_id] is None
        assert after[paper_id] == Topic(area=area, subarea=subarea, origin="model", confidence=confidence)
    # the labelled papers are untouched
    assert {k: v for k, v in after.items() if before[k]} == {k: v for k, v in before.items() if v}


def test_a_prediction_never_overwrites_a_source_or_user_label(labelled_store):
    taxonomy = load_taxonomy()
    labelled = next(p for p in labelled_store.iter_papers() if p.topic)
    prediction = pipeline.Prediction(labelled.id, "supervised", "agents-tools", 0.99)
    assert pipeline.save_prediction(labelled_store, taxonomy, prediction, assign=True) is False
    assert labelled_store.get(labelled.id).topic == labelled.topic
    unlabelled = next(p for p in labelled_store.iter_papers() if not p.topic)
    labelled_store.set_topic(unlabelled.id, Topic(area="foundation-models", subarea="llm-pretraining", origin="user"))
    pipeline.classify_store(labelled_store, taxonomy, USEEmbedder.shared())
    assert labelled_store.get(unlabelled.id).topic.origin == "user"
    assert labelled_store.get(unlabelled.id).topic.subarea == "llm-pretraining"


def test_a_user_correction_is_a_label_the_next_training_uses(labelled_store):
    embedder = USEEmbedder.shared()
    first = pipeline.trained_classifier(pipeline.training_examples(labelled_store, embedder), embedder)
    unlabelled = next(p for p in labelled_store.iter_papers() if not p.topic)
    relabelled = next(p for p in labelled_store.iter_papers() if p.topic and p.topic.subarea == "agents-tools")
    labelled_store.set_topic(unlabelled.id, Topic(subarea="reasoning-cot", origin="user"))
    labelled_store.set_topic(relabelled.id, Topic(subarea="reasoning-cot", origin="user"))
    labels = {p.id: label for p, label in pipeline.labelled_papers(labelled_store)}
    assert labels[unlabelled.id] == labels[relabelled.id] == "reasoning-cot"
    assert unlabelled.id not in {p.id for p in pipeline.unlabelled_papers(labelled_store)}
    second = pipeline.trained_classifier(pipeline.training_examples(labelled_store, embedder), embedder)
    assert second.training_hash != first.training_hash and second.n_train == first.n_train + 1


def test_the_trained_model_is_saved_under_the_hash_of_its_training_set(labelled_store, monkeypatch):
    embedder = USEEmbedder.shared()
    examples = pipeline.training_examples(labelled_store, embedder)
    trained = pipeline.trained_classifier(examples, embedder)
    assert supervised.model_path(pipeline.models_dir(), trained.training_hash).is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the training set did not change")

    monkeypatch.setattr(supervised, "train", no_training)
    loaded = pipeline.trained_classifier(examples, embedder)
    assert loaded.training_hash == trained.training_hash and loaded.bases == trained.bases


def test_too_few_labels_is_a_clear_error(store, sample_records):
    store.upsert(paper_from_mapping(sample_records[0]))
    embed_store(store, USEEmbedder.shared())
    with pytest.raises(supervised.TrainingError, match="at least two sub-areas"):
        pipeline.classify_store(store, load_taxonomy(), USEEmbedder.shared())


# --- the zero-shot classifier and the combination -------------------------------------------


def scripted_choice(body: dict) -> dict:
    """The scripted LLM files a paper by a keyword of its abstract."""
    text = body["messages"][-1]["content"].lower()
    if "agent" in text:
        return {"subarea": "agents-tools", "confidence": 0.9}
    if "vision" in text or "image" in text:
        return {"subarea": "multimodal-foundation", "confidence": 0.8}
    return {"subarea": "reasoning-cot", "confidence": 0.6}


def zero_shot_for(server, store, keys=SEVEN) -> ZeroShotClassifier:
    settings = load_settings(
        llm={"backend": "openai", "base_url": server.base_url, "model": "scripted", "timeout": 5.0, "max_retries": 1}
    )
    return ZeroShotClassifier.from_settings(settings, load_taxonomy(), store, keys)


def test_zero_shot_sends_the_taxonomy_and_constrains_the_answer_to_its_keys(labelled_store):
    from support.llm_server import ScriptedServer

    with ScriptedServer(responder=scripted_choice) as server:
        report = pipeline.classify_store(
            labelled_store,
            load_taxonomy(),
            USEEmbedder.shared(),
            method="llm",
            zero_shot=zero_shot_for(server, labelled_store),
        )
        request = server.chat_requests[0].body
    assert report.classified == report.assigned == UNLABELLED and report.errors == []
    system = request["messages"][0]["content"]
    assert all(key in system for key in SEVEN) and "KV-cache compression" in system  # descriptions guide it
    assert request["response_format"]["json_schema"]["schema"]["properties"]["subarea"]["enum"] == SEVEN
    rows = labelled_store.conn.execute(
        "SELECT paper_id, subarea, confidence FROM predictions WHERE method = 'llm'"
    ).fetchall()
    assert len(rows) == UNLABELLED
    for paper_id, subarea, confidence in rows:
        paper = labelled_store.get(paper_id)
        assert (subarea, confidence) == tuple(scripted_choice({"messages": [{"content": paper.abstract}]}).values())
        assert paper.topic.subarea == subarea and paper.topic.origin == "model"


def test_combined_stores_each_method_and_one_failed_paper_does_not_sink_the_rest(labelled_store):
    from support.llm_server import ScriptedServer

    victim = next(p for p in labelled_store.iter_papers() if not p.topic)
    with ScriptedServer(responder=scripted_choice) as server:
        # prose instead of JSON, for the first ask and for the re-ask that follows it
        server.fail_when(lambda body: any(victim.abstract[:60] in m["content"] for m in body["messages"]), "prose")
        report = pipeline.classify_store(
            labelled_store,
            load_taxonomy(),
            USEEmbedder.shared(),
            method="combined",
            zero_shot=zero_shot_for(server, labelled_store),
        )
    assert report.classified == UNLABELLED - 1 and len(report.errors) == 1 and victim.id in report.errors[0]
    methods = labelled_store.conn.execute("SELECT method, count(*) FROM predictions GROUP BY method").fetchall()
    assert dict(methods) == {"supervised": UNLABELLED, "llm": UNLABELLED - 1, "combined": UNLABELLED - 1}
    assert labelled_store.get(victim.id).topic is None  # its supervised guess is stored, not assigned
    combined = labelled_store.conn.execute(
        "SELECT paper_id, subarea, confidence FROM predictions WHERE method = 'combined'"
    )
    for paper_id, subarea, confidence in combined:
        assert labelled_store.get(paper_id).topic.subarea == subarea and 0 < confidence <= 1


def test_combine_weighs_the_llms_answer_by_how_often_it_is_right():
    classes = ["a", "b", "c"]
    proba = np.array([0.5, 0.4, 0.1])
    says_b = pipeline.Prediction("p", "llm", "b", 0.99)  # its stated confidence plays no part
    assert pipeline.combine(proba, classes, None, 0.9) == ("a", 0.5)
    subarea, confidence = pipeline.combine(proba, classes, says_b, 0.9)
    assert subarea == "b" and confidence == pytest.approx(0.4 * 0.9 / (0.5 * 0.05 + 0.4 * 0.9 + 0.1 * 0.05))
    assert pipeline.combine(proba, classes, says_b, 1 / 3) == ("a", pytest.approx(0.5))  # a coin flip changes nothing
    assert pipeline.combine(np.array([0.9, 0.08, 0.02]), classes, says_b, 0.6)[0] == "a"  # a sure classifier stands


def test_reliability_is_the_smoothed_share_of_right_answers():
    votes = [("a", 0.9), ("b", 0.9), RuntimeError("timeout"), ("a", 0.9)]
    assert pipeline.reliability(votes, ["a", "a", "a", "a"]) == pytest.approx((2 + 1) / (3 + 2))
    assert pipeline.reliability([], []) == 0.5


# --- evaluation ---------------------------------------------------------------------------------


def test_eval_prints_accuracy_macro_f1_and_the_confusion_matrix(tmp_path):
    db = str(tmp_path / "e.db")
    assert runner.invoke(app, ["--db", db, "ingest", "file", str(SAMPLE)]).exit_code == 0
    result = runner.invoke(app, ["--db", db, "classify", "--eval", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 35 and report["folds"] == 5 and report["labels"] == sorted(SEVEN)
    assert 0 <= report["macro_f1"] <= 1 and 0 <= report["accuracy"] <= 1
    confusion = np.array(report["confusion"])
    assert confusion.shape == (7, 7) and confusion.sum() == 35
    assert confusion.trace() / 35 == pytest.approx(report["accuracy"], abs=1e-4)
    assert len(report["chosen"]) == 5


def test_eval_on_a_file_trains_without_the_files_papers(tmp_path):
    records = SAMPLE.read_text(encoding="utf-8").splitlines()
    db = str(tmp_path / "e.db")
    (tmp_path / "store.jsonl").write_text("\n".join(records[:28]) + "\n", encoding="utf-8")
    held_out = tmp_path / "held-out.jsonl"
    held_out.write_text("\n".join(records[21:]) + "\n", encoding="utf-8")  # 7 shared with the store
    assert runner.invoke(app, ["--db", db, "ingest", "file", str(tmp_path / "store.jsonl")]).exit_code == 0
    result = runner.invoke(app, ["--db", db, "classify", "--eval-on", str(held_out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"accuracy", "macro_f1", "n"} and report["n"] == 14
    with Store(db) as store:
        excluded = {pipeline.abstract_key(p) for p in read_jsonl(held_out)}
        assert len(pipeline.labelled_papers(store, excluded)) == 21  # what it trained on
    # a file with nothing to score against is a clear error
    unlabelled = tmp_path / "unlabelled.jsonl"
    unlabelled.write_text(json.dumps({"abstract": "An abstract with no label."}) + "\n", encoding="utf-8")
    bad = runner.invoke(app, ["--db", db, "classify", "--eval-on", str(unlabelled), "--json"])
    assert bad.exit_code == 2 and "no record in the file has a sub-area label" in bad.output


def test_eval_on_scores_the_llm_and_combined_methods_too(tmp_path):
    from support.llm_server import ScriptedServer

    records = [paper_from_mapping(json.loads(line)) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    truth = {p.abstract[:80]: p.topic.subarea for p in records}

    def asked(body: dict) -> str:
        return next(m["content"] for m in body["messages"] if m["role"] == "user")  # the paper, also in a re-ask

    def oracle(body: dict) -> dict:
        """A perfect LLM: it files each paper under its true label."""
        return {"subarea": next(label for start, label in truth.items() if start in asked(body)), "confidence": 1.0}

    store = Store(tmp_path / "e.db")
    held_out = records[::5]  # one paper of each sub-area
    store.upsert_many([p for p in records if p not in held_out])
    victim = held_out[3]
    embedder = USEEmbedder.shared()
    supervised_only = pipeline.evaluate_on(store, held_out, embedder)
    with ScriptedServer(responder=oracle) as server:
        server.fail_when(lambda body: victim.abstract[:80] in asked(body), "prose")
        llm = pipeline.evaluate_on(store, held_out, embedder, method="llm", zero_shot=zero_shot_for(server, store))
        combined = pipeline.evaluate_on(
            store, held_out, embedder, method="combined", zero_shot=zero_shot_for(server, store)
        )
    assert {p.topic.subarea for p in held_out} == set(SEVEN)
    assert llm.as_dict(brief=True) == {
        "accuracy": round(6 / 7, 4),
        "macro_f1": llm.as_dict()["macro_f1"],
        "n": 7,
        "method": "llm",
        "llm_failed": 1,
    }  # the failed call counts as wrong
    assert "(LLM call failed)" in llm.labels
    # the perfect votes decide every paper but the one whose call failed, where the supervised answer stands
    assert combined.llm_failed == 1 and combined.accuracy >= 6 / 7
    assert combined.llm_reliability == round((28 + 1) / (28 + 2), 3)  # right on every training paper it was shown
    assert supervised_only.accuracy < 6 / 7  # so the votes did change answers
    store.close()


def test_classify_command_assigns_and_reports(tmp_path):
    db = str(tmp_path / "c.db")
    records = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    stripped = [
        {k: v for k, v in r.items() if k != "subcategory_key" and k != "category" and k != "subcategory"}
        for r in records[:3]
    ]
    (tmp_path / "new.jsonl").write_text("\n".join(json.dumps(r) for r in stripped) + "\n", encoding="utf-8")
    (tmp_path / "old.jsonl").write_text("\n".join(json.dumps(r) for r in records[3:]) + "\n", encoding="utf-8")
    for name in ("old.jsonl", "new.jsonl"):
        assert runner.invoke(app, ["--db", db, "ingest", "file", str(tmp_path / name)]).exit_code == 0
    trained = runner.invoke(app, ["--db", db, "classify", "--train", "--json"])
    assert trained.exit_code == 0 and json.loads(trained.stdout)["n_train"] == 32
    result = runner.invoke(app, ["--db", db, "classify", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["assigned"] == 3
    assert runner.invoke(app, ["--db", db, "classify", "--method", "magic"]).exit_code == 2


def test_on_the_shared_catalog_cross_validation_beats_a_plain_tfidf_baseline(tmp_path, monkeypatch):
    """Same stratified folds for both; our classifier picks its models on each training part only."""
    source = shared_file("data/catalog-dev.jsonl")
    from stores import cached_store

    monkeypatch.setenv("PAPERSIFT_CACHE_DIR", str(tmp_path / "cache"))
    with cached_store(source, tmp_path / "catalog.db") as store:
        examples = pipeline.training_examples(store, USEEmbedder.shared())
    ours = pipeline.cross_validate(examples, folds=5)
    labels = np.array([e.label for e in examples])
    texts = [e.text for e in examples]
    correct = 0
    for train, test in StratifiedKFold(5, shuffle=True, random_state=supervised.SEED).split(texts, labels):
        vectorizer = TfidfVectorizer()
        model = LinearSVC().fit(vectorizer.fit_transform([texts[i] for i in train]), labels[train])
        correct += (model.predict(vectorizer.transform([texts[i] for i in test])) == labels[test]).sum()
    baseline = correct / len(labels)
    print(
        f"5-fold CV on {ours.n} papers: ours {ours.accuracy:.3f} (macro-F1 {ours.macro_f1:.3f}), TF-IDF+SVM {baseline:.3f}"
    )
    assert ours.n == 481 and ours.accuracy > baseline
