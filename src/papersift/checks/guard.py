"""The faithfulness guard: every number and every model, dataset or benchmark name in an LLM's output
must be grounded in the source text, before the output is stored as good.

Numbers are compared as values (``papersift.checks.numbers``), so unit conversions pass —
``235 billion`` = ``2350亿``, ``1.01M`` = ``101万``, ``eleven`` = ``11``, ``53%`` = ``0.53`` — while
``235 亿`` for "235 billion" is flagged. Names are Latin-script tokens that look like names
(``CaPPO``, ``Qwen2-7B``, ``GSM8K``, ``HH-RLHF``; in Chinese text also plain capitalised words such as
``Mistral``); each must occur in the source, ignoring case and hyphen/space/dot variants, or be an
acronym of a phrase in it (``SRR`` for "Support Retention Ratio"), or be ordinary field vocabulary
(``GENERIC_TERMS``). Links must occur in the source verbatim.

    result = check(output_text, abstract)
    if not result.ok:
        reask(result.message)
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel

from ..llm.templates import environment
from ..models import READING_FIELDS, Card
from ..text import has_cjk
from . import numbers

# Field vocabulary a reading may use in English although the source words it otherwise: they name a
# field, a technique class or a mathematical object, never a particular model, dataset or benchmark.
GENERIC_TERMS = frozenset(
    """
    ai ml dl nlp cv llm lm plm slm vlm lvlm mllm lmm vla rl sft icl cot qa rag moe kv qkv gpu cpu tpu npu api
    sota flop flops mlp ffn cnn rnn lstm gnn gan vae ood iid kl mse ui gui ocr asr tts sql json html url id
    transformer token agent prompt embedding benchmark baseline pipeline encoder decoder attention softmax logit
    adapter router reward policy loss scaling law pareto bayesian gaussian markov euclidean hessian jacobian
    lipschitz fisher bellman lagrangian monte carlo python pytorch cuda
    top-k top-p best-of-n pass k zero-shot few-shot one-shot fine-tuning pre-training post-training in-context
    """.split()
)
# "VLLM", "MLLM": a one- or two-letter qualifier before a generic model acronym is still generic.
_GENERIC_MODEL_SUFFIX = re.compile(r"[A-Z]{1,2}(?:LLM|VLM|LM)")
_STOP_WORDS = frozenset("of for and the from to in on with a an via by at as".split())
# Words no acronym takes a capital from: "any individual model existing" does not spell AIME.
_FUNCTION_WORDS = _STOP_WORDS | frozenset(
    """any each every this that these those their its our we they it also more most such than then only both when
    where which while into over under about after before between all some many much other very can may will not no
    are is was were be been being has have had do does did using used use per new one two three first second""".split()
)
_WORD = re.compile(r"[^\W\d_]+")
_URL = re.compile(r"https?://[^\s)\]}>,，。；;\"']+", re.IGNORECASE)
_CONTEXT_CHARS = 24
_JOINED = re.compile(r"[ \-]?")  # what joins the words of a phrase


class Violation(BaseModel):
    """One thing in the output that the source does not support."""

    kind: Literal["number", "name"]
    value: str
    context: str
    reason: str
    field: str = "text"

    def describe(self) -> str:
        where = "" if self.field == "text" else f" ({self.field})"
        return f'{self.kind} "{self.value}"{where} in "…{self.context}…": {self.reason}'


class GuardResult(BaseModel):
    violations: list[Violation] = []

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def reasons(self) -> list[str]:
        """One line a violation, for ``Enrichment.reasons``."""
        return [v.describe() for v in self.violations]

    @property
    def message(self) -> str:
        """What to tell the model when asking it again (``prompts/guard_reask.jinja``); empty when ok."""
        return (
            environment().get_template("guard_reask.jinja").render(reasons=self.reasons).strip()
            if self.violations
            else ""
        )


# --- the source, read once --------------------------------------------------------------------


_LATIN_RUN = re.compile("[A-Za-z0-9\u00c0-\u024f]+")  # the letters of a Latin-script name, accents included
_HUMP = re.compile(r"(?<=[a-z\u00df-\u00ff])(?=[A-Z\u00c0-\u00de])|(?<=[^\W\d_])(?=\d)")


def _lower(text: str) -> str:
    """Lower case, one character for one (İ would become two)."""
    low = text.lower()
    return low if len(low) == len(text) else "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def squash(text: str) -> str:
    """Lower case, Latin letters and digits only: ``Llama-3`` and ``llama 3`` both give ``llama3``."""
    return _lower("".join(_LATIN_RUN.findall(text)))


class SourceIndex:
    """A source text prepared for lookups: its values, its squashed text with word edges, its words."""

    def __init__(self, text: str):
        norm = numbers.normalise(text)
        self.urls = {u.rstrip(".") for u in _URL.findall(norm)}
        body = numbers.mask(norm, (m.span() for m in _URL.finditer(norm)))
        self.numbers = numbers.source_numbers(body, normalised=True)
        self.cased, self.starts, self.ends = self._edges(body)
        self.squashed = _lower(self.cased)
        raw_words = _WORD.findall(body)
        self.words = [w.casefold() for w in raw_words]
        self.acronyms = [len(w) >= 2 and w.isupper() for w in raw_words]
        self.capitalised = [w[0].isupper() for w in raw_words]
        self._initials: dict[str, list[int]] = {}
        for i, word in enumerate(self.words):
            self._initials.setdefault(word[0], []).append(i)

    @staticmethod
    def _edges(text: str) -> tuple[str, set[int], set[int]]:
        """The Latin letters and digits run together, plus where words start and end in them: at
        separators, camelCase humps (UltraFeedback) and letter-to-digit steps (Qwen|2). A
        digit-to-letter step is no edge, so ``GPT-4`` is not found inside ``GPT-4o``."""
        pieces: list[str] = []
        starts: set[int] = set()
        at = 0
        for run in _LATIN_RUN.finditer(text):
            word = run[0]
            starts.add(at)
            if not word.islower() or not word.isalpha():  # most words have no hump: skip the search
                starts.update(at + m.start() for m in _HUMP.finditer(word))
            pieces.append(word)
            at += len(word)
        return "".join(pieces), starts, starts | {at}

    def has_term(self, term: str) -> bool:
        """Whether the term occurs as whole words, ignoring case, spaces, hyphens, dots and a plural s.

        An all-capitals term needs a capital in the source too: MATH the benchmark is not "math".
        """
        wanted = squash(term)
        shouting = sum(c.isupper() for c in term) >= 2 and not any(c.islower() for c in term.rstrip("s"))
        variants = [wanted]
        if len(wanted) > 3 and wanted.endswith("s"):
            variants.append(wanted[:-1])
        for w in variants:
            at = self.squashed.find(w)
            while at >= 0:
                end = at + len(w)
                plural_s = self.squashed[end : end + 1] == "s" and end + 1 in self.ends
                whole = at in self.starts and (end in self.ends or plural_s)
                if whole and (not shouting or any(c.isupper() for c in self.cased[at:end])):
                    return True
                at = self.squashed.find(w, at + 1)
        return False

    def expands(self, acronym: str) -> bool:
        """Whether the acronym spells the initials of consecutive words of the source.

        Each capital starts a word; a small letter continues that word (LoRA: Low-Rank Adaptation) or
        is a small word's initial (CoT: chain-of-thought); other small words may be skipped (RLHF:
        reinforcement learning from human feedback). A short acronym (SRR, KL) is only accepted for
        capitalised words (Support Retention Ratio), since any two words have some initials.
        """
        if acronym.endswith("s") and sum(c.isupper() for c in acronym[:-1]) >= 2:
            acronym = acronym[:-1]
        if not 2 <= len(acronym) <= 8 or not acronym.isalpha() or not acronym[0].isupper():
            return False
        need_capitals = sum(c.isupper() for c in acronym) <= 3
        return any(self._spells(acronym, j, need_capitals) for j in self._initials.get(acronym[0].casefold(), ()))

    def _spells(self, acronym: str, start: int, need_capitals: bool) -> bool:
        letters = acronym.casefold()
        words, capitalised = self.words, self.capitalised

        def gives(k: int, capital: bool) -> bool:
            """Whether words[k] may give its initial: a small letter only from a small word (the o of
            CoT), a capital only from a content word, capitalised where the acronym is short."""
            if not capital:
                return words[k] in _STOP_WORDS
            return words[k] not in _FUNCTION_WORDS and (capitalised[k] or not need_capitals)

        @lru_cache(maxsize=None)
        def go(i: int, k: int) -> bool:
            if i == len(letters):
                return True
            if k >= len(words):
                return False
            word = words[k]
            if word[0] == letters[i] and gives(k, acronym[i].isupper()):
                n = 1  # the word's initial, then the small letters that continue it
                while i + n < len(letters) and acronym[i + n].islower() and word[n : n + 1] == letters[i + n]:
                    n += 1
                if any(go(i + m, k + 1) for m in range(n, 0, -1)):
                    return True
            # An acronym inside the expansion spells itself: RLVR from "RL with verifiable rewards".
            if self.acronyms[k] and acronym[i : i + len(word)].isupper() and letters.startswith(word, i):
                if go(i + len(word), k + 1):
                    return True
            return i > 0 and word in _STOP_WORDS and go(i, k + 1)

        return go(0, start)


@lru_cache(maxsize=64)
def source_index(text: str) -> SourceIndex:
    """The prepared source, cached: a re-asked output is checked against the same source again."""
    return SourceIndex(text)


# --- names in the output -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NameCandidate:
    text: str
    start: int
    end: int
    phrase: str  # the run of capitalised words it stands in, for acronym lookups


def is_generic(word: str) -> bool:
    """Field vocabulary (LLMs, Transformer, top-k, MLLM), which needs no grounding."""
    folded = word.casefold()
    if folded in GENERIC_TERMS or (folded.endswith("s") and folded[:-1] in GENERIC_TERMS):
        return True
    bare = word[:-1] if word.endswith("s") else word
    return bool(_GENERIC_MODEL_SUFFIX.fullmatch(bare))


def is_plural_acronym(word: str) -> bool:
    """LLMs, PRMs, DLMs: a term's acronym in the plural, not a name."""
    return len(word) > 2 and word.endswith("s") and word[:-1].isupper()


