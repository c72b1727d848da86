"""The quality gate: a card may be faithful and still useless; these rules catch that, for any model.

Beside the language check (is it the target language?) and the guard (is every number and name in
the source?), the gate asks whether the card is a reading worth having:

- ``repeated``: two reading fields, or a reading field and the TL;DR, say the same thing. Measured
  as the containment of n-grams (the share of the shorter text's n-grams found in the other):
  character 3-grams for prose without spaces (Chinese, Japanese, Korean), word 3-grams otherwise.
  The 7,215 field pairs of the 481 reference readings (shared/data/catalog-dev.jsonl) reach 0.31 at
  the 99.5th percentile and 0.44 at most; a field copied into another scores near 1. Limit: 0.6.
- ``truncated``: a TL;DR, reading field or digest that does not end a sentence (every reference
  field ends with 。), or ends in a link.
- ``length``: a reading field far outside the target length (``Language.field_length``: 55–70
  characters in Chinese). The band is a third of the target's low end to three times its high end,
  18–210 characters in Chinese: the reference fields run from 24 to 158 characters, spaces left out
  (median 59).
- ``digest_short``: a digest much shorter than the abstract it renders. The reference digest
  paragraphs (shared/data/digest-examples.jsonl) write 2.05–2.96 Chinese characters per English
  word of the abstract; below half of the expected rate (1 character a word; 0.5 words a word for
  languages counted in words) the digest has left most of the abstract out.
- ``foreign_words``: English words inside target-language sentences, in a language not written in
  Latin script: lower-case Latin words outside parentheses, quotes, links and LaTeX, that are neither
  names (a capital or digit inside) nor field vocabulary (``token``, ``softmax``: the guard's
  ``GENERIC_TERMS``). 2,853 of the 2,886 reference fields have none; most of the others keep a
  term of their paper ("meta-tokens", "remasking"). A field with one fails and is asked to write
  the word in the target language, or a term's English in parentheses after its translation: the
  1.5B model's leftovers are plain words a reader stops at ("取得了 impressive性能", "across").
- ``lost_measure``: a field keeps a number of the source but not what the source says it
  measures, four words from it (``MEASURED_WORDS``: cost, latency, memory, accuracy, throughput):
  "with 10 less cost" written 性能降低了 10 分 says another claim.
- ``title_name``: the translated title drops the paper's own name: a name-shaped word of the
  English title (a capital or digit inside: MMaDA, BAGEL, Qwen3) or the single word before its
  colon (Thinkless: …) must appear in the translation as written.
- ``title_shape``: a title made up for a record without one (the shared catalog's abstracts) must
  read as a title: at most ``MADE_UP_TITLE_MAX`` units (the 10 reference translated titles of
  digest-examples.jsonl run from 9 to 39 characters), no sentence punctuation, no "we" (a sentence
  of the abstract written as its title, "…我们的方法…", is no title).
- ``glossary``: the source uses a glossary term and the card never writes its translation.
- ``about_the_text``: a field that talks about its source ("这段文本描述了…") instead of the paper;
  none of the reference fields or digest paragraphs does.
- ``about_the_text``: a field that talks about its source ("这段文本描述了…") instead of the paper;
  none of the reference fields or digest paragraphs does.

A failing card is asked again once with :attr:`QualityResult.message`, which names each field and
rule; a card that still fails is stored ``poor``. On the 481 reference readings the rules a reading
alone can break (all but the digest, title, measure and glossary rules) fail 23 (4.78%,
``papersift eval readings`` lists them): 21 keep an English word in a sentence, of their paper's
terms (remasking, meta-tokens, speculative decoding) or plain ("with", "large", "dominant"), two write
a word twice, one is cut off. Stricter than the references on English words, on purpose: the
re-ask asks for the term's translation with its English in parentheses, which reads well. The thresholds are
measured on Chinese; for languages counted in words they are the same shares, not yet measured.
On the 10 reference digest paragraphs with their translated titles (digest-examples.jsonl) the
digest, ending, Latin-word and title rules pass all 10; the starter glossary fails one, Thinkless,
whose paragraph writes 链式思维 where AdaCoT's writes 思维链: the drift the glossary removes.
"""

