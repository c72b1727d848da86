"""The HTML pages: catalog, search, paper, digests, stats, about; and the forms that curate.

Pages extend the publications' ``base.html`` and show papers with their ``_card.html`` (or
extend their ``paper.html`` and ``digest_day.html`` outright), so the web UI and the static
site read the same.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup, escape
from pydantic import ValidationError

from .. import curation
from ..checks.guard import CITATION
from ..config import Settings
from ..enrich.article import DeepDive
from ..labels import labels
from ..models import Paper
from ..publish.digest import build_digest
from ..search import Filters, SearchError, search_papers
from ..search.selection import MAX_PER_PAGE, PER_PAGE, Catalog, Page, papers_by_id
from ..store import Store
from ..taxonomy import Labeller, TaxonomyError, load_taxonomy
from . import insights
from .deps import get_catalog, get_labeller, get_settings, get_store, require_paper
from .views import paper_href, similar_ids, web_papers

router = APIRouter(include_in_schema=False)
FACET_ORDER = ("subarea", "area", "keyword", "source", "venue", "month", "status")

StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LabellerDep = Annotated[Labeller, Depends(get_labeller)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
FiltersDep = Annotated[Filters, Query()]


def render(request: Request, name: str, **context: Any) -> HTMLResponse:
    html = request.app.state.env.get_template(name).render(csrf=request.state.csrf, here=_here(request), **context)
    return HTMLResponse(html)


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def linker(path: str, filters: Filters, **fixed: Any):
    """``link(subarea="x")``: this page with one filter changed (``None`` drops it), back on page 1."""

    def link(**change: Any) -> str:
        params = {**fixed, **filters.active()}
        for key, value in change.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = "true" if value is True else value
        params = {k: v for k, v in params.items() if v not in (None, "")}
        return path + (f"?{urlencode(params)}" if params else "")

    return link


def facet_labeller(labeller: Labeller, lang: str):
    words = labels(lang)

    def label(name: str, value: Any) -> str:
        if name in ("area", "subarea"):
            return labeller.label(value)
        if name in ("status", "flags") or value is True:
            return words.get(str(value), str(value))
        return str(value)

    return label


def _page_context(
    request: Request, store: Store, filters: Filters, labeller: Labeller, papers: list[Paper], **extra: Any
) -> dict:
    lang = request.app.state.lang
    return {
        "items": web_papers(store, papers, lang, labeller),
        "filters": filters,
        "facet_label": facet_labeller(labeller, lang),
        "facet_order": FACET_ORDER,
        **extra,
    }


@router.get("/", response_class=HTMLResponse)
def catalog_page(
    request: Request,
    store: StoreDep,
    catalog: CatalogDep,
    labeller: LabellerDep,
    filters: FiltersDep,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = PER_PAGE,
) -> HTMLResponse:
    result = catalog.page(store, filters, page, per_page)
    facets = catalog.facets(store, filters)
    link = linker("/", filters)
    return render(
        request,
        "web_catalog.html",
        **_page_context(request, store, filters, labeller, papers_by_id(store, result.ids)),
        page=result,
        facets=facets,
        link=link,
        page_link=lambda n: link(page=n) if n > 1 else link(),
        export_link=linker("/api/export", filters),
    )


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    store: StoreDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    labeller: LabellerDep,
    filters: FiltersDep,
    q: str = "",
    mode: Annotated[str | None, Query(pattern="^(auto|hybrid|lexical|vector)$")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    result, error = None, None
    if q.strip():
        try:
            result = search_papers(
                store,
                q,
                filters=filters,
                mode=mode or "auto",
                limit=PER_PAGE,
                page=page,
                settings=settings,
                catalog=catalog,
            )
        except SearchError as exc:
            error = str(exc)
    hits, ids = (result.hits, result.ids) if result else ([], [])
    link = linker("/search", filters, q=q, **({"mode": mode} if mode else {}))

    return render(
        request,
        "web_search.html",
        **_page_context(request, store, filters, labeller, [h.paper for h in hits]),
        q=q,
        mode=result and result.mode,
        vectors=result and result.vectors,
        error=error,
        page=Page(ids=[h.paper.id for h in hits], total=result.total if result else 0, page=page, per_page=PER_PAGE),
        facets=catalog.facets(store, filters, within_ids=ids) if ids else None,
        link=link,
        page_link=lambda n: link(page=n) if n > 1 else link(),
        export_link=linker("/api/export", filters, q=q),
    )


@router.get("/papers/{paper_id}", response_class=HTMLResponse)
def paper_page(
    request: Request, paper_id: str, store: StoreDep, settings: SettingsDep, catalog: CatalogDep, labeller: LabellerDep
) -> HTMLResponse:

    lang = request.app.state.lang
    paper = store.get(require_paper(store, paper_id))
    (item,) = web_papers(store, [paper], lang, labeller)
    try:
        taxonomy = load_taxonomy(settings)
    except TaxonomyError:
        taxonomy = None
    similar = web_papers(store, papers_by_id(store, similar_ids(store, settings, catalog, paper)), lang, labeller)
    deepdive_url = f"/papers/{paper.id}/deepdive" if store.deepdives(lang, paper.id) else None
    return render(
        request,
        "web_paper.html",
        p=item.view,
        w=item,
        similar=similar,
        taxonomy=taxonomy,
        lang_code=lang,
        deepdive_url=deepdive_url,
    )


@router.get("/papers/{paper_id}/deepdive", response_class=HTMLResponse)
def deepdive_page(request: Request, paper_id: str, store: StoreDep) -> HTMLResponse:

    paper_id = require_paper(store, paper_id)
    found = store.deepdives(request.app.state.lang, paper_id)
    if not found:
        raise HTTPException(404, f"no deep-dive of {paper_id} yet: run `papersift deepdive {paper_id}`")
    dive = DeepDive.model_validate_json(found[paper_id])
    return render(request, "web_deepdive.html", dive=dive, paper_url=f"/papers/{paper_id}")


@router.post("/papers/{paper_id}/curation")
def curate_form(
    request: Request,
    paper_id: str,
    store: StoreDep,
    starred: Annotated[bool | None, Form()] = None,
    hidden: Annotated[bool | None, Form()] = None,
    read: Annotated[bool | None, Form()] = None,
    note: Annotated[str | None, Form()] = None,
    next: Annotated[str, Form()] = "/",
) -> RedirectResponse:
    """The no-JavaScript way to star, hide, mark read or write a note: a form, then back."""
    given = {
        k: v for k, v in {"starred": starred, "hidden": hidden, "read": read, "note": note}.items() if v is not None
    }
    try:
        change = curation.CurationChange(**given)
    except ValidationError as exc:
        raise HTTPException(422, exc.errors(include_url=False)) from None
    curation.update(store, require_paper(store, paper_id), change)
    return RedirectResponse(_local(next), status_code=303)


@router.post("/papers/{paper_id}/topic")
def correct_topic_form(
    paper_id: str,
    store: StoreDep,
    settings: SettingsDep,
    subarea: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> RedirectResponse:
    try:
        curation.correct_topic(store, require_paper(store, paper_id), subarea, settings)
    except curation.CurationError as exc:
        raise HTTPException(422, str(exc)) from None
    return RedirectResponse(_local(next), status_code=303)


def _local(url: str) -> str:
    """Only a path on this site may be a redirect target (no open redirect)."""
    return url if url.startswith("/") and not url.startswith(("//", "/\\")) else "/"


@router.get("/feedback/{verdict}", response_class=HTMLResponse)
def feedback_page(
    request: Request,
    verdict: str,
    store: StoreDep,
    labeller: LabellerDep,
    paper: str = "",
    until: int = 0,
    sig: str = "",  # a link cut short by a mail client is refused like a forged one, on a page that says so
) -> HTMLResponse:
    """Where a signed "more / less like this" link of the daily email lands: the paper and one button.
    Opening the link changes nothing, because mail scanners open every link of a message."""
    return _feedback(request, store, labeller, verdict, paper, until, sig, act=False)


@router.post("/feedback/{verdict}", response_class=HTMLResponse)
def feedback_form(
    request: Request,
    verdict: str,
    store: StoreDep,
    labeller: LabellerDep,
    paper: Annotated[str, Form()] = "",
    until: Annotated[int, Form()] = 0,
    sig: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The confirmation: records the verdict as ``papersift feedback`` does, for the next ranking."""
    return _feedback(request, store, labeller, verdict, paper, until, sig, act=True)


