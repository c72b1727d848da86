"""What a reader marks on papers: star, hide, read, a note, a corrected class; signed one-click
feedback links that mark a paper from outside the app; and exporting a selection.

Flags live in the store's ``curation`` table (one row a paper, created on first change). A class
correction goes through :meth:`Store.set_topic` with ``origin="user"``, which keeps it across
source updates and records it as a training label for the classifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable
from typing import TextIO
from urllib.parse import urlencode

from pydantic import BaseModel, Field, field_validator

from . import export as exporting
from .models import Paper, Topic
from .store import Store, now
from .taxonomy import load_taxonomy

NOTE_MAX_CHARS = 10_000
# The export formats of a selection: the store-wide writers, plus one JSON array.
EXPORT_FORMATS = ("bibtex", "markdown", "json", "jsonl", "csv")
EXPORT_MEDIA = {
    "bibtex": ("application/x-bibtex", "bib"),
    "markdown": ("text/markdown", "md"),
    "json": ("application/json", "json"),
    "jsonl": ("application/x-ndjson", "jsonl"),
    "csv": ("text/csv", "csv"),
}


class Curation(BaseModel):
    """A paper's marks; a paper nobody touched has all flags off and no note."""

    paper_id: str
    starred: bool = False
    hidden: bool = False
    read: bool = False
    note: str | None = None
    updated_at: str | None = None


class CurationChange(BaseModel):
    """The fields to change; a field left out keeps its value (``note: null`` clears the note)."""

    starred: bool | None = None
    hidden: bool | None = None
    read: bool | None = None
    note: str | None = Field(None, max_length=NOTE_MAX_CHARS)

    @field_validator("note")
    @classmethod
    def _blank_note_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class CurationError(ValueError):
    """A curation request that cannot be applied; the message names the paper or the value."""


class LinkRefused(CurationError):
    """A feedback link that does not act: ``reason`` is ``forged`` (not signed here for this paper and
    verdict) or ``expired``."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def get(store: Store, paper_id: str) -> Curation:
    return get_many(store, [paper_id]).get(paper_id, Curation(paper_id=paper_id))


def get_many(store: Store, paper_ids: Iterable[str]) -> dict[str, Curation]:
    """The marks of the papers that have any, by paper id."""
    ids = list(paper_ids)
    if not ids:
        return {}
    return {paper_id: Curation(paper_id=paper_id, **marks) for paper_id, marks in store.marks_of(ids).items()}


def update(store: Store, paper_id: str, change: CurationChange) -> Curation:
    """Apply ``change`` to one paper's marks and return them all."""
    _require_paper(store, paper_id)
    given = change.model_fields_set
    with store.transaction():
        current = get(store, paper_id)
        merged = current.model_copy(update={k: getattr(change, k) for k in given}, deep=True)
        merged.updated_at = now()
        store.set_marks(paper_id, **merged.model_dump(exclude={"paper_id"}))
    return merged


def star(store: Store, paper_id: str, on: bool = True) -> Curation:
    return update(store, paper_id, CurationChange(starred=on))


def hide(store: Store, paper_id: str, on: bool = True) -> Curation:
    return update(store, paper_id, CurationChange(hidden=on))


FEEDBACK = {  # a reader's verdict on a paper, as the marks the next ranking learns from
    "up": CurationChange(starred=True, hidden=False),  # more like this: a positive
    "down": CurationChange(starred=False, hidden=True),  # less like this: a strong negative
    "clear": CurationChange(starred=False, hidden=False),
}


def feedback(store: Store, paper_id: str, verdict: str) -> Curation:
    """Record ``up``, ``down`` or ``clear`` for a paper (with its time); the next run's reader model counts it."""
    if verdict not in FEEDBACK:
        raise CurationError(f"feedback: {verdict!r} is not one of {', '.join(FEEDBACK)}")
    return update(store, paper_id, FEEDBACK[verdict])


LINK_DAYS = 30  # how long a feedback link in an email acts: an old email forwarded later does not
LINK_KEY = "feedback-links"


class FeedbackLinks:
    """One-click "more like this / less like this" links for the reader's own email.

    A link names one paper, one verdict and the time it expires, and carries an HMAC of the three
    under the store's own random key: it cannot be changed to act on another paper or verdict, made
    for a store whose key one does not hold, or used after it expires. The web app of the same store
    (``papersift serve``) checks it; the link itself is the credential, so it needs no login."""

    def __init__(self, key: bytes, base_url: str = "", clock: Callable[[], float] = time.time):
        self.key = key
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        # The links of one message expire together: each computing its own time, the plain-text and
        # HTML parts of an email made a second apart carried different links (a test saw it).
        self.issued: float | None = None

    @classmethod
    def of(cls, store: Store, base_url: str = "", clock: Callable[[], float] = time.time) -> FeedbackLinks:
        return cls(store.signing_key(LINK_KEY), base_url, clock)

    def signature(self, paper_id: str, verdict: str, until: int) -> str:
        mac = hmac.new(self.key, json.dumps([paper_id, verdict, until]).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def url(self, paper_id: str, verdict: str, days: float = LINK_DAYS) -> str:
        if self.issued is None:
            self.issued = self.clock()
        until = int(self.issued + days * 86400)
        query = urlencode({"paper": paper_id, "until": until, "sig": self.signature(paper_id, verdict, until)})
        return f"{self.base_url}/feedback/{verdict}?{query}"

    def check(self, paper_id: str, verdict: str, until: int, sig: str) -> None:
        """Raise :class:`CurationError` unless the link was signed here for this paper and verdict and
        has not expired."""
        expected = self.signature(paper_id, verdict, until).encode()
        if verdict not in FEEDBACK or not hmac.compare_digest(sig.encode(), expected):  # bytes: any text compares
            raise LinkRefused("forged", "this feedback link was not made by this papersift, or was changed")
        if until < self.clock():
            raise LinkRefused("expired", "this feedback link has expired: mark the paper in the app instead")


def mark_read(store: Store, paper_id: str, on: bool = True) -> Curation:
    return update(store, paper_id, CurationChange(read=on))


def set_note(store: Store, paper_id: str, note: str | None) -> Curation:
    return update(store, paper_id, CurationChange(note=note))


def correct_topic(store: Store, paper_id: str, subarea: str, settings=None) -> Topic:
    """File a paper under ``subarea`` (a taxonomy key) as the user's call; it becomes a training label."""

    _require_paper(store, paper_id)
    taxonomy = load_taxonomy(settings)
    try:
        area = taxonomy.area_of(subarea).key
    except KeyError:
        known = ", ".join(taxonomy.subarea_keys())
        raise CurationError(f"unknown sub-area {subarea!r}; use one of: {known}") from None
    topic = Topic(area=area, subarea=subarea, origin="user")
    store.set_topic(paper_id, topic)
    return topic


def export_selection(store: Store, papers: Iterable[Paper], fmt: str, out: TextIO) -> int:
    """Write ``papers`` with everything the store knows of them, as ``fmt`` (see ``EXPORT_FORMATS``)."""
    if fmt not in EXPORT_FORMATS:
        raise CurationError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if fmt != "json":
        return exporting.export(store, fmt, out, papers)
    docs = list(exporting.documents(store, papers))
    json.dump(docs, out, ensure_ascii=False, indent=2)
    out.write("\n")
    return len(docs)


def _require_paper(store: Store, paper_id: str) -> None:
    if not store.has_paper(paper_id):
        raise KeyError(paper_id)
