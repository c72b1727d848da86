"""Classifying the store's papers: training data, assignment, and honest evaluation.

Training data is every paper labelled by its source or by a user (``topic.origin``), with the
latest user correction from the ``labels`` table taking precedence. Predictions are written to
``predictions`` (one row per paper and method, with its confidence); the chosen one becomes the
paper's topic with ``origin="model"``, never over a source's or a user's label.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold

from ..config import cache_dir
from ..models import Paper, Topic
from ..search.embeddings import Embedder, embed_store, paper_text, vectors_for
from ..store import Store
from ..taxonomy import Taxonomy
from . import supervised
from .supervised import SEED, Example, SubareaClassifier, TrainingError

if TYPE_CHECKING:
    from .zeroshot import ZeroShotClassifier

Method = Literal["supervised", "llm", "combined"]
HUMAN_ORIGINS = ("source", "user")


def models_dir() -> Path:
    return cache_dir() / "classify"


# --- training data -------------------------------------------------------------------------------


def labelled_papers(store: Store, exclude_abstracts: set[str] = frozenset()) -> list[tuple[Paper, str]]:
    """(paper, sub-area) for every paper a source or a user labelled."""
    corrections = store.user_corrections()
    found = []
    for paper in store.iter_papers():
        label = corrections.get(paper.id)
        if label is None and paper.topic and paper.topic.origin in HUMAN_ORIGINS:
            label = paper.topic.subarea
        if label and abstract_key(paper) not in exclude_abstracts:
            found.append((paper, label))
    return found


def unlabelled_papers(store: Store) -> list[Paper]:
    """Papers no source or user has labelled (model-assigned ones are classified again)."""
    corrections = store.user_corrections()
    return [
        p
        for p in store.iter_papers()
        if p.id not in corrections and not (p.topic and p.topic.origin in HUMAN_ORIGINS and p.topic.subarea)
    ]


def abstract_key(paper: Paper) -> str:
    return hashlib.sha256(" ".join((paper.abstract or paper.title or "").split()).encode()).hexdigest()


def examples_for(
    store: Store | None, papers: Sequence[Paper], embedder: Embedder, labels: Sequence[str | None] | None = None
) -> list[Example]:
    """Classifier inputs: stored vectors where the store has them, the rest embedded now (not stored)."""
    labels = labels or [None] * len(papers)
    stored = vectors_for(store, [p.id for p in papers if p.id], embedder.name) if store is not None else {}
    missing = [i for i, p in enumerate(papers) if p.id not in stored]
    fresh = dict(zip(missing, embedder.embed([paper_text(papers[i]) for i in missing]))) if missing else {}
    return [
        supervised.example(p, stored.get(p.id) if p.id in stored else fresh[i], label)
        for i, (p, label) in enumerate(zip(papers, labels))
    ]


def training_examples(store: Store, embedder: Embedder, exclude_abstracts: set[str] = frozenset()) -> list[Example]:
    pairs = labelled_papers(store, exclude_abstracts)
    return examples_for(store, [p for p, _ in pairs], embedder, [label for _, label in pairs])


def trained_classifier(examples: list[Example], embedder: Embedder, *, retrain: bool = False) -> SubareaClassifier:
    """The model for this training set: loaded if one was saved for it, else trained and saved."""
    digest = supervised.training_hash(supervised.usable_examples(examples, use_vectors=True), embedder.name)
    if not retrain:
        cached = supervised.load(models_dir(), digest)
        if cached is not None:
            return cached
    classifier = supervised.train(examples, embedder=embedder.name)
    supervised.save(classifier, models_dir())
    return classifier


# --- assignment -------------------------------------------------------------------------------


@dataclass
class Prediction:
    paper_id: str
    method: Method
    subarea: str
    confidence: float


@dataclass
class ClassifyReport:
    classified: int = 0
    assigned: int = 0
    methods: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    model: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "classified": self.classified,
            "assigned": self.assigned,
            "methods": self.methods,
            "errors": self.errors,
            "model": self.model,
        }


RELIABILITY_SAMPLE = 40  # labelled papers the LLM also files in combined mode, to learn how often it is right


def reliability_sample(labelled: list[tuple[Paper, str]], n: int = RELIABILITY_SAMPLE) -> list[tuple[Paper, str]]:
    """A fixed sample of labelled papers (by content hash, so the LLM's answers stay cached), labels hidden."""
    chosen = sorted(labelled, key=lambda pair: abstract_key(pair[0]))[:n]
    return [(paper.model_copy(update={"topic": None}), label) for paper, label in chosen]


def reliability(votes: Sequence[tuple[str, float] | Exception], labels: Sequence[str]) -> float:
    """How often the LLM named the right sub-area, smoothed: (right + 1) / (answered + 2)."""
    answered = [(vote[0], label) for vote, label in zip(votes, labels) if not isinstance(vote, Exception)]
    return (sum(said == label for said, label in answered) + 1) / (len(answered) + 2)


def combine(
    supervised_proba: np.ndarray, classes: list[str], llm: Prediction | None, trust: float
) -> tuple[str, float]:
    """The supervised probabilities times the likelihood of the LLM's answer, which names the true
    sub-area with probability ``trust`` (its measured :func:`reliability`) and any other alike.

    The LLM's own stated confidence is not used: a small model says 0.9 whatever it answers, and
    averaging with that let a 58%-accurate model overrule a 75%-accurate classifier every time.
    """
    proba = supervised_proba.copy()
    if llm is not None and llm.subarea in classes:
        likelihood = np.full(len(classes), (1 - trust) / max(len(classes) - 1, 1))
        likelihood[classes.index(llm.subarea)] = trust
        proba = proba * likelihood
        proba /= proba.sum()
    best = int(proba.argmax())
    return classes[best], float(proba[best])


def llm_votes(
    zero_shot: ZeroShotClassifier, papers: list[Paper], sample: list[tuple[Paper, str]]
) -> tuple[list, float]:
    """The LLM's answer for each paper (or its error), and its reliability on ``sample``: one batch of calls."""
    votes = zero_shot.classify_all([*papers, *(paper for paper, _ in sample)])
    return votes[: len(papers)], reliability(votes[len(papers) :], [label for _, label in sample])


def save_prediction(store: Store, taxonomy: Taxonomy, prediction: Prediction, *, assign: bool) -> bool:
    """Record a prediction; make it the paper's topic unless a source or user labelled it. True if assigned."""
    area = taxonomy.area_of(prediction.subarea).key if prediction.subarea in taxonomy else None
    with store.transaction():
        store.save_prediction(prediction.paper_id, prediction.method, area, prediction.subarea, prediction.confidence)
        if not assign:
            return False
        paper = store.get(prediction.paper_id)
        if paper.topic and paper.topic.origin in HUMAN_ORIGINS and paper.topic.subarea:
            return False
        if prediction.paper_id in store.user_corrections():
            return False
        store.set_topic(
            prediction.paper_id,
            Topic(area=area, subarea=prediction.subarea, origin="model", confidence=prediction.confidence),
        )
    return True


def classify_store(
    store: Store,
    taxonomy: Taxonomy,
    embedder: Embedder,
    *,
    method: Method = "supervised",
    zero_shot: ZeroShotClassifier | None = None,
    retrain: bool = False,
    training: list[Example] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ClassifyReport:
    """Classify every unlabelled paper with ``method`` and assign the result as its topic.

    ``supervised`` and ``llm`` store and assign their own prediction; ``combined`` stores both
    and assigns their average (see :func:`combine`). A paper whose LLM call fails is reported and
    keeps what it had. The supervised model learns from ``training`` when given (labelled papers
    kept outside the store, as the demo's), else from the store's labelled papers.
    """
    if method in ("llm", "combined") and zero_shot is None:
        raise TrainingError(f"method {method!r} needs an LLM")
    report = ClassifyReport(
        methods={"supervised": ["supervised"], "llm": ["llm"], "combined": ["supervised", "llm", "combined"]}[method]
    )
    papers = unlabelled_papers(store)
    supervised_proba: dict[str, np.ndarray] = {}
    classifier = None
    if method in ("supervised", "combined"):
        embed_store(store, embedder)
        examples = training if training is not None else training_examples(store, embedder)
        classifier = trained_classifier(examples, embedder, retrain=retrain)
        report.model = {
            "bases": "+".join(classifier.bases),
            "n_train": classifier.n_train,
            "hash": classifier.training_hash,
            "selection": classifier.selection,
        }
        for start in range(0, len(papers), 256):
            batch = papers[start : start + 256]
            for paper, proba in zip(batch, classifier.predict_proba(examples_for(store, batch, embedder))):
                supervised_proba[paper.id] = proba
                best = int(proba.argmax())
                prediction = Prediction(paper.id, "supervised", classifier.classes[best], float(proba[best]))
                report.assigned += save_prediction(store, taxonomy, prediction, assign=method == "supervised")
            if method == "supervised" and on_progress:
                on_progress(len(batch))
        if method == "supervised":
            report.classified = len(papers)
            return report
    sample = reliability_sample(labelled_papers(store)) if method == "combined" else []
    votes, trust = llm_votes(zero_shot, papers, sample)
    if method == "combined":
        report.model["llm_reliability"] = round(trust, 3)
    for paper, result in zip(papers, votes):
        if on_progress:
            on_progress(1)
        if isinstance(result, Exception):  # one paper's failure never sinks the batch
            report.errors.append(f"{paper.id}: {result}")
            continue
        llm = Prediction(paper.id, "llm", *result)
        report.assigned += save_prediction(store, taxonomy, llm, assign=method == "llm")
        if method == "combined":
            subarea, confidence = combine(supervised_proba[paper.id], classifier.classes, llm, trust)
            report.assigned += save_prediction(
                store, taxonomy, Prediction(paper.id, "combined", subarea, confidence), assign=True
            )
        report.classified += 1
    return report


# --- evaluation -------------------------------------------------------------------------------


@dataclass
class Evaluation:
    accuracy: float
    macro_f1: float
    n: int
    labels: list[str] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)  # rows: true label, columns: predicted
    folds: int | None = None
    chosen: list[str] = field(default_factory=list)  # the base models each training picked
    method: Method = "supervised"
    llm_failed: int = 0  # LLM calls that ended in an error (llm and combined)
    llm_reliability: float | None = None  # combined: how often the LLM was right on a sample of the training papers

    def as_dict(self, *, brief: bool = False) -> dict:
        core = {"accuracy": round(self.accuracy, 4), "macro_f1": round(self.macro_f1, 4), "n": self.n}
        if self.method != "supervised":
            core |= {"method": self.method, "llm_failed": self.llm_failed}
        if self.llm_reliability is not None:
            core["llm_reliability"] = self.llm_reliability
        if brief:
            return core
        return {**core, "folds": self.folds, "labels": self.labels, "confusion": self.confusion, "chosen": self.chosen}


def score(truth: Sequence[str], predicted: Sequence[str], **extra) -> Evaluation:
    truth, predicted = [str(t) for t in truth], [str(p) for p in predicted]
    labels = sorted(set(truth) | set(predicted))
    return Evaluation(
        accuracy=float(accuracy_score(truth, predicted)),
        macro_f1=float(f1_score(truth, predicted, labels=sorted(set(truth)), average="macro", zero_division=0)),
        n=len(truth),
        labels=labels,
        confusion=confusion_matrix(truth, predicted, labels=labels).tolist(),
        **extra,
    )


def cross_validate(examples: list[Example], folds: int = 5) -> Evaluation:
    """Stratified k-fold CV (fixed seed); every fold trains, and selects its models, on its training part only."""
    examples = supervised.usable_examples(examples, use_vectors=all(e.vector is not None for e in examples))
    labels = np.array([e.label for e in examples])
    folds = supervised._n_folds(labels, folds)
    if folds < 2:
        raise TrainingError("cross-validation needs at least two labelled papers per sub-area")
    predicted = np.empty(len(examples), dtype=object)
    chosen = []
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=SEED).split(
        np.zeros(len(labels)), labels
    ):
        classifier = supervised.train([examples[i] for i in train_idx])
        chosen.append("+".join(classifier.bases))
        predicted[test_idx] = [s for s, _ in classifier.predict([examples[i] for i in test_idx])]
    return score(list(labels), list(predicted), folds=folds, chosen=chosen)


