"""Hugging Face daily papers: ``GET {hf_api_url}/daily_papers?date=YYYY-MM-DD``.

The answer is a JSON list; each item holds ``paper`` (``id`` is the arXiv id, ``title``,
``summary``, ``authors: [{name}]``, ``publishedAt``, ``upvotes``, ``ai_summary``,
``ai_keywords``, ``githubRepo``, ``projectPage``...) beside the listing's own fields
(``numComments``, ``submittedBy``, ``thumbnail``...). Community signals are kept in ``extra``;
the machine-made ``ai_keywords``/``ai_summary`` stay there too, never posing as the authors'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError

from ..models import Paper, split_arxiv_id
from ..store import Store
from .base import IngestReport, RecordError, SourceError, ingest_stream
from .http import HttpClient

SOURCE = "hf"
SITE = "https://huggingface.co"
MAPPED_PAPER = {"id", "title", "summary", "authors", "publishedAt", "githubRepo"}


def _squash(value: Any) -> Any:
    """Whitespace collapsed; anything but text is left for validation to name."""
    return " ".join(value.split()) if isinstance(value, str) else value


def item_to_paper(item: dict[str, Any], day: date) -> Paper:
    paper = item.get("paper")
    if not isinstance(paper, dict):
        raise ValueError("item has no 'paper' object")
    paper_id = str(paper.get("id") or "").strip()
    if not paper_id:
        raise ValueError("paper has no id")
    try:
        arxiv_id, version = split_arxiv_id(paper_id)
    except ValueError:
        arxiv_id, version = None, None  # HF also lists papers that are not on arXiv
    extra: dict[str, Any] = {k: v for k, v in paper.items() if k not in MAPPED_PAPER}
    # the listing's own fields; its title/summary repeat the paper's and only fill gaps
    extra.update({k: v for k, v in item.items() if k not in ("paper", "title", "summary", "publishedAt")})
    extra["daily_date"] = day.isoformat()
    if item.get("publishedAt"):
        extra["listed_at"] = item["publishedAt"]
    listed = paper.get("authors") or []
    if not isinstance(listed, list):
        raise ValueError(f"authors is not a list: {listed!r:.60}")
    authors = [a.get("name") if isinstance(a, dict) else a for a in listed]
    return Paper(
        source=SOURCE,
        source_id=paper_id,
        arxiv_id=arxiv_id,
        version=version,
        title=_squash(paper.get("title") or item.get("title")),
        authors=[a for a in authors if isinstance(a, str) and a.strip()],
        abstract=_squash(paper.get("summary") or item.get("summary")),
        published=paper.get("publishedAt"),
        url_abs=f"{SITE}/papers/{paper_id}",
        url_pdf=f"https://arxiv.org/pdf/{arxiv_id}" if arxiv_id else None,
        url_code=paper.get("githubRepo") or None,
        extra=extra,
    )


def daily(client: HttpClient, day: date, *, base_url: str) -> Iterator[Paper | RecordError]:
    """The papers listed on ``day``."""
    page = client.get(base_url.rstrip("/") + "/daily_papers", params={"date": day.isoformat()})
    data = page.json()
    if isinstance(data, dict) and "error" in data:
        raise SourceError(f"{page.url}: Hugging Face error: {data['error']}")
    if not isinstance(data, list):
        raise SourceError(f"{page.url}: expected a JSON list of papers, got {type(data).__name__}")
    for n, item in enumerate(data, start=1):
        where = f"{page.url} item {n}"
        try:
            if not isinstance(item, dict):
                raise ValueError(f"expected an object, got {type(item).__name__}")
            yield item_to_paper(item, day)
        except ValidationError as exc:
            yield from RecordError.from_validation(where, None, exc)
        except ValueError as exc:
            yield RecordError(where, None, "paper", str(exc))


def sync(
    store: Store,
    client: HttpClient,
    day: date,
    *,
    base_url: str,
    full: bool = False,
    on_item: Callable[[], None] | None = None,
    today: Callable[[], date] = lambda: datetime.now(UTC).date(),
) -> IngestReport | None:
    """Fetch one day's list; a day already fetched after it ended is skipped (None) unless ``full``.

    Today's list still grows, so it is fetched again on every run until the day is over.
    """
    key = day.isoformat()
    if not full and store.get_state(SOURCE, key) == "complete":
        return None
    report = ingest_stream(store, daily(client, day, base_url=base_url), on_item=on_item)
    if day < today():
        store.set_state(SOURCE, key, "complete")
    return report
