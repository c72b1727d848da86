"""The static site: catalog, one digest page a day plus an index, a page per paper, feeds and
the static assets, all linked relatively so that it works from a plain file server.

Layout of ``out``::

    index.html  catalog.html  catalog.md  catalog.json  feed.xml (RSS 2.0)  atom.xml
    digest/index.html  digest/<YYYY-MM-DD>.html  digest/<YYYY-MM-DD>.md
    papers/<paper id>.html
    deepdives/<paper id>.html  deepdives/<paper id>.md   (the deep-dives kept in the store)
    static/ (papersift.css, papersift.js, katex/)
"""

from __future__ import annotations

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


class SiteReport(BaseModel):
    out: Path
    papers: int
    days: int
    deepdives: int
    files: int


def _page(root: str) -> dict:
    return {"static_url": f"{root}static", "root_url": root, "site_nav": True}


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
    digest = digest_fmt.build_digest(store, lang, everything=True, order=digest_order, settings=settings, href=page_of)
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
    write("catalog.html", catalog_fmt.to_html(catalog, **_page("")))
    write("catalog.md", catalog_fmt.to_markdown(catalog))
    write("catalog.json", catalog_fmt.to_json(catalog))

    day_url = lambda day: f"{day.day}.html"  # noqa: E731
    for day in digest.days:
        seen_from_digest = day.model_copy(
            update={
                "groups": [g.model_copy(update={"papers": [_from("../", p) for p in g.papers]}) for g in day.groups]
            }
        )
        write(
            f"digest/{day.day}.html",
            digest_fmt.day_html(seen_from_digest, lang, index_url="index.html", **_page("../")),
        )
        one_day = digest_fmt.Digest(lang=lang, order=digest.order, days=[day])
        write(f"digest/{day.day}.md", digest_fmt.to_markdown(one_day))
    write("digest/index.html", digest_fmt.index_html(digest.days, lang, day_url=day_url, **_page("../")))

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


def _absolute(p: PaperView, site_url: str | None) -> PaperView:
    """Feeds need absolute links: the source's page, else this site's page when its address is known."""
    if p.link:
        return p.model_copy(update={"href": p.link})
    return p.model_copy(update={"href": site_url.rstrip("/") + "/" + p.href if site_url and p.href else None})
