"""What every stage that asks an LLM shares: the prompt templates and the paper quoted as data.

Templates live in ``papersift/prompts/*.jinja``. A paper is quoted inside ``<paper>…</paper>``
in the user message; its own text may not close (or reopen) that block, so any such tag in it
is defused before it is rendered.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import jinja2

from ..models import Paper

_DELIMITER = re.compile(r"<\s*/?\s*paper\s*>", re.I)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    folder = resources.files("papersift") / "prompts"
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)), undefined=jinja2.StrictUndefined, autoescape=False
    )


def as_data(text: str | None) -> str | None:
    """The text unable to end (or open) a ``<paper>`` block it is quoted in."""
    return _DELIMITER.sub(lambda m: m.group(0).replace("<", "‹").replace(">", "›"), text) if text else text


def quoted(paper: Paper) -> Paper:
    """The paper with every text a prompt quotes made unable to end its ``<paper>`` block."""
    return paper.model_copy(
        update={
            "title": as_data(paper.title),
            "abstract": as_data(paper.abstract),
            "tldr": as_data(paper.tldr),
            "keywords": [as_data(k) for k in paper.keywords],
        }
    )