def evaluate_on(
    store: Store,
    records: list[Paper],
    embedder: Embedder,
    *,
    retrain: bool = False,
    method: Method = "supervised",
    zero_shot: ZeroShotClassifier | None = None,
) -> Evaluation:
    """Train on the store's labelled papers minus any in ``records`` (same abstract), score ``method``
    on ``records``. An LLM call that fails counts as a wrong answer for ``llm``; for ``combined``
    the supervised answer stands alone (as when classifying)."""
    labelled = [p for p in records if p.topic and p.topic.subarea]
    if not labelled:
        raise TrainingError("no record in the file has a sub-area label to evaluate against")
    if method != "supervised" and zero_shot is None:
        raise TrainingError(f"method {method!r} needs an LLM")
    test = [p.model_copy(update={"id": None, "topic": None}) for p in labelled]
    truth = [p.topic.subarea for p in labelled]
    held_out = {abstract_key(p) for p in labelled}
    classifier, proba = None, None
    if method in ("supervised", "combined"):
        if not labelled_papers(store, held_out):
            raise TrainingError(
                f"{store.path}: no labelled paper left to train on once the file's {len(held_out)} are left out"
            )
        classifier = trained_classifier(training_examples(store, embedder, held_out), embedder, retrain=retrain)
        proba = classifier.predict_proba(examples_for(None, test, embedder))
    chosen = ["+".join(classifier.bases)] if classifier else []
    if method == "supervised":
        return score(truth, [classifier.classes[i] for i in proba.argmax(axis=1)], chosen=chosen)
    sample = reliability_sample(labelled_papers(store, held_out)) if method == "combined" else []
    answers, trust = llm_votes(zero_shot, test, sample)
    votes = [None if isinstance(v, Exception) else Prediction("", "llm", *v) for v in answers]
    if method == "llm":
        predicted = [v.subarea if v else "(LLM call failed)" for v in votes]
    else:
        predicted = [combine(row, classifier.classes, v, trust)[0] for row, v in zip(proba, votes)]
    return score(
        truth,
        predicted,
        chosen=chosen,
        method=method,
        llm_failed=votes.count(None),
        llm_reliability=round(trust, 3) if method == "combined" else None,
    )
