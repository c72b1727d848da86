"""arXiv's OAI-PMH interface: bulk harvests with ``ListRecords`` and resumption tokens.

Each page is stream-parsed (``iterparse``, every record freed once read), so memory stays
flat however long the harvest. ``noRecordsMatch`` is an empty harvest, not an error; a
deleted record (``<header status="deleted">``) marks the stored paper withdrawn.
Formats: ``arXivRaw`` (every version with its date) and ``arXiv`` (structured authors).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree.ElementTree import Element

from pydantic import ValidationError

from ..models import Paper, abs_url, pdf_url, split_arxiv_id
from ..store import Store
from .arxiv import is_withdrawn, squash
from .base import IngestReport, RecordError, SourceError
from .harvest import harvest
from .http import Fetched, HttpClient

OAI = "{http://www.openarchives.org/OAI/2.0/}"
NAMESPACES = {"arXivRaw": "{http://arxiv.org/OAI/arXivRaw/}", "arXiv": "{http://arxiv.org/OAI/arXiv/}"}
FORMATS = tuple(NAMESPACES)
SOURCE = "arxiv-oai"
IDENTIFIER_PREFIX = re.compile(r"^oai:arXiv\.org:", re.I)
# Fields mapped onto Paper; every other metadata element is kept in ``extra`` under its own name.
MAPPED = {"id", "title", "abstract", "authors", "categories", "doi", "journal-ref", "version", "created", "updated"}


@dataclass(frozen=True)
class Deleted:
    """An OAI record the repository has deleted: the paper is withdrawn."""

    arxiv_id: str
    datestamp: str | None


@dataclass
class OaiPage:
    records: list[Paper | RecordError | Deleted] = field(default_factory=list)
    token: str | None = None
    complete_size: int | None = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def split_authors(authors: str) -> tuple[list[str], dict[str, list[str]]]:
    """arXivRaw's author string ("A, B (MIT) and C") as names, and the affiliations given in parentheses."""
    names, affiliations = [], {}
    for part in _split_top_level(authors):
        name = " ".join(re.sub(r"\([^()]*(?:\([^()]*\)[^()]*)*\)", " ", part).split())
        affs = [" ".join(a.split()) for a in re.findall(r"\(([^()]*(?:\([^()]*\)[^()]*)*)\)", part)]
        if name:
            names.append(name)
            if affs:
                affiliations[name] = affs
    return names, affiliations


def _split_top_level(authors: str) -> list[str]:
    """Split on commas and "and" outside parentheses."""
    names, current, depth = [], "", 0
    tokens = re.split(r"(\(|\)|,|\s+and\s+)", " ".join(authors.split()))
    for token in tokens:
        if token == "(":
            depth += 1
        elif token == ")":
            depth = max(0, depth - 1)
        if depth == 0 and (token == "," or re.fullmatch(r"\s+and\s+", token or "")):
            names.append(current)
            current = ""
        else:
            current += token
    names.append(current)
    return [n.strip() for n in names if n.strip()]


RFC2822_DAY = re.compile(r"^(?:\w{3},\s*)?(\d{1,2})\s+(\w{3})\s+(\d{4})\b")
MONTHS = {
    m: n for n, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}


def _rfc2822_date(value: str | None) -> date | None:
    """The day of "Mon, 6 Jan 2025 18:59:59 GMT" (arXiv stamps versions in GMT)."""
    m = RFC2822_DAY.match(value.strip()) if value else None
    if m and m[2].lower() in MONTHS:
        try:
            return date(int(m[3]), MONTHS[m[2].lower()], int(m[1]))
        except ValueError:
            return None
    try:  # anything else RFC 2822 allows
        return parsedate_to_datetime(value).date() if value else None
    except (TypeError, ValueError):
        return None


def _doi(value: str | None, extra: dict[str, Any]) -> str | None:
    if value and " " in value:  # several DOIs: the first is the key, all are kept
        extra["dois"] = value.split()
        return value.split()[0]
    return value