def has_name_shape(word: str) -> bool:
    """Looks like a name whatever the context: a digit, or a capital inside a part (CaPPO, HH-RLHF) —
    not the capitals of a title-case compound (Contraction-Aware)."""
    return any(c.isdigit() for c in word) or any(c.isupper() for part in re.split(r"[-_.']", word) for c in part[1:])


def _title_case(text: str) -> bool:
    """English in Title Case (a title used as a TL;DR): its capitals say nothing about names."""
    long_words = [w for w in re.findall(r"[A-Za-z]+", text) if len(w) >= 4]
    return bool(long_words) and sum(w[0].isupper() for w in long_words) > len(long_words) / 2


def _sentence_initial(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \"'(“‘")
    return not before or before[-1] in ".!?:;\n"


def name_candidates(text: str, *, plain_words: bool) -> Iterator[NameCandidate]:
    """Tokens of normalised text that may be model, dataset or benchmark names.

    ``plain_words``: also a capitalised plain word (``Mistral``). In Chinese text such a word is a
    name or a term; in English prose only mid-sentence, and never in a title or a keyword list,
    where every word is capitalised.
    """
    tokens = [t for t in numbers.latin_tokens(text) if t.kind == "name"]
    cjk = has_cjk(text)
    if not cjk and _title_case(text):
        plain_words = False
    for i, tok in enumerate(tokens):
        word = tok.text
        if sum(c.isalnum() for c in word) < 2 or is_generic(word):
            continue
        if not has_name_shape(word):
            if word.islower() or not word[0].isupper() or not plain_words:
                continue
            if not cjk and _sentence_initial(text, tok.start):
                continue
        yield NameCandidate(word, tok.start, tok.end, _phrase_around(text, tokens, i))


