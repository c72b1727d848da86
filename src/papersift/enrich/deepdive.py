"""Format C, the deep-dive article: one paper read in full, written by the LLM with thinking on.

The article is written from the full text (stored, or a PDF read with pypdfium2). When the text
does not fit the model's context beside the thinking budget and the answer, it is read section
by section instead of truncated: each piece gives notes (map), and the article is composed from
the notes (reduce; repeated if the notes themselves are too long). Every number and name in the
article is then checked against the full text by the faithfulness guard: on a violation the
model is asked once more with the violations listed; if it still fails, the article is kept
flagged, with the reasons. Its length is measured (1,500–4,000 Chinese characters asked) and
reported when outside.

The model writes the article's structure as the reference articles have it: sections whose titles
name the paper's content, numbered sub-topics in prose or bullets (nested where a point has
details), and a closing section with the future directions; :class:`ArticleDraft` is that
structure and its JSON schema is the structured-output schema. A model without a thinking mode
(the embedded engine's packaged one) does not compose: :mod:`.deepdive_grounded` lays the article
out from the paper's sections and has it translate one sentence at a time. :func:`plan` sizes a
run to the engine (its window, its tokenizer, whether it thinks). The article is kept in the store
as a :class:`DeepDive`; :mod:`papersift.publish.article` renders it (Markdown, HTML, JSON).

    dive = deepdive(store, "2505.00001", settings, DeepDiveOptions(thinking_budget=2048))
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..checks import guard
from ..checks.glossary import Glossary, load_glossary
from ..llm import models
from ..llm.base import LLMError, Thinking
from ..llm.client import LLMClient
from ..llm.templates import environment
from ..llm.tokens import Tokenizer, gguf_tokenizer
from ..models import Paper
from ..sources.base import SourceError
from ..sources.http import HttpClient
from ..sources.pdf import attach_fulltext, read_pdf
from ..store import Store
from ..text import one_line
from . import sections as sec
from .article import ArticleDraft, ArticleSection, DeepDive
from .card_prompt import prompt_version
from .deepdive_grounded import Counted, write_grounded
from .grounded import GroundedWriter

HEADLINES = {"zh": "{name} 深度解析：{angle}", "en": "{name} deep dive: {angle}"}
LANGUAGE_NAMES = {"zh": "简体中文 (Simplified Chinese)", "en": "English", "ja": "日本語 (Japanese)"}
LENGTH_RANGE = (1500, 4000)  # Chinese characters, formats.md C
ARTICLE_SYSTEM = "deepdive_article_system.jinja"
NOTES_SYSTEM = "deepdive_notes_system.jinja"
PAPER_MESSAGE = "deepdive_paper.jinja"
PAPER_MESSAGE_TOKENS = 200  # the paper message's words around the text, and the chat template's
REASK_TOKENS = 300  # what a re-ask adds beside the first answer: the error or the guard's violations


class PartNotes(BaseModel):
    """Notes on one part of a paper (the map step of a long paper)."""

    notes: list[str] = Field(
        description="short factual notes; numbers copied exactly with units", min_length=1, max_length=24
    )


SERVER_CONTEXT = 32768  # a server's window is not known here: a common one, --context to say otherwise
DEFAULT_THINKING_BUDGET = 4096


@dataclass(frozen=True)
class DeepDiveOptions:
    lang: str = "zh"
    thinking_budget: int | None = DEFAULT_THINKING_BUDGET  # 0: thinking off; None: on, without a budget
    context_tokens: int = SERVER_CONTEXT  # the model's context window
    output_tokens: int = 6500  # room for the article: 4,000 Chinese characters and the JSON of its sections around them
    notes_tokens: int = 1500  # room for one part's notes
    tokenizer: Tokenizer = Tokenizer()  # counts the requests' tokens: exact for the embedded engine
    grounded: bool = False  # laid out by code, a sentence translated a call (a model without thinking)


def plan(
    settings: Any, *, lang: str = "zh", thinking_budget: int | None = None, context: int | None = None
) -> tuple[Any, DeepDiveOptions, list[str]]:
    """The settings and options of a deep-dive run, from what the engine can do. A model without a
    thinking mode writes the article laid out by code (:mod:`.deepdive_grounded`), with thinking
    off and no budget kept; its requests are a sentence each, so the engine keeps its configured
    context (``llm.n_ctx``: a 32k window costs the packaged model ~1 GB of memory for nothing). A
    model that thinks composes from the text, in its trained window (its GGUF file says). Either
    way ``context`` overrides, and the engine is started with it. The thinking budget is
    ``thinking_budget`` (0: off), else that of ``settings.llm.thinking``, else 4096. Also returns
    notes for the user."""
    llm = settings.llm
    notes: list[str] = []
    if thinking_budget is None:
        thinking_budget = Thinking.parse(llm.thinking).budget or DEFAULT_THINKING_BUDGET
    if llm.backend == "embedded":
        tokenizer = gguf_tokenizer(models.resolve(llm.embedded_model))
        window = tokenizer.window or llm.n_ctx
        context = context or (window if tokenizer.thinks else min(window, llm.n_ctx))
        settings = settings.model_copy(update={"llm": llm.model_copy(update={"n_ctx": context})})
        if not tokenizer.thinks:
            notes.append(
                f"the embedded model {llm.embedded_model} has no thinking mode: the article is laid out from the "
                "paper's sections and each point translated from its own sentence"
            )
            thinking_budget = 0
    else:
        tokenizer, context = Tokenizer(), context or SERVER_CONTEXT
    grounded = not tokenizer.thinks
    return settings, DeepDiveOptions(lang, thinking_budget, context, tokenizer=tokenizer, grounded=grounded), notes


class DeepDiveError(Exception):
    """The article cannot be written: the message says why (no full text, context too small, LLM failure)."""


def system_prompt(template: str) -> str:
    """A system message: static, so that a server's prefix cache serves it across papers."""
    return environment().get_template(template).render()


