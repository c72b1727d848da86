"""Markdown pieces shared by the catalog, the digest and the deep-dive.

Text stays as the source wrote it (LaTeX included); only what would break the Markdown
structure is touched: line breaks in one-line places, brackets in link text, and a ``<`` that
opens something tag-like (``<script``, ``<img``, ``</b``), written ``&lt;`` so that a Markdown
renderer which passes raw HTML through shows it as text (it still reads ``<`` once rendered).
"""

from __future__ import annotations

import re

from ..labels import labels
from ..text import one_line
from .render import safe_url
from .view import PaperView

_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def md_text(text: str) -> str:
    """Text for one Markdown line: whitespace collapsed, tag-like ``<`` neutralised."""
    return _TAG_START.sub("&lt;", one_line(text))


def md_block(text: str) -> str:
    """A paragraph of source text (an abstract) kept as written but for tag-like ``<``."""
    return _TAG_START.sub("&lt;", text.strip())


def link(text: str, url: str | None) -> str:
    text = md_text(text).replace("[", "\\[").replace("]", "\\]")
    url = safe_url(url)
    if not url:
        return text
    if re.search(r"[\s()<>]", url):
        url = f"<{url.replace('>', '%3E')}>"
    return f"[{text}]({url})"


def note(p: PaperView, lang: str) -> list[str]:
    """The visible note of a paper that is not (well) enriched: one line in the reader's words (the
    checks' own messages stay in the store and in ``papers show``)."""
    return [f"> {p.note}", ""] if p.note else []


def tldr(p: PaperView, lang: str) -> list[str]:
    if not p.tldr:
        return []
    L = labels(lang)
    mark = L["tldr_generated"] if p.tldr_generated else ""
    return [f"**{L['tldr']}**{mark}{L['sep']}{md_text(p.tldr)}", ""]


def card(p: PaperView, lang: str, heading: str = "####") -> list[str]:
    """One catalog card, in the order of formats.md A."""
    L = labels(lang)
    lines = [md_text(p.breadcrumb), "", f"{heading} {link(p.title, p.href)}"]
    if p.translated_title and p.translated_title != p.title:
        lines.append(link(p.translated_title, p.href))
    lines.append("")
    if p.keywords:
        lines += [" ".join(f"`#{one_line(k)}`" for k in p.keywords), ""]
    lines += tldr(p, lang)
    lines += note(p, lang)
    shown = [] if p.refused else p.reading  # a refused reading is not published as one; the abstract is
    lines += [f"- {r.icon} **{r.label}**{L['sep']}{md_text(r.text)}" for r in shown]
    if shown:
        lines.append("")
    if p.abstract and p.refused:
        lines += [md_block(p.abstract), ""]  # in the card's place
    elif p.abstract:
        lines += [
            "<details>",
            f"<summary>{L['show_abstract']}</summary>",
            "",
            md_block(p.abstract),
            "",
            "</details>",
            "",
        ]
    return lines
