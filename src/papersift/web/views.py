"""What the web pages and the API show: paper views with their curation, similar papers.

Built on the publications' own pieces (:mod:`papersift.publish.view` and its templates) so that a
card looks and reads the same in the static site and here.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from jinja2 import ChoiceLoader, Environment, PackageLoader
from pydantic import BaseModel

from .. import curation
from ..config import Settings
from ..models import Paper
from ..publish.render import environment
from ..publish.view import PaperView, paper_view
from ..search import search, similar
from ..search.embeddings import embedder_name
from ..search.selection import Catalog
from ..store import Store
from ..taxonomy import Labeller

SAFE_SCHEMES = ("http", "https")


def web_environment(lang: str) -> Environment:
    """The publications' environment (autoescape, labels), with the web pages' templates in front."""
    base = environment(lang)
    # templates ship with the package: no need to stat every file on every page
    env = base.overlay(
        loader=ChoiceLoader([PackageLoader("papersift.web", "templates"), base.loader]), auto_reload=False
    )
    # the overlay would share (and so change) the cached base environment's dicts: copy them
    env.globals = dict(base.globals, static_url="/static/publish", root_url="/")
    env.filters = dict(base.filters)
    return env


class WebPaper(BaseModel):
    """A paper as the web app shows it: the publication's view plus the reader's marks."""

    view: PaperView
    curation: curation.Curation


def _safe_link(url: str | None) -> str | None:
    """Only web links are shown as links: a source could hand us ``javascript:``."""
    return url if url and urlsplit(url).scheme.lower() in SAFE_SCHEMES else None


def paper_href(paper: Paper) -> str:
    return f"/papers/{paper.id}"


def web_papers(store: Store, papers: Iterable[Paper], lang: str, labeller: Labeller) -> list[WebPaper]:
    papers = list(papers)
    marks = curation.get_many(store, [p.id for p in papers])
    out = []
    for paper in papers:
        view = paper_view(paper, store.enrichment(paper.id, lang), lang, labeller, href=paper_href)
        view = view.model_copy(update={"link": _safe_link(view.link)})
        out.append(WebPaper(view=view, curation=marks.get(paper.id) or curation.Curation(paper_id=paper.id)))
    return out


def similar_ids(store: Store, settings: Settings, catalog: Catalog, paper: Paper, limit: int = 8) -> list[str]:
    """Nearest papers by embedding when there are vectors; else by the words of its title and keywords."""

    if store.has_vectors(embedder_name(settings)):
        hits = similar(store, paper.id, limit, settings=settings)
    else:
        words = " ".join([paper.title or "", *paper.keywords]) or (paper.abstract or "")[:300]
        hits = search(store, words, limit=limit + 1, mode="lexical", settings=settings, catalog=catalog)
    return [h.paper.id for h in hits if h.paper.id != paper.id][:limit]
