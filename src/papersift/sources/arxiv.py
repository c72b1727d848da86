"""arXiv's export API (Atom): by category, date range, search query or id list, page by page.

The API answers ``/api/query`` with an Atom feed: ``opensearch:totalResults`` says how many
match, each ``<entry>`` is one paper whose ``<id>`` carries its version
(``http://arxiv.org/abs/2501.01234v2``). arXiv asks for one request every three seconds; the
HTTP layer enforces it (``settings.net.arxiv_delay``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from xml.etree.ElementTree import Element

from pydantic import ValidationError

from ..models import Paper, abs_url, pdf_url, split_arxiv_id
from ..store import Store
from .base import IngestReport, RecordError, SourceError, ingest_stream
from .harvest import harvest
from .http import Fetched, HttpClient

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
ERROR_ID = re.compile(r"^https?://arxiv\.org/api/errors")
ID_IN_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/(?P<id>.+?)(?:\.pdf)?$", re.I)
# arXiv's own wording when a paper is withdrawn ("This paper has been withdrawn by the author")
WITHDRAWN = re.compile(r"\b(?:has been|is|was|been)\s+withdrawn\b|^\s*withdrawn\b", re.I)
SOURCE = "arxiv"


def squash(text: str | None) -> str | None:
    """Collapse arXiv's hard line wraps; LaTeX is left exactly as written."""
    return " ".join(text.split()) if text else None


def is_withdrawn(comment: str | None) -> bool:
    return bool(comment and WITHDRAWN.search(comment))


def id_from_url(url: str) -> tuple[str, int | None]:
    """``http://arxiv.org/abs/2501.01234v2`` -> ``('2501.01234', 2)``."""
    m = ID_IN_URL.search(url.strip())
    if not m:
        raise ValueError(f"not an arXiv URL: {url!r}")
    return split_arxiv_id(m["id"])


# --- queries ----------------------------------------------------------------------------


def _stamp(value: date | datetime, *, end: bool) -> str:
    """arXiv's ``submittedDate`` form, YYYYMMDDHHMM; a bare date covers the whole day."""
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d%H%M")
    return value.strftime("%Y%m%d") + ("2359" if end else "0000")


