"""The stats, digest index and about pages' data: counts, rising keywords, the LLM and what it cost."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

from ..config import Settings
from ..store import Store


class Count(BaseModel):
    key: str
    label: str | None = None
    count: int


class RisingKeyword(BaseModel):
    keyword: str
    recent: int
    before: int
    ratio: float


class Stats(BaseModel):
    papers: int
    newest: date | None
    by_subarea: list[Count]
    by_day: list[Count]
    rising: list[RisingKeyword]
    enrichments: list[Count]


def day_counts(store: Store, limit: int = 90) -> list[Count]:
    """Papers per day (the published date, else the day stored), newest first."""
    days = store.day_counts(limit)
    return [Count(key=d, count=days[d]) for d in sorted(days, reverse=True)[:limit]]


def rising_keywords(
    store: Store, lang: str, newest: date, window: int = 30, limit: int = 15, min_recent: int = 3
) -> list[RisingKeyword]:
    """Keywords most over-represented in the last ``window`` days against the ``window`` before
    (add-one smoothed ratio); the window ends at the newest paper, not today, so an old catalog has one too."""
    mid = (newest - timedelta(days=window)).isoformat()
    start = (newest - timedelta(days=2 * window)).isoformat()
    recent = store.keyword_counts(lang, mid, newest.isoformat())
    before = store.keyword_counts(lang, start, mid)
    rows = [(k, r, before.get(k, 0)) for k, r in recent.items()]
    rising = [
        RisingKeyword(keyword=k, recent=r, before=b, ratio=round((r + 1) / (b + 1), 2))
        for k, r, b in rows
        if r >= min_recent
    ]
    rising.sort(key=lambda x: (-x.ratio, -x.recent, x.keyword))
    return rising[:limit]


def stats(store: Store, lang: str, labeller) -> Stats:
    newest = store.newest_published()
    newest = date.fromisoformat(newest) if newest else None
    by_subarea = [Count(key=s or "", label=labeller.label(s), count=n) for s, n in store.subarea_counts()]
    enrichments = [Count(key=s, count=n) for s, n in store.enrichment_counts(lang).items()]
    return Stats(
        papers=store.count(),
        newest=newest,
        by_subarea=by_subarea,
        by_day=list(reversed(day_counts(store))),
        rising=rising_keywords(store, lang, newest) if newest else [],
        enrichments=enrichments,
    )


# --- about: the configured LLM and what it cost ----------------------------------------------------


def public_url(url: str | None) -> str | None:
    """A URL fit to show: no user, password, query or fragment (where keys tend to hide)."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class ModelCost(BaseModel):
    backend: str | None
    model: str | None
    calls: int
    errors: int
    tokens_in: int
    tokens_out: int
    tokens_reasoning: int
    cost: float | None
    seconds: float


class RunCost(BaseModel):
    id: int
    kind: str
    status: str
    started_at: str
    finished_at: str | None
    calls: int
    tokens_in: int
    tokens_out: int
    cost: float | None


class About(BaseModel):
    llm: dict[str, Any]
    embedding: dict[str, Any]
    by_model: list[ModelCost]
    runs: list[RunCost]
    total_cost: float | None


def about(store: Store, settings: Settings) -> About:
    llm = settings.llm
    by_model = [
        ModelCost(
            backend=b,
            model=m,
            calls=c,
            errors=e,
            tokens_in=ti,
            tokens_out=to,
            tokens_reasoning=tr,
            cost=cost,
            seconds=round(s, 1),
        )
        for b, m, c, e, ti, to, tr, cost, s in store.llm_cost_by_model()
    ]
    runs = [
        RunCost(id=i, kind=k, status=st, started_at=sa, finished_at=fa, calls=c, tokens_in=ti, tokens_out=to, cost=cost)
        for i, k, st, sa, fa, c, ti, to, cost in store.run_costs(limit=30)
    ]
    costs = [m.cost for m in by_model if m.cost is not None]
    return About(
        llm={
            "backend": llm.backend,
            "model": llm.model or (llm.embedded_model if llm.backend == "embedded" else None),
            "base_url": public_url(llm.base_url),
            "lang": llm.lang,
            "thinking": llm.thinking,
            "concurrency": llm.concurrency,
            "api_key": "set" if llm.api_key else "not set",
        },
        embedding={
            "backend": settings.embedding.backend,
            "model": settings.embedding.model or ("use-m3" if settings.embedding.backend == "use" else None),
            "base_url": public_url(settings.embedding.base_url),
        },
        by_model=by_model,
        runs=runs,
        total_cost=round(sum(costs), 6) if costs else None,
    )
