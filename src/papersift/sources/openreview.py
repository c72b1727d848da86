"""OpenReview API v2 (``https://api2.openreview.net``): a venue's submissions, over plain HTTP.

``GET /notes?content.venueid=<venue id>`` lists the papers a venue has placed (accepted ones,
for most conferences); ``invitation=<venue id>/-/Submission`` lists every public submission,
rejected and withdrawn ones included. Pages come with ``offset``/``limit`` (at most 1,000) and
the answer is ``{"notes": [...], "count": N}``. In v2 every content field is wrapped:
``{"title": {"value": "..."}}``. Timestamps are milliseconds since the epoch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..models import Paper
from ..store import Store
from .base import IngestReport, RecordError, SourceError
from .harvest import harvest
from .http import HttpClient

SOURCE = "openreview"
SITE = "https://openreview.net"
PAGE_SIZE = 1000  # the API's maximum
MAX_MS = 253402300799000  # 9999-12-31, the last day Python's dates hold
# content fields mapped onto Paper; every other content field is kept in ``extra``
MAPPED_CONTENT = {"title", "authors", "abstract", "keywords", "TLDR", "venue", "pdf", "code"}
MAPPED_NOTE = {"content", "id", "forum"}


def _value(content: dict[str, Any], name: str) -> Any:
    """A v2 content field's value (``{"value": ...}``); a bare value (API v1 style) is accepted too."""
    raw = content.get(name)
    return raw.get("value") if isinstance(raw, dict) and "value" in raw else raw


def _is_ms(value: Any) -> bool:
    """A plausible timestamp in ms: a finite positive number (JSON also allows 1e999 and NaN)."""
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and 0 < value < MAX_MS
    )


def _day(ms: Any) -> str | None:
    """The UTC day of a timestamp in ms; an implausible one is no date, like a missing one."""
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat() if _is_ms(ms) else None


