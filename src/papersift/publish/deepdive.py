"""Format C, the deep-dive article: one paper read in full, written by the LLM with thinking on.

The article is written from the full text (stored, or a PDF read with pypdfium2). When the text
does not fit the model's context beside the thinking budget and the answer, it is read section
by section instead of truncated: each piece gives notes (map), and the article is composed from
the notes (reduce; repeated if the notes themselves are too long). Every number and name in the
article is then checked against the full text by the faithfulness guard: on a violation the
model is asked once more with the violations listed; if it still fails, the article is published
flagged, with the reasons shown. Its length is measured (1,500–4,000 Chinese characters asked)
and reported when outside.

    dive = deepdive(store, "2505.00001", settings, DeepDiveOptions(thinking_budget=2048))
    print(to_markdown(dive))
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..llm.base import Thinking
from ..models import Paper
from ..store import Store
from . import sections as sec
from .markdown import link, md_text, one_line
from .render import environment, labels
from .view import safe_url

SECTION_KEYS = ("background", "method", "recipe", "evaluation", "discussion", "summary")
SECTION_TITLES = {
    "zh": ("背景与目标", "架构与方法：新在哪里", "训练与构建方案", "评测：论文的数字与基线", "讨论：消融、权衡与局限", "总结与未来方向"),
    "en": ("Background and goals", "Architecture and method: what is new", "Training and construction recipe",
           "Evaluation: the paper's numbers against its baselines", "Discussion: ablations, trade-offs, limits",
           "Summary and future directions"),
}
LANGUAGE_NAMES = {"zh": "简体中文 (Simplified Chinese)", "en": "English", "ja": "日本語 (Japanese)"}
LENGTH_RANGE = (1500, 4000)  # Chinese characters, formats.md C

_POINTS = dict(min_length=2, max_length=8)


class ArticleDraft(BaseModel):
    """What the model writes; the headline, numbering and metadata are added around it."""

    short_name: str = Field(description="the paper's short name (model, method or system) as the paper writes it", max_length=80)
    angle: str = Field(description="the article's angle in a few words", max_length=60)
    lead: str = Field(description="two or three sentences: what the paper does and why it matters", max_length=600)
    background: list[str] = Field(description="background and goals: short points, **bold** key terms", **_POINTS)
    method: list[str] = Field(description="architecture or method and what is new in it", **_POINTS)
    recipe: list[str] = Field(description="training or construction recipe: data, stages, compute", **_POINTS)
    evaluation: list[str] = Field(description="benchmarks with the paper's own numbers against the baselines it names", **_POINTS)
    discussion: list[str] = Field(description="ablations, trade-offs and limits the paper reports", **_POINTS)
    summary: list[str] = Field(description="summary and future directions", **_POINTS)

    def text(self) -> str:
        """Everything the model wrote, for the guard and the length count."""
        points = [p for key in SECTION_KEYS for p in getattr(self, key)]
        return "\n".join([self.short_name, self.angle, self.lead, *points])


class PartNotes(BaseModel):
    """Notes on one part of a paper (the map step of a long paper)."""

    notes: list[str] = Field(description="short factual notes; numbers copied exactly with units", min_length=1, max_length=24)


class ArticleSection(BaseModel):
    number: int
    key: str
    title: str
    points: list[str]


class DeepDive(BaseModel):
    paper_id: str
    lang: str
    title: str
    source_id: str | None
    link: str | None
    headline: str
    lead: str
    sections: list[ArticleSection]
    status: Literal["ok", "flagged"]
    reasons: list[str] = []
    length: int = Field(description="Chinese characters (zh) or characters of text the model wrote")
    length_ok: bool | None = None
    warnings: list[str] = []
    mode: Literal["whole", "sections"] = Field(description="whole text in one call, or notes per section first")
    calls: int
    reasked: bool = False
    thinking_budget: int | None = None


@dataclass(frozen=True)
class DeepDiveOptions:
    lang: str = "zh"
    thinking_budget: int | None = 4096
    context_tokens: int = 32768  # the model's context window
    output_tokens: int = 6000  # room for the article itself (4,000 Chinese characters and the JSON around them)
    notes_tokens: int = 1500  # room for one part's notes


class DeepDiveError(Exception):
    """The article cannot be written: the message says why (no full text, context too small, LLM failure)."""


@cache
def prompt(name: str) -> str:
    return resources.files("papersift.publish").joinpath("templates", f"prompt_deepdive_{name}.txt").read_text(encoding="utf-8")


# --- the full text ------------------------------------------------------------------------


def fulltext_for(store: Store, paper_id: str, *, pdf: Path | None = None, http: Any = None) -> str:
    """The paper's full text: from ``pdf`` (then stored), the store, or the paper's PDF link."""
    from ..sources.base import SourceError
    from ..sources.pdf import attach_fulltext, read_pdf

    try:
        if pdf is not None:
            text = read_pdf(str(pdf))
            store.set_fulltext(paper_id, text, str(pdf))
            return text
        text = store.fulltext(paper_id)
        if text:
            return text
        if store.get(paper_id).url_pdf:
            attach_fulltext(store, paper_id, None, client=http)
            return store.fulltext(paper_id) or ""
    except SourceError as exc:
        raise DeepDiveError(str(exc)) from exc
    raise DeepDiveError(f"paper {paper_id} has no full text and no PDF link: give one with --pdf FILE")


# --- writing ------------------------------------------------------------------------------


class _Writer:
    def __init__(self, client: Any, paper: Paper, options: DeepDiveOptions):
        self.client = client
        self.paper = paper
        self.options = options
        self.thinking = Thinking(True, options.thinking_budget)
        self.calls = 0

    def _room(self, system: str, answer_tokens: int, *, reask: bool = False) -> int:
        """Tokens left for the paper's text in one call; with ``reask``, room is kept for asking once
        more with the first answer and the guard's violations in the conversation."""
        kept = answer_tokens + 300 if reask else 0
        used = answer_tokens + kept + (self.options.thinking_budget or 0) + sec.estimate_tokens(system) + 200
        room = self.options.context_tokens - used
        if room < 200:
            raise DeepDiveError(
                f"a context of {self.options.context_tokens} tokens leaves no room for the paper beside "
                f"{answer_tokens} answer tokens and a thinking budget of {self.options.thinking_budget}: "
                "raise the context (--context; for the embedded engine also llm.n_ctx) or lower --thinking-budget"
            )
        return room

    def _user(self, body: str, part: str = "") -> str:
        lang = LANGUAGE_NAMES.get(self.options.lang, self.options.lang)
        title = self.paper.title or "(untitled)"
        return f"Language: {lang}\nPaper: {title}\n{part}\n{body}"

    async def _ask(self, messages: list[dict[str, str]], model: type[BaseModel], answer_tokens: int, template: str) -> Any:
        from ..llm.base import LLMError

        self.calls += 1
        try:
            answer, _ = await self.client.structured(
                messages, model, max_tokens=answer_tokens + (self.options.thinking_budget or 0),
                thinking=self.thinking, paper_id=self.paper.id, template=f"deepdive-{template}",
            )
        except LLMError as exc:
            raise DeepDiveError(f"the model failed: {exc}") from exc
        return answer

    async def _notes(self, chunk: list[sec.Section], index: int, total: int) -> sec.Section:
        system = prompt("notes")
        messages = [{"role": "system", "content": system},
                    {"role": "user", "content": self._user(sec.render(chunk), f"Part {index} of {total}:\n")}]
        notes = await self._ask(messages, PartNotes, self.options.notes_tokens, "notes")
        headings = " / ".join(dict.fromkeys(s.heading for s in chunk))
        return sec.Section(headings, "\n".join(f"- {n}" for n in notes.notes))

    async def material(self, fulltext: str) -> tuple[str, Literal["whole", "sections"]]:
        """The full text if it fits beside the answer; else notes of its parts (again, until they fit)."""
        room = self._room(prompt("article"), self.options.output_tokens, reask=True)
        parts = sec.split_sections(fulltext) or [sec.Section(sec.FRONT, fulltext)]
        text = sec.render(parts)
        if sec.estimate_tokens(text) <= room:
            return text, "whole"
        map_room = self._room(prompt("notes"), self.options.notes_tokens)
        for _ in range(4):
            chunks = sec.pack(parts, map_room)
            parts = list(await asyncio.gather(*(self._notes(c, i, len(chunks)) for i, c in enumerate(chunks, 1))))
            text = sec.render(parts)
            if sec.estimate_tokens(text) <= room:
                return text, "sections"
        raise DeepDiveError("the notes of this paper do not fit the context even after four rounds: raise --context")

    async def article(self, material: str, fulltext: str) -> tuple[ArticleDraft, list[str], bool]:
        from ..enrich import guard

        messages = [{"role": "system", "content": prompt("article")}, {"role": "user", "content": self._user(material)}]
        draft = await self._ask(messages, ArticleDraft, self.options.output_tokens, "article")
        verdict = guard.check(draft.text(), fulltext)
        if verdict.ok:
            return draft, [], False
        retry = messages + [
            {"role": "assistant", "content": draft.model_dump_json()},
            {"role": "user", "content": verdict.message},
        ]
        draft = await self._ask(retry, ArticleDraft, self.options.output_tokens, "article")
        verdict = guard.check(draft.text(), fulltext)
        return draft, verdict.reasons, True


