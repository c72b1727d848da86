"""How good a store's cards are, against reference readings or digest paragraphs: ``papersift eval cards``.

For any store (any model, any prompt) and a reference file, per paper and overall:

- the card's status (ok, flagged, poor, failed; ``missing`` when the paper has no card);
- number recall: the share of the reference's numbers that the card states too, compared as values
  with the guard's number reader (``235 billion`` = ``2350亿``);
- lengths: the card's median reading field (or its digest) against the reference's, in the
  language's units (characters for Chinese);
- repeated fields: the pairs of reading fields (and the TL;DR) the quality gate counts as repeats;
- the Latin-word share: English words inside target-language sentences, as a share of the text.

A reference record carries ``summary_zh``: either the six reading fields (catalog-dev.jsonl) or one
digest paragraph (digest-examples.jsonl). It is matched to a stored paper by ``arxiv_id``, then by
``id`` (a paper id, or the id of the source record it was ingested from), then by its abstract.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..checks import numbers
from ..checks.language import Language, language
from ..checks.quality import card_texts, latin_word_share, length, repeated_pairs
from ..models import READING_FIELDS, Card
from ..store import Store
from .readings import ReferenceFileError


@dataclass
class CardReference:
    line: int
    id: str | None
    arxiv_id: str | None
    abstract: str | None
    reading: dict[str, str] | None = None  # the six fields, or None for a digest reference
    digest: str | None = None

    @property
    def text(self) -> str:
        return " ".join(self.reading.values()) if self.reading else self.digest or ""

    @property
    def label(self) -> str:
        return self.arxiv_id or self.id or f"line {self.line}"


def _reference(data: Any, where: str, line: int) -> CardReference:
    if not isinstance(data, dict):
        raise ReferenceFileError(f"{where}: expected a JSON object")
    summary = data.get("summary_zh")
    ids = {k: str(data[k]) for k in ("id", "arxiv_id") if data.get(k) not in (None, "")}
    abstract = data.get("abstract") if isinstance(data.get("abstract"), str) else None
    if not ids and not abstract:
        raise ReferenceFileError(f"{where}: needs 'arxiv_id', 'id' or 'abstract' to find its paper in the store")
    ref = CardReference(line, ids.get("id"), ids.get("arxiv_id"), abstract)
    if isinstance(summary, str) and summary.strip():
        ref.digest = summary
    elif isinstance(summary, dict):
        missing = [f for f in READING_FIELDS if not isinstance(summary.get(f), str)]
        if missing:
            raise ReferenceFileError(f"{where}: field 'summary_zh' lacks {', '.join(missing)}")
        ref.reading = {f: summary[f] for f in READING_FIELDS}
    else:
        raise ReferenceFileError(f"{where}: field 'summary_zh' must be the six reading fields or a digest paragraph")
    return ref


def load_card_references(path: Path) -> list[CardReference]:
    """The records of a JSONL reference file (see the module)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReferenceFileError(f"{path}: cannot read: {exc}") from exc
    references = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReferenceFileError(f"{path}:{number}: not JSON: {exc.msg}") from exc
        references.append(_reference(data, f"{path}:{number}", number))
    return references


def find_paper(store: Store, ref: CardReference) -> str | None:
    """The stored paper a reference is about, or None."""
    for key in (ref.arxiv_id, ref.id):
        if not key:
            continue
        try:
            return store.resolve(key)
        except KeyError:
            found = store.find_by_source_id(key)
            if found:
                return found
    if ref.abstract:
        wanted = " ".join(ref.abstract.split())
        for paper_id, abstract in store.abstracts():
            if " ".join((abstract or "").split()) == wanted:
                return paper_id
    return None


def number_recall(reference: str, card_text: str) -> tuple[int, int]:
    """(reference numbers the card states too, reference numbers), compared as values."""
    wanted = [q for q in numbers.quantities(numbers.normalise(reference), "claim", normalised=True) if not q.exempt]
    stated = numbers.source_numbers(card_text)
    return sum(numbers.is_grounded(q, stated) for q in wanted), len(wanted)


def _median(values: list[int]) -> float | None:
    return statistics.median(values) if values else None


@dataclass
class PaperResult:
    reference: str
    paper_id: str | None
    status: str
    numbers_found: int = 0
    numbers_total: int = 0
    length: float | None = None  # the card's median reading field, or its digest
    reference_length: float | None = None
    repeated: list[list[Any]] = field(default_factory=list)
    latin_share: float | None = None
    reasons: list[str] = field(default_factory=list)


def evaluate_paper(
    ref: CardReference, paper_id: str | None, card: Card | None, status: str, lang: Language, reasons: list[str]
) -> PaperResult:
    result = PaperResult(ref.label, paper_id, status, reasons=reasons)
    if ref.reading:
        result.reference_length = _median([length(t, lang) for t in ref.reading.values()])
    else:
        result.reference_length = length(ref.digest or "", lang)
    if card is None:
        _, result.numbers_total = number_recall(ref.text, "")
        return result
    texts = card_texts(card)
    result.numbers_found, result.numbers_total = number_recall(ref.text, " ".join([card.title, *texts.values()]))
    if ref.reading:
        result.length = _median([length(t, lang) for n, t in texts.items() if n.startswith("reading.")])
    else:
        result.length = length(card.digest, lang)
    result.repeated = [list(p) for p in repeated_pairs({n: t for n, t in texts.items() if n != "digest"}, lang)]
    result.latin_share = round(latin_word_share(" ".join(texts.values()), lang), 4)
    return result


def evaluate_store(store: Store, references: list[CardReference], lang_code: str) -> dict[str, Any]:
    """Per paper and overall figures of the store's cards in ``lang_code`` against the references."""
    lang = language(lang_code)
    papers: list[PaperResult] = []
    for ref in references:
        paper_id = find_paper(store, ref)
        enrichment = store.enrichment(paper_id, lang_code) if paper_id else None
        status = "unmatched" if paper_id is None else enrichment.status if enrichment else "missing"
        card = enrichment.card if enrichment and enrichment.status != "failed" else None
        papers.append(evaluate_paper(ref, paper_id, card, status, lang, enrichment.reasons if enrichment else []))
    return {
        "lang": lang.code,
        "kind": "reading" if references and references[0].reading else "digest",
        "overall": _overall(papers),
        "papers": [asdict(p) for p in papers],
    }


def _overall(papers: list[PaperResult]) -> dict[str, Any]:
    matched = [p for p in papers if p.status != "unmatched"]
    with_card = [p for p in matched if p.length is not None]
    found = sum(p.numbers_found for p in with_card)
    total = sum(p.numbers_total for p in with_card)
    shares = [p.latin_share for p in with_card if p.latin_share is not None]
    return {
        "references": len(papers),
        "matched": len(matched),
        "cards": len(with_card),
        "status": dict(Counter(p.status for p in papers)),
        "numbers_found": found,
        "numbers_total": total,
        "number_recall": round(found / total, 4) if total else None,
        "median_length": _median([p.length for p in with_card]),
        "median_reference_length": _median([p.reference_length for p in matched if p.reference_length is not None]),
        "cards_with_repeats": sum(bool(p.repeated) for p in with_card),
        "ok_cards_with_repeats": sum(bool(p.repeated) for p in with_card if p.status == "ok"),
        "mean_latin_share": round(sum(shares) / len(shares), 4) if shares else None,
    }