def _feedback(
    request: Request, store: Store, labeller: Labeller, verdict: str, paper: str, until: int, sig: str, *, act: bool
) -> HTMLResponse:
    try:
        curation.FeedbackLinks.of(store).check(paper, verdict, until, sig)
    except curation.LinkRefused as exc:  # checked before the paper is looked up: a bad link learns nothing
        response = render(request, "web_feedback.html", refused=exc.reason, verdict=verdict)
        response.status_code = 403
        return response
    paper_id = require_paper(store, paper)
    if act:
        curation.feedback(store, paper_id, verdict)
    (item,) = web_papers(store, [store.get(paper_id)], request.app.state.lang, labeller)
    link = {"paper": paper, "until": until, "sig": sig}
    return render(request, "web_feedback.html", refused=None, verdict=verdict, done=act, p=item.view, link=link)


@router.get("/ask", response_class=HTMLResponse)
def ask_page(request: Request, store: StoreDep, settings: SettingsDep, q: str = "", paper: str = "") -> HTMLResponse:
    """The question box and, once asked, the answer with its citations linked to the papers."""
    from ..ask import ask

    question = " ".join(q.split())[:2000]
    answer = ask(store, question, settings, paper=require_paper(store, paper) if paper else None) if question else None
    # "asked", not "q": the navigation's search box shows q
    return render(request, "web_ask.html", asked=question, paper=paper, answer=answer, answer_html=cited_html(answer))


