"""What the web pages and the API show: paper views with their curation, search, similar papers.

Built on the publications' own pieces (:mod:`papersift.publish.view` and its templates) so that a
card looks and reads the same in the static site and here.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from jinja2 import ChoiceLoader, Environment, PackageLoader
from pydantic import BaseModel, Field

from .. import curation
from ..config import Settings
from ..models import Paper
from ..publish.render import environment
from ..publish.view import Labeller, PaperView, paper_view
from ..search.embeddings import VectorCoverage
from ..store import Store
from .catalog import Catalog, Filters, lookup

SAFE_SCHEMES = ("http", "https")


def web_environment(lang: str) -> Environment:
    """The publications' environment (autoescape, labels), with the web pages' templates in front."""
    base = environment(lang)
    # templates ship with the package: no need to stat every file on every page
    env = base.overlay(loader=ChoiceLoader([PackageLoader("papersift.web", "templates"), base.loader]), auto_reload=False)
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


def papers_by_id(store: Store, ids: list[str]) -> list[Paper]:
    """Papers in the order of ``ids`` (missing ones left out)."""
    found = lookup(store, "SELECT id, data FROM papers WHERE id IN ({marks})", ids)
    return [Paper.model_validate_json(found[i]) for i in ids if i in found]


# --- search -------------------------------------------------------------------------------------

SEARCH_DEPTH = 200  # hits ranked by each method, then passed through the catalog's filters


def embedder_name(settings: Settings) -> str:
    """The configured embedder's name, without loading its model."""
    from ..search.embeddings import USEEmbedder

    backend = settings.embedding.backend
    return USEEmbedder.name if backend == "use" else f"openai:{settings.embedding.model}"


def has_vectors(store: Store, settings: Settings) -> bool:
    return store.conn.execute("SELECT 1 FROM embeddings WHERE model = ? LIMIT 1", (embedder_name(settings),)).fetchone() is not None


class SearchResult(BaseModel):
    ids: list[str]
    scores: dict[str, float]
    mode: str
    vectors: VectorCoverage | None = Field(None, description="papers search found by words only; null when words were asked for")


def run_search(store: Store, settings: Settings, catalog: Catalog, query: str, filters: Filters, mode: str | None = None) -> SearchResult:
    """Hybrid search when this store has vectors for the configured model, else lexical, among the
    papers that pass the catalog's filters (so that search and catalog agree on what a filter means).

    Built from the search library's rankers rather than ``search()``, which parses every hit's
    JSON: here only the page shown is read (a third of a search's time at 100k papers)."""
    from ..search.embeddings import get_embedder, vector_coverage
    from ..search.hybrid import SearchError, has_words, lexical_ranking, reciprocal_rank_fusion, vector_ranking

    if not has_words(query):
        raise SearchError("empty query: give some words to search for")
    # unless the user asked for words only, say how many papers the vector half could not see
    coverage = vector_coverage(store, embedder_name(settings)) if mode != "lexical" else None
    mode = mode or ("hybrid" if has_vectors(store, settings) else "lexical")
    if mode == "vector" and not has_vectors(store, settings):
        raise SearchError(f"no {embedder_name(settings)} embeddings in {store.path}: run `papersift embed` first")
    allowed = catalog.allowed(store, filters)
    rankings: dict[str, list[tuple[int, float]]] = {}
    if mode in ("hybrid", "lexical"):
        rankings["lexical"] = lexical_ranking(store, query, SEARCH_DEPTH, allowed)
    if mode in ("hybrid", "vector"):
        rankings["vector"] = vector_ranking(store, query, SEARCH_DEPTH, get_embedder(settings), allowed)
    scored = [(r, score) for r, score, _ in reciprocal_rank_fusion(rankings)][:SEARCH_DEPTH] if mode == "hybrid" else rankings[mode]
    score_of = dict(scored)
    rowids = catalog.keep(store, filters, [r for r, _ in scored])
    id_of = lookup(store, "SELECT rowid, id FROM papers WHERE rowid IN ({marks})", rowids)
    found = [r for r in rowids if r in id_of]
    return SearchResult(ids=[id_of[r] for r in found], scores={id_of[r]: score_of[r] for r in found}, mode=mode, vectors=coverage)


def similar_ids(store: Store, settings: Settings, paper: Paper, limit: int = 8) -> list[str]:
    """Nearest papers by embedding when there are vectors; else by the words of its title and keywords."""
    from ..search import search, similar
    from ..search.embeddings import get_embedder

    if has_vectors(store, settings):
        hits = similar(store, paper.id, limit, embedder=get_embedder(settings))
    else:
        words = " ".join([paper.title or "", *paper.keywords]) or (paper.abstract or "")[:300]
        hits = search(store, words, limit=limit + 1, mode="lexical")
    return [h.paper.id for h in hits if h.paper.id != paper.id][:limit]