def _link(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value if value.startswith(("http://", "https://")) else SITE + "/" + value.lstrip("/")


def is_withdrawn(venueid: str | None, venue: str | None) -> bool:
    text = f"{venueid or ''} {venue or ''}".lower()
    return "withdrawn" in text


def note_to_paper(note: dict[str, Any]) -> Paper:
    """One v2 note (a submission) as a paper."""
    content = note.get("content") or {}
    if not isinstance(content, dict):
        raise ValueError("content is not an object")
    forum = note.get("forum") or note.get("id")
    extra: dict[str, Any] = {name: _value(content, name) for name in content if name not in MAPPED_CONTENT}
    extra.update({name: value for name, value in note.items() if name not in MAPPED_NOTE})
    if note.get("id") != forum:
        extra["note_id"] = note.get("id")
    keywords = _value(content, "keywords")
    primary_area = _value(content, "primary_area")
    venue = _value(content, "venue")
    return Paper(
        source=SOURCE,
        source_id=forum,
        openreview_id=forum,
        title=_value(content, "title"),
        authors=_value(content, "authors") or [],
        abstract=_value(content, "abstract"),
        keywords=keywords if isinstance(keywords, list) else keywords or [],
        tldr=_value(content, "TLDR"),
        venue=venue,
        categories=[primary_area] if isinstance(primary_area, str) and primary_area else [],
        published=_day(note.get("pdate") or note.get("odate") or note.get("cdate")),
        updated=_day(note.get("mdate")),
        url_abs=f"{SITE}/forum?id={forum}",
        url_pdf=_link(_value(content, "pdf")),
        url_code=_link(_value(content, "code")),
        withdrawn=is_withdrawn(extra.get("venueid"), venue),
        extra=extra,
    )


def _page(client: HttpClient, url: str, params: dict[str, Any]) -> tuple[list[Any], int | None]:
    page = client.get(url, params=params, ok=(200, 400, 403, 404))
    data = page.json()
    if page.status != 200 or not isinstance(data, dict) or "notes" not in data:
        message = data.get("message") if isinstance(data, dict) else None
        raise SourceError(f"{page.url}: OpenReview error (HTTP {page.status}): {message or repr(page.snippet())}")
    if not isinstance(data["notes"], list):
        raise SourceError(f"{page.url}: 'notes' is not a list")
    count = data.get("count")
    return data["notes"], count if isinstance(count, int) else None


def modified_ms(fields: dict[str, Any]) -> int | None:
    """When a note last changed, in ms: ``tmdate`` moves on every edit, a decision included."""
    for name in ("tmdate", "mdate", "cdate"):
        if _is_ms(fields.get(name)):
            return int(fields[name])
    return None


def _newest_first(notes: list[Any], previous: int | None, where: str) -> int | None:
    """Check a page is in ``sort=tmdate:desc`` order (continuing the last page): stopping at
    the first old note is only safe then. Returns the page's oldest edit time."""
    for note in notes:
        changed = modified_ms(note) if isinstance(note, dict) else None
        if changed is None:
            continue
        if previous is not None and changed > previous:
            raise SourceError(
                f"{where}: notes are not newest-edit first (sort=tmdate:desc ignored?); run again with --full"
            )
        previous = changed
    return previous


def submissions(
    client: HttpClient,
    venue_id: str,
    *,
    base_url: str,
    all_submissions: bool = False,
    limit: int | None = None,
    changed_after_ms: int | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[Paper | RecordError]:
    """A venue's notes, page by page, until an empty page or the total ``count``.

    With ``changed_after_ms``, only notes created or edited after it: the API has no minimum
    modification date for notes, so they are asked newest edit first (``sort=tmdate:desc``) and
    the listing stops at the first older one.
    """
    url = base_url.rstrip("/") + "/notes"
    params: dict[str, Any] = (
        {"invitation": f"{venue_id}/-/Submission"} if all_submissions else {"content.venueid": venue_id}
    )
    if changed_after_ms is not None:
        params["sort"] = "tmdate:desc"
    offset = yielded = 0
    previous = None  # the edit time of the last note seen, to check the order
    while limit is None or yielded < limit:
        size = page_size if limit is None else min(page_size, limit - yielded)
        notes, count = _page(client, url, {**params, "offset": offset, "limit": size})
        if not notes:
            return
        if changed_after_ms is not None:
            previous = _newest_first(notes, previous, f"{url} offset {offset}")
        for n, note in enumerate(notes):
            where = f"{url} note {offset + n + 1}"
            changed = modified_ms(note) if changed_after_ms is not None and isinstance(note, dict) else None
            if changed is not None and changed <= changed_after_ms:
                return
            try:
                if not isinstance(note, dict):
                    raise ValueError(f"expected an object, got {type(note).__name__}")
                yield note_to_paper(note)
            except ValidationError as exc:
                yield from RecordError.from_validation(f"{where} ({note.get('id')})", None, exc)
            except ValueError as exc:
                yield RecordError(where, None, "note", str(exc))
            yielded += 1
            if limit is not None and yielded >= limit:
                return
        offset += len(notes)
        if count is not None and offset >= count:
            return


def sync(
    store: Store,
    client: HttpClient,
    venue_id: str,
    *,
    base_url: str,
    all_submissions: bool = False,
    limit: int | None = None,
    full: bool = False,
    on_item: Callable[[], None] | None = None,
) -> IngestReport:
    """Fetch a venue into the store; without ``full`` only notes created or edited (a decision
    posted, a camera-ready uploaded) since the newest edit stored."""
    # "cursor" marks the saved cursor as a modification time, so the creation-time cursors of
    # earlier versions (which missed decisions) are not reused.
    key = json.dumps({"venue": venue_id, "all": all_submissions, "cursor": "tmdate"}, sort_keys=True)

    def fetch(since: str | None) -> Iterator[Paper | RecordError]:
        return submissions(
            client,
            venue_id,
            base_url=base_url,
            all_submissions=all_submissions,
            limit=limit,
            changed_after_ms=int(since) if since else None,
        )

    def cursor(paper: Paper) -> str | None:
        changed = modified_ms(paper.extra)
        return f"{changed:015d}" if changed is not None else None

    return harvest(store, source=SOURCE, key=key, fetch=fetch, cursor=cursor, full=full, on_item=on_item)