from __future__ import annotations

import re
from itertools import combinations
from typing import Literal

from pydantic import BaseModel

from ..llm.templates import environment
from ..models import READING_FIELDS, Card, Paper
from .glossary import Glossary
from .guard import has_name_shape, is_generic, is_plural_acronym
from .language import NOT_PROSE, Language, language

REPEAT_LIMIT = 0.6  # n-gram containment above which two fields say the same thing
NGRAM = 3
LENGTH_BAND = (1 / 3, 3.0)  # of the target's low and high ends
EXPECTED_PER_SOURCE_WORD = {"characters": 2.0, "words": 1.0}  # digest length per English word of the abstract
DIGEST_MIN_SHARE = 0.5  # of the expected length
MIN_SOURCE_WORDS = 40  # shorter abstracts give no stable digest ratio
SENTENCE_ENDS = "。！？.!?"
CLOSERS = "\"'”’」』）)]】"

Rule = Literal[
    "repeated",
    "truncated",
    "length",
    "digest_short",
    "foreign_words",
    "lost_measure",
    "title_name",
    "title_shape",
    "glossary",
    "about_the_text",
    "stutter",
]
# A field that describes its source ("这段文本描述了…", "this text describes") instead of saying what
# the paper says: what a small model writes when asked for a part its sentences do not hold. None of
# the 2,886 reference reading fields nor the 10 reference digest paragraphs says so.
ABOUT_THE_TEXT = re.compile(
    r"(?:这段|该|此|这些)(?:原文|文本|文字|句子|段落)|原文(?:中|讲|描述|提到)|这段(?:研究动机|内容|话|介绍|描述)"
    r"|\b(?:this|the given|these) (?:text|sentences?|passage)\b",
    re.I,
)
# A term in parentheses after its translation, or quoted as a name ('any-process generation'): English kept on purpose.
_PARENTHESISED = re.compile(r"（[^（）]*）|\([^()]*\)|'[^'\n]{1,60}'|\"[^\"\n]{1,60}\"|“[^”\n]{1,60}”|‘[^’\n]{1,60}’")
_LATIN_WORD = re.compile(
    r"(?<![A-Za-z0-9À-ÖØ-öø-ɏ.\-_])[A-Za-zÀ-ÖØ-öø-ɏ][A-Za-zÀ-ÖØ-öø-ɏ'\-]*"
)  # not the "o-mini" of GPT-4o-mini
_LINK_AT_END = re.compile(r"https?://\S+$")
_TITLE_LEAD = re.compile(r"^\s*([A-Z][\w.+\-]*)\s*[:：]")
MADE_UP_TITLE_MAX = {"characters": 40, "words": 16}
_NOT_IN_A_TITLE = re.compile(r"[。！？；;，]|,\s|我们|本文|\b(?:we|our|this paper)\b", re.I)
_TITLE_WORD = re.compile(r"[A-Za-z][\w.+]*(?:-[\w.+]+)*")


class QualityIssue(BaseModel):
    rule: Rule
    field: str
    detail: str

    def describe(self) -> str:
        return f"{self.field}: {self.detail}"


class QualityResult(BaseModel):
    issues: list[QualityIssue] = []

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def reasons(self) -> list[str]:
        """One line an issue, for ``Enrichment.reasons``."""
        return [f"quality: {issue.describe()}" for issue in self.issues]

    @property
    def message(self) -> str:
        """What to tell the model when asking again (``prompts/quality_reask.jinja``); empty when ok."""
        if self.ok:
            return ""
        return (
            environment().get_template("quality_reask.jinja").render(issues=[i.describe() for i in self.issues]).strip()
        )


# --- measures ---------------------------------------------------------------------------------------


def length(text: str, lang: Language) -> int:
    """Length in the language's units: characters (spaces left out) or words."""
    return len(re.sub(r"\s+", "", text)) if lang.counts_characters else len(text.split())


def unit_name(lang: Language) -> str:
    return "characters" if lang.counts_characters else "words"


