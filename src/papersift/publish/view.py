"""What a reader sees of one paper: the paper, its enrichment and its topic, resolved once.

Every publication (catalog card, digest entry, paper page, JSON) and the web UI read a
:class:`PaperView`, so the rules live here only:

- keywords: the author's when the source has them, else the enrichment's;
- TL;DR: the author's (translated when the enrichment translated it, else as written) when the
  source has one, else the generated one, marked ``tldr_generated``;
- a paper whose enrichment failed, was flagged or judged poor, or that is not enriched yet keeps its original
  abstract and gets a ``status`` other than ``ok`` and a note; it is never dropped;
- a titleless paper (the shared catalog has only abstracts) shows its translated title, or the
  start of its abstract, and ``untitled`` is set;
- the day a paper belongs to is its ``published`` date, or the day it was first stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel

from ..enrich.card_prompt import source_hash, source_text
from ..labels import labels
from ..models import READING_FIELDS, Enrichment, Paper
from ..store import Store
from ..taxonomy import Labeller
from .render import READING_ICONS, safe_url

Status = Literal["ok", "flagged", "poor", "failed", "pending"]


class ReadingItem(BaseModel):
    key: str
    icon: str
    label: str
    text: str


class Provenance(BaseModel):
    """Who wrote a card, when, with which prompt, from which version of the paper."""

    model: str | None = None
    prompt_version: str | None = None
    created: date | None = None
    paper_version: int | None = None
    stale: bool = False  # the paper's text changed since: a new card is due

    def describe(self) -> str:
        parts = [
            self.model or "?",
            f"prompt {self.prompt_version}" if self.prompt_version else None,
            str(self.created) if self.created else None,
            f"v{self.paper_version}" if self.paper_version else None,
        ]
        return " · ".join(p for p in parts if p)


class PaperView(BaseModel):
    id: str
    source: str
    source_id: str | None = None
    arxiv_id: str | None = None
    link: str | None = None  # the paper's abstract page: arXiv's when it has an arXiv id, else its source's
    alt_link: str | None = None  # the source's own page when that is not arXiv (Hugging Face, OpenReview)
    pdf: str | None = None
    code: str | None = None
    href: str | None = None  # where a title links to in this publication
    title: str
    untitled: bool = False
    translated_title: str | None = None
    authors: list[str] = []
    published: date | None = None
    day: date | None = None
    area: str | None = None
    subarea: str | None = None
    area_label: str
    subarea_label: str
    keywords: list[str] = []
    tldr: str | None = None
    tldr_generated: bool = False
    tldr_original: str | None = None  # the author's own TL;DR, shown beside its translation
    reading: list[ReadingItem] = []
    digest: str | None = None
    abstract: str | None = None
    status: Status
    note: str | None = None
    reasons: list[str] = []
    refused: bool = False  # a card that did not pass its checks: shown folded, lending nothing else
    score: float | None = None
    provenance: Provenance | None = None

    @property
    def guid(self) -> str:
        """A feed GUID that never changes for this paper: its arXiv id when it has one."""
        return f"arxiv:{self.arxiv_id}" if self.arxiv_id else f"papersift:{self.id}"

    @property
    def breadcrumb(self) -> str:
        return f"{self.area_label} › {self.subarea_label}"


def _excerpt(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _score(paper: Paper) -> float | None:
    for key in ("score", "upvotes"):
        value = paper.extra.get(key)
        if isinstance(value, int | float):
            return float(value)
    return None


def links(paper: Paper) -> tuple[str | None, str | None]:
    """(main, second) link: arXiv's abstract page first when the paper is on arXiv, then the source's page."""
    own = safe_url(paper.url_abs)
    if not paper.arxiv_id:
        return own, None
    arxiv = f"https://arxiv.org/abs/{paper.arxiv_id}"
    return arxiv, own if own and "arxiv.org/" not in own else None


def provenance_of(enrichment: Enrichment | None, paper: Paper) -> Provenance | None:
    if enrichment is None or enrichment.card is None:
        return None

    stale = enrichment.source_hash is not None and enrichment.source_hash != source_hash(source_text(paper))
    return Provenance(
        model=enrichment.model,
        prompt_version=enrichment.prompt_version,
        paper_version=enrichment.paper_version,
        created=enrichment.created_at.date() if enrichment.created_at else None,
        stale=stale,
    )


def _check_note(label: str, enrichment: Enrichment | None, L: dict[str, str]) -> str:
    """ "质量检查未通过：字段重复、篇幅失当": the check and, in the reader's words, what it found."""
    found = [L[f"problem_{kind}"] for kind in (enrichment.problems if enrichment else []) if f"problem_{kind}" in L]
    return f"{label}{L['sep']}{L['list_sep'].join(found)}" if found else label


