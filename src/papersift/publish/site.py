"""The static site: a catalog by topic, one digest page a day plus an index, a page per paper, a
search page over an index shipped with the site, feeds and the static assets, all linked
relatively so that it works from a plain file server or straight from the disk.

Layout of ``out``::

    index.html  catalog.html (the contents)  catalog.md  catalog.json  feed.xml (RSS 2.0)  atom.xml
    topics/<sub-area>.html  topics/<sub-area>-<n>.html   (its cards, ``PAGE`` a page)
    search.html  search-index.js   (titles, keywords, topic, day and popularity of every paper)
    digest/index.html  digest/<YYYY-MM-DD>.html  digest/<YYYY-MM-DD>-<n>.html  digest/<YYYY-MM-DD>.md
    digest/undated.html
    papers/<paper id>.html
    deepdives/<paper id>.html  deepdives/<paper id>.md   (the deep-dives kept in the store)
    static/ (papersift.css, papersift.js, search.js, katex/)

A site of 100,000 papers is browsed by its pages, never one page of every card: the catalog is a
contents page, each topic and each day is paged, and search runs in the browser over the index. Papers whose
source gave no date are listed under their own heading, never as the day they were stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from ..atomic import write_atomic
from ..enrich.deepdive import stored as stored_deepdives
from ..store import Store
from . import article as deepdive_fmt
from . import catalog as catalog_fmt
from . import digest as digest_fmt
from .render import STATIC_DIR, environment
from .view import PaperView

FEED_ITEMS = 100  # the newest papers in feed.xml and atom.xml; the digest pages keep every day
PAGE = 100  # cards a topic page, papers a day's page: what a phone loads at once
UNDATED = "undated.html"


class SiteReport(BaseModel):
    out: Path
    papers: int
    days: int
    deepdives: int
    files: int


def _page(root: str) -> dict:
    return {
        "static_url": f"{root}static",
        "root_url": root,
        "site_nav": True,
        "topic_url": topic_url,
        "topic_slug": topic_slug,
    }


def _from(prefix: str, p: PaperView) -> PaperView:
    """The same view, its page link seen from a page ``prefix`` deep (``"../"``)."""
    return p.model_copy(update={"href": prefix + p.href}) if p.href and p.href.startswith("papers/") else p


def build_site(
    store: Store,
    out: str | Path,
    lang: str,
    *,
    settings=None,
    order: Sequence[str] = (),
    digest_order: str = "source",
    site_url: str | None = None,
    feed_items: int = FEED_ITEMS,
) -> SiteReport:
    out = Path(out)
    page_of = lambda paper: f"papers/{paper.id}.html"  # noqa: E731 - relative to the site's root
    catalog = catalog_fmt.build_catalog(store, lang, settings=settings, order=order, href=page_of)
    digest, undated = dated(
        digest_fmt.build_digest(store, lang, everything=True, order=digest_order, settings=settings, href=page_of)
    )
    dives = stored_deepdives(store, lang)
    env = environment(lang)
    written = 0

    def write(name: str, content: str | bytes) -> None:
        nonlocal written
        write_atomic(out / name, content)
        written += 1

    for asset in STATIC_DIR.rglob("*"):  # each one whole or not at all, as every page (copytree is neither)
        if asset.is_file():
            write_atomic(out / "static" / asset.relative_to(STATIC_DIR), asset.read_bytes())
    write(
        "index.html", env.get_template("index.html").render(catalog=catalog, days=digest.days, dives=dives, **_page(""))
    )
    write("catalog.html", env.get_template("site_catalog.html").render(catalog=catalog, **_page("")))
    write("catalog.md", catalog_fmt.to_markdown(catalog))
    write("catalog.json", catalog_fmt.to_json(catalog))
    write("search.html", env.get_template("search.html").render(catalog=catalog, **_page("")))
    write("search-index.js", search_index(catalog))
    for area in catalog.areas:
        for sub in area.subareas:
            for name, html in topic_pages(env, area, sub):
                write(name, html)

    day_url = lambda day, n=1: f"{day.day}{'' if n == 1 else f'-{n}'}.html"  # noqa: E731
    for day in digest.days:
        seen_from_digest = day.model_copy(
            update={
                "groups": [g.model_copy(update={"papers": [_from("../", p) for p in g.papers]}) for g in day.groups]
            }
        )
        pages = paged(seen_from_digest, PAGE)
        for n, part in enumerate(pages, start=1):
            write(
                f"digest/{day_url(day, n)}",
                digest_fmt.day_html(
                    part,
                    lang,
                    index_url="index.html",
                    page=n,
                    pages=len(pages),
                    page_url=lambda m, day=day: day_url(day, m),
                    **_page("../"),
                ),
            )
        one_day = digest_fmt.Digest(lang=lang, order=digest.order, days=[day])
        write(f"digest/{day.day}.md", digest_fmt.to_markdown(one_day))
    if undated:
        write(
            f"digest/{UNDATED}",
            env.get_template("digest_undated.html").render(
                papers=[_from("../", p) for p in undated], index_url="index.html", **_page("../")
            ),
        )
    write(
        "digest/index.html",
        digest_fmt.index_html(
            digest.days, lang, day_url=day_url, undated=len(undated), undated_url=UNDATED, **_page("../")
        ),
    )

    feed_links = digest_fmt.Digest(
        lang=lang,
        order=digest.order,
        days=[
            d.model_copy(
                update={
                    "groups": [
                        g.model_copy(update={"papers": [_absolute(p, site_url) for p in g.papers]}) for g in d.groups
                    ]
                }
            )
            for d in digest_fmt.newest(digest, feed_items).days
        ],
    )
    base = site_url.rstrip("/") + "/" if site_url else None
    write("feed.xml", digest_fmt.to_feed(feed_links, kind="rss", site_url=base, self_url=base and base + "feed.xml"))
    write("atom.xml", digest_fmt.to_feed(feed_links, kind="atom", site_url=base, self_url=base and base + "atom.xml"))

    paper_page = env.get_template("paper.html")
    for area in catalog.areas:
        for sub in area.subareas:
            for p in sub.papers:
                # on its own page, the title links to the paper at its source
                own = p.model_copy(update={"href": p.link})
                deepdive_url = f"../deepdives/{p.id}.html" if p.id in dives else None
                write(f"papers/{p.id}.html", paper_page.render(p=own, deepdive_url=deepdive_url, **_page("../")))
    for paper_id, dive in dives.items():
        write(
            f"deepdives/{paper_id}.html",
            deepdive_fmt.to_html(dive, paper_url=f"../papers/{paper_id}.html", **_page("../")),
        )
        write(f"deepdives/{paper_id}.md", deepdive_fmt.to_markdown(dive))
    return SiteReport(out=out, papers=catalog.count, days=len(digest.days), deepdives=len(dives), files=written)


def dated(digest: digest_fmt.Digest) -> tuple[digest_fmt.Digest, list[PaperView]]:
    """The digest of the papers whose source dated them, and those it did not: a backlog imported
    from a BibTeX file is not "today's" 481 papers."""
    undated = [p for p in digest.papers if p.published is None]
    days = []
    for day in digest.days:
        groups = [g.model_copy(update={"papers": [p for p in g.papers if p.published]}) for g in day.groups]
        groups = [g for g in groups if g.papers]
        if groups:
            days.append(day.model_copy(update={"groups": groups, "count": sum(len(g.papers) for g in groups)}))
    return digest.model_copy(update={"days": days}), undated


def paged(day: digest_fmt.DigestDay, size: int) -> list[digest_fmt.DigestDay]:
    """A day's digest cut into pages of ``size`` papers, its groups cut where a page ends; each page
    still says how many papers the whole day has."""
    pages: list[list[digest_fmt.DigestGroup]] = [[]]
    room = size
    for group in day.groups:
        papers = group.papers
        while papers:
            if room == 0:
                pages.append([])
                room = size
            pages[-1].append(group.model_copy(update={"papers": papers[:room]}))
            papers, room = papers[room:], room - len(papers[:room])
    return [day.model_copy(update={"groups": groups}) for groups in pages]


def topic_slug(sub: catalog_fmt.SubareaGroup) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", sub.key or "uncategorised")


def topic_url(sub: catalog_fmt.SubareaGroup, page: int = 1) -> str:
    """A topic's page, relative to the site's root."""
    return f"topics/{topic_slug(sub)}{'' if page == 1 else f'-{page}'}.html"


def topic_pages(env, area: catalog_fmt.AreaGroup, sub: catalog_fmt.SubareaGroup) -> list[tuple[str, str]]:
    """A topic's cards, ``PAGE`` a page, each page linking to the one before and after."""
    pages = max(1, -(-len(sub.papers) // PAGE))
    template = env.get_template("topic.html")
    page_url = lambda n: topic_url(sub, n).removeprefix("topics/")  # noqa: E731 - from a topic page
    return [
        (
            topic_url(sub, n),
            template.render(
                area=area,
                sub=sub,
                papers=[_from("../", p) for p in sub.papers[(n - 1) * PAGE : n * PAGE]],
                page=n,
                pages=pages,
                page_url=page_url,
                **_page("../"),
            ),
        )
        for n in range(1, pages + 1)
    ]


def search_index(catalog: catalog_fmt.Catalog) -> str:
    """What search.html searches, as a script (a page opened from the disk may not fetch a JSON
    file): per paper its page, titles (the translation only from a card that passed its checks),
    keywords, topic, day and popularity; and the topics' names."""
    papers = [
        {
            "h": p.href,
            "t": p.title,
            "z": None if p.refused else p.translated_title,
            "k": " ".join(p.keywords),
            "s": topic_slug(sub),
            "d": p.published.isoformat() if p.published else None,
            "r": p.score,
        }
        for area in catalog.areas
        for sub in area.subareas
        for p in sub.papers
    ]
    topics = {topic_slug(sub): sub.label for area in catalog.areas for sub in area.subareas}
    data = json.dumps({"topics": topics, "papers": papers}, ensure_ascii=False, separators=(",", ":"))
    return f"window.PAPERSIFT_INDEX = {data};\n"


def _absolute(p: PaperView, site_url: str | None) -> PaperView:
    """Feeds need absolute links: the source's page, else this site's page when its address is known."""
    if p.link:
        return p.model_copy(update={"href": p.link})
    return p.model_copy(update={"href": site_url.rstrip("/") + "/" + p.href if site_url and p.href else None})
