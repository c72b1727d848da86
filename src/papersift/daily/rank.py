"""Rank the day's new papers for one reader, and say why each pick was made.

A paper's score is its likeness to the reader's library (the mean cosine of its three nearest
library or starred papers, so that one stray library entry does not decide), lowered when it is
closer to a paper the reader hid than to anything they keep, lifted by keyword and author
alerts, plus a small recency bonus. Papers that mention an excluded term, or that the reader hid
or already has, are left out. The picks are then chosen by maximal marginal relevance: each
next pick pays for its likeness to the picks before it, so one topic cannot fill the list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ..models import Paper, author_key
from .reader import ReaderModel

NEAREST = 3  # library papers averaged into the likeness
ALERT_LIFT = 0.2  # per matching keyword or author alert
HIDDEN_WEIGHT = 0.5  # how much being closer to a hidden paper than to the library costs
POPULARITY_WEIGHT = 0.1  # cold start only: the most upvoted paper of the day (Hugging Face), log-scaled
RECENCY_WEIGHT = 0.05  # the bonus of a paper published today; halves every ``recency_days``
LABEL_CHARS = 80


@dataclass
class Interests:
    """What the reader follows, resolved to vectors: library and starred papers, hidden ones, alerts."""

    vectors: np.ndarray  # (n, dim) library and starred papers, L2-normalised
    labels: list[str]  # what a pick's "close to ..." names, one per row
    hidden: np.ndarray | None = None  # (m, dim) papers the reader hid
    kept_ids: list[str] = field(default_factory=list)  # stored papers of the library, and the starred ones
    hidden_ids: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)

    @property
    def has_library(self) -> bool:
        return len(self.labels) > 0


class Pick(BaseModel):
    paper_id: str
    score: float
    why: list[str]
    evidence: dict[str, Any] = Field(
        default_factory=dict,
        description="the numbers behind the score: likeness (and what it came from), alerts, recency;"
        " the terms that lifted the pick with their weight; the closest library paper with its cosine",
    )


def term_pattern(term: str) -> re.Pattern[str]:
    """A case-insensitive match of ``term`` as whole words ("KV cache" does not match "KV caches_x")."""
    return re.compile(rf"(?<!\w){re.escape(term.strip())}(?!\w)", re.I)


def paper_words(paper: Paper) -> str:
    return "\n".join([paper.title or "", paper.abstract or "", "; ".join(paper.keywords)])


def matching(terms: list[str], text: str) -> list[str]:
    return [t for t in terms if t.strip() and term_pattern(t).search(text)]


def matching_authors(alerts: list[str], paper: Paper) -> list[str]:
    """Alerted authors among the paper's: by full name, else by last name when the alert is one word."""
    names = {" ".join(a.casefold().split()) for a in paper.authors}
    last = {author_key(a) for a in paper.authors}
    found = []
    for alert in alerts:
        wanted = " ".join(alert.casefold().split())
        if wanted in names or (len(wanted.split()) == 1 and author_key(alert) in last):
            found.append(alert)
    return found


def label_of(paper: Paper) -> str:
    text = paper.title or " ".join((paper.abstract or "").split())
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1].rstrip() + "…"


def excluded(paper: Paper, interests: Interests) -> list[str]:
    return matching(interests.exclude, paper_words(paper))