def _phrase_around(text: str, tokens: list[numbers.Token], i: int) -> str:
    """The run of capitalised words joined by spaces or hyphens that holds tokens[i]."""

    def joined(a: int, b: int) -> bool:
        return (
            tokens[b].text[0].isupper()
            and tokens[a].text[0].isupper()
            and bool(_JOINED.fullmatch(text[tokens[a].end : tokens[b].start]))
        )

    lo = hi = i
    while lo > 0 and joined(lo - 1, lo):
        lo -= 1
    while hi + 1 < len(tokens) and joined(hi, hi + 1):
        hi += 1
    return " ".join(t.text for t in tokens[lo : hi + 1])


def _name_grounded(candidate: NameCandidate, source: SourceIndex, plain_words: bool) -> bool:
    word = candidate.text
    if source.has_term(word) or source.expands(word):
        return True
    parts = [p for p in re.split(r"[-_]", word) if p]
    # A compound of grounded names and ordinary words: Transformer-PSM, LLM-based, RL-train.
    if (
        len(parts) > 1
        and not any(c.isdigit() for c in word)
        and all(_part_grounded(p, source, plain_words) for p in parts)
    ):
        return True
    if " " in candidate.phrase:  # a word of "Support Retention Ratio" where the source says SRR
        initials = "".join(w[0] for w in re.split(r"[ \-]", candidate.phrase) if w)
        return source.has_term(initials)
    return False


