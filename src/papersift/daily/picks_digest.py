"""A daily digest as delivered: the ranked picks with their reasons and the day's synthesis.

A digest is composed once, stored (``daily_digests``) with one delivery row per channel
(``daily_deliveries``), and the cursor of "papers already considered" moves past it in the same
transaction: a run killed before that point composes it again, a run killed after it only
delivers what is still pending. The stored JSON is what every channel sends, every time.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from markupsafe import Markup, escape
from pydantic import BaseModel

from ..checks.guard import CITATION
from ..curation import FeedbackLinks
from ..labels import labels
from ..publish.render import environment
from ..publish.view import PaperView
from ..store import Store
from .rank import Pick
from .synthesis import Synthesis

CURSOR = ("daily", "through_rowid")  # sync_state: the newest paper rowid a digest has considered


# The reasons a pick is given (papersift.daily.rank) are stored as English phrases, which the
# webhook and the JSON report carry as they are; a reader's email says them in the reader's language.
REASON_PREFIXES = (
    ("terms ", "why_terms"),
    ("matches keyword ", "why_keyword"),
    ("author ", "why_author"),
    ("upvotes ", "why_upvotes"),
)


def reason_text(reason: str, lang: str, subarea_label: str | None = None) -> str:
    """One stored reason in ``lang``'s words (names, terms and titles stay as written; a sub-area is
    named by ``subarea_label``, the paper's, when given)."""
    L = labels(lang)
    if reason.startswith("sub-area "):
        return L["why_subarea"] + (subarea_label or reason.removeprefix("sub-area "))
    if reason == "new since the last run":
        return L["why_new"]
    if reason.startswith("close to "):
        name = reason.removeprefix("close to ")
        starred = name.endswith(" (starred)")
        return L["why_close"] + name.removesuffix(" (starred)") + (L["why_starred"] if starred else "")
    for prefix, key in REASON_PREFIXES:
        if reason.startswith(prefix):
            return L[key] + reason.removeprefix(prefix)
    return reason


class DigestPaper(BaseModel):
    rank: int
    score: float
    why: list[str]
    view: PaperView

    @property
    def url(self) -> str | None:
        return self.view.link or self.view.alt_link


class DailyDigest(BaseModel):
    id: int | None = None
    day: date
    lang: str
    considered: int  # new papers the picks were chosen from
    synthesis: Synthesis
    papers: list[DigestPaper]

    def webhook_body(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "digest_id": self.id,
            "synthesis": self.synthesis.text,
            "synthesis_note": self.synthesis.note,
            "considered": self.considered,
            "papers": [
                {
                    "id": p.view.id,
                    "arxiv_id": p.view.arxiv_id,
                    "title": p.view.title,
                    "translated_title": p.view.translated_title,
                    "url": p.url,
                    "score": p.score,
                    "why": "; ".join(p.why),
                    "rank": p.rank,
                }
                for p in self.papers
            ],
        }

    def subject(self) -> str:
        return f"papersift · {labels(self.lang)['picks']} · {self.day} · {len(self.papers)}"

    def text(self, links: FeedbackLinks | None = None) -> str:
        """The plain-text rendering: the synthesis, then each paper in ranked order with its title, why,
        and (with ``links``) the signed addresses that tell the ranking more or less of it."""
        L = labels(self.lang)
        lines = [self.subject(), ""]
        if self.synthesis.text:
            lines += [L["synthesis"], "", self.synthesis.text, ""]
        elif self.synthesis.note:
            lines += [f"({self.synthesis.note})", ""]
        for p in self.papers:
            v = p.view
            lines.append(f"[{p.rank}] {v.title}")
            if v.translated_title and v.translated_title != v.title:
                lines.append(f"    {v.translated_title}")
            if p.url:
                lines.append(f"    {p.url}")
            lines.append(f"    {L['why']}{L['sep']}{self.reasons(p)}")
            if v.tldr:
                lines.append(f"    {L['tldr']}{L['sep']}{v.tldr}")
            if links:
                lines.append(f"    {L['more_like_this']}{L['sep']}{links.url(v.id, 'up')}")
                lines.append(f"    {L['less_like_this']}{L['sep']}{links.url(v.id, 'down')}")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def reasons(self, paper: DigestPaper) -> str:
        """Why ``paper`` was picked, in the digest's language."""
        label = paper.view.subarea_label
        return labels(self.lang)["reasons_sep"].join(reason_text(r, self.lang, label) for r in paper.why)

    def html(self, links: FeedbackLinks | None = None) -> str:
        return (
            environment(self.lang)
            .get_template("daily.html")
            .render(digest=self, synthesis_html=self.synthesis_html(), links=links)
        )

    def synthesis_html(self) -> str:
        """The synthesis, escaped, its paragraphs kept and each ``[n]`` linked to the paper."""

        def cite(match) -> str:
            n = int(match[1])
            paper = self.papers[n - 1] if 1 <= n <= len(self.papers) else None
            return f'<a href="{escape(paper.url)}">[{n}]</a>' if paper and paper.url else f"[{n}]"

        paragraphs = [
            CITATION.sub(cite, str(escape(part.strip()))) for part in self.synthesis.text.split("\n\n") if part.strip()
        ]
        return Markup("".join(f"<p>{p}</p>" for p in paragraphs))


def picks_to_digest(picks: list[Pick], views: dict[str, PaperView], **fields: Any) -> DailyDigest:
    papers = [
        DigestPaper(rank=i, score=p.score, why=p.why, view=views[p.paper_id]) for i, p in enumerate(picks, start=1)
    ]
    return DailyDigest(papers=papers, **fields)


# --- the store: digests, deliveries, the cursor -------------------------------------------------


def cursor(store: Store) -> int | None:
    value = store.get_state(*CURSOR)
    return int(value) if value is not None else None


def start_cursor(store: Store) -> int:
    """The first run starts from the papers already stored: only what arrives from now on is new."""
    current = cursor(store)
    if current is None:
        current = store.max_rowid()
        store.set_state(*CURSOR, str(current))
    return current


def save_digest(store: Store, digest: DailyDigest, through_rowid: int, channels: list[str]) -> DailyDigest:
    """Store the digest with a pending delivery per channel and move the cursor past its papers, atomically."""
    with store.transaction():
        digest_id = store.add_digest(digest.day.isoformat(), through_rowid, channels)
        digest = digest.model_copy(update={"id": digest_id})
        store.set_digest_data(digest_id, digest.model_dump_json())
        store.set_state(*CURSOR, str(through_rowid))
    return digest


def digest_by_id(store: Store, digest_id: int) -> DailyDigest:
    data = store.digest_data(digest_id)
    if data is None:
        raise KeyError(digest_id)
    return DailyDigest.model_validate_json(data)


def recent_digests(store: Store, limit: int = 30) -> list[DailyDigest]:
    """The latest digests composed, newest first; one whose run stopped before it was written is not one."""
    return [DailyDigest.model_validate_json(data) for data in store.recent_digest_data(limit) if data != "{}"]
