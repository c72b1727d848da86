"""A model of one reader, trained at every run: arxiv-sanity-lite's idea, given more to learn from.

arxiv-sanity-lite ranks by a linear SVM trained on TF-IDF vectors, the reader's tagged papers as
positives and every other paper as negatives. papersift trains the same kind of model, on more:

- **features**: the TF-IDF of words and bigrams (arxiv-sanity-lite's settings) of title, abstract
  and author keywords, beside the multilingual embedding, so that a library in Chinese still
  finds English papers and a paper that says the same thing in other words is still found;
- **examples**: the library and the stars are positives; the papers the reader hid are
  negatives that count ``HIDDEN_WEIGHT`` times; every other paper of the store is a weak negative
  (what the reader did not choose, not what they refused).

A pick's reasons name the terms that lifted it most: the words of the paper whose weights in the
model are highest, so each one named occurs in the paper.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from ..models import Paper

C = 0.1  # the regularisation: looser than arxiv-sanity-lite's 0.01, chosen on bench/rank.py (see RESULTS)
HIDDEN_WEIGHT = 3.0  # a hide is a stronger "no" than a paper merely not chosen
EMBEDDING_WEIGHT = 0.5  # the embedding block's length beside the TF-IDF block's (unit): chosen on bench/rank.py
MIN_DF, MAX_DF = 2, 0.5  # a term in one paper only says nothing of a reader; one in half of them neither


def paper_document(paper: Paper) -> str:
    return " ".join([paper.title or "", paper.abstract or "", " ; ".join(paper.keywords)])


def tfidf(min_df: int = MIN_DF) -> TfidfVectorizer:
    """arxiv-sanity-lite's vectoriser (its compute.py): ASCII words and bigrams, English stop words,
    sublinear tf. bench/rank.py's arxiv-sanity-lite anchor is this with compute.py's min_df of 5:
    keep it compute.py's."""
    return TfidfVectorizer(
        strip_accents="unicode",
        lowercase=True,
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
        ngram_range=(1, 2),
        max_features=20_000,
        sublinear_tf=True,
        min_df=min_df,
        max_df=MAX_DF,
        dtype=np.float32,
    )


class ReaderModel:
    """A trained model of one reader: :meth:`scores` for candidates, :meth:`lifts` for reasons."""

    def __init__(
        self,
        vectorizer: TfidfVectorizer,
        svm: LinearSVC,
        embedding_weight: float,
        dim: int,
        trained_on: dict[str, float],
    ):
        self.vectorizer = vectorizer
        self.svm = svm
        self.embedding_weight = embedding_weight
        self.dim = dim
        self.vocabulary = vectorizer.get_feature_names_out()
        self.trained_on = trained_on  # the decision value of every paper it learnt from, by id

    @classmethod
    def train(
        cls,
        corpus: Sequence[Paper],
        vectors: dict[str, np.ndarray],
        positives: Iterable[str],
        hidden: Iterable[str] = (),
        *,
        embedding_weight: float = EMBEDDING_WEIGHT,
        c: float = C,
    ) -> ReaderModel | None:
        """Train on ``corpus`` (the store's papers and the library's), or None without a positive
        and a negative to learn from. ``vectors``: embeddings by paper id (a paper without one gets
        zeros there and is judged by its words)."""
        positives, hidden = set(positives), set(hidden)
        labels = np.array([p.id in positives for p in corpus])
        if labels.all() or not labels.any():
            return None
        vectorizer = tfidf(min_df=MIN_DF if len(corpus) >= 50 else 1)
        try:
            words = vectorizer.fit_transform(paper_document(p) for p in corpus)
        except ValueError:  # no English term in the corpus (all Chinese, say): any run of letters, kept or not
            vectorizer = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", sublinear_tf=True, dtype=np.float32)
            words = vectorizer.fit_transform(f"{paper_document(p)} _" for p in corpus)
        dim = next((len(v) for v in vectors.values()), 0)
        features = _stack(words, corpus, vectors, dim, embedding_weight)
        weights = np.array([HIDDEN_WEIGHT if p.id in hidden else 1.0 for p in corpus])
        svm = LinearSVC(class_weight="balanced", C=c, max_iter=10_000, tol=1e-6)
        svm.fit(features, labels, sample_weight=weights)
        trained_on = dict(zip((p.id for p in corpus), svm.decision_function(features).tolist()))
        return cls(vectorizer, svm, embedding_weight, dim, trained_on)

    def scores(self, papers: Sequence[Paper], vectors: dict[str, np.ndarray]) -> np.ndarray:
        """The SVM's decision value of each paper: above 0, on the reader's side. The day's papers
        are usually among those it learnt from: their values are kept, not computed again."""
        values = np.array([self.trained_on.get(p.id, np.nan) for p in papers], dtype=float)
        unseen = [i for i in range(len(papers)) if np.isnan(values[i])]
        if unseen:
            fresh = [papers[i] for i in unseen]
            words = self.vectorizer.transform(paper_document(p) for p in fresh)
            values[unseen] = self.svm.decision_function(_stack(words, fresh, vectors, self.dim, self.embedding_weight))
        return values

    def lifts(self, paper: Paper, n: int = 3) -> list[tuple[str, float]]:
        """The paper's ``n`` terms that lift it most in this model, with what each adds to its
        decision value (its TF-IDF weight times the model's); each term occurs in the paper."""
        row = self.vectorizer.transform([paper_document(paper)]).tocoo()
        weights = self.svm.coef_[0][: len(self.vocabulary)]
        lift = sorted(
            ((float(value * weights[col]), self.vocabulary[col]) for col, value in zip(row.col, row.data)), reverse=True
        )
        return [(term, value) for value, term in lift[:n] if value > 0]


def _stack(
    words: sparse.csr_matrix, papers: Sequence[Paper], vectors: dict[str, np.ndarray], dim: int, weight: float
) -> sparse.csr_matrix:
    if not dim or not weight:
        return words
    zeros = np.zeros(dim, dtype=np.float32)
    meaning = np.stack([vectors.get(p.id, zeros) for p in papers]).astype(np.float32) * weight
    return sparse.hstack([words, sparse.csr_matrix(meaning)], format="csr")