def _likeness(candidates: np.ndarray, interests: Interests) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each candidate's likeness to the library, the row of its nearest library paper, and its
    cosine to that paper."""
    if not interests.has_library or candidates.size == 0:
        return np.zeros(len(candidates)), np.full(len(candidates), -1), np.zeros(len(candidates))
    sims = candidates @ interests.vectors.T
    k = min(NEAREST, sims.shape[1])
    nearest_k = -np.sort(-sims, axis=1)[:, :k]
    return nearest_k.mean(axis=1), sims.argmax(axis=1), nearest_k[:, 0]


def _recency(paper: Paper, today: date, half_life: float) -> float:
    day = paper.published or today
    age = max(0, (today - day).days)
    return RECENCY_WEIGHT * 0.5 ** (age / half_life)


def _matrix(papers: list[Paper], vectors: dict[str, np.ndarray], dim: int) -> np.ndarray:
    """Candidate vectors; a paper without one (its embedding failed) gets zeros: no likeness, no redundancy."""
    return (
        np.stack([vectors.get(p.id, np.zeros(dim, dtype=np.float32)) for p in papers]) if papers else np.zeros((0, dim))
    )


def rank(
    papers: list[Paper],
    vectors: dict[str, np.ndarray],
    interests: Interests,
    *,
    top: int,
    today: date,
    diversity: float = 0.3,
    recency_days: float = 7.0,
    model: ReaderModel | None = None,
) -> list[Pick]:
    """The best ``top`` of ``papers`` for this reader, best first, each with its reasons.

    With a trained ``model`` of the reader, its decision value is the likeness (hidden papers
    were its negatives); without one, the likeness to the nearest library papers."""
    papers = [p for p in papers if not excluded(p, interests)]
    if not papers:
        return []
    dim = next((len(v) for v in vectors.values()), interests.vectors.shape[1] if interests.has_library else 1)
    matrix = _matrix(papers, vectors, dim)
    likeness, nearest, closest = _likeness(matrix, interests)
    if model is not None:
        likeness = model.scores(papers, vectors)
    elif interests.hidden is not None and len(interests.hidden) and matrix.size:
        closest_hidden = (matrix @ interests.hidden.T).max(axis=1)
        likeness = likeness - HIDDEN_WEIGHT * np.maximum(0.0, closest_hidden - likeness)
    cold = model is None and not interests.has_library
    popularity = _popularity(papers) if cold else np.zeros(len(papers))
    scores, reasons, evidence = [], [], []
    for i, paper in enumerate(papers):
        text = paper_words(paper)
        keywords = matching(interests.keywords, text)
        authors = matching_authors(interests.authors, paper)
        alerts, recency = ALERT_LIFT * (len(keywords) + len(authors)), _recency(paper, today, recency_days)
        scores.append(float(likeness[i]) + alerts + recency + float(popularity[i]))
        why = [f"author {a}" for a in authors] + [f"matches keyword {k}" for k in keywords]
        if popularity[i] > 0:
            why.append(f"upvotes {upvotes(paper)}")
        facts: dict[str, Any] = {
            "likeness": round(float(likeness[i]), 4),
            "likeness_from": "reader model" if model is not None else "nearest library papers",
            "alerts": round(alerts, 4),
            "recency": round(recency, 4),
        }
        if cold:
            facts["popularity"] = round(float(popularity[i]), 4)
        if nearest[i] >= 0:
            why.append(f"close to {interests.labels[nearest[i]]}")
            facts["closest"] = {"label": interests.labels[nearest[i]], "cosine": round(float(closest[i]), 4)}
        reasons.append(why)
        evidence.append(facts)
    picks = _diverse(np.array(scores), matrix, top, diversity)
    if model is not None:  # the terms that lifted each pick, looked up for the picks only
        for i, _ in picks:
            if lifts := model.lifts(papers[i]):
                reasons[i].insert(0, "terms " + ", ".join(term for term, _ in lifts))
                evidence[i]["terms"] = {term: round(lift, 4) for term, lift in lifts}
            if topic := model.topic_lift(papers[i]):
                reasons[i].append(f"sub-area {topic[0]}")
                evidence[i]["subarea"] = {topic[0]: round(topic[1], 4)}
    return [
        Pick(
            paper_id=papers[i].id,
            score=round(s, 4),
            why=reasons[i] or ["new since the last run"],
            evidence=evidence[i],
        )
        for i, s in picks
    ]


def upvotes(paper: Paper) -> int:
    """The paper's community upvotes where its source gives them (Hugging Face daily papers), else 0."""
    value = paper.extra.get("upvotes")
    return int(value) if isinstance(value, int | float) and value > 0 else 0


def _popularity(papers: list[Paper]) -> np.ndarray:
    """In cold start, a lift for the papers readers upvoted: log-scaled against the day's most upvoted."""
    counts = np.log1p([upvotes(p) for p in papers])
    return POPULARITY_WEIGHT * counts / counts.max() if counts.max() > 0 else counts


def _diverse(scores: np.ndarray, matrix: np.ndarray, top: int, diversity: float) -> list[tuple[int, float]]:
    """Maximal marginal relevance: (index, score) of each pick in order, the score before the penalty."""
    chosen: list[int] = []
    redundancy = np.zeros(len(scores))
    left = np.ones(len(scores), dtype=bool)
    while left.any() and len(chosen) < top:
        value = np.where(left, scores - diversity * redundancy, -np.inf)
        best = int(value.argmax())
        chosen.append(best)
        left[best] = False
        redundancy = np.maximum(redundancy, np.maximum(0.0, matrix @ matrix[best]))
    return [(i, float(scores[i])) for i in chosen]
