"""Format A, the catalog: every paper by area and sub-area, one card each.

Sub-areas (and areas) are ordered by paper count, largest first, unless the caller names an
order (sub-area keys; those not named follow by count). Cards keep the store's order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from pydantic import BaseModel

from ..labels import labels
from ..models import Paper
from ..store import Store
from ..taxonomy import Labeller
from . import markdown as md
from .render import count_label, environment
from .view import PaperView, iter_views


class SubareaGroup(BaseModel):
    key: str | None
    label: str
    count: int
    papers: list[PaperView]


class AreaGroup(BaseModel):
    key: str | None
    label: str
    count: int
    subareas: list[SubareaGroup]


class Catalog(BaseModel):
    lang: str
    count: int
    areas: list[AreaGroup]


def _ranked(groups: list, order: Sequence[str]) -> list:
    """Named keys first, in the order given; then the rest by count (largest first), then label."""
    position = {key: i for i, key in enumerate(order)}
    return sorted(groups, key=lambda g: (position.get(g.key, len(position)), -g.count, g.label))


def group(papers: Iterable[PaperView], lang: str, order: Sequence[str] = ()) -> Catalog:
    """Group cards area › sub-area, with counts, in reading order."""
    tree: dict[str | None, dict[str | None, list[PaperView]]] = {}
    labels_of: dict[str | None, str] = {}
    for p in papers:
        tree.setdefault(p.area, {}).setdefault(p.subarea, []).append(p)
        labels_of[p.area], labels_of[p.subarea] = p.area_label, p.subarea_label
    areas = []
    for area, subs in tree.items():
        groups = [SubareaGroup(key=k, label=labels_of[k], count=len(v), papers=v) for k, v in subs.items()]
        areas.append(
            AreaGroup(
                key=area, label=labels_of[area], count=sum(g.count for g in groups), subareas=_ranked(groups, order)
            )
        )
    return Catalog(lang=lang, count=sum(a.count for a in areas), areas=_ranked(areas, order))


def build_catalog(
    store: Store,
    lang: str,
    *,
    settings=None,
    order: Sequence[str] = (),
    href: Callable[[Paper], str | None] | None = None,
) -> Catalog:
    """The whole store as a catalog in ``lang``; ``href`` decides where titles link (default: the source page)."""
    return group(iter_views(store, lang, Labeller(lang, settings), href=href), lang, order)


def to_markdown(catalog: Catalog) -> str:
    lang = catalog.lang
    lines = [f"# {labels(lang)['catalog']} · {count_label(catalog.count, lang)}", ""]
    for area in catalog.areas:
        lines += [f"## {md.md_text(area.label)} · {count_label(area.count, lang)}", ""]
        for sub in area.subareas:
            lines += [f"### {md.md_text(sub.label)} · {count_label(sub.count, lang)}", ""]
            for p in sub.papers:
                lines += md.card(p, lang)
    return "\n".join(lines).rstrip() + "\n"


def to_html(catalog: Catalog, **context) -> str:
    """``context``: the page variables of :mod:`.render` (``static_url``, ``root_url``, ``site_nav``, ``inline``)."""
    return environment(catalog.lang).get_template("catalog.html").render(catalog=catalog, **context)


def to_json(catalog: Catalog) -> str:
    return catalog.model_dump_json(indent=2) + "\n"