def measure(draft: ArticleDraft, lang: str) -> tuple[int, bool | None]:
    """The article's length: Chinese characters for zh (with the 1,500–4,000 verdict), else characters."""
    text = draft.text()
    if lang == "zh":
        n = len(re.findall(r"[\u3400-\u9fff\uf900-\ufaff]", text))
        return n, LENGTH_RANGE[0] <= n <= LENGTH_RANGE[1]
    return len(text), None


async def write_deepdive(client: Any, paper: Paper, fulltext: str, options: DeepDiveOptions) -> DeepDive:
    """Write, check and assemble the article for ``paper`` from its ``fulltext``."""
    writer = _Writer(client, paper, options)
    material, mode = await writer.material(fulltext)
    draft, reasons, reasked = await writer.article(material, fulltext)
    length, length_ok = measure(draft, options.lang)
    warnings = []
    if length_ok is False:
        warnings.append(f"the article is {length} Chinese characters, outside {LENGTH_RANGE[0]}–{LENGTH_RANGE[1]}")
    L = labels(options.lang)
    titles = SECTION_TITLES.get(options.lang, SECTION_TITLES["en"])
    return DeepDive(
        paper_id=paper.id,
        lang=options.lang,
        title=paper.title or draft.short_name,
        source_id=_source_id(paper),
        link=safe_url(paper.url_abs),
        headline=L["deepdive_headline"].format(name=one_line(draft.short_name), angle=one_line(draft.angle)),
        lead=draft.lead,
        sections=[
            ArticleSection(number=i, key=key, title=title, points=getattr(draft, key))
            for i, (key, title) in enumerate(zip(SECTION_KEYS, titles, strict=True), 1)
        ],
        status="flagged" if reasons else "ok",
        reasons=reasons,
        length=length,
        length_ok=length_ok,
        warnings=warnings,
        mode=mode,
        calls=writer.calls,
        reasked=reasked,
        thinking_budget=options.thinking_budget,
    )


