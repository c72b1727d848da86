"""How well the faithfulness guard works, measured on reference readings.

Two figures, no LLM needed:

* false alarms: the share of reference readings (written from their abstract) the guard flags,
  and the share the quality gate (:mod:`.quality`, the rules a reading alone can break) fails;
* catch rate: copies of each reading with ONE planted error — a number changed (scaled by ten or
  one digit changed), a model/dataset name swapped for one from another record's abstract, or a
  name's size or version changed (Qwen2-7B -> Qwen2-70B) — and the share of copies on which the
  guard reports a violation the unchanged reading did not have.

Planting is deterministic for a seed. A planted value is chosen so that it is not in the abstract
by a plain text test (not by the guard's own rules), so a miss is the guard's miss.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from ..checks import numbers, quality
from ..checks.guard import SourceIndex, check_text, has_name_shape, is_generic, squash
from ..models import READING_FIELDS, Enrichment
from ..store import Store
from ..text import one_line

_PLAIN_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_DIGITS_ONLY = re.compile(r"[\d,]*\.?\d+")
_NAME_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*")


class ReferenceFileError(ValueError):
    """A reference file that cannot be read, with the file, line and field at fault."""


@dataclass
class ReferenceRecord:
    id: str
    abstract: str
    reading: dict[str, str]


@dataclass
class Planted:
    record_id: str
    kind: Literal["number", "name", "name_variant"]
    field: str
    original: str
    planted: str
    reading: dict[str, str]
    caught: bool = False


def load_reference(path: Path) -> list[ReferenceRecord]:
    """Records of a JSONL file with ``abstract`` and ``summary_zh`` (the six reading fields)."""
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReferenceFileError(f"{path}: cannot read: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReferenceFileError(f"{where}: not JSON: {exc.msg}") from exc
        if not isinstance(data, dict):
            raise ReferenceFileError(f"{where}: expected a JSON object")
        abstract, reading = data.get("abstract"), data.get("summary_zh")
        if not isinstance(abstract, str) or not abstract.strip():
            raise ReferenceFileError(f"{where}: field 'abstract' is missing or empty")
        if not isinstance(reading, dict):
            raise ReferenceFileError(f"{where}: field 'summary_zh' must be an object with the six reading fields")
        missing = [f for f in READING_FIELDS if not isinstance(reading.get(f), str)]
        if missing:
            raise ReferenceFileError(f"{where}: field 'summary_zh' lacks {', '.join(missing)}")
        records.append(
            ReferenceRecord(str(data.get("id") or number), abstract, {f: reading[f] for f in READING_FIELDS})
        )
    return records


def reading_violations(reading: dict[str, str], source: SourceIndex) -> Counter:
    """The guard's violations of a reading, as a multiset of (kind, field, value)."""
    found: Counter = Counter()
    for name, text in reading.items():
        for v in check_text(text, source, name, plain_words=True):
            found[(v.kind, v.field, v.value)] += 1
    return found


# --- planting -------------------------------------------------------------------------------------


def _plain_numbers(text: str) -> set[Decimal]:
    return {Decimal(m[0].replace(",", "")) for m in _PLAIN_NUMBER.finditer(text)}


def _mutate(digits: str, rng: random.Random) -> str:
    """Scale by ten either way, or change one digit: the errors a model makes with numbers."""
    value = Decimal(digits.replace(",", ""))
    if rng.random() < 0.5:
        scaled = value * 10 if rng.random() < 0.5 or value < Decimal("0.01") else value / 10
        return format(scaled.normalize(), "f")
    plain = digits.replace(",", "")
    positions = [i for i, c in enumerate(plain) if c.isdigit() and not (i == 0 and c == "0" and len(plain) > 1)]
    i = rng.choice(positions)
    choices = [
        d for d in "0123456789" if d != plain[i] and not (i == 0 and d == "0" and len(plain) > 1 and plain[1] != ".")
    ]
    return plain[:i] + rng.choice(choices) + plain[i + 1 :]