def ngrams(text: str, lang: Language, n: int = NGRAM) -> set[tuple[str, ...] | str]:
    if lang.counts_characters:
        squeezed = re.sub(r"\s+", "", text.casefold())
        return {squeezed[i : i + n] for i in range(len(squeezed) - n + 1)}
    words = re.findall(r"\w+", text.casefold())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def containment(a: str, b: str, lang: Language) -> float:
    """The share of the shorter text's n-grams that the other text has too (0 when either has none)."""
    grams_a, grams_b = ngrams(a, lang), ngrams(b, lang)
    if not grams_a or not grams_b:
        return 0.0
    return len(grams_a & grams_b) / min(len(grams_a), len(grams_b))


def repeated_pairs(fields: dict[str, str], lang: Language) -> list[tuple[str, str, float]]:
    """(field, field, containment) for every pair of the given fields at or above the limit."""
    pairs = []
    for (name_a, a), (name_b, b) in combinations(fields.items(), 2):
        score = containment(a, b, lang)
        if score >= REPEAT_LIMIT:
            pairs.append((name_a, name_b, round(score, 2)))
    return pairs


def is_truncated(text: str) -> bool:
    """Whether the text stops mid-sentence: its last character (after closing quotes and brackets)
    ends no sentence. A text ending in a link is complete (the digest's "code: https://…")."""
    stripped = text.strip()
    if not stripped or _LINK_AT_END.search(stripped):
        return False
    return stripped.rstrip(CLOSERS)[-1:] not in SENTENCE_ENDS


def length_band(lang: Language) -> tuple[int, int]:
    low, high = lang.field_length
    return round(low * LENGTH_BAND[0]), round(high * LENGTH_BAND[1])


def foreign_words(text: str, lang: Language) -> list[str]:
    """English words inside the sentences of a language not written in Latin script (see the module)."""
    if "latin" in lang.scripts or not lang.scripts:
        return []
    prose = _PARENTHESISED.sub(" ", NOT_PROSE.sub(" ", text))
    return [
        w
        for w in _LATIN_WORD.findall(prose)
        if w.islower() and len(w) >= 3 and not is_generic(w) and not has_name_shape(w)
    ]


def latin_word_share(text: str, lang: Language) -> float:
    """Foreign words as a share of all the text's length units (for reports)."""
    total = length(text, lang)
    return len(foreign_words(text, lang)) / total if total else 0.0


def title_names(title: str) -> list[str]:
    """The paper's own names in its English title: name-shaped words (MMaDA, Qwen3, GuardReasoner-VL
    by its parts) and the single word before a colon (Thinkless: …). A plural acronym (PRMs, LLMs)
    and field vocabulary (LLM, VLM) are terms, not names."""
    names = []
    lead = _TITLE_LEAD.match(title)
    if lead:
        names.append(lead[1])
    for word in _TITLE_WORD.findall(title):
        for part in word.split("-"):
            if has_name_shape(part) and not is_generic(part) and not is_plural_acronym(part) and part[0].isalpha():
                names.append(part)
    return list(dict.fromkeys(n for n in names if not any(n != m and n in m for m in names)))


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- the gate -------------------------------------------------------------------------------------


def card_texts(card: Card) -> dict[str, str]:
    """The card's prose by field name: tldr, reading.<field> for the six, digest."""
    return {
        "tldr": card.tldr,
        **{f"reading.{name}": getattr(card.reading, name) for name in READING_FIELDS},
        "digest": card.digest,
    }


def _reading_fields(texts: dict[str, str]) -> dict[str, str]:
    return {name: text for name, text in texts.items() if name.startswith("reading.")}


def check_repeats(texts: dict[str, str], lang: Language) -> list[QualityIssue]:
    """Reading fields repeating each other or the TL;DR (the digest renders them all: not compared)."""
    fields = {name: text for name, text in texts.items() if name != "digest"}
    return [
        QualityIssue(
            rule="repeated",
            field=b,
            detail=f"repeats {a} ({score:.0%} of the shorter one's wording is in the other); "
            f"make each field say something of its own",
        )
        for a, b, score in repeated_pairs(fields, lang)
    ]


