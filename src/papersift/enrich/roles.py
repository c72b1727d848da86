"""Which sentences of an abstract each reading field is written from: the grounded card's plan.

Each of the six reading fields of a reference reading restates one or two sentences of its
abstract. Which ones is mostly position (motivation first, contribution last) and cue phrases
("we propose", "experiments on", "we find that"). A linear model over both scores every sentence
for every field; the weights (``roles.json``) are learnt by ``bench/roles.py`` from the shared
reference readings, each field aligned to the abstract sentence closest to it in meaning by the
multilingual sentence encoder, and measured there on papers held out of training.

:func:`assign` turns the scores into a plan: every field gets a sentence of its own (the best
one-to-one matching), then the sentences left over join the field that wants them most, two a
field at most, in the abstract's order (a unit no field wants, such as a code link, only in the digest). An abstract of fewer than six sentences is first cut at
its clauses (";", ", while", ", which"); a field still left without a sentence of its own takes the
sentence no field wanted that suits it best ("This achieves performance improvements with
substantially lower training cost.", never a code link), else is written from the sentence that
suits it best, and marked ``shared``, so that its request asks for what its neighbour does not
say: two fields of one sentence came back word for word the same from the 1.5B model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..models import READING_FIELDS

WEIGHTS = Path(__file__).with_name("roles.json")
MAX_PER_FIELD = 2
MIN_FIELD_WORDS = 15  # a field written from less (a one-line question) takes a leftover unit first
# A leftover unit that no field wants this much (a code link, "code will be released") stays in the
# digest only: on the trending day such units score 0.03 at most, real second sentences 0.1 and up.
LEFTOVER_MIN = 0.05
# A unit that says where the code is, not what the paper does: no field is written from it.
NO_CONTENT = re.compile(
    r"https?://|\bgithub\b|\b(?:code|data|models?|weights|datasets?)\b[^.]{0,40}\b(?:available|released?|public)\b",
    re.I,
)
POSITION_BINS = 5
_WORD = re.compile(r"[a-z]+")
_DIGIT = re.compile(r"\d")
_CLAUSE = re.compile(r"(?<=;)\s+|(?<=,)\s+(?=(?:while|whereas|which|where|and then|thereby|enabling|allowing)\b)")
MIN_CLAUSE_WORDS = 6


def words(sentence: str) -> list[str]:
    """Lower-case words, with digits and symbols dropped: what the vocabulary is counted over."""
    return _WORD.findall(sentence.lower())


def terms(sentence: str) -> set[str]:
    """The word unigrams and bigrams of a sentence."""
    ws = words(sentence)
    return set(ws) | {f"{a} {b}" for a, b in zip(ws, ws[1:])}


def position_features(i: int, n: int, sentence: str) -> dict[str, float]:
    """Where the sentence stands, how long it is, and whether it carries numbers."""
    rel = i / (n - 1) if n > 1 else 0.0
    bin_ = min(POSITION_BINS - 1, int(rel * POSITION_BINS))
    return {
        "rel": rel,
        "rel2": rel * rel,
        f"bin{bin_}": 1.0,
        "first": float(i == 0),
        "last": float(i == n - 1),
        "second": float(i == 1),
        "words": math.log1p(len(sentence.split())),
        "digits": float(bool(_DIGIT.search(sentence))),
        "percent": float("%" in sentence),
    }


def features(sentences: list[str]) -> list[dict[str, float]]:
    """Every sentence's features: position ones and its terms."""
    n = len(sentences)
    return [position_features(i, n, s) | {f"w:{t}": 1.0 for t in terms(s)} for i, s in enumerate(sentences)]


@dataclass(frozen=True)
class RoleModel:
    """One linear scorer a field over named features (``roles.json``)."""

    names: dict[str, int]
    weights: np.ndarray  # (features, fields)
    bias: np.ndarray  # (fields,)

    @classmethod
    def from_json(cls, data: dict) -> RoleModel:
        return cls(
            {name: i for i, name in enumerate(data["features"])},
            np.array(data["weights"], dtype=float),
            np.array(data["bias"], dtype=float),
        )

    def matrix(self, rows: list[dict[str, float]]) -> np.ndarray:
        x = np.zeros((len(rows), len(self.names)))
        for r, row in enumerate(rows):
            for name, value in row.items():
                if (column := self.names.get(name)) is not None:
                    x[r, column] = value
        return x

    def scores(self, sentences: list[str]) -> np.ndarray:
        """(sentences, fields): the probability that each sentence serves each field."""
        if not sentences:
            return np.zeros((0, len(READING_FIELDS)))
        return 1 / (1 + np.exp(-(self.matrix(features(sentences)) @ self.weights + self.bias)))


