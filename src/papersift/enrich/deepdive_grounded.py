"""The deep-dive of a small model: a report read section by section, each point a sentence of its own.

Asked to compose an article from 40,000 tokens of a technical report, the packaged 1.5B model
cannot: it has no thinking mode, and it copies and cuts off when asked to compose (as it does for
cards, see :mod:`.grounded`). So the article is laid out by code from the paper's own structure,
and the model only translates, a sentence at a time, what it translates well:

- the paper's numbered sections become the article's sections (their sub-sections its numbered
  sub-topics, merged two by two past four), the abstract its lead, the conclusion its closing,
  and the conclusion's sentences about what comes next its future directions; the authors,
  references and appendices are left out;
- in each sub-section, the sentences that carry the facts (numbers, names, "we propose",
  "outperforms") are chosen by code, at most ``MAX_POINTS`` of them, in the paper's order; table
  rows, captions and pointers to tables are not;
- each chosen sentence is translated alone, its quantities first put into the target language's
  units by code, and checked against that sentence by the faithfulness guard: a point that states
  a number or name its sentence does not is asked again once with the guard's words, then left
  out (and said so in the article's warnings);
- headings are translated the same way, the key term of each point (its first name) set in bold.

Every request is a sentence or a heading, so nothing is read twice and the whole report takes a
few minutes on two cores; a killed run resumes from the calls already answered (the LLM client's
cache in the store).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..checks import guard
from ..models import Paper
from . import sections as sec
from .article import ArticleDraft, Bullet, Closing, Section, Subsection
from .grounded import GroundedWriter, title_names
from .sentences import split_sentences

MAX_SUBSECTIONS = 4
MAX_BULLETS = 8  # a sub-topic's points (ArticleDraft's Subsection)
MAX_SECTIONS = 6
MAX_POINTS = 3  # a sub-section's points; a long one (an evaluation) gets one more
LONG_SUBSECTION = 4000  # characters
MAX_FUTURE = 4
MAX_HEADING = 40  # characters: the article's section titles (ArticleDraft)
LEAD_SENTENCES = 3
MIN_WORDS, MAX_WORDS = 5, 60
_NUMBER = re.compile(r"^(?P<num>\d{1,2})(?:\.(?P<sub>\d{1,2}))?(?:\.\d{1,2})*\.?\s+(?P<title>.+)$")
_PEOPLE = re.compile(
    r"^(?:\d+\.?\s+)?(?:authors?|contributors?|author contributions|references|bibliography)$", re.IGNORECASE
)
_CONCLUSION = re.compile(r"conclu|summary|closing remarks", re.IGNORECASE)
_CITATION = re.compile(r"\s*\((?:[^()]*?\bet al\.[^()]*?|[A-Z][^()]*?,\s*(?:19|20)\d\d[a-z]?)\)")
_POINTER = re.compile(r"\b(?:Table|Figure|Fig\.)\s*\d", re.IGNORECASE)
_CAPTION = re.compile(r"(?:^|\s)(?:Table|Figure|Fig\.)\s*\d+\s*:", re.IGNORECASE)
_NUMBER_WORD = re.compile(r"(?<![\w.\-])\d[\d,.]*(?![\w\-])")  # 36, 85.7, 2,056: not the 3 of Qwen3
_CUES = re.compile(
    r"\b(?:we (?:propose|introduce|present|design|develop|adopt|train|use|find|observe|show)|achiev|outperform|"
    r"surpass|improv|reduc|increas|state-of-the-art|results? (?:show|indicate|demonstrate)|compared (?:with|to))",
    re.IGNORECASE,
)
_FUTURE = re.compile(r"\b(?:future|will|plan to|next step|going forward|further (?:work|research))\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][\w\-.]*")
_ENUMERATOR = re.compile(r"^\(?(?:\d|[a-h]|i{1,3}|iv)\)\s+")  # "(2) Our flagship…": a point of its own here
CLOSING = {"zh": "总结与展望", "en": "Summary and outlook"}
NO_FUTURE = {"zh": "论文没有写出未来的研究方向。", "en": "The paper names no future directions."}
DROPPED = "left out a point the guard could not ground in its sentence ({section}): {reasons}"


@dataclass
class Part:
    """One sub-topic to be: a heading and the sentences chosen for it."""

    heading: str
    sentences: list[str]


@dataclass
class Chapter:
    """One article section to be: the paper's numbered section and its parts."""

    heading: str
    parts: list[Part] = field(default_factory=list)


@dataclass
class Outline:
    lead: list[str]
    chapters: list[Chapter]
    conclusion: list[str]
    future: list[str]


def clean(text: str) -> str:
    """The text of a PDF section as prose: lines joined (a word broken at a line end rejoined),
    citations in brackets taken out (they cost tokens and are not facts of this paper)."""
    text = re.sub(r"(?<=[a-z])-\n(?=[a-z])", "-", text)
    return _CITATION.sub("", " ".join(text.split()))