def paper_view(
    paper: Paper,
    enrichment: Enrichment | None,
    lang: str,
    labeller: Labeller,
    *,
    day: date | None = None,
    href: Callable[[Paper], str | None] | None = None,
) -> PaperView:
    L = labels(lang)
    card = enrichment.card if enrichment and enrichment.status != "failed" else None
    status: Status = enrichment.status if enrichment else "pending"
    if enrichment and enrichment.status != "failed" and card is None:
        status = "failed"  # a stored enrichment without a card has nothing to show
    topic = paper.topic
    area = labeller.area_key(topic.area if topic else None, topic.subarea if topic else None)
    subarea = topic.subarea if topic else None
    # A card that did not pass its checks lends nothing to what a reader meets first (the title,
    # the TL;DR, the keywords, the digest paragraph): the English takes its place, the card is folded.
    ok_card = card if status == "ok" else None
    translated = ok_card.title if ok_card else None
    title = paper.title or translated or f"{L['untitled']} {_excerpt(paper.abstract or '')}"
    if ok_card and not enrichment.tldr_generated:
        tldr, generated = ok_card.tldr, False  # the author's TL;DR, translated
    elif paper.tldr:
        tldr, generated = paper.tldr, False
    elif ok_card:
        tldr, generated = ok_card.tldr, True
    else:
        tldr, generated = None, False
    reading = (
        [ReadingItem(key=k, icon=READING_ICONS[k], label=L[k], text=getattr(card.reading, k)) for k in READING_FIELDS]
        if card
        else []
    )
    link, alt_link = links(paper)
    note = {
        "ok": None,
        "flagged": _check_note(L["note_flagged"], enrichment, L),
        "poor": _check_note(L["note_poor"], enrichment, L),
        "failed": L["note_failed"],
        "pending": L["note_pending"],
    }[status]
    return PaperView(
        id=paper.id,
        source=paper.source,
        source_id=paper.source_id,
        arxiv_id=paper.arxiv_id,
        link=link,
        alt_link=alt_link,
        pdf=safe_url(paper.url_pdf or (f"https://arxiv.org/pdf/{paper.arxiv_id}" if paper.arxiv_id else None)),
        code=safe_url(paper.url_code),
        href=safe_url(href(paper)) if href else link,
        title=title,
        untitled=not paper.title,
        translated_title=translated,
        authors=paper.authors,
        published=paper.published,
        day=day or paper.published,
        area=area,
        subarea=subarea,
        area_label=labeller.label(area),
        subarea_label=labeller.label(subarea),
        keywords=paper.keywords or (ok_card.keywords if ok_card else []),
        tldr=tldr,
        tldr_generated=generated,
        tldr_original=paper.tldr
        if ok_card and not enrichment.tldr_generated and paper.tldr and paper.tldr != tldr
        else None,
        reading=reading,
        digest=ok_card.digest if ok_card else None,
        abstract=paper.abstract,
        status=status,
        note=note,
        reasons=enrichment.reasons if enrichment and status != "ok" else [],
        refused=card is not None and ok_card is None,
        score=_score(paper),
        provenance=provenance_of(enrichment, paper) if card else None,
    )


def view_of(
    store: Store, paper_id: str, lang: str, *, settings=None, href: Callable[[Paper], str | None] | None = None
) -> PaperView:
    """One stored paper as a reader sees it (the web UI's paper page); ``KeyError`` if unknown."""
    for view in iter_views(store, lang, Labeller(lang, settings), ids=[paper_id], href=href):
        return view
    raise KeyError(paper_id)


def iter_views(
    store: Store,
    lang: str,
    labeller: Labeller,
    *,
    href: Callable[[Paper], str | None] | None = None,
    **selection: Any,
) -> Iterator[PaperView]:
    """Every paper of the selection (ids, a day: see :meth:`Store.iter_papers_by_day`), in source order."""
    for paper, paper_day in store.iter_papers_by_day(**selection):
        yield paper_view(
            paper, store.enrichment(paper.id, lang), lang, labeller, day=date.fromisoformat(paper_day), href=href
        )
