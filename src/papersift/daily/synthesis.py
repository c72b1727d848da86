"""The day's synthesis: one LLM call over the day's ranked papers, checked before anyone reads it.

The model writes two to four themes in the reader's language, citing papers as ``[n]`` (their
rank). The faithfulness guard checks every number and name of it against the papers' own
texts, and the language check that it is written in the reader's language; a failing overview
is asked for once more with the problems listed, and if it still fails it is left out with a
note: never published unchecked.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field

from ..checks import guard
from ..checks.guard import CITATION
from ..checks.language import language, wrong_language
from ..enrich.card_prompt import source_text
from ..llm.base import LLMError
from ..llm.templates import environment, quoted
from ..models import Paper

SYSTEM_TEMPLATE = "daily_synthesis_system.jinja"
PAPERS_TEMPLATE = "daily_synthesis_papers.jinja"
MAX_TOKENS = 1024


class Synthesis(BaseModel):
    status: Literal["ok", "left_out", "off"]
    text: str = ""  # empty unless ok
    note: str | None = None  # why it was left out
    reasons: list[str] = Field(default_factory=list)
    model: str | None = None
    prompt_version: str | None = None


@lru_cache(maxsize=1)
def prompt_version() -> str:
    env = environment()
    sources = [env.loader.get_source(env, name)[0] for name in (SYSTEM_TEMPLATE, PAPERS_TEMPLATE)]
    return hashlib.sha256("\0".join(sources).encode()).hexdigest()[:12]


def synthesis_messages(papers: list[Paper], lang_code: str) -> list[dict[str, str]]:
    lang = language(lang_code)
    env = environment()
    return [
        {"role": "system", "content": env.get_template(SYSTEM_TEMPLATE).render(lang=lang)},
        {
            "role": "user",
            "content": env.get_template(PAPERS_TEMPLATE).render(papers=[quoted(p) for p in papers], lang=lang),
        },
    ]


def day_source(papers: list[Paper]) -> str:
    """What the overview may draw on: each paper's text as the card guard sees it, under its citation."""
    return "\n\n".join(f"[{i}] {source_text(p)}" for i, p in enumerate(papers, start=1))


def check(text: str, papers: list[Paper]) -> guard.GuardResult:
    """The guard's verdict; citations must name a paper of the day, and are not numbers to check."""
    bad = sorted({int(n) for n in CITATION.findall(text) if not 1 <= int(n) <= len(papers)})
    result = guard.check(CITATION.sub(" ", text), day_source(papers), field="synthesis")
    if bad:
        result.violations.append(
            guard.Violation(
                kind="number",
                value=", ".join(f"[{n}]" for n in bad),
                context=text[:40],
                field="synthesis",
                reason=f"cites a paper the day does not have (it has {len(papers)})",
            )
        )
    return result


def review(text: str, papers: list[Paper], lang: str) -> tuple[list[str], str]:
    """The overview's problems (guard violations, wrong language) and what to tell the model about them."""
    verdict = check(text, papers)
    reasons, message = verdict.reasons, verdict.message
    language_problem = wrong_language(text, lang)
    if language_problem:
        reasons, message = [*reasons, language_problem], f"{message}\n{language_problem}".strip()
    return reasons, message


async def write_synthesis(client, papers: list[Paper], lang: str) -> Synthesis:
    """The checked overview of ``papers`` (ranked, best first), or a note saying why it is left out."""
    version = prompt_version()
    options = dict(max_tokens=MAX_TOKENS, template=f"daily-synthesis@{version}")
    messages = synthesis_messages(papers, lang)
    base = {"model": client.model, "prompt_version": version}
    try:
        text = (await client.chat(messages, **options)).text.strip()
        reasons, message = review(text, papers, lang)
        if reasons:
            reask = environment().get_template("daily_synthesis_reask.jinja").render(fix=message)
            retry = [*messages, {"role": "assistant", "content": text}, {"role": "user", "content": reask}]
            text = (await client.chat(retry, **options)).text.strip()
            reasons, _ = review(text, papers, lang)
    except LLMError as exc:
        return Synthesis(status="left_out", note=f"the overview could not be written: {exc}", **base)
    if reasons:
        return Synthesis(
            status="left_out",
            reasons=reasons,
            note="the overview was left out: asked twice, it still said things the papers do not support "
            "or was not in the reader's language",
            **base,
        )
    if not text:
        return Synthesis(status="left_out", note="the overview was left out: the model wrote nothing", **base)
    return Synthesis(status="ok", text=text, **base)