def is_prose(sentence: str) -> bool:
    """A sentence a reader would read: not a table row (mostly numbers), a figure's text run into
    its caption, or a pointer to a table, and neither a fragment nor a run-on of a page."""
    words = sentence.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS or _CAPTION.search(sentence):
        return False
    letters = sum(1 for w in words if re.match(r"[A-Za-z]{2,}", w))
    return letters >= 0.6 * len(words) and not (_POINTER.search(sentence) and len(words) < 15)


def weight(sentence: str) -> float:
    """How much a sentence carries: numbers, names and the phrases of findings and methods."""
    names = {w for w in _WORD.findall(sentence) if guard.has_name_shape(w)}
    return (
        2 * min(2, len(_NUMBER_WORD.findall(sentence)))
        + min(3, len(names))
        + 2 * bool(_CUES.search(sentence))
        - 2 * bool(_POINTER.search(sentence))
    )


def chosen(text: str, n: int) -> list[str]:
    """The ``n`` weightiest prose sentences of a text, in its order (ties: the earlier)."""
    return weightiest(prose(text), n)


def weightiest(sentences: list[str], n: int) -> list[str]:
    best = sorted(range(len(sentences)), key=lambda i: (-weight(sentences[i]), i))[:n]
    return [sentences[i] for i in sorted(best)]


def prose(text: str) -> list[str]:
    """The prose sentences of a section's text, a list item ("• Agent & Coding: …") its own sentence,
    without the enumerator it had in the paper's list ("(b) Due to …")."""
    items = (_ENUMERATOR.sub("", item.strip()) for s in split_sentences(clean(text)) for item in s.split("•"))
    return [item for item in items if is_prose(item)]


def points_for(section: sec.Section) -> int:
    return MAX_POINTS + (len(section.text) > LONG_SUBSECTION)


def outline(fulltext: str) -> Outline:
    """The article's plan from the paper's sections (see the module)."""
    chapters: list[Chapter] = []
    lead: list[str] = []
    conclusion: list[sec.Section] = []
    for section in sec.split_sections(fulltext):
        heading = section.heading
        if heading.lower() == "abstract":  # what the paper is, then its weightiest facts
            first = prose(section.text)[:1]
            lead = [*first, *(s for s in chosen(section.text, LEAD_SENTENCES) if s not in first)][:LEAD_SENTENCES]
        elif chapters and sec.APPENDIX.match(heading):
            break  # the appendices: the article is the paper's body
        elif _PEOPLE.match(heading) or heading == sec.FRONT:
            continue
        elif _CONCLUSION.search(heading):
            conclusion.append(section)
        elif (m := _NUMBER.match(heading)) and not m["sub"]:
            chapters.append(Chapter(m["title"], [Part(m["title"], chosen(section.text, points_for(section)))]))
        elif chapters:  # a sub-section, or a heading found inside one (a table's "MMLU")
            title = m["title"] if m else heading
            if m:
                chapters[-1].parts.append(Part(title, chosen(section.text, points_for(section))))
            else:
                chapters[-1].parts[-1].sentences += chosen(section.text, 1)
        else:  # an unnumbered paper: each named section is a chapter
            chapters.append(Chapter(heading, [Part(heading, chosen(section.text, points_for(section)))]))
    sentences = [s for c in conclusion for s in prose(c.text)]
    future = [s for s in sentences if _FUTURE.search(s)][:MAX_FUTURE]
    summary = [s for s in weightiest(sentences, MAX_POINTS) if s not in future]
    return Outline(lead, shaped([c for c in chapters if any(p.sentences for p in c.parts)]), summary, future)


def shaped(chapters: list[Chapter]) -> list[Chapter]:
    """At most ``MAX_SECTIONS`` chapters of at most ``MAX_SUBSECTIONS`` parts: the smallest
    neighbours merged; a part with no sentence of its own dropped."""
    for chapter in chapters:
        chapter.parts = [Part(p.heading, weightiest(p.sentences, MAX_BULLETS)) for p in chapter.parts if p.sentences]
        while len(chapter.parts) > MAX_SUBSECTIONS:
            i = min(
                range(len(chapter.parts) - 1),
                key=lambda k: len(chapter.parts[k].sentences + chapter.parts[k + 1].sentences),
            )
            a, b = chapter.parts[i], chapter.parts.pop(i + 1)
            chapter.parts[i] = Part(f"{a.heading}; {b.heading}", weightiest(a.sentences + b.sentences, MAX_BULLETS))
    while len(chapters) > MAX_SECTIONS:
        i = min(
            range(len(chapters) - 1),
            key=lambda k: sum(len(p.sentences) for p in chapters[k].parts + chapters[k + 1].parts),
        )
        a, b = chapters[i], chapters.pop(i + 1)
        chapters[i] = Chapter(f"{a.heading}; {b.heading}", (a.parts + b.parts)[:MAX_SUBSECTIONS])
    return chapters


