"""Format B, the daily digest: ``## title`` / ``[translated title](link)`` / one paragraph.

A paper's day is its ``published`` date, or the day papersift first stored it when the source
gave none. Which days: one (``on``), from a day on (``since``, inclusive), all, or by default
"since the last digest": the days after the newest day a digest was published for (kept in
the store, ``sync_state`` ``publish``/``last_digest``); the first time, the newest day there is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from itertools import groupby

from feedgen.feed import FeedGenerator
from pydantic import BaseModel

from ..labels import labels
from ..models import Paper
from ..store import Store
from ..taxonomy import Labeller
from . import markdown as md
from .catalog import group as group_by_topic
from .render import count_label, environment
from .view import PaperView, iter_views

ORDERS = ("source", "score", "category")
STATE = ("publish", "last_digest")
PROJECT_URL = "https://github.com/papersift/papersift"


class DigestGroup(BaseModel):
    key: str | None = None
    label: str | None = None  # set when grouped by category
    papers: list[PaperView]


class DigestDay(BaseModel):
    day: date
    count: int
    groups: list[DigestGroup]

    @property
    def papers(self) -> list[PaperView]:
        return [p for g in self.groups for p in g.papers]


class Digest(BaseModel):
    lang: str
    order: str
    days: list[DigestDay]  # newest first

    @property
    def papers(self) -> list[PaperView]:
        return [p for d in self.days for p in d.papers]


def last_digest(store: Store) -> date | None:
    value = store.get_state(*STATE)
    return date.fromisoformat(value) if value else None


def mark_published(store: Store, digest: Digest) -> None:
    """Remember the newest day published, so that the next default digest starts after it."""
    if not digest.days:
        return
    newest = max(d.day for d in digest.days)
    previous = last_digest(store)
    if previous is None or newest > previous:
        store.set_state(*STATE, newest.isoformat())


def _selection(store: Store, on: date | None, since: date | None, everything: bool) -> dict[str, str]:
    """The days to publish, as :meth:`Store.iter_papers_by_day` selects them."""
    if (on is not None) + (since is not None) + everything > 1:
        raise ValueError("choose one of a date, a start date, or all")
    if everything:
        return {}
    if on:
        return {"on": on.isoformat()}
    if since:
        return {"since": since.isoformat()}
    last = last_digest(store)
    if last:
        return {"after": last.isoformat()}
    return {"on": store.newest_day() or ""}


def _ordered(papers: list[PaperView], order: str, lang: str) -> list[DigestGroup]:
    if order == "source":
        return [DigestGroup(papers=papers)]
    if order == "score":
        return [DigestGroup(papers=sorted(papers, key=lambda p: -p.score if p.score is not None else float("inf")))]
    if order == "category":
        catalog = group_by_topic(papers, lang)
        return [
            DigestGroup(key=sub.key, label=f"{area.label} › {sub.label}", papers=sub.papers)
            for area in catalog.areas
            for sub in area.subareas
        ]
    raise ValueError(f"unknown digest order {order!r}; use one of {', '.join(ORDERS)}")


def build_digest(
    store: Store,
    lang: str,
    *,
    on: date | None = None,
    since: date | None = None,
    everything: bool = False,
    order: str = "source",
    settings=None,
    href: Callable[[Paper], str | None] | None = None,
) -> Digest:
    if order not in ORDERS:
        raise ValueError(f"unknown digest order {order!r}; use one of {', '.join(ORDERS)}")
    views = list(
        iter_views(store, lang, Labeller(lang, settings), href=href, **_selection(store, on, since, everything))
    )
    views.sort(key=lambda p: p.day, reverse=True)  # stable: source order within a day
    days = [
        DigestDay(day=day, count=len(papers), groups=_ordered(papers, order, lang))
        for day, papers in ((d, list(ps)) for d, ps in groupby(views, key=lambda p: p.day))
    ]
    return Digest(lang=lang, order=order, days=days)


def newest(digest: Digest, limit: int) -> Digest:
    """The digest cut to its ``limit`` newest papers (days newest first, each in its own order):
    what a feed carries, so that a store of years does not become a feed of megabytes."""
    days, left = [], limit
    for day in digest.days:
        if left <= 0:
            break
        groups = []
        for group in day.groups:
            if left > 0 and group.papers:
                groups.append(group.model_copy(update={"papers": group.papers[:left]}))
                left -= len(groups[-1].papers)
        days.append(day.model_copy(update={"groups": groups, "count": sum(len(g.papers) for g in groups)}))
    return digest.model_copy(update={"days": days})


# --- rendering ----------------------------------------------------------------------------


def entry_markdown(p: PaperView, lang: str) -> list[str]:
    L = labels(lang)
    lines = [f"## {md.md_text(p.title)}"]
    if p.translated_title and p.translated_title != p.title:
        lines.append(md.link(p.translated_title, p.href))
    elif p.href:
        lines.append(md.link(L["paper_page"], p.href))
    if p.alt_link:
        lines.append(md.link(L["alt_link"], p.alt_link))
    lines.append("")
    lines += md.note(p, lang)
    paragraph = p.digest or p.abstract
    for part in (paragraph or "").split("\n\n"):  # a long digest may be several paragraphs
        if part.strip():
            lines += [md.md_text(part.strip()), ""]
    if p.tldr_original:  # the author's own words stay beside their translation
        lines += [
            f"**{L['tldr']}**{L['sep']}{md.md_text(p.tldr)} ({L['tldr_original']}{L['sep']}{md.md_text(p.tldr_original)})",
            "",
        ]
    if p.provenance:
        lines += [f"<sub>{L['provenance']}{L['sep']}{md.md_text(p.provenance.describe())}</sub>", ""]
    return lines


def to_markdown(digest: Digest) -> str:
    lang = digest.lang
    L = labels(lang)
    lines: list[str] = []
    for day in digest.days:
        lines += [f"# {L['digest']} · {day.day} · {count_label(day.count, lang)}", ""]
        for grp in day.groups:
            if grp.label:
                lines += [f"**{md.md_text(grp.label)} · {count_label(len(grp.papers), lang)}**", ""]
            for p in grp.papers:
                lines += entry_markdown(p, lang)
    if not digest.days:
        lines = [f"# {L['digest']} · {count_label(0, lang)}", ""]
    return "\n".join(lines).rstrip() + "\n"


def day_html(day: DigestDay, lang: str, **context) -> str:
    """One day's page; ``context``: the page variables of :mod:`.render`, and ``index_url``."""
    return environment(lang).get_template("digest_day.html").render(day=day, **context)