def cited_html(answer) -> Markup:
    """The answer, escaped, each ``[n]`` a link to its citation below."""
    if not answer or not answer.answer:
        return Markup("")
    return Markup(CITATION.sub(lambda m: f'<a href="#cite-{m[1]}">[{m[1]}]</a>', str(escape(answer.answer))))


@router.get("/picks", response_class=HTMLResponse)
def picks_page(request: Request, store: StoreDep) -> HTMLResponse:
    """The reader's latest daily digest (为你推荐), each pick linked to its page here."""
    from ..daily.picks_digest import DailyDigest

    stored = next((data for data in store.recent_digest_data(5) if data and data != "{}"), None)
    digest = DailyDigest.model_validate_json(stored) if stored else None
    ids = [item.view.id for item in digest.papers] if digest else []
    marks = curation.get_many(store, ids)
    for item in digest.papers if digest else []:
        item.view.href = f"/papers/{item.view.id}"
    return render(
        request,
        "web_picks.html",
        digest=digest,
        synthesis_html=digest.synthesis_html() if digest else "",
        marks={i: marks.get(i) or curation.Curation(paper_id=i) for i in ids},
    )


@router.get("/digests", response_class=HTMLResponse)
def digests_page(request: Request, store: StoreDep) -> HTMLResponse:
    return render(request, "web_digests.html", days=insights.day_counts(store, limit=365))


@router.get("/digests/{day}", response_class=HTMLResponse)
def digest_day_page(request: Request, day: date, store: StoreDep, settings: SettingsDep) -> HTMLResponse:
    digest = build_digest(store, request.app.state.lang, on=day, settings=settings, href=paper_href)
    if not digest.days:
        raise HTTPException(404, f"no papers on {day}")
    ids = [p.id for group in digest.days[0].groups for p in group.papers]
    marks = curation.get_many(store, ids)
    return render(
        request,
        "web_digest_day.html",
        day=digest.days[0],
        index_url="/digests",
        marks={i: marks.get(i) or curation.Curation(paper_id=i) for i in ids},
    )


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request, store: StoreDep, labeller: LabellerDep) -> HTMLResponse:
    data = insights.stats(store, request.app.state.lang, labeller)
    return render(request, "web_stats.html", stats=data, chart_data=data.model_dump(mode="json"))


@router.get("/about", response_class=HTMLResponse)
def about_page(request: Request, store: StoreDep, settings: SettingsDep) -> HTMLResponse:
    return render(request, "web_about.html", about=insights.about(store, settings))