def plant_number(record: ReferenceRecord, rng: random.Random) -> Planted | None:
    """A copy of the reading with one of its numbers (written in digits) changed."""
    spots = []
    for name, text in record.reading.items():
        norm = numbers.normalise(text)
        for q in numbers.quantities(norm, "claim", normalised=True):
            if q.written == "digits" and not q.exempt and _DIGITS_ONLY.fullmatch(norm[q.start : q.core_end]):
                spots.append((name, norm, q))
    if not spots:
        return None
    in_abstract = _plain_numbers(numbers.normalise(record.abstract))
    name, norm, q = rng.choice(spots)
    digits = norm[q.start : q.core_end]
    for _ in range(20):
        new = _mutate(digits, rng)
        # With a multiplier (亿, B, million) the value changes whatever the digits; without one,
        # a number the abstract happens to hold would be no error a grounding check could see.
        if new != digits.replace(",", "") and (q.multiplier is not None or Decimal(new) not in in_abstract):
            reading = dict(record.reading, **{name: norm[: q.start] + new + norm[q.core_end :]})
            return Planted(record.id, "number", name, digits, new, reading)
    return None


def name_pool(records: Iterable[ReferenceRecord]) -> dict[str, list[str]]:
    """Name-shaped tokens of each abstract (Qwen2-7B, MMLU, UltraFeedback), by record id."""
    pool = {}
    for r in records:
        tokens = {m[0] for m in _NAME_TOKEN.finditer(numbers.normalise(r.abstract))}
        pool[r.id] = sorted(t for t in tokens if _name_shaped(t))
    return pool


@lru_cache(maxsize=65536)
def _name_shaped(token: str) -> bool:
    """A model, dataset or benchmark name: Qwen2-7B, MMLU, UltraFeedback, GPT-4.1-mini — but not
    LLM-based or Language-Image, whose parts are ordinary words."""
    if len(token) < 3 or not token[0].isalpha() or is_generic(token):
        return False
    if next(numbers.latin_tokens(token)).kind != "name":  # top-5, rank-1: a word and a number
        return False
    return any(has_name_shape(part) and not is_generic(part) for part in re.split(r"[-_]", token) if part)


def plant_name(record: ReferenceRecord, pool: dict[str, list[str]], rng: random.Random) -> Planted | None:
    """A copy of the reading with one model/dataset name swapped for one from another abstract."""
    abstract = squash(record.abstract)
    spots = []
    for name, text in record.reading.items():
        norm = numbers.normalise(text)
        for m in _NAME_TOKEN.finditer(norm):
            if _name_shaped(m[0]) and squash(m[0]) in abstract:
                spots.append((name, norm, m))
    if not spots:
        return None
    name, norm, m = rng.choice(spots)
    others = [rid for rid in pool if rid != record.id and pool[rid]]
    for _ in range(50 if others else 0):
        candidate = rng.choice(pool[rng.choice(others)])
        if squash(candidate).removesuffix("s") not in abstract and candidate.casefold() != m[0].casefold():
            reading = dict(record.reading, **{name: norm[: m.start()] + candidate + norm[m.end() :]})
            return Planted(record.id, "name", name, m[0], candidate, reading)
    return None


def plant_name_variant(record: ReferenceRecord, rng: random.Random) -> Planted | None:
    """A copy of the reading with the size or version inside one of its names changed: the near miss
    (Qwen2-7B for Qwen2-72B, GPT-4 for GPT-4o's neighbour) that a loose match would let through."""
    abstract = squash(record.abstract)
    spots = []
    for name, text in record.reading.items():
        norm = numbers.normalise(text)
        for m in _NAME_TOKEN.finditer(norm):
            if any(c.isdigit() for c in m[0]) and _name_shaped(m[0]) and squash(m[0]) in abstract:
                spots.append((name, norm, m))
    if not spots:
        return None
    name, norm, m = rng.choice(spots)
    runs = list(re.finditer(r"\d+", m[0]))
    for _ in range(20):
        run = rng.choice(runs)
        candidate = m[0][: run.start()] + _mutate(run[0], rng).split(".")[0] + m[0][run.end() :]
        if squash(candidate) not in abstract:
            reading = dict(record.reading, **{name: norm[: m.start()] + candidate + norm[m.end() :]})
            return Planted(record.id, "name_variant", name, m[0], candidate, reading)
    return None


# --- the report ------------------------------------------------------------------------------------