def _part_grounded(part: str, source: SourceIndex, plain_words: bool) -> bool:
    if part.islower() or is_generic(part) or (not plain_words and not has_name_shape(part)):
        return True
    return source.has_term(part)


# --- checking ------------------------------------------------------------------------------------


def _context(text: str, start: int, end: int) -> str:
    return " ".join(text[max(0, start - _CONTEXT_CHARS) : end + _CONTEXT_CHARS].split())


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 1e4 and value == int(value) else f"{value:g}"


def check_text(text: str, source: SourceIndex, field: str, *, plain_words: bool) -> list[Violation]:
    """The violations of one text against a prepared source: links, then numbers, then names."""
    norm = numbers.normalise(text)
    violations: list[Violation] = []
    for m in _URL.finditer(norm):
        url = m[0].rstrip(".")
        if url not in source.urls and not any(u.startswith(url) or url.startswith(u) for u in source.urls):
            violations.append(
                Violation(
                    kind="name",
                    value=url,
                    context=_context(norm, *m.span()),
                    reason="this link is not in the source",
                    field=field,
                )
            )
    body = numbers.mask(norm, (m.span() for m in _URL.finditer(norm)))
    for q in numbers.quantities(body, "claim", normalised=True):
        if q.exempt or numbers.is_grounded(q, source.numbers):
            continue
        shown = ", ".join(_fmt(v) for v in sorted(q.values))
        reason = (
            "no such number in the source" if q.multiplier is None else f"means {shown}, which the source does not give"
        )
        violations.append(
            Violation(kind="number", value=q.text, context=_context(norm, q.start, q.end), reason=reason, field=field)
        )
    seen: set[str] = set()
    for cand in name_candidates(body, plain_words=plain_words):
        if cand.text in seen or _name_grounded(cand, source, plain_words):
            continue
        seen.add(cand.text)
        violations.append(
            Violation(
                kind="name",
                value=cand.text,
                context=_context(norm, cand.start, cand.end),
                reason="this name is not in the source",
                field=field,
            )
        )
    return violations


CITATION = re.compile(r"\[(\d{1,3})\]")  # "[2]": a text's pointer to its numbered source, not a number to check


def check(output_text: str, source_text: str, *, field: str = "text") -> GuardResult:
    """Check one piece of output (prose in any language) against its source text."""
    return GuardResult(violations=check_text(output_text, source_index(source_text), field, plain_words=True))


def card_fields(card: Card | Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, text) for every text field of a card: title, tldr, the six reading fields, keywords, digest."""
    data = card.model_dump() if isinstance(card, BaseModel) else dict(card)
    for name in ("title", "tldr"):
        if data.get(name):
            yield name, str(data[name])
    reading = data.get("reading") or {}
    if isinstance(reading, BaseModel):
        reading = reading.model_dump()
    for name in READING_FIELDS:
        if reading.get(name):
            yield name, str(reading[name])
    keywords = data.get("keywords") or []
    if keywords:
        yield "keywords", "; ".join(str(k) for k in keywords)
    if data.get("digest"):
        yield "digest", str(data["digest"])


def check_card(card: Card | Mapping[str, Any], source_text: str) -> GuardResult:
    """Check every text field of a card (a ``Card`` or a dict of its fields) against the source."""
    source = source_index(source_text)
    violations: list[Violation] = []
    for name, text in card_fields(card):
        # A title or a keyword list capitalises ordinary words: only name-shaped tokens count there.
        violations += check_text(text, source, name, plain_words=name not in ("title", "keywords"))
    return GuardResult(violations=violations)