def raw_to_paper(meta: Element, header: dict[str, Any]) -> Paper:
    """An ``arXivRaw`` record: the version list gives the version, first and latest dates."""
    ns = NAMESPACES["arXivRaw"]
    get = lambda name: squash(meta.findtext(ns + name))  # noqa: E731
    arxiv_id = split_arxiv_id(get("id") or "")[0]
    versions = []
    for v in meta.findall(ns + "version"):
        number = re.sub(r"\D", "", v.get("version", "")) or None
        versions.append(
            {
                "version": int(number) if number else None,
                "date": get_text(v, ns + "date"),
                "size": get_text(v, ns + "size"),
                "source_type": get_text(v, ns + "source_type"),
            }
        )
    numbered = [v for v in versions if v["version"] is not None]
    latest = max(numbered, key=lambda v: v["version"]) if numbered else None
    first = min(numbered, key=lambda v: v["version"]) if numbered else None
    extra = {**header, **_unmapped(meta), "versions": versions}
    authors, affiliations = split_authors(meta.findtext(ns + "authors") or "")
    if affiliations:
        extra["affiliations"] = affiliations
    version = latest["version"] if latest else None
    return _paper(
        arxiv_id,
        get,
        authors,
        extra,
        version=version,
        published=_rfc2822_date(first["date"]) if first else None,
        updated=_rfc2822_date(latest["date"]) if latest and latest is not first else None,
        url_pdf=pdf_url(arxiv_id, version),
    )


def arxiv_to_paper(meta: Element, header: dict[str, Any]) -> Paper:
    """An ``arXiv`` record: structured authors with affiliations, created/updated dates."""
    ns = NAMESPACES["arXiv"]
    get = lambda name: squash(meta.findtext(ns + name))  # noqa: E731
    arxiv_id = split_arxiv_id(get("id") or "")[0]
    authors, affiliations = [], {}
    for author in meta.iterfind(f"{ns}authors/{ns}author"):
        parts = [get_text(author, ns + p) for p in ("forenames", "keyname", "suffix")]
        name = " ".join(p for p in parts if p)
        if not name:
            continue
        authors.append(name)
        affs = [a.text.strip() for a in author.findall(ns + "affiliation") if a.text and a.text.strip()]
        if affs:
            affiliations[name] = affs
    extra = {**header, **_unmapped(meta)}
    if affiliations:
        extra["affiliations"] = affiliations
    return _paper(
        arxiv_id, get, authors, extra, published=get("created"), updated=get("updated"), url_pdf=pdf_url(arxiv_id)
    )


def _paper(
    arxiv_id: str, get: Callable[[str], str | None], authors: list[str], extra: dict[str, Any], **dated: Any
) -> Paper:
    """The fields both metadata formats give alike; ``dated`` holds what differs (version, dates, PDF link)."""
    return Paper(
        source=SOURCE,
        source_id=arxiv_id,
        arxiv_id=arxiv_id,
        doi=_doi(get("doi"), extra),
        title=get("title"),
        authors=authors,
        abstract=get("abstract"),
        venue=get("journal-ref"),
        categories=(get("categories") or "").split(),
        url_abs=abs_url(arxiv_id),
        withdrawn=is_withdrawn(extra.get("comments")),
        extra=extra,
        **dated,
    )


def get_text(elem: Element, tag: str) -> str | None:
    return squash(elem.findtext(tag))


def _unmapped(meta: Element) -> dict[str, Any]:
    return {
        _local(child.tag): squash(child.text)
        for child in meta
        if _local(child.tag) not in MAPPED and squash(child.text)
    }


PARSERS: dict[str, Callable[[Element, dict[str, Any]], Paper]] = {
    NAMESPACES["arXivRaw"] + "arXivRaw": raw_to_paper,
    NAMESPACES["arXiv"] + "arXiv": arxiv_to_paper,
}


def _record(record: Element, where: str) -> list[Paper | RecordError | Deleted]:
    head = record.find(f"{OAI}header")
    if head is None:
        return [RecordError(where, None, "header", "record without a header")]
    identifier = (head.findtext(f"{OAI}identifier") or "").strip()
    datestamp = (head.findtext(f"{OAI}datestamp") or "").strip() or None
    where = f"{where} {identifier or '(no identifier)'}"
    try:
        arxiv_id = split_arxiv_id(IDENTIFIER_PREFIX.sub("", identifier))[0]
    except ValueError as exc:
        return [RecordError(where, None, "identifier", str(exc))]
    if head.get("status") == "deleted":
        return [Deleted(arxiv_id, datestamp)]
    header = {
        "oai_identifier": identifier,
        "oai_datestamp": datestamp,
        "oai_sets": [s.text.strip() for s in head.findall(f"{OAI}setSpec") if s.text],
    }
    metadata = record.find(f"{OAI}metadata")
    meta = next(iter(metadata), None) if metadata is not None else None
    if meta is None or meta.tag not in PARSERS:
        return [
            RecordError(
                where, None, "metadata", f"no arXivRaw or arXiv metadata ({meta.tag if meta is not None else 'none'})"
            )
        ]
    try:
        return [PARSERS[meta.tag](meta, header)]
    except ValidationError as exc:
        return list(RecordError.from_validation(where, None, exc))
    except ValueError as exc:
        return [RecordError(where, None, "id", str(exc))]