# --- the full text ------------------------------------------------------------------------


def fulltext_for(store: Store, paper_id: str, *, pdf: Path | None = None, http: Any = None) -> str:
    """The paper's full text: from ``pdf`` (then stored), the store, or the paper's PDF link."""

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
        self.thinking = Thinking(options.thinking_budget != 0, options.thinking_budget or None)
        self.calls = 0

    def _room(self, system: str, answer_tokens: int) -> int:
        """Tokens left for the paper's text in one call, with room kept for asking once more with
        the first answer and what was wrong with it in the conversation."""
        used = self._needed([{"role": "system", "content": system}], answer_tokens) + PAPER_MESSAGE_TOKENS
        room = self.options.context_tokens - used
        if room < 200:
            raise DeepDiveError(
                f"a context of {self.options.context_tokens} tokens leaves no room for the paper beside "
                f"{answer_tokens} answer tokens and a thinking budget of {self.options.thinking_budget}: "
                "raise --context or lower --thinking-budget (0 turns thinking off)"
            )
        return room

    def _needed(self, messages: list[dict[str, str]], answer_tokens: int, *, reask: bool = True) -> int:
        """The tokens a request takes: its prompt, its answer and thinking, and (``reask``) the room
        to ask it once more, where the first answer is counted as ``count`` will count it; a request
        that is itself the re-ask keeps none."""
        kept = math.ceil(answer_tokens * self.options.tokenizer.caution) + REASK_TOKENS if reask else 0
        return self.options.tokenizer.messages(messages) + (self.options.thinking_budget or 0) + answer_tokens + kept

    def _user(self, body: str, part: int | None = None, parts: int | None = None) -> str:
        return (
            environment()
            .get_template(PAPER_MESSAGE)
            .render(
                language=LANGUAGE_NAMES.get(self.options.lang, self.options.lang),
                title=self.paper.title or "(untitled)",
                part=part,
                parts=parts,
                body=body,
            )
        )

    async def _ask(
        self,
        messages: list[dict[str, str]],
        model: type[BaseModel],
        answer_tokens: int,
        template: str,
        *,
        reask: bool = True,
    ) -> Any:
        max_tokens = answer_tokens + (self.options.thinking_budget or 0)
        if (needed := self._needed(messages, answer_tokens, reask=reask)) > self.options.context_tokens:
            # Never sent: the engine would refuse it, or cut the answer (or its re-ask) short.
            raise DeepDiveError(
                f"the {template} request would need {needed} tokens with its answer and room for a re-ask, "
                f"over the context of {self.options.context_tokens}: raise --context or lower --thinking-budget (0: off)"
            )
        self.calls += 1
        try:
            answer, _ = await self.client.structured(
                messages,
                model,
                max_tokens=max_tokens,
                thinking=self.thinking,
                paper_id=self.paper.id,
                template=f"deepdive-{template}",
            )
        except LLMError as exc:
            raise DeepDiveError(f"the model failed: {exc}") from exc
        return answer

    async def _notes(self, chunk: list[sec.Section], index: int, total: int) -> sec.Section:
        system = system_prompt(NOTES_SYSTEM)
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": self._user(sec.render(chunk), index, total)},
        ]
        notes = await self._ask(messages, PartNotes, self.options.notes_tokens, "notes")
        headings = " / ".join(dict.fromkeys(s.heading for s in chunk))
        return sec.Section(headings, "\n".join(f"- {n}" for n in notes.notes))

    async def material(self, fulltext: str) -> tuple[str, Literal["whole", "sections"]]:
        """The full text if it fits beside the answer; else notes of its parts (again, until they fit)."""
        count = self.options.tokenizer.count
        room = self._room(system_prompt(ARTICLE_SYSTEM), self.options.output_tokens)
        parts = sec.split_sections(fulltext) or [sec.Section(sec.FRONT, fulltext)]
        text = sec.render(parts)
        if count(text) <= room:
            return text, "whole"
        map_room = self._room(system_prompt(NOTES_SYSTEM), self.options.notes_tokens)
        for _ in range(4):
            chunks = sec.pack(parts, map_room, count)
            parts = list(await asyncio.gather(*(self._notes(c, i, len(chunks)) for i, c in enumerate(chunks, 1))))
            text = sec.render(parts)
            if count(text) <= room:
                return text, "sections"
        raise DeepDiveError("the notes of this paper do not fit the context even after four rounds: raise --context")

    async def article(self, material: str, fulltext: str) -> tuple[ArticleDraft, list[str], bool]:

        messages = [
            {"role": "system", "content": system_prompt(ARTICLE_SYSTEM)},
            {"role": "user", "content": self._user(material)},
        ]
        draft = await self._ask(messages, ArticleDraft, self.options.output_tokens, "article")
        verdict = guard.check(draft.text(), fulltext)
        if verdict.ok:
            return draft, [], False
        retry = messages + [
            {"role": "assistant", "content": draft.model_dump_json()},
            {"role": "user", "content": verdict.message},
        ]
        if self._needed(retry, self.options.output_tokens, reask=False) > self.options.context_tokens:
            return draft, verdict.reasons, False  # no room to ask again: kept, flagged with its reasons
        draft = await self._ask(retry, ArticleDraft, self.options.output_tokens, "article", reask=False)
        verdict = guard.check(draft.text(), fulltext)
        return draft, verdict.reasons, True


