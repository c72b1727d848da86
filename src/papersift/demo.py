"""The whole pipeline on the bundled sample: what ``make demo`` runs.

Ingest 35 real papers (abstracts of 2025 submissions, five per LLM sub-area) → enrich a few
with the configured LLM (the embedded engine by default, offline) → embed and search → publish
the catalog, the digest and a static site. Everything lands in one folder; running it again
reuses what is done (the store dedups, the LLM cache answers, embeddings are kept).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from .config import Settings
from .store import Store

SAMPLE = files("papersift") / "data" / "sample.jsonl"
QUERIES = ("思维链推理", "KV cache compression for long context")


@dataclass
class DemoReport:
    out: Path
    ingested: dict[str, int] = field(default_factory=dict)
    enrichment: dict[str, Any] = field(default_factory=dict)
    searches: dict[str, list[str]] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)


def _spread(store: Store, n: int) -> list[str]:
    """``n`` papers from different sub-areas, so the few cards show the range."""
    rows = store.conn.execute("SELECT id, subarea FROM papers ORDER BY rowid").fetchall()
    picked, seen = [], set()
    for paper_id, subarea in rows:
        if len(picked) < n and subarea not in seen:
            picked.append(paper_id)
            seen.add(subarea)
    return picked


def run_demo(out: Path, settings: Settings, *, enrich: int = 2, say: Callable[[str], None] = print) -> DemoReport:
    from .enrich.pipeline import enrich_papers
    from .publish import catalog as catalog_fmt
    from .publish import digest as digest_fmt
    from .publish.files import write_atomic
    from .publish.render import inline_assets
    from .publish.site import build_site
    from .search.embeddings import embed_store, get_embedder
    from .search.hybrid import search
    from .sources.base import ingest
    from .sources.files import read_jsonl

    report = DemoReport(out=out)
    out.mkdir(parents=True, exist_ok=True)
    lang = settings.llm.lang
    with Store(out / "papersift.db") as store:
        with as_file(SAMPLE) as path:  # the sample ships inside the package
            result = ingest(store, read_jsonl(path), where="bundled sample")
        report.ingested = {"new": result.new, "unchanged": result.unchanged, "papers": store.count()}
        say(f"1/4 ingest: {result.new} new, {result.unchanged} already stored ({store.count()} papers)")

        if enrich:
            model = settings.llm.model or (settings.llm.embedded_model if settings.llm.backend == "embedded" else "")
            say(f"2/4 enrich: {enrich} paper(s) with the {settings.llm.backend} LLM ({model}); "
                "the embedded model takes about a minute a paper on 2 cores")
            run = enrich_papers(store, settings, paper_ids=_spread(store, enrich),
                                progress=lambda r: say(f"    {r.done}/{r.total} done ({r.ok} ok, {r.flagged} flagged, {r.poor} poor, {r.failed} failed)"))
            report.enrichment = {k: v for k, v in run.as_dict().items() if k in ("ok", "flagged", "poor", "failed", "tokens_in", "tokens_out", "elapsed", "cache_hits", "failures")}
        else:
            say("2/4 enrich: skipped (--enrich 0)")

        embedder = get_embedder(settings)
        embedded = embed_store(store, embedder)
        say(f"3/4 embed and search: {embedded.embedded} embedded with {embedder.name}")
        for query in QUERIES:
            hits = search(store, query, limit=3, embedder=embedder)
            report.searches[query] = [h.paper.id for h in hits]
            say(f"    {query!r}: " + " | ".join(_headline(h.paper) for h in hits))

        catalog = catalog_fmt.build_catalog(store, lang, settings=settings)
        digest = digest_fmt.build_digest(store, lang, everything=True, settings=settings)
        report.outputs = {
            "catalog (Markdown)": write_atomic(out / "catalog.md", catalog_fmt.to_markdown(catalog)),
            "catalog (HTML)": write_atomic(out / "catalog.html", catalog_fmt.to_html(catalog, inline=inline_assets())),
            "digest (Markdown)": write_atomic(out / "digest.md", digest_fmt.to_markdown(digest)),
            "digest (RSS)": write_atomic(out / "digest.xml", digest_fmt.to_feed(digest)),
        }
        site = build_site(store, out / "site", lang, settings=settings)
        report.outputs["static site"] = site.out / "index.html"
        report.outputs["database"] = store.path
        say(f"4/4 publish: catalog, digest and a static site of {site.files} files")
    return report


def _headline(paper: Any) -> str:
    text = paper.title or paper.abstract or ""
    return text[:60] + ("…" if len(text) > 60 else "")
