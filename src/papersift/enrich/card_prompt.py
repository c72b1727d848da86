"""The card prompt: a static system message, then the paper, delimited as data.

Everything before the paper depends only on the target language and the glossary, so it is
byte-identical across papers and a server's prefix cache serves it; the paper comes last. The templates live
in ``papersift/prompts/*.jinja``; their hash is the prompt version, part of the LLM cache key
through the messages themselves.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from ..checks.glossary import Glossary
from ..checks.language import Language, language
from ..llm.templates import environment, quoted
from ..models import Card, Paper

SYSTEM_TEMPLATE = "card_system.jinja"
PAPER_TEMPLATE = "card_paper.jinja"


@lru_cache(maxsize=1)
def prompt_version() -> str:
    env = environment()
    names = (
        SYSTEM_TEMPLATE,
        PAPER_TEMPLATE,
        "card_fields_system.jinja",
        "card_field.jinja",  # every way to write a card
        "card_grounded_system.jinja",
        "card_grounded_task.jinja",
    )
    sources = [env.loader.get_source(env, name)[0] for name in names]
    return hashlib.sha256("\0".join(sources).encode()).hexdigest()[:12]


def card_schema() -> dict:
    return Card.model_json_schema()


@lru_cache(maxsize=32)
def system_message(lang_code: str, glossary: Glossary | None = None) -> str:
    """The static part: instructions, field descriptions, the glossary and the schema for one language."""
    schema = json.dumps(card_schema(), ensure_ascii=False, separators=(",", ":"))
    terms = glossary.terms if glossary else ()
    return environment().get_template(SYSTEM_TEMPLATE).render(lang=language(lang_code), schema=schema, glossary=terms)


def paper_message(paper: Paper, lang: Language) -> str:
    return environment().get_template(PAPER_TEMPLATE).render(paper=quoted(paper), lang=lang)


def card_messages(paper: Paper, lang_code: str, glossary: Glossary | None = None) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system_message(lang_code, glossary)},
        {"role": "user", "content": paper_message(paper, language(lang_code))},
    ]


def source_text(paper: Paper) -> str:
    """What the card may draw on, for the faithfulness guard: the paper as the prompt gives it."""
    parts = [paper.title or "", "; ".join(paper.keywords), paper.tldr or "", paper.abstract or ""]
    return "\n".join(p for p in parts if p)


def source_hash(text: str) -> str:
    """A short hash of :func:`source_text`: a card whose paper's text hashes otherwise is stale."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]