def bold_key_term(text: str) -> str:
    """The point's first name (Qwen3-235B-A22B, GQA) in bold: the key term a reader scans for."""
    for m in _WORD.finditer(text):
        if guard.has_name_shape(m[0]) and len(m[0]) > 1:
            return f"{text[: m.start()]}**{m[0]}**{text[m.end() :]}"
    return text


class GroundedArticle:
    """Writes the article's texts from an :class:`Outline`, one sentence or heading a call."""

    def __init__(self, writer: GroundedWriter, paper: Paper, progress: Callable[[int, int], None] | None = None):
        self.writer = writer
        self.paper = paper
        self.progress = progress
        self.warnings: list[str] = []
        self.done = 0
        self.total = 0

    def _step(self) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total)

    async def heading(self, text: str) -> str:
        reply, _ = await self.writer.ask(
            self.paper, "title", self.writer.source(text, self.paper), names=title_names(text)
        )
        self._step()
        reply = reply.rstrip("。.")
        if len(reply) > MAX_HEADING:  # a merged heading ran long: its first part
            reply = re.split(r"[;；、，,]", reply)[0][:MAX_HEADING]
        return reply

    async def sentence(self, sentence: str, where: str) -> str | None:
        """The sentence translated and grounded in itself, asked again once with the guard's
        objection; None (and a warning) if it still states what the sentence does not."""
        source = self.writer.source(sentence, self.paper)
        names = [n for n in title_names(self.paper.title or "") if n in sentence]
        reply, _ = await self.writer.ask(self.paper, "sentence", source, names=names)
        verdict = guard.check(reply, sentence)
        if not verdict.ok:
            reply, _ = await self.writer.ask(self.paper, "sentence", source, reply, verdict.message, names=names)
            verdict = guard.check(reply, sentence)
        self._step()
        if not verdict.ok:
            self.warnings.append(DROPPED.format(section=where, reasons="; ".join(verdict.reasons)))
            return None
        return reply

    async def sentences(self, sentences: list[str], where: str) -> list[str]:
        return [text for s in sentences if (text := await self.sentence(s, where))]

    @staticmethod
    def count(plan: Outline, closing_asked: bool) -> int:
        """The steps of writing ``plan``: the title, every heading asked (the closing's where the
        language has none of its own), every sentence."""
        headings = 1 + closing_asked + len(plan.chapters) + sum(len(c.parts) for c in plan.chapters if len(c.parts) > 1)
        sentences = sum(len(p.sentences) for c in plan.chapters for p in c.parts)
        return headings + sentences + len(plan.lead) + len(plan.conclusion) + len(plan.future)


class Counted:
    """An LLM client that counts the requests made through it (the article's ``calls``)."""

    def __init__(self, client: Any):
        self.client = client
        self.calls = 0

    async def chat(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return await self.client.chat(*args, **kwargs)


async def write_grounded(
    writer: GroundedWriter, paper: Paper, fulltext: str, progress: Callable[[int, int], None] | None = None
) -> tuple[ArticleDraft, list[str]]:
    """The article of ``paper`` laid out from its sections and translated a sentence at a time
    (see the module), and the warnings of points left out."""
    plan = outline(fulltext)
    if not plan.chapters:
        raise ValueError("no section of the full text has a sentence to report: is it a paper's text?")
    lang = writer.language
    joiner = "" if lang.counts_characters else " "
    article = GroundedArticle(writer, paper, progress)
    article.total = article.count(plan, closing_asked=lang.code not in CLOSING)
    title = await article.heading(paper.title or plan.chapters[0].heading)
    own = title_names(paper.title or "")
    short_name = own[0] if own else title
    angle = title.replace(short_name, "", 1).strip(" ：:-—") or title
    lead = joiner.join(await article.sentences(plan.lead, "lead"))
    sections = []
    for chapter in plan.chapters:
        heading = await article.heading(chapter.heading)
        subsections = []
        for part in chapter.parts:
            sub_heading = heading if len(chapter.parts) == 1 else await article.heading(part.heading)
            points = await article.sentences(part.sentences, chapter.heading)
            bullets = [Bullet(text=bold_key_term(point), sub_points=[]) for point in points]
            if bullets:
                subsections.append(Subsection(heading=sub_heading, paragraphs=[], bullets=bullets))
        if subsections:
            sections.append(Section.model_construct(title=heading, subsections=subsections))
    summary = joiner.join(await article.sentences(plan.conclusion, "conclusion")) or lead
    future = await article.sentences(plan.future, "future directions") or [NO_FUTURE.get(lang.code, NO_FUTURE["en"])]
    closing = Closing(
        title=CLOSING.get(lang.code) or await article.heading("Summary and outlook"),
        paragraphs=[summary],
        future_directions=future,
    )
    draft = ArticleDraft.model_construct(
        short_name=short_name, angle=angle, lead=lead or summary, sections=sections, closing=closing
    )
    return draft, article.warnings