@dataclass(frozen=True)
class ArxivQuery:
    """What to ask the export API for. ``ids`` alone is an id-list lookup."""

    category: str | None = None
    search: str | None = None
    ids: tuple[str, ...] = ()
    date_from: date | datetime | None = None
    date_until: date | datetime | None = None

    def __post_init__(self) -> None:
        if not (self.category or self.search or self.ids or self.date_from or self.date_until):
            raise ValueError("an arXiv query needs a category, a search query, ids or a date range")

    @property
    def incremental(self) -> bool:
        """Id lookups and explicit date ranges are asked for as given, every time."""
        return not self.ids and self.date_from is None and self.date_until is None

    def state_key(self) -> str:
        return json.dumps({"category": self.category, "search": self.search}, sort_keys=True)

    def search_query(self, since: date | None = None) -> str | None:
        parts = []
        if self.category:
            parts.append(f"cat:{self.category}")
        if self.search:
            query = self.search.strip()
            # a bare phrase searches all fields; arXiv's own syntax (ti:, abs:, AND ...) passes through
            parts.append(
                query if re.search(r"\b[a-z_]+:", query) else f'all:"{query}"' if " " in query else f"all:{query}"
            )
        start = max((d for d in (self.date_from, since) if d is not None), default=None, key=_as_datetime)
        if start is not None or self.date_until is not None:
            until = _stamp(self.date_until, end=True) if self.date_until else datetime.now(UTC).strftime("%Y%m%d%H%M")
            begin = _stamp(start, end=False) if start else "199101010000"
            parts.append(f"submittedDate:[{begin} TO {until}]")
        return " AND ".join(parts) or None

    def params(self, since: date | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        query = self.search_query(since)
        if query:
            params["search_query"] = query
            params["sortBy"] = "submittedDate"
            params["sortOrder"] = "descending"
        if self.ids:
            params["id_list"] = ",".join(self.ids)
        return params


def _as_datetime(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)


# --- parsing ----------------------------------------------------------------------------


def _text(elem: Element, tag: str) -> str | None:
    found = elem.find(tag)
    # itertext: stray markup inside a field must not cut its text short
    return "".join(found.itertext()) if found is not None else None


def entry_to_paper(entry: Element) -> Paper:
    """One Atom ``<entry>`` as a paper; raises ``ValueError``/``ValidationError`` when unusable."""
    raw_id = _text(entry, f"{ATOM}id") or ""
    arxiv_id, version = id_from_url(raw_id)
    extra: dict[str, Any] = {}
    links = []
    url_pdf = None
    for link in entry.findall(f"{ATOM}link"):
        attrs = dict(link.attrib)
        if attrs.get("title") == "pdf":
            url_pdf = attrs.get("href")
        elif attrs.get("rel") != "alternate":
            links.append(attrs)
    if links:
        extra["links"] = links
    authors, affiliations = [], {}
    for author in entry.findall(f"{ATOM}author"):
        name = squash(_text(author, f"{ATOM}name"))
        if not name:
            continue
        authors.append(name)
        affs = [a.text.strip() for a in author.findall(f"{ARXIV}affiliation") if a.text and a.text.strip()]
        if affs:
            affiliations[name] = affs
    if affiliations:
        extra["affiliations"] = affiliations
    primary = entry.find(f"{ARXIV}primary_category")
    categories = [primary.get("term")] if primary is not None and primary.get("term") else []
    categories += [
        c.get("term") for c in entry.findall(f"{ATOM}category") if c.get("term") and c.get("term") not in categories
    ]
    if categories and primary is not None:
        extra["primary_category"] = categories[0]
    comment = squash(_text(entry, f"{ARXIV}comment"))
    if comment:
        extra["comment"] = comment
    for field, tag in (("published_at", f"{ATOM}published"), ("updated_at", f"{ATOM}updated")):
        if _text(entry, tag):
            extra[field] = _text(entry, tag).strip()
    doi = squash(_text(entry, f"{ARXIV}doi"))
    if doi and " " in doi:  # several DOIs: the first is the key, all are kept
        extra["dois"] = doi.split()
        doi = doi.split()[0]
    return Paper(
        source=SOURCE,
        source_id=arxiv_id,
        arxiv_id=arxiv_id,
        version=version,
        doi=doi,
        title=squash(_text(entry, f"{ATOM}title")),
        authors=authors,
        abstract=squash(_text(entry, f"{ATOM}summary")),
        venue=squash(_text(entry, f"{ARXIV}journal_ref")),
        categories=categories,
        published=extra.get("published_at"),
        updated=extra.get("updated_at"),
        url_abs=abs_url(arxiv_id),
        url_pdf=url_pdf or pdf_url(arxiv_id, version),
        withdrawn=is_withdrawn(comment),
        extra=extra,
    )


def parse_feed(page: Fetched) -> tuple[int | None, list[Paper | RecordError]]:
    """``(totalResults, records)`` of one API page; an error feed becomes a :class:`SourceError`."""
    root = page.xml()
    if root.tag != f"{ATOM}feed":
        raise SourceError(f"{page.url}: expected an Atom feed, got <{root.tag}>")
    entries = root.findall(f"{ATOM}entry")
    for entry in entries:
        if ERROR_ID.match(_text(entry, f"{ATOM}id") or ""):
            raise SourceError(f"{page.url}: arXiv API error: {squash(_text(entry, f'{ATOM}summary'))}")
    if page.status != 200:
        raise SourceError(f"{page.url}: HTTP {page.status}: {page.snippet()!r}")
    total_text = _text(root, f"{OPENSEARCH}totalResults")
    total = int(total_text) if total_text and total_text.strip().isdigit() else None
    records: list[Paper | RecordError] = []
    for n, entry in enumerate(entries, start=1):
        where = f"{page.url} entry {n}"
        try:
            records.append(entry_to_paper(entry))
        except ValidationError as exc:
            records.extend(RecordError.from_validation(where, None, exc))
        except ValueError as exc:
            records.append(RecordError(where, None, "id", str(exc)))
    return total, records


# --- fetching ---------------------------------------------------------------------------


def search(
    client: HttpClient,
    query: ArxivQuery,
    *,
    base_url: str,
    page_size: int = 100,
    limit: int | None = None,
    since: date | None = None,
) -> Iterator[Paper | RecordError]:
    """Every record matching ``query``, page by page, until an empty page or ``totalResults``."""
    params = query.params(since)
    if query.ids:
        page_size = max(page_size, len(query.ids))
    start = yielded = 0
    while limit is None or yielded < limit:
        size = page_size if limit is None else min(page_size, limit - yielded)
        page = client.get(base_url, params={**params, "start": start, "max_results": size}, ok=(200, 400))
        total, records = parse_feed(page)
        if not records:
            return
        for record in records:
            yield record
            yielded += 1
            if limit is not None and yielded >= limit:
                return
        start += len(records)
        if total is not None and start >= total:
            return


def sync(
    store: Store,
    client: HttpClient,
    query: ArxivQuery,
    *,
    base_url: str,
    full: bool = False,
    limit: int | None = None,
    on_item: Callable[[], None] | None = None,
) -> IngestReport:
    """Fetch ``query`` into the store; a category or search query only asks for papers
    submitted since the newest one a previous run stored (``full`` asks for everything)."""
    if not query.incremental:
        return ingest_stream(store, search(client, query, base_url=base_url, limit=limit), on_item=on_item)

    def fetch(since: str | None) -> Iterator[Paper | RecordError]:
        return search(client, query, base_url=base_url, limit=limit, since=date.fromisoformat(since) if since else None)

    return harvest(
        store,
        source=SOURCE,
        key=query.state_key(),
        fetch=fetch,
        cursor=lambda p: p.published.isoformat() if p.published else None,
        full=full,
        on_item=on_item,
    )