def check_endings(texts: dict[str, str]) -> list[QualityIssue]:
    return [
        QualityIssue(rule="truncated", field=name, detail="stops mid-sentence; finish the sentence")
        for name, text in texts.items()
        if is_truncated(text)
    ]


def check_lengths(texts: dict[str, str], lang: Language) -> list[QualityIssue]:
    low, high = length_band(lang)
    target = f"{lang.field_length[0]}–{lang.field_length[1]} {unit_name(lang)}"
    issues = []
    for name, text in _reading_fields(texts).items():
        n = length(text, lang)
        if not low <= n <= high:
            issues.append(
                QualityIssue(
                    rule="length",
                    field=name,
                    detail=f"is {n} {unit_name(lang)} long; write one or two sentences of about {target}",
                )
            )
    return issues


def check_foreign_words(texts: dict[str, str], lang: Language) -> list[QualityIssue]:
    issues = []
    for name, text in texts.items():
        words = foreign_words(text, lang)
        if words:
            issues.append(
                QualityIssue(
                    rule="foreign_words",
                    field=name,
                    detail=f"has English words inside {lang.name} sentences ({', '.join(words)}); "
                    f"translate them, keeping English only for names and in parentheses after a term",
                )
            )
    return issues


def lost_measures(text: str, source: str, lang_code: str) -> list[str]:
    """The measured words (cost, latency…) the source writes beside a number that the text keeps,
    rendered nowhere in the text."""
    lost = []
    for english, rendered in MEASURED_WORDS.get(lang_code, {}).items():
        if rendered.search(text):
            continue
        for number in dict.fromkeys(_NUMBER.findall(text)):
            at = rf"(?<![A-Za-z0-9.]){re.escape(number)}(?!\.?\d)"
            gap = r"[^\w.!?;]+"  # within a sentence: not across its end
            near = rf"{at}(?:{gap}\w+){{0,3}}?{gap}{english.pattern}|{english.pattern}(?:{gap}\w+){{0,3}}?{gap}{at}"
            if found := re.search(near, source, re.I):
                lost.append(english.search(found[0])[0].lower())
                break
    return lost


def check_measures(texts: dict[str, str], source: str, lang_code: str) -> list[QualityIssue]:
    return [
        QualityIssue(
            rule="lost_measure",
            field=name,
            detail=f'keeps a number but not what it measures ("{", ".join(words)}" in the source): write it',
        )
        for name, text in texts.items()
        if (words := lost_measures(text, source, lang_code))
    ]


def check_about_the_text(texts: dict[str, str]) -> list[QualityIssue]:
    return [
        QualityIssue(
            rule="about_the_text",
            field=name,
            detail="talks about the source text instead of saying what the paper says; write the content itself",
        )
        for name, text in texts.items()
        if ABOUT_THE_TEXT.search(text)
    ]


# What a result measures: a text that keeps a source's number but not what it counts says another
# claim ("in 10 less cost" became 性能降低了 10 分, performance 10 points lower).
MEASURED_WORDS = {
    "zh": {
        re.compile(r"\bcosts?\b", re.I): re.compile("成本|开销|代价|费用|花费|耗费"),
        re.compile(r"\blatency\b", re.I): re.compile("延迟|时延|耗时"),
        re.compile(r"\bmemory\b", re.I): re.compile("内存|显存|存储|记忆"),
        re.compile(r"\baccuracy\b", re.I): re.compile("准确|精度|精确|正确率"),
        re.compile(r"\bthroughput\b", re.I): re.compile("吞吐"),
    }
}
_NUMBER = re.compile(r"(?<![A-Za-z0-9.])\d+(?:\.\d+)?")  # not the 2 of UltraMemV2, a name's

# A word written twice in a row ("进行思考思考"): a small model's slip, which a reader stops at. 2 of
# the 2,886 reference fields have one (推理推理, 优化优化), slips of their own.
STUTTER = re.compile(r"([\u4e00-\u9fff]{2,4})\1")


def check_stutter(texts: dict[str, str]) -> list[QualityIssue]:
    return [
        QualityIssue(rule="stutter", field=name, detail=f"writes {m[0]!r}, a word twice in a row; write it once")
        for name, text in texts.items()
        if (m := STUTTER.search(text))
    ]


