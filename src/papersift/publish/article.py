"""Format C printed: a :class:`~papersift.enrich.deepdive.DeepDive` as Markdown, HTML or JSON.

The article is written by :mod:`papersift.enrich.deepdive`; this module only lays it out: the
headline, the lead, the metadata block (title, source id, version, primary category, link), the
numbered sections with their numbered sub-topics (prose paragraphs, bullets with nested details),
and the unnumbered closing section with its numbered future directions.

    dive = deepdive(store, "2505.00001", settings, DeepDiveOptions(thinking_budget=2048))
    print(to_markdown(dive))
"""

from __future__ import annotations

from ..enrich.article import Bullet, DeepDive, Subsection
from ..labels import labels
from .markdown import link, md_text
from .render import environment, safe_url


def _metadata(dive: DeepDive) -> list[str]:
    L = labels(dive.lang)
    url = safe_url(dive.link)
    rows = [
        (L["title"], md_text(dive.title)),
        (L["source"], dive.source_id),
        (L["version"], f"v{dive.version}" if dive.version else None),
        (L["primary_category"], dive.primary_category),
        (L["link"], link(url, url) if url else None),
    ]
    lines = [f"> **{label}**{L['sep']}{value}" for label, value in rows if value]
    # two trailing spaces: a line break inside the quote block
    return [line + "  " for line in lines[:-1]] + lines[-1:]


def _bullet(bullet: Bullet) -> list[str]:
    return [f"- {md_text(bullet.text)}", *(f"  - {md_text(point)}" for point in bullet.sub_points)]


def _subsection(number: str, sub: Subsection) -> list[str]:
    lines = [f"### {number} {md_text(sub.heading)}", ""]
    for paragraph in sub.paragraphs:
        lines += [md_text(paragraph), ""]
    if sub.bullets:
        lines += [line for bullet in sub.bullets for line in _bullet(bullet)] + [""]
    return lines


def to_markdown(dive: DeepDive) -> str:
    L = labels(dive.lang)
    lines = [f"# {md_text(dive.headline)}", "", md_text(dive.lead), "", *_metadata(dive), ""]
    if dive.status == "flagged":
        lines += [f"> {L['deepdive_flagged']}", *[f"> - {md_text(r)}" for r in dive.reasons], ""]
    for section in dive.sections:
        lines += [f"## {section.number}. {md_text(section.title)}", ""]
        for i, sub in enumerate(section.subsections, 1):
            lines += _subsection(f"{section.number}.{i}", sub)
    closing = dive.closing
    lines += [f"## {md_text(closing.title)}", ""]
    for paragraph in closing.paragraphs:
        lines += [md_text(paragraph), ""]
    lines += [f"{i}. {md_text(direction)}" for i, direction in enumerate(closing.future_directions, 1)]
    return "\n".join(lines).rstrip() + "\n"


def to_html(dive: DeepDive, **context) -> str:
    return environment(dive.lang).get_template("deepdive.html").render(dive=dive, **context)


def to_json(dive: DeepDive) -> str:
    return dive.model_dump_json(indent=2) + "\n"
