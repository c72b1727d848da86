"""The JSON API under ``/api/``: the pages' data, and the curation actions. Schema at ``/openapi.json``."""

from __future__ import annotations

import io
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from .. import curation, search
from ..ask import Answer, ask
from ..config import Settings
from ..models import Paper, Topic
from ..publish.digest import DigestDay, build_digest
from ..search import Filters, SearchError, VectorCoverage
from ..search.hybrid import has_words
from ..search.selection import MAX_PER_PAGE, PER_PAGE, Catalog, Facets, papers_by_id
from ..store import Store
from ..taxonomy import Labeller
from . import insights
from .deps import get_catalog, get_labeller, get_settings, get_store, require_paper
from .views import WebPaper, paper_href, similar_ids, web_papers

router = APIRouter(prefix="/api", tags=["api"])

StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LabellerDep = Annotated[Labeller, Depends(get_labeller)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
FiltersDep = Annotated[Filters, Query()]
EXPORT_MAX = 100_000


class PapersOut(BaseModel):
    total: int
    page: int
    per_page: int
    pages: int
    papers: list[WebPaper]
    facets: Facets


class PaperOut(WebPaper):
    paper: Paper = Field(description="every field the store holds for the paper")


class SearchOut(BaseModel):
    query: str
    mode: str
    total: int
    scores: dict[str, float]
    papers: list[WebPaper]
    facets: Facets | None
    vectors: VectorCoverage | None = Field(
        description="how many papers have no vector (found by words only) and what to run; null for mode=lexical"
    )


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    paper: str | None = Field(default=None, description="ask this one paper (its id, arXiv id, DOI or OpenReview id)")
    limit: int = Field(default=5, ge=1, le=50, description="papers to draw passages from")
    lang: str | None = Field(default=None, description="answer in this language (default: the question's)")


class TopicIn(BaseModel):
    subarea: str = Field(description="a sub-area key of the taxonomy")


@router.get("/papers", response_model=PapersOut)
def list_papers(
    request: Request,
    store: StoreDep,
    catalog: CatalogDep,
    labeller: LabellerDep,
    filters: FiltersDep,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = PER_PAGE,
) -> PapersOut:
    """One page of the catalog, newest first, with the facet counts of the whole selection."""
    lang = request.app.state.lang
    result = catalog.page(store, filters, page, per_page)
    return PapersOut(
        total=result.total,
        page=page,
        per_page=per_page,
        pages=result.pages,
        papers=web_papers(store, papers_by_id(store, result.ids), lang, labeller),
        facets=catalog.facets(store, filters),
    )


@router.get("/papers/{paper_id}", response_model=PaperOut)
def get_paper(request: Request, paper_id: str, store: StoreDep, labeller: LabellerDep) -> PaperOut:
    """One paper (by its id, arXiv id, DOI or OpenReview id): its card view, marks and stored fields."""
    paper = store.get(require_paper(store, paper_id))
    (item,) = web_papers(store, [paper], request.app.state.lang, labeller)
    return PaperOut(view=item.view, curation=item.curation, paper=paper)


@router.get("/papers/{paper_id}/similar", response_model=list[WebPaper])
def get_similar(
    request: Request,
    paper_id: str,
    store: StoreDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    labeller: LabellerDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 8,
) -> list[WebPaper]:
    """Nearest papers by embedding (or by the paper's words when the store has no vectors)."""
    paper = store.get(require_paper(store, paper_id))
    ids = similar_ids(store, settings, catalog, paper, limit)
    return web_papers(store, papers_by_id(store, ids), request.app.state.lang, labeller)


@router.get("/search", response_model=SearchOut)
def search_papers(
    request: Request,
    store: StoreDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    labeller: LabellerDep,
    filters: FiltersDep,
    q: Annotated[str, Query(min_length=1, description='words in any language; "..." for a phrase')],
    mode: Annotated[
        str,
        Query(
            pattern="^(auto|hybrid|lexical|vector)$",
            description="auto: hybrid when the store has vectors, else lexical",
        ),
    ] = "auto",
    limit: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = PER_PAGE,
) -> SearchOut:
    """Papers for a query, best first, within the filters (the same search as the page's and ``papersift search``)."""
    try:
        result = search.search_papers(
            store, q, filters=filters, mode=mode, limit=limit, settings=settings, catalog=catalog
        )
    except SearchError as exc:
        raise HTTPException(422, str(exc)) from None
    lang = request.app.state.lang
    return SearchOut(
        query=q,
        mode=result.mode,
        total=result.total,
        scores={h.paper.id: h.score for h in result.hits},
        papers=web_papers(store, [h.paper for h in result.hits], lang, labeller),
        facets=catalog.facets(store, filters, within_ids=result.ids) if result.ids else None,
        vectors=result.vectors,
    )


@router.post("/papers/{paper_id}/curation", response_model=curation.Curation)
def curate(paper_id: str, change: curation.CurationChange, store: StoreDep) -> curation.Curation:
    """Star, hide, mark read or unread, or write a note; fields left out keep their value."""
    return curation.update(store, require_paper(store, paper_id), change)


@router.post("/ask", response_model=Answer)
def ask_library(body: AskIn, store: StoreDep, settings: SettingsDep) -> Answer:
    """A question answered from the papers, every sentence citing its passages and checked against
    them; status ok, partial (sentences left out: see dropped) or not_found (no answer, no citations)."""
    paper = require_paper(store, body.paper) if body.paper else None
    return ask(store, body.question, settings, paper=paper, limit=body.limit, lang=body.lang)


@router.post("/papers/{paper_id}/topic", response_model=Topic)
def correct_topic(paper_id: str, body: TopicIn, store: StoreDep, settings: SettingsDep) -> Topic:
    """File the paper under another sub-area; kept as a training label for the classifier."""
    try:
        return curation.correct_topic(store, require_paper(store, paper_id), body.subarea, settings)
    except curation.CurationError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/export")
def export_selection(
    store: StoreDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    filters: FiltersDep,
    format: Annotated[str, Query(pattern="^(" + "|".join(curation.EXPORT_FORMATS) + ")$")] = "json",
    q: Annotated[str, Query(description="export these search results instead of the catalog selection")] = "",
) -> Response:
    """The current selection (filters, or a search within them) as BibTeX, Markdown, JSON, JSONL or CSV."""
    if has_words(q):
        try:
            ids = search.search_papers(store, q, filters=filters, settings=settings, catalog=catalog).ids
        except SearchError as exc:
            raise HTTPException(422, str(exc)) from None
    else:
        ids = catalog.page(store, filters, 1, EXPORT_MAX).ids
    out = io.StringIO()
    curation.export_selection(store, papers_by_id(store, ids), format, out)
    media, ext = curation.EXPORT_MEDIA[format]
    return Response(
        out.getvalue(),
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="papersift-{date.today():%Y%m%d}.{ext}"'},
    )


@router.get("/stats", response_model=insights.Stats)
def get_stats(request: Request, store: StoreDep, labeller: LabellerDep) -> insights.Stats:
    """Papers per sub-area and per day, rising keywords, enrichment counts."""
    return insights.stats(store, request.app.state.lang, labeller)


@router.get("/digests", response_model=list[insights.Count])
def list_digests(store: StoreDep) -> list[insights.Count]:
    """Days with papers, newest first, and how many each."""
    return insights.day_counts(store, limit=365)


@router.get("/digests/{day}", response_model=DigestDay)
def get_digest(request: Request, day: date, store: StoreDep, settings: SettingsDep) -> DigestDay:
    """One day's digest: its papers with their digest paragraphs."""
    digest = build_digest(store, request.app.state.lang, on=day, settings=settings, href=paper_href)
    if not digest.days:
        raise HTTPException(404, f"no papers on {day}")
    return digest.days[0]


@router.get("/about", response_model=insights.About)
def get_about(store: StoreDep, settings: SettingsDep) -> insights.About:
    """The configured LLM and embedding model (no secrets) and what the runs cost."""
    return insights.about(store, settings)