@lru_cache(maxsize=1)
def role_model() -> RoleModel:
    return RoleModel.from_json(json.loads(WEIGHTS.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class FieldSource:
    """The sentences one field is written from (indices into the plan's units), and whether they are
    another field's too."""

    units: tuple[int, ...]
    shared: bool = False


EXPERIMENT_LIKE = 0.2  # the experiments score above which a unit reports experiments on its own


@dataclass(frozen=True)
class Plan:
    units: list[str]  # the abstract's sentences, or clauses where it has fewer than six
    fields: dict[str, FieldSource]
    scores: np.ndarray  # (units, fields), as the model gave them

    def experiment_like(self, units: tuple[int, ...]) -> bool:
        """Whether one of these units reports experiments on its own."""
        return bool(units) and bool(
            self.scores[list(units), READING_FIELDS.index("experiments")].max() >= EXPERIMENT_LIKE
        )

    def result_score(self, unit: int) -> float:
        """How much a unit reads as a result: its experiments and contribution scores."""
        return float(
            self.scores[unit, READING_FIELDS.index("experiments")]
            + self.scores[unit, READING_FIELDS.index("contribution")]
        )

    def text(self, field: str) -> str:
        return " ".join(self.units[i] for i in self.fields[field].units)

    def neighbour(self, field: str) -> str | None:
        """The field that has as its own the unit a shared field is written from."""
        units = set(self.fields[field].units)
        return next(
            (f for f, source in self.fields.items() if f != field and not source.shared and units & set(source.units)),
            None,
        )


def clauses(sentences: list[str], wanted: int) -> list[str]:
    """The sentences, the longest cut at a clause boundary until there are ``wanted`` units or no cut
    leaves two parts of ``MIN_CLAUSE_WORDS`` words or more."""
    units = list(sentences)
    while len(units) < wanted:
        for i in sorted(range(len(units)), key=lambda k: -len(units[k])):
            cut = _best_cut(units[i])
            if cut:
                units[i : i + 1] = cut
                break
        else:
            return units
    return units


def _best_cut(sentence: str) -> list[str] | None:
    """The sentence in two at the clause boundary nearest its middle, or None."""
    middle = len(sentence) / 2
    for m in sorted(_CLAUSE.finditer(sentence), key=lambda m: abs(m.start() - middle)):
        left, right = sentence[: m.start()].strip(), sentence[m.end() :].strip()
        if min(len(left.split()), len(right.split())) >= MIN_CLAUSE_WORDS:
            return [left, right]
    return None


def assign(sentences: list[str], model: RoleModel | None = None) -> Plan:
    """The plan of one abstract's sentences (see the module)."""
    units = clauses(sentences, len(READING_FIELDS))
    fields = list(READING_FIELDS)
    if not units:
        return Plan(units, {f: FieldSource(()) for f in fields}, np.zeros((0, len(fields))))
    scores = (model or role_model()).scores(units)
    wanted = [u for u in range(len(units)) if scores[u].max() >= LEFTOVER_MIN] or list(range(len(units)))
    spare = [u for u in range(len(units)) if u not in wanted and not NO_CONTENT.search(units[u])]
    for u in sorted(spare, key=lambda u: -scores[u].max())[: len(fields) - len(wanted)]:
        wanted.append(u)  # fewer wanted units than fields: a sentence no field wanted before two fields share one
    wanted.sort()
    cost = -np.log(np.clip(scores[wanted], 1e-9, 1))
    rows, cols = linear_sum_assignment(cost)  # one unit a field, each unit at most once
    chosen: dict[str, list[int]] = {fields[c]: [wanted[r]] for r, c in zip(rows, cols)}

    def short_beside(f: str, unit: int) -> bool:  # a field too short to write, next to this unit
        near = any(abs(u - unit) == 1 for u in chosen[f])
        return near and sum(len(units[u].split()) for u in chosen[f]) < MIN_FIELD_WORDS

    for unit in sorted(set(wanted) - {wanted[r] for r in rows}, key=lambda u: -scores[u].max()):
        room = [c for c, f in enumerate(fields) if f in chosen and len(chosen[f]) < MAX_PER_FIELD]
        if room:
            best = max(room, key=lambda c: (short_beside(fields[c], unit), scores[unit, c]))
            chosen[fields[best]].append(int(unit))
    plan = {f: FieldSource(tuple(sorted(chosen[f]))) for f in fields if f in chosen}
    for c, f in enumerate(fields):  # fewer units than fields: the best unit, shared
        if f not in plan:
            plan[f] = FieldSource((int(max(wanted, key=lambda u: scores[u, c])),), shared=True)
    return Plan(units, {f: plan[f] for f in fields}, scores)
