"""The whole pipeline on one real day of papers: what ``make demo`` runs.

Ingest the 19 papers of a reference daily digest of May 2025 (arXiv metadata: title, authors,
first-version date, link, abstract) → file them under the taxonomy's sub-areas with a classifier
trained on the 35 labelled sample abstracts → enrich a few with the configured LLM (the embedded
engine by default, offline) → embed and search → publish the catalog, the digest and a static
site. Everything lands in one folder; running it again reuses what is done (the store dedups,
the LLM cache answers, embeddings and the trained classifier are kept).

The labelled sample trains the classifier but is never stored: its records carry no title, link
or date, and would read （无标题） in every publication.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .classify.pipeline import classify_store, examples_for
from .config import Settings
from .enrich.pipeline import enrich_papers
from .labels import labels
from .models import READING_FIELDS, Paper
from .publish import catalog as catalog_fmt
from .publish import digest as digest_fmt
from .publish.render import inline_assets
from .publish.site import build_site
from .search.embeddings import embed_store, get_embedder
from .search.hybrid import search
from .sources.base import SourceError, ingest
from .sources.files import read_jsonl
from .store import Store
from .taxonomy import load_taxonomy

DATA = files("papersift") / "data"
PAPERS = DATA / "trending-2025-05.jsonl"  # what the demo publishes
LABELLED = DATA / "sample.jsonl"  # what its classifier learns from: abstracts with their sub-area
QUERIES = ("思维链推理", "sparse attention for long context")
STEPS = 5


@dataclass
class DemoReport:
    out: Path
    ingested: dict[str, int] = field(default_factory=dict)
    classified: dict[str, Any] = field(default_factory=dict)
    enrichment: dict[str, Any] = field(default_factory=dict)
    searches: dict[str, list[str]] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)


def _spread(store: Store, n: int) -> list[str]:
    """``n`` papers from different sub-areas, so the few cards show the range."""
    picked, seen = [], set()
    for paper_id, subarea in store.subareas():
        if len(picked) < n and subarea not in seen:
            picked.append(paper_id)
            seen.add(subarea)
    return picked


def _read_bundled(resource, where: str) -> list[Paper]:
    """The papers of a JSONL file shipped in the package; a bad record is a bug, so it raises."""

    with as_file(resource) as path:
        items = list(read_jsonl(path))
    errors = [str(item) for item in items if not isinstance(item, Paper)]
    if errors:
        raise SourceError(f"{where}: " + "; ".join(errors))
    return items


def run_demo(out: Path, settings: Settings, *, enrich: int = 2, say: Callable[[str], None] = print) -> DemoReport:

    report = DemoReport(out=out)
    out.mkdir(parents=True, exist_ok=True)
    lang = settings.llm.lang
    with Store(out / "papersift.db") as store:
        papers = _read_bundled(PAPERS, "bundled papers")
        result = ingest(store, papers, where="bundled papers")
        days = sorted({p.published for p in papers if p.published})
        report.ingested = {"new": result.new, "unchanged": result.unchanged, "papers": store.count()}
        say(
            f"1/{STEPS} ingest: {len(papers)} arXiv papers first posted {days[0]}…{days[-1]}: "
            f"{result.new} new, {result.unchanged} already stored ({store.count()} papers)"
        )

        embedder = get_embedder(settings)
        labelled = _read_bundled(LABELLED, "bundled labelled sample")
        training = examples_for(None, labelled, embedder, [p.topic.subarea for p in labelled])
        classified = classify_store(store, load_taxonomy(settings), embedder, training=training)
        report.classified = {
            "papers": classified.classified,
            "trained_on": len(labelled),
            "model": classified.model.get("bases"),
        }
        say(
            f"2/{STEPS} classify: {classified.classified} papers filed under sub-areas by a classifier "
            f"trained on {len(labelled)} labelled abstracts"
        )

        if enrich:
            model = settings.llm.model or (settings.llm.embedded_model if settings.llm.backend == "embedded" else "")
            say(
                f"3/{STEPS} enrich: {enrich} paper(s) with the {settings.llm.backend} LLM ({model}); "
                "the embedded model takes about a minute a paper on 2 cores"
            )
            run = enrich_papers(
                store,
                settings,
                paper_ids=_spread(store, enrich),
                progress=lambda r: say(
                    f"    {r.done}/{r.total} done ({r.ok} ok, {r.flagged} flagged, {r.poor} poor, {r.failed} failed)"
                ),
            )
            report.enrichment = {
                k: v
                for k, v in run.as_dict().items()
                if k
                in ("ok", "flagged", "poor", "failed", "tokens_in", "tokens_out", "elapsed", "cache_hits", "failures")
            }
            for line in card_lines(store, _spread(store, enrich), lang):
                say(line)
        else:
            say(f"3/{STEPS} enrich: skipped (--enrich 0)")

        embedded = embed_store(store, embedder)  # the enriched papers again, with their translated title and TL;DR
        say(
            f"4/{STEPS} embed and search: {embedded.embedded} embedded, {embedded.unchanged} unchanged ({embedder.name})"
        )
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
        say(f"5/{STEPS} publish: catalog, digest and a static site of {site.files} files")
    return report


def card_lines(store: Store, paper_ids: list[str], lang: str) -> list[str]:
    """One finished card as the terminal shows it: the first ``ok`` one of these papers, else the
    first with a card, with its status and, if it was held back, why."""

    enriched = [(pid, e) for pid in paper_ids if (e := store.enrichment(pid, lang)) and e.card]
    if not enriched:
        return []
    paper_id, enrichment = next(((p, e) for p, e in enriched if e.status == "ok"), enriched[0])
    card, names = enrichment.card, labels(lang)
    lines = ["", f"    {store.get(paper_id).title}", f"    {card.title}", f"    TL;DR: {card.tldr}"]
    lines += [f"    {names[f]}: {getattr(card.reading, f)}" for f in READING_FIELDS]
    lines += [f"    #{' #'.join(card.keywords)}", f"    status: {enrichment.status}"]
    lines += [f"      {reason}" for reason in enrichment.reasons[:5]]
    return lines + [""]


def _headline(paper: Any) -> str:
    text = paper.title or paper.abstract or ""
    return text[:60] + ("…" if len(text) > 60 else "")