def _source_id(paper: Paper) -> str | None:
    if paper.arxiv_id:
        return f"arXiv:{paper.arxiv_id}"
    if paper.openreview_id:
        return f"OpenReview:{paper.openreview_id}"
    if paper.doi:
        return f"doi:{paper.doi}"
    return f"{paper.source}:{paper.source_id}" if paper.source_id else paper.id


def deepdive(
    store: Store,
    ref: str,
    settings: Any,
    options: DeepDiveOptions,
    *,
    pdf: Path | None = None,
    client: Any = None,
) -> DeepDive:
    """Resolve ``ref``, read the full text, write the article (with an LLM client from ``settings``
    unless one is given) and keep it in the store, where the static site finds it."""
    try:
        paper = store.get(store.resolve(ref))
    except KeyError:
        raise DeepDiveError(f"no paper {ref!r} in {store.path}") from None
    if pdf is None and not store.fulltext(paper.id) and paper.url_pdf:
        from ..sources.http import HttpClient

        with HttpClient(settings.net) as http:
            fulltext = fulltext_for(store, paper.id, http=http)
    else:
        fulltext = fulltext_for(store, paper.id, pdf=pdf)
    dive = asyncio.run(_run(store, settings, paper, fulltext, options, client))
    store.save_deepdive(paper.id, dive.lang, dive.model_dump_json())
    return dive


def stored(store: Store, lang: str) -> dict[str, DeepDive]:
    """The deep-dives kept in the store in ``lang``, by paper id, newest first."""
    return {paper_id: DeepDive.model_validate_json(data) for paper_id, data in store.deepdives(lang).items()}


async def _run(store: Store, settings: Any, paper: Paper, fulltext: str, options: DeepDiveOptions, client: Any) -> DeepDive:
    if client is not None:
        return await write_deepdive(client, paper, fulltext, options)
    from ..llm.client import LLMClient

    own = LLMClient.from_settings(settings, store=store)
    try:
        return await write_deepdive(own, paper, fulltext, options)
    finally:
        await own.aclose()


# --- rendering ----------------------------------------------------------------------------


def to_markdown(dive: DeepDive) -> str:
    L = labels(dive.lang)
    lines = [f"# {md_text(dive.headline)}", "", md_text(dive.lead), ""]
    lines += [f"> **{L['title']}**{L['sep']}{md_text(dive.title)}  "]
    if dive.source_id:
        lines.append(f"> **{L['source']}**{L['sep']}{dive.source_id}  ")
    if dive.link:
        lines.append(f"> **{L['link']}**{L['sep']}{link(dive.link, dive.link)}")
    lines.append("")
    if dive.status == "flagged":
        lines += [f"> {L['deepdive_flagged']}", *[f"> - {md_text(r)}" for r in dive.reasons], ""]
    for section in dive.sections:
        lines += [f"## {section.number}. {section.title}", ""]
        lines += [f"- {md_text(p)}" for p in section.points]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def to_html(dive: DeepDive, **context) -> str:
    return environment(dive.lang).get_template("deepdive.html").render(dive=dive, **context)


def to_json(dive: DeepDive) -> str:
    return dive.model_dump_json(indent=2) + "\n"