def parse_page(page: Fetched) -> OaiPage:
    """One ``ListRecords`` response; OAI errors other than ``noRecordsMatch`` raise."""
    result = OaiPage()
    errors = []
    for elem in page.iterxml({f"{OAI}record", f"{OAI}error", f"{OAI}resumptionToken"}):
        if elem.tag == f"{OAI}record":
            result.records.extend(_record(elem, page.url))
        elif elem.tag == f"{OAI}error":
            errors.append((elem.get("code", "unknown"), squash(elem.text) or ""))
        else:
            result.token = (elem.text or "").strip() or None  # an empty token ends the list
            size = elem.get("completeListSize", "")
            result.complete_size = int(size) if size.isdigit() else None
    for code, message in errors:
        if code == "noRecordsMatch":
            continue
        hint = (
            " (the token expired or was never issued; start the harvest again)" if code == "badResumptionToken" else ""
        )
        raise SourceError(f"{page.url}: OAI-PMH error {code}: {message}{hint}")
    if page.status != 200 and not errors:
        raise SourceError(f"{page.url}: HTTP {page.status}: {page.snippet()!r}")
    return result


def list_records(
    client: HttpClient,
    *,
    base_url: str,
    metadata_prefix: str = "arXivRaw",
    set_spec: str | None = None,
    date_from: str | None = None,
    date_until: str | None = None,
) -> Iterator[Paper | RecordError | Deleted]:
    """Every record of a ``ListRecords`` harvest, following resumption tokens to the end."""
    if metadata_prefix not in FORMATS:
        raise SourceError(f"unknown OAI metadata format {metadata_prefix!r}; use one of {', '.join(FORMATS)}")
    params: dict[str, str] = {"verb": "ListRecords", "metadataPrefix": metadata_prefix}
    for name, value in (("set", set_spec), ("from", date_from), ("until", date_until)):
        if value:
            params[name] = value
    while True:
        page = parse_page(client.get(base_url, params=params, ok=(200, 400)))
        yield from page.records
        if not page.token:
            return
        params = {"verb": "ListRecords", "resumptionToken": page.token}


def withdraw_deleted(store: Store, items: Iterator[Paper | RecordError | Deleted]) -> Iterator[Paper | RecordError]:
    """Turn each deleted record into a withdrawn record of the stored paper (unknown ones are skipped)."""
    for item in items:
        if not isinstance(item, Deleted):
            yield item
            continue
        try:
            paper = store.get(store.resolve(f"arxiv:{item.arxiv_id}"))
        except KeyError:
            continue
        yield paper.model_copy(
            update={
                "id": None,
                "source": SOURCE,
                "source_id": item.arxiv_id,
                "withdrawn": True,
                "extra": {"oai_status": "deleted", "oai_datestamp": item.datestamp},
            }
        )


def sync(
    store: Store,
    client: HttpClient,
    *,
    base_url: str,
    metadata_prefix: str = "arXivRaw",
    set_spec: str | None = None,
    date_from: str | None = None,
    date_until: str | None = None,
    full: bool = False,
    on_item: Callable[[], None] | None = None,
) -> IngestReport:
    """Harvest into the store; without ``full`` start from the last datestamp a previous run saw."""
    key = json.dumps({"set": set_spec, "format": metadata_prefix, "until": date_until}, sort_keys=True)

    def fetch(since: str | None) -> Iterator[Paper | RecordError]:
        start = max((d for d in (date_from, since) if d), default=None)
        records = list_records(
            client,
            base_url=base_url,
            metadata_prefix=metadata_prefix,
            set_spec=set_spec,
            date_from=start,
            date_until=date_until,
        )
        return withdraw_deleted(store, records)

    return harvest(
        store,
        source=SOURCE,
        key=key,
        fetch=fetch,
        cursor=lambda p: p.extra.get("oai_datestamp"),
        full=full,
        on_item=on_item,
    )
