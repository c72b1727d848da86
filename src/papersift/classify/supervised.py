"""The supervised sub-area classifier: scikit-learn over the store's labelled papers.

Three base models, each a linear SVM with probabilities calibrated by cross-validation:

- ``word``: TF-IDF of word uni- and bigrams over title, abstract, keywords and TL;DR;
- ``char``: TF-IDF of character 3–5-grams over the same text (robust to spelling and morphology);
- ``emb``: the paper's embedding (multilingual USE by default).

Which of them to combine (their probabilities are summed) is chosen by an inner k-fold
cross-validation on the training papers only, so ``--eval`` (an outer cross-validation) never
tunes on the papers it scores. Hyperparameters are fixed, sensible defaults, not searched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from ..atomic import atomic_path
from ..models import Paper

SEED = 0
CANDIDATES: tuple[tuple[str, ...], ...] = (("word",), ("word", "char"), ("word", "emb"), ("word", "char", "emb"))
MIN_PER_CLASS = 2  # calibration needs two papers of a class to split them
MIN_PER_CLASS_TO_SELECT = 4  # so that every inner training part still has two of each
MODEL_VERSION = "1"  # bump when features or models change, so cached models are retrained


class TrainingError(Exception):
    """Too few or too uniform labelled papers to train on."""


@dataclass(frozen=True)
class Example:
    """One paper as the classifier sees it."""

    text: str
    vector: np.ndarray | None = None
    label: str | None = None
    key: str = ""  # identifies the paper's content, for the training-set hash


def classifier_text(paper: Paper) -> str:
    """Title, abstract, keywords (twice: author keywords are dense evidence) and TL;DR."""
    keywords = " ; ".join(paper.keywords)
    return "\n".join(part for part in (paper.title, paper.abstract, keywords, keywords, paper.tldr) if part)


def example(paper: Paper, vector: np.ndarray | None, label: str | None = None) -> Example:
    text = classifier_text(paper)
    return Example(text, vector, label, hashlib.sha256(text.encode()).hexdigest()[:16])


def training_hash(examples: list[Example], embedder: str) -> str:
    """Same labelled papers, same labels, same embedder and code -> same model."""
    digest = hashlib.sha256(f"{MODEL_VERSION}|{embedder}".encode())
    for key, label in sorted((e.key, e.label or "") for e in examples):
        digest.update(f"{key}={label};".encode())
    return digest.hexdigest()[:20]


def _calibrated_svm(n_folds: int) -> CalibratedClassifierCV:
    return CalibratedClassifierCV(LinearSVC(C=0.5), cv=StratifiedKFold(n_folds, shuffle=True, random_state=SEED))


def _vectorizer(base: str) -> TfidfVectorizer:
    if base == "word":
        return TfidfVectorizer(
            sublinear_tf=True, ngram_range=(1, 2), min_df=2, stop_words="english", max_features=200_000
        )
    return TfidfVectorizer(sublinear_tf=True, analyzer="char_wb", ngram_range=(3, 5), min_df=2, max_features=20_000)


class BaseLearner:
    """One base model: features of one kind and a calibrated linear SVM."""

    def __init__(self, base: str, n_folds: int):
        self.base = base
        self.vectorizer = _vectorizer(base) if base != "emb" else None
        self.model = _calibrated_svm(n_folds)

    def _features(self, examples: list[Example], fit: bool = False):
        if self.vectorizer is None:
            return np.stack([e.vector for e in examples])
        texts = [e.text for e in examples]
        return self.vectorizer.fit_transform(texts) if fit else self.vectorizer.transform(texts)

    def fit(self, examples: list[Example], labels: np.ndarray) -> BaseLearner:
        self.model.fit(self._features(examples, fit=True), labels)
        return self

    def predict_proba(self, examples: list[Example]) -> np.ndarray:
        return self.model.predict_proba(self._features(examples))


@dataclass
class SubareaClassifier:
    """The combination chosen by inner cross-validation, fitted on all training papers."""

    bases: tuple[str, ...]
    classes: list[str]
    models: list[BaseLearner]
    training_hash: str = ""
    selection: dict[str, float] = field(default_factory=dict)  # inner-CV accuracy per candidate
    n_train: int = 0

    def predict_proba(self, examples: list[Example]) -> np.ndarray:
        """(n, classes) probabilities; rows sum to one."""
        total = sum(m.predict_proba(examples) for m in self.models)
        return total / len(self.models)

    def predict(self, examples: list[Example]) -> list[tuple[str, float]]:
        """(sub-area, confidence) for each example."""
        proba = self.predict_proba(examples)
        best = proba.argmax(axis=1)
        return [(self.classes[i], float(proba[row, i])) for row, i in enumerate(best)]


def usable_examples(examples: list[Example], use_vectors: bool) -> list[Example]:
    """Labelled examples whose class has enough papers to calibrate on."""
    labelled = [e for e in examples if e.label and (not use_vectors or e.vector is not None)]
    counts: dict[str, int] = {}
    for e in labelled:
        counts[e.label] = counts.get(e.label, 0) + 1
    kept = [e for e in labelled if counts[e.label] >= MIN_PER_CLASS]
    if len({e.label for e in kept}) < 2:
        raise TrainingError(
            f"need labelled papers in at least two sub-areas, {MIN_PER_CLASS} or more each; have {counts or 'none'}"
        )
    return kept


def _smallest_class(labels: np.ndarray) -> int:
    return int(np.unique(labels, return_counts=True)[1].min())


def _n_folds(labels: np.ndarray, wanted: int) -> int:
    return max(2, min(wanted, _smallest_class(labels)))


def select_bases(
    examples: list[Example], labels: np.ndarray, candidates=CANDIDATES, folds: int = 3
) -> dict[tuple[str, ...], float]:
    """Inner-CV accuracy of each candidate combination, on these (training) examples only."""
    n_folds = _n_folds(labels, folds)
    classes = sorted(set(labels))
    needed = sorted({b for c in candidates for b in c})
    proba = {b: np.zeros((len(examples), len(classes))) for b in needed}
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=SEED)
    for train_idx, test_idx in splitter.split(np.zeros(len(labels)), labels):
        train = [examples[i] for i in train_idx]
        test = [examples[i] for i in test_idx]
        inner = _n_folds(labels[train_idx], 3)
        for base in needed:
            model = BaseLearner(base, inner).fit(train, labels[train_idx])
            columns = [classes.index(c) for c in model.model.classes_]
            proba[base][np.ix_(test_idx, columns)] = model.predict_proba(test)
    return {
        combo: float(np.mean(np.array(classes)[sum(proba[b] for b in combo).argmax(axis=1)] == labels))
        for combo in candidates
    }


def train(examples: list[Example], *, embedder: str = "", candidates=CANDIDATES) -> SubareaClassifier:
    """Choose the base models by inner CV on ``examples`` and fit them on all of them."""
    use_vectors = any("emb" in c for c in candidates) and all(e.vector is not None for e in examples if e.label)
    candidates = [c for c in candidates if use_vectors or "emb" not in c]
    examples = usable_examples(examples, use_vectors)
    labels = np.array([e.label for e in examples])
    if len(candidates) > 1 and _smallest_class(labels) >= MIN_PER_CLASS_TO_SELECT:
        scores = select_bases(examples, labels, candidates)
        # ties go to the simpler combination (candidates are listed simplest first)
        bases = max(candidates, key=lambda c: (scores[c], -len(c)))
    else:  # too few papers to compare combinations: average them all
        scores, bases = {}, candidates[-1]
    n_folds = _n_folds(labels, 3)
    models = [BaseLearner(b, n_folds).fit(examples, labels) for b in bases]
    return SubareaClassifier(
        bases=bases,
        classes=[str(c) for c in models[0].model.classes_],
        models=models,
        training_hash=training_hash(examples, embedder),
        selection={"+".join(c): round(s, 4) for c, s in scores.items()},
        n_train=len(examples),
    )


# --- persistence -------------------------------------------------------------------------------


def model_path(directory: Path, digest: str) -> Path:
    return directory / f"subarea-{digest}.joblib"


def save(classifier: SubareaClassifier, directory: Path) -> Path:

    directory.mkdir(parents=True, exist_ok=True)
    path = model_path(directory, classifier.training_hash)
    with atomic_path(path) as tmp:  # a half-written model is never picked up
        joblib.dump(classifier, tmp)
    (directory / "latest.json").write_text(json.dumps({"hash": classifier.training_hash}), encoding="utf-8")
    return path


def load(directory: Path, digest: str) -> SubareaClassifier | None:
    """The model trained on exactly this training set, if one was saved and still loads."""

    path = model_path(directory, digest)
    if not path.is_file():
        return None
    try:
        return joblib.load(path)
    except Exception:  # a model pickled by another scikit-learn version: retrain instead
        return None