def reading_lengths(readings: list[dict[str, str]]) -> dict[str, Any]:
    """Mean characters per field and per whole reading."""
    fields = [len(t) for r in readings for t in r.values() if t]
    totals = [sum(len(t) for t in r.values()) for r in readings]
    return {
        "n": len(readings),
        "mean_chars_per_field": round(sum(fields) / len(fields), 1) if fields else None,
        "mean_reading_chars": round(sum(totals) / len(totals), 1) if totals else None,
    }


@dataclass
class EvalReport:
    n: int = 0
    flagged: int = 0
    planted: list[Planted] = field(default_factory=list)
    flagged_examples: list[dict[str, Any]] = field(default_factory=list)
    poor_examples: list[dict[str, Any]] = field(default_factory=list)  # readings the quality gate fails

    def summary(self, lengths: dict[str, Any]) -> dict[str, Any]:
        """The figures `papersift eval readings` prints, with the given lengths."""
        caught = sum(p.caught for p in self.planted)
        by_kind = {}
        for kind in ("number", "name", "name_variant"):
            mine = [p for p in self.planted if p.kind == kind]
            hit = sum(p.caught for p in mine)
            by_kind[kind] = {
                "planted": len(mine),
                "caught": hit,
                "catch_rate": round(hit / len(mine), 4) if mine else None,
            }
        return {
            "n": self.n,
            "flagged": self.flagged,
            "false_alarm_rate": round(self.flagged / self.n, 4) if self.n else None,
            "planted": len(self.planted),
            "planted_caught": caught,
            "catch_rate": round(caught / len(self.planted), 4) if self.planted else None,
            "by_kind": by_kind,
            "gate_failed": len(self.poor_examples),
            "gate_false_alarm_rate": round(len(self.poor_examples) / self.n, 4) if self.n else None,
            "gate_by_rule": dict(Counter(rule for e in self.poor_examples for rule in e["rules"])),
            "length": lengths,
        }

    def details(self) -> dict[str, Any]:
        """The flagged readings and the planted errors the guard missed."""
        missed = [
            {"id": p.record_id, "kind": p.kind, "field": p.field, "original": p.original, "planted": p.planted}
            for p in self.planted
            if not p.caught
        ]
        return {"flagged_readings": self.flagged_examples, "poor_readings": self.poor_examples, "missed": missed}


def evaluate(records: list[ReferenceRecord], *, seed: int = 0) -> EvalReport:
    """Check every reference reading, then one planted copy per kind of error, against its abstract."""
    rng = random.Random(seed)
    pool = name_pool(records)
    report = EvalReport(n=len(records))
    for record in records:
        source = SourceIndex(record.abstract)
        original = reading_violations(record.reading, source)
        if original:
            report.flagged += 1
            report.flagged_examples.append({"id": record.id, "violations": [list(k) for k in original]})
        issues = quality.check_texts({f"reading.{name}": text for name, text in record.reading.items()}, "zh")
        if issues:
            report.poor_examples.append(
                {"id": record.id, "rules": sorted({i.rule for i in issues}), "issues": [i.describe() for i in issues]}
            )
        for planted in (plant_number(record, rng), plant_name(record, pool, rng), plant_name_variant(record, rng)):
            if planted is None:
                continue
            planted.caught = bool(reading_violations(planted.reading, source) - original)
            report.planted.append(planted)
    return report


def stored_readings_report(store: Store, records: list[ReferenceRecord]) -> dict[str, Any] | None:
    """Lengths and guard verdicts of the readings a store holds for the same papers (matched by
    abstract); None when it holds none."""
    by_abstract = {one_line(r.abstract): r for r in records}
    readings, flagged = [], 0
    for abstract, data in store.enrichments_with_abstracts():
        record = by_abstract.get(one_line(abstract or ""))
        if record is None:
            continue
        enrichment = Enrichment.model_validate_json(data)
        if enrichment.card is None:
            continue
        reading = enrichment.card.reading.model_dump()
        readings.append(reading)
        flagged += bool(reading_violations(reading, SourceIndex(record.abstract)))
    if not readings:
        return None
    return {**reading_lengths(readings), "flagged": flagged}