def index_html(days: Sequence[DigestDay], lang: str, *, day_url: Callable[[DigestDay], str], **context) -> str:
    return environment(lang).get_template("digest_index.html").render(days=days, day_url=day_url, **context)


def to_html(digest: Digest, **context) -> str:
    """One file: a single day's page, or (several days) every day's page under one list of days."""
    if len(digest.days) == 1:
        return day_html(digest.days[0], digest.lang, **context)
    return environment(digest.lang).get_template("digest_all.html").render(digest=digest, **context)


def to_json(digest: Digest) -> str:
    return digest.model_dump_json(indent=2) + "\n"


def to_feed(digest: Digest, *, kind: str = "rss", site_url: str | None = None, self_url: str | None = None) -> bytes:
    """An RSS 2.0 (or Atom) feed, one item per paper, GUID = arXiv id or paper id (stable)."""

    L = labels(digest.lang)
    site = site_url or PROJECT_URL
    fg = FeedGenerator()
    fg.id(site)
    fg.title(f"papersift · {L['digest']}")
    if self_url:
        fg.link(href=self_url, rel="self")
    fg.link(href=site, rel="alternate")  # last: feedgen makes the last link RSS's channel link
    fg.description(L["digest"])
    fg.language(digest.lang)
    newest = None
    for p in digest.papers:
        published = datetime.combine(p.day, time(0, 0), tzinfo=UTC)
        newest = max(newest or published, published)
        fe = fg.add_entry(order="append")
        fe.id(p.guid)
        fe.guid(p.guid, permalink=False)
        fe.title(p.translated_title or p.title)
        if p.link or p.href:
            fe.link(href=p.link or p.href)
        fe.description(_feed_text(p))
        fe.pubDate(published)
        fe.updated(published)
    fg.lastBuildDate(newest or datetime(1970, 1, 1, tzinfo=UTC))  # reproducible builds: the newest item, not now
    fg.updated(newest or datetime(1970, 1, 1, tzinfo=UTC))
    return fg.atom_str(pretty=True) if kind == "atom" else fg.rss_str(pretty=True)


def _feed_text(p: PaperView) -> str:
    parts = [p.title] if p.translated_title else []
    if p.note:
        parts.append(p.note)
    parts.append(p.digest or p.abstract or "")
    return "\n\n".join(parts)
