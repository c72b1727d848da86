"""The card a field at a time: the embedded engine's way to write it.

Asked for the whole card as one JSON object, the packaged 1.5B model fills the schema by copying:
the same sentence in several reading fields, the abstract's opening cut at a length limit. Asked
for one field at a time, in plain text, with that field's purpose and length in the request, it
writes each part for what it is. The paper is read once: every request is the same system message
and paper followed by one field's task, so llama.cpp reuses the evaluated prefix (its KV cache) and
evaluates only the short task each time; plain text needs no grammar, which on a CPU generates
about twice as fast. A field that fails a check is asked again on its own, with what to fix.
Servers keep the one-call card (:mod:`papersift.enrich.pipeline`): one request, one cached prefix.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from ..checks.glossary import Glossary
from ..checks.language import check_card_language, language
from ..checks.quality import card_texts
from ..llm.templates import environment
from ..models import READING_FIELDS, Card, Paper, Reading
from .card_prompt import paper_message

SYSTEM_TEMPLATE = "card_fields_system.jinja"
FIELD_TEMPLATE = "card_field.jinja"
FIELDS = ("title", "tldr", *(f"reading.{name}" for name in READING_FIELDS), "keywords", "digest")
# Enough for the longest acceptable text of each (a Chinese character is about one token), so that
# the model stops by itself; a field cut at this bound fails the gate's ending rule and is re-asked.
MAX_TOKENS = {"title": 100, "tldr": 160, "keywords": 80, "digest": 1000}
READING_MAX_TOKENS = 220
HEADING = re.compile(r"^\s*#{1,6}\s")
BOLD = re.compile(r"\*\*([^*\n]+)\*\*")  # "**CGPO：…**": Markdown a card's prose would show as asterisks
CUT_OFF = "it ran on past the length limit and was cut off: write it much shorter"
KEYWORD_SEPARATORS = re.compile(r"[,，、;；\n]+")
MARKER = re.compile(r"^\s*(?:[-*•]|\d+[.)、])\s+")
# The field's own name before the answer ("Motivation:", "**TL;DR**:", "研究动机："); a title's
# "Thinkless:" is the paper's name, not a label, so only these are taken off.
LABEL = re.compile(
    r"^\s*\**(?:translated title|title|tl;dr|motivation|problem|observation|method|experiments|"
    r"contribution|keywords|digest(?: paragraph)?|标题|研究动机|解决问题|现象分析|主要方法|数据与实验|"
    r"主要贡献|关键词|摘要)\**\s*[:：]\**\s*",
    re.I,
)


def field_of(name: str) -> str:
    """A checker's field name as this module names it: the guard says ``method``, the gate ``reading.method``."""
    return f"reading.{name}" if name in READING_FIELDS else name


def system_message(lang_code: str, glossary: Glossary | None) -> str:
    terms = glossary.terms if glossary else ()
    return environment().get_template(SYSTEM_TEMPLATE).render(lang=language(lang_code), glossary=terms)


def field_messages(
    paper: Paper,
    lang_code: str,
    glossary: Glossary | None,
    field: str,
    *,
    previous: str | None = None,
    fix: str | None = None,
) -> list[dict[str, str]]:
    lang = language(lang_code)
    task = environment().get_template(FIELD_TEMPLATE).render(lang=lang, field=field, previous=previous, fix=fix)
    return [
        {"role": "system", "content": system_message(lang_code, glossary)},
        {"role": "user", "content": paper_message(paper, lang)},
        {"role": "user", "content": task.strip()},
    ]


def cleaned(text: str) -> str:
    """The reply without the label, list marker, Markdown headings, bold or quotes a small model
    puts around its answer or a term in it (the prompt asks for none of them)."""
    text = "\n".join(line for line in text.strip().splitlines() if not HEADING.match(line))
    text = BOLD.sub(r"\1", LABEL.sub("", MARKER.sub("", text.strip(), count=1), count=1))
    return text.strip().strip('"“”「」').strip()


def keywords_of(text: str) -> list[str]:
    words = [cleaned(w).strip(" .。") for w in KEYWORD_SEPARATORS.split(text)]
    return [w for w in words if w][:6]


def card_data(values: dict[str, str]) -> dict[str, Any]:
    """The card's fields, shaped as the card is, from the texts by field name."""
    return {
        "title": values["title"],
        "tldr": values["tldr"],
        "digest": values["digest"],
        "keywords": keywords_of(values["keywords"]),
        "reading": {name: values[f"reading.{name}"] for name in READING_FIELDS},
    }


def as_card(values: dict[str, str]) -> Card:
    """The card from its fields' texts (``ValueError`` if a field is empty or over its bound)."""
    return Card.model_validate(card_data(values))


def malformed(values: dict[str, str], cut: set[str], lang_code: str) -> dict[str, str]:
    """What is wrong with the fields' texts before they can be checked as a card: a text the
    model did not finish (cut at its token bound: a small model rambles), past its bound or empty
    (the card's schema), or not in the target language; by field."""
    problems: dict[str, str] = dict.fromkeys(cut, CUT_OFF)
    try:
        as_card(values)
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"][:2] if not isinstance(part, int))
            problems[field] = (
                problems.get(field) or f"{error['msg']}: write it {'shorter' if 'at most' in error['msg'] else 'out'}"
            )
    data = card_data(values)  # unvalidated: the language check reads texts whatever their length
    sketch = Card.model_construct(**data | {"reading": Reading.model_construct(**data["reading"])})
    verdict = check_card_language(sketch, lang_code)
    for name in verdict.wrong_fields if not verdict.ok else ():
        problems[field_of(name)] = "; ".join(filter(None, [problems.get(field_of(name)), verdict.message]))
    return problems


def texts_of(card: Card) -> dict[str, str]:
    """The card's texts by field name, as the fields are asked (the inverse of :func:`as_card`)."""
    return {"title": card.title, "keywords": ", ".join(card.keywords), **card_texts(card)}


class FieldWriter:
    """Writes a card's fields with one short plain-text call each, in order, through an LLM client."""

    def __init__(self, client: Any, lang: str, glossary: Glossary | None, template: str):
        self.client = client
        self.lang = lang
        self.glossary = glossary
        self.template = template

    async def write(self, paper: Paper, fields: dict[str, tuple[str, str] | None]) -> tuple[dict[str, str], set[str]]:
        """The text of each field, and the fields cut off at their token bound; a field given
        ``(previous, fix)`` is asked again with that fix."""
        values, cut = {}, set()
        for field, redo in fields.items():
            previous, fix = redo if redo else (None, None)
            messages = field_messages(paper, self.lang, self.glossary, field, previous=previous, fix=fix)
            result = await self.client.chat(
                messages,
                max_tokens=MAX_TOKENS.get(field, READING_MAX_TOKENS),
                paper_id=paper.id,
                template=self.template,
            )
            values[field] = cleaned(result.text)
            if result.finish_reason == "length":
                cut.add(field)
        return values, cut
