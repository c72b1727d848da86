"""Any RSS or Atom feed, read with feedparser; arXiv's listing feeds are recognised.

arXiv's feeds (``https://rss.arxiv.org/rss/cs.CL``) carry the id in the link and the guid
(``oai:arXiv.org:2501.01234v1``) and prefix the description with
``arXiv:2501.01234v1 Announce Type: new Abstract: ...``; those entries get their arXiv id,
version and a clean abstract, so they merge with the same paper from the API or OAI-PMH.
The feed is fetched through the HTTP layer (size cap, retries), with ``ETag`` and
``Last-Modified`` remembered so an unchanged feed costs one 304.
"""

from __future__ import annotations

import codecs
import html
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as safe_xml
import feedparser
from defusedxml import DefusedXmlException
from pydantic import ValidationError

from ..models import Paper, split_arxiv_id
from ..store import Store
from .arxiv import id_from_url, is_withdrawn
from .base import IngestReport, RecordError, SourceError, ingest_stream
from .http import Fetched, HttpClient

SOURCE = "rss"
XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding=["']([\w.-]+)""", re.I)
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # the UTF-32 ones begin with these
ARXIV_GUID = re.compile(r"^oai:arXiv\.org:(?P<id>.+)$", re.I)
ARXIV_PREAMBLE = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?", re.I)
TAG = re.compile(r"<[^>]+>")
MAPPED = {
    "id",
    "guid",
    "title",
    "link",
    "summary",
    "description",
    "authors",
    "author",
    "published",
    "updated",
    "tags",
    "dc_creator",
    "title_detail",
    "summary_detail",
    "author_detail",
    "links",
    "guidislink",
}


def _plain(text: str | None) -> str | None:
    """Feed HTML as plain text (LaTeX and other text untouched)."""
    if not text:
        return None
    return " ".join(html.unescape(TAG.sub(" ", text)).split()) or None


def _arxiv_of(entry: dict[str, Any]) -> tuple[str, int | None] | None:
    for value in (entry.get("id"), entry.get("guid")):
        m = ARXIV_GUID.match(value or "")
        if m:
            try:
                return split_arxiv_id(m["id"])
            except ValueError:
                pass
    for value in (entry.get("link"), entry.get("id")):
        try:
            return id_from_url(value or "")
        except ValueError:
            continue
    return None


def _date(entry: dict[str, Any], name: str) -> str | None:
    # dict.get: FeedParserDict.get would quietly answer "updated" with the published date
    parsed = dict.get(entry, f"{name}_parsed")
    return time.strftime("%Y-%m-%d", parsed) if parsed else None


def _authors(entry: dict[str, Any]) -> list[str]:
    creator = entry.get("dc_creator") or entry.get("author")
    if creator and not entry.get("authors", [{}])[1:]:
        # arXiv puts every author in one dc:creator, comma-separated
        return [a.strip() for a in re.split(r",\s*|\s+and\s+", _plain(creator) or "") if a.strip()]
    return [a["name"] for a in entry.get("authors", []) if a.get("name")]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def entry_to_paper(entry: dict[str, Any], feed_url: str, feed_title: str | None) -> Paper:
    extra: dict[str, Any] = {
        k: _jsonable(v) for k, v in entry.items() if k not in MAPPED and not k.endswith(("_parsed", "_detail"))
    }
    extra["feed"] = feed_url
    if feed_title:
        extra["feed_title"] = feed_title
    abstract = _plain(entry.get("summary") or entry.get("description"))
    found = _arxiv_of(entry)
    arxiv_id, version = found if found else (None, None)
    if arxiv_id and abstract:
        m = ARXIV_PREAMBLE.match(abstract)
        if m:
            extra["announce_type"] = m["type"]
            abstract = abstract[m.end() :] or None
    links = [link for link in entry.get("links", []) if link.get("href")]
    pdf = next((link["href"] for link in links if link.get("type") == "application/pdf"), None)
    return Paper(
        source=SOURCE,
        source_id=arxiv_id or entry.get("id") or entry.get("link"),
        arxiv_id=arxiv_id,
        version=version,
        title=_plain(entry.get("title")),
        authors=_authors(entry),
        abstract=abstract,
        categories=[t["term"] for t in entry.get("tags", []) if t.get("term")],
        published=_date(entry, "published"),
        updated=_date(entry, "updated"),
        url_abs=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else entry.get("link"),
        url_pdf=pdf or (f"https://arxiv.org/pdf/{arxiv_id}" + (f"v{version}" if version else "") if arxiv_id else None),
        withdrawn=is_withdrawn(abstract) if arxiv_id else False,
        extra=extra,
    )


def _utf8_repaired(content: bytes) -> bytes:
    """A UTF-8 feed (declared, or by default) with its few invalid bytes replaced by U+FFFD.

    Given one invalid byte, feedparser reads the whole document in another encoding instead,
    which silently garbles every accented or Chinese name in it.
    """
    declared = XML_ENCODING.match(content)
    if content.startswith(UTF16_BOMS) or (declared and declared[1].lower() not in (b"utf-8", b"utf8")):
        return content
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("utf-8", "replace").encode("utf-8")
    return content


def parse_feed(page: Fetched) -> Iterator[Paper | RecordError]:
    """The entries of a fetched feed; something that is not a feed is a clear error."""
    page.check_xml()
    # feedparser resolves no external entities, but an internal entity bomb (declared in a
    # DOCTYPE) is refused here first
    if b"<!DOCTYPE" in page.content:
        try:
            safe_xml.fromstring(page.content)
        except DefusedXmlException as exc:
            raise SourceError(f"{page.url}: refused hostile XML ({exc})") from exc
        except (ParseError, LookupError):
            pass  # feedparser is lenient with sloppy feeds; it judges those itself below
    # a stream, never the bytes: feedparser reads a bytes argument that looks like a path or a
    # URL as one, so a body "/home/me/notes.xml" would import a local file
    try:
        feed = feedparser.parse(
            io.BytesIO(_utf8_repaired(page.content)), response_headers={"content-location": page.url}
        )
    except (ValueError, LookupError) as exc:  # feedparser trips over a garbled encoding declaration
        raise SourceError(f"{page.url}: not a readable RSS/Atom feed ({exc})") from exc
    if not feed.entries and feed.bozo:
        raise SourceError(f"{page.url}: not a readable RSS/Atom feed ({feed.bozo_exception})")
    title = feed.feed.get("title")
    for n, entry in enumerate(feed.entries, start=1):
        where = f"{page.url} entry {n}"
        try:
            yield entry_to_paper(entry, page.url, title)
        except ValidationError as exc:
            yield from RecordError.from_validation(where, None, exc)


def sync(
    store: Store,
    client: HttpClient,
    url: str,
    *,
    full: bool = False,
    on_item: Callable[[], None] | None = None,
) -> IngestReport:
    """Read a feed into the store, asking only for a changed feed (ETag/Last-Modified) unless ``full``."""
    saved = {} if full else json.loads(store.get_state(SOURCE, url) or "{}")
    headers = {}
    if saved.get("etag"):
        headers["If-None-Match"] = saved["etag"]
    if saved.get("last_modified"):
        headers["If-Modified-Since"] = saved["last_modified"]
    page = client.get(url, headers=headers, ok=(200, 304))
    if page.status == 304:
        return IngestReport()
    report = ingest_stream(store, parse_feed(page), on_item=on_item)
    validators = {"etag": page.headers.get("etag"), "last_modified": page.headers.get("last-modified")}
    if any(validators.values()):
        store.set_state(SOURCE, url, json.dumps(validators))
    return report