def check_texts(texts: dict[str, str], lang_code: str) -> list[QualityIssue]:
    """The rules that read the prose alone (repeats, endings, lengths, foreign words, talk about
    the text): what a reference reading, which has no digest or title, can be measured on."""
    lang = language(lang_code)
    return [
        *check_repeats(texts, lang),
        *check_endings(texts),
        *check_lengths(texts, lang),
        *check_foreign_words(texts, lang),
        *check_about_the_text(texts),
        *check_stutter(texts),
    ]


def expected_length(english: str, lang: Language) -> float:
    """How long a faithful rendering of the English text runs in ``lang``'s units."""
    return EXPECTED_PER_SOURCE_WORD[unit_name(lang)] * len(english.split())


def renders_too_little(english: str, text: str, lang: Language) -> bool:
    """Whether ``text`` is under half the length a rendering of ``english`` takes: a part left out,
    or a question answered instead of translated ("Can LLMs learn when to think?" as 可以的。)."""
    return length(text, lang) < DIGEST_MIN_SHARE * expected_length(english, lang)


def check_digest(card: Card, abstract: str, lang: Language) -> list[QualityIssue]:
    source_words = len(abstract.split())
    if source_words < MIN_SOURCE_WORDS or not renders_too_little(abstract, card.digest, lang):
        return []
    expected = expected_length(abstract, lang)
    n = length(card.digest, lang)
    return [
        QualityIssue(
            rule="digest_short",
            field="digest",
            detail=f"is {n} {unit_name(lang)} for an abstract of {source_words} words (expected about "
            f"{expected:.0f}); render the whole abstract: the problem, the method and its "
            f"components, every result with its numbers",
        )
    ]


def title_shape_problems(made_up: str, lang: Language) -> list[str]:
    """What keeps a made-up title from reading as one: its length, a sentence's marks or "we"."""
    problems = []
    if (n := length(made_up, lang)) > (limit := MADE_UP_TITLE_MAX[unit_name(lang)]):
        problems.append(f"is {n} {unit_name(lang)}; a title is at most {limit}")
    if found := _NOT_IN_A_TITLE.search(made_up):
        problems.append(f'reads as a sentence ("{found[0].strip()}"); name the method in a short phrase')
    return problems


def check_title(card: Card, title: str | None, lang: Language) -> list[QualityIssue]:
    if not title:
        return [
            QualityIssue(rule="title_shape", field="title", detail=problem)
            for problem in title_shape_problems(card.title, lang)
        ]
    kept = _squeezed(card.title)
    return [
        QualityIssue(
            rule="title_name",
            field="title",
            detail=f'drops the paper\'s name "{name}"; keep "{name}" exactly as the English title writes it',
        )
        for name in title_names(title)
        if _squeezed(name) not in kept
    ]


def check_glossary(card: Card, source: str, glossary: Glossary | None) -> list[QualityIssue]:
    if glossary is None:
        return []
    text = " ".join([card.title, *card.keywords, *card_texts(card).values()])  # the keywords are the card's too
    return [
        QualityIssue(
            rule="glossary",
            field="card",
            detail=f'the paper uses "{term.english}" and the card never writes the glossary\'s '
            f'translation "{term.translation}"; write it as {term.translation}',
        )
        for term in glossary.missing(source, text)
    ]


def check_card(
    card: Card, paper: Paper, lang_code: str, *, source: str | None = None, glossary: Glossary | None = None
) -> QualityResult:
    """Every rule of the gate on one card of one paper; ``source`` is the text the glossary
    check reads (default: title and abstract)."""
    lang = language(lang_code)
    abstract = paper.abstract or ""
    source = source if source is not None else "\n".join(filter(None, [paper.title, abstract]))
    issues = [
        *check_title(card, paper.title, lang),
        *check_texts(card_texts(card), lang_code),
        *check_digest(card, abstract, lang),
        *check_measures(card_texts(card), abstract, lang_code),  # results are the abstract's, not the title's
        *check_glossary(card, source, glossary),
    ]
    return QualityResult(issues=issues)