def measure(draft: ArticleDraft, lang: str) -> tuple[int, bool | None]:
    """The article's length: Chinese characters for zh (with the 1,500–4,000 verdict), else characters."""
    text = draft.text()
    if lang == "zh":
        n = len(re.findall(r"[\u3400-\u9fff\uf900-\ufaff]", text))
        return n, LENGTH_RANGE[0] <= n <= LENGTH_RANGE[1]
    return len(text), None


async def write_deepdive(
    client: Any,
    paper: Paper,
    fulltext: str,
    options: DeepDiveOptions,
    *,
    glossary: Glossary | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DeepDive:
    """Write, check and assemble the article for ``paper`` from its ``fulltext``: composed by the
    model, or (``options.grounded``) laid out by code and translated a sentence at a time, with
    ``progress(done, total)`` after each step."""
    warnings: list[str] = []
    if options.grounded:
        counted = Counted(client)
        writer = GroundedWriter(counted, options.lang, glossary, f"deepdive-grounded@{prompt_version()}")
        try:
            draft, warnings = await write_grounded(writer, paper, fulltext, progress)
        except ValueError as exc:
            raise DeepDiveError(f"paper {paper.id}: {exc}") from exc
        except LLMError as exc:
            raise DeepDiveError(f"the model failed: {exc}") from exc
        reasons, mode, reasked, calls = guard.check(draft.text(), fulltext).reasons, "grounded", False, counted.calls
    else:
        composer = _Writer(client, paper, options)
        material, mode = await composer.material(fulltext)
        draft, reasons, reasked = await composer.article(material, fulltext)
        calls = composer.calls
    length, length_ok = measure(draft, options.lang)
    if length_ok is False:
        warnings.append(f"the article is {length} Chinese characters, outside {LENGTH_RANGE[0]}–{LENGTH_RANGE[1]}")
    return DeepDive(
        paper_id=paper.id,
        lang=options.lang,
        title=paper.title or draft.short_name,
        source_id=_source_id(paper),
        version=paper.version,
        primary_category=paper.extra.get("primary_category") or next(iter(paper.categories), None),
        link=paper.url_abs,
        headline=HEADLINES.get(options.lang, HEADLINES["en"]).format(
            name=one_line(draft.short_name), angle=one_line(draft.angle)
        ),
        lead=draft.lead,
        sections=[ArticleSection(number=i, **section.model_dump()) for i, section in enumerate(draft.sections, 1)],
        closing=draft.closing,
        status="flagged" if reasons else "ok",
        reasons=reasons,
        length=length,
        length_ok=length_ok,
        warnings=warnings,
        mode=mode,
        calls=calls,
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
    progress: Callable[[int, int], None] | None = None,
) -> DeepDive:
    """Resolve ``ref``, read the full text, write the article (with an LLM client from ``settings``
    unless one is given) and keep it in the store, where the static site finds it. A run stopped
    half-way resumes where it stopped: the calls it made are answered from the store's cache."""
    try:
        paper = store.get(store.resolve(ref))
    except KeyError:
        raise DeepDiveError(f"no paper {ref!r} in {store.path}") from None
    if pdf is None and not store.fulltext(paper.id) and paper.url_pdf:
        with HttpClient(settings.net) as http:
            fulltext = fulltext_for(store, paper.id, http=http)
    else:
        fulltext = fulltext_for(store, paper.id, pdf=pdf)
    glossary = load_glossary(settings)
    dive = asyncio.run(_run(store, settings, paper, fulltext, options, client, glossary, progress))
    store.save_deepdive(paper.id, dive.lang, dive.model_dump_json())
    return dive


def stored(store: Store, lang: str) -> dict[str, DeepDive]:
    """The deep-dives kept in the store in ``lang``, by paper id, newest first."""
    return {paper_id: DeepDive.model_validate_json(data) for paper_id, data in store.deepdives(lang).items()}


async def _run(
    store: Store,
    settings: Any,
    paper: Paper,
    fulltext: str,
    options: DeepDiveOptions,
    client: Any,
    glossary: Glossary,
    progress: Callable[[int, int], None] | None,
) -> DeepDive:
    own = None if client is not None else LLMClient.from_settings(settings, store=store)
    try:
        return await write_deepdive(client or own, paper, fulltext, options, glossary=glossary, progress=progress)
    finally:
        if own is not None:
            await own.aclose()
