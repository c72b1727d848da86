"""``papersift papers list|show``, ``stats`` and ``export``: read what the store holds."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text  # a title is text, never markup

from .. import export as exporting
from ..atomic import atomic_path
from . import common
from . import ingest as ingest_cli

papers_app = typer.Typer(cls=common.Commands, help="List and show stored papers.", no_args_is_help=True)


@papers_app.command("list")
def list_papers(
    limit: int = typer.Option(50, "--limit", "-n", help="At most this many papers."),
    subarea: str = typer.Option(None, "--subarea", help="Only papers in this sub-area (key)."),
    source: str = typer.Option(None, "--source", help="Only papers first seen from this source."),
    flagged: bool = typer.Option(
        False, "--flagged", help="Only papers whose enrichment failed the faithfulness guard."
    ),
    poor: bool = typer.Option(
        False,
        "--poor",
        help="Only papers whose card failed the quality gate (repeated, cut-off or badly sized fields...).",
    ),
    failed: bool = typer.Option(False, "--failed", help="Only papers whose enrichment failed."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """List papers, newest first."""
    statuses = [status for wanted, status in ((flagged, "flagged"), (poor, "poor"), (failed, "failed")) if wanted]
    with common.open_store() as store:
        papers = store.newest_papers(limit, subarea=subarea, source=source, enrichment_statuses=statuses)
        if as_json:
            common.print_json([exporting.paper_document(store, p) for p in papers])
            return
        titles = common.shown_titles(store, papers)
    if not papers:
        common.console.print(
            f"no papers in {common.settings().db}{' with these filters' if statuses or subarea or source else ''}"
        )
        return
    table = Table("id", "published", "sub-area", "title")
    for p in papers:
        table.add_row(p.id, str(p.published or ""), p.topic.subarea if p.topic else "", Text(titles[p.id]))
    common.Console().print(table)


@papers_app.command("show")
def show_paper(
    ref: str = typer.Argument(..., help="A paper id, arXiv id, DOI or OpenReview id."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Show everything stored for one paper."""
    with common.open_store() as store:
        try:
            paper = store.get(store.resolve(ref))
        except KeyError:
            common.fail(f"no paper {ref!r} in {store.path}")
        doc = exporting.paper_document(store, paper)
    if as_json:
        common.print_json(doc)
        return
    out = common.Console()
    out.print(f"[bold]{paper.title or '(untitled)'}[/]  [dim]{paper.id}[/]")
    for label, value in (
        ("authors", ", ".join(paper.authors)),
        ("published", paper.published),
        ("venue", paper.venue),
        ("keywords", ", ".join(paper.keywords)),
        ("topic", paper.topic and f"{paper.topic.area} › {paper.topic.subarea}"),
        ("link", paper.url_abs),
        ("sources", ", ".join(f"{s['source']}:{s['source_id']}" for s in doc["sources"])),
    ):
        if value:
            out.print(f"[cyan]{label}:[/] {value}", highlight=False)
    if paper.tldr:
        out.print(f"[cyan]TL;DR:[/] {paper.tldr}", highlight=False)
    lang = common.settings().llm.lang
    if card := exporting.card_markdown(doc, lang):
        from rich.markdown import Markdown

        out.print(Markdown(card.rstrip()))
    enrichment = (doc.get("enrichment") or {}).get(lang)
    if enrichment and enrichment["status"] != "ok":
        out.print(f"\n[yellow]{enrichment['status']}:[/]", highlight=False)
        for reason in enrichment.get("reasons") or []:
            out.print(f"  - {reason}", highlight=False, markup=False)
    if paper.abstract:
        out.print("\n" + paper.abstract, highlight=False, markup=False)


def stats(as_json: bool = common.JSON_OPTION) -> None:
    """Counts by source, label and month, what holds the vectors for search (with its memory) and
    what answers the words of a query (FTS5, or the lexical index beside a large store)."""
    from ..search.embeddings import embedder_name
    from ..search.index import index_summary
    from ..search.lexical import lexical_summary

    with common.open_store() as store:
        data = store.stats() | {
            "vectors": index_summary(store, embedder_name(common.settings())),
            "lexical": lexical_summary(store),
        }
    if as_json:
        common.print_json(data)
        return
    out = common.Console()
    out.print(f"[bold]{data['papers']}[/] papers from {data['records']} source records")
    for name in ("by_source", "by_label", "by_date", "enrichments"):
        if data[name]:
            table = Table(name.replace("_", " "), "papers")
            for key, n in data[name].items():
                table.add_row(key, str(n))
            out.print(table)
    vectors = data["vectors"]
    memory = f", {vectors['memory_mib']} MiB in memory" if vectors.get("memory_mib") is not None else ""
    how = {"exact": "searched exactly", "index": "searched through the index beside the store"}
    search = how.get(vectors["search"], f"searched by the {vectors['search']}")
    out.print(f"{vectors['vectors']} {vectors['model']} vectors, {search}{memory}", highlight=False)
    lexical = data["lexical"]
    if lexical["engine"] == "tantivy":
        out.print(
            f"words searched through the lexical index beside the store ({lexical['bytes'] / 2**20:.0f} MiB on disk)"
        )
    else:
        out.print(f"words searched by SQLite FTS5 (a lexical index is kept from {lexical['index_from']:,} papers)")


def export(
    fmt: str = typer.Option("jsonl", "--format", "-f", help=" | ".join(exporting.FORMATS)),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
) -> None:
    """Export every paper with everything the store knows of it; CSV and Markdown carry the card in
    the target language (--lang of enrich, llm.lang in the config)."""
    if fmt not in exporting.FORMATS:
        common.fail(f"unknown format {fmt!r}; use one of {', '.join(exporting.FORMATS)}")
    with common.open_store() as store:
        if output:
            try:
                with atomic_path(output) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
                    n = exporting.export(store, fmt, fh, lang=common.settings().llm.lang)
            except OSError as exc:  # a full disk: nothing is left behind, not even the .part
                common.fail(f"{output}: cannot write: {common.os_cause(exc)}", code=common.ENVIRONMENT)
            common.console.print(f"exported {n} papers to {output}")
        else:
            exporting.export(store, fmt, sys.stdout, lang=common.settings().llm.lang)


def feedback(
    ref: str = typer.Argument(..., help="A paper id, arXiv id, DOI or OpenReview id."),
    verdict: str = typer.Argument(..., help="up (more like this: starred), down (less like this: hidden) or clear."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Tell the ranking what you think of a paper; the next daily run learns from it."""
    from .. import curation

    with common.open_store() as store:
        try:
            marks = curation.feedback(store, store.resolve(ref), verdict)
        except KeyError:
            common.fail(f"no paper {ref!r} in {store.path}")
        except curation.CurationError as exc:
            common.fail(str(exc))
    if as_json:
        common.print_json(marks.model_dump())
    else:
        state = "starred" if marks.starred else "hidden" if marks.hidden else "neither starred nor hidden"
        common.console.print(f"{marks.paper_id}: {state}, from {marks.updated_at}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("feedback")(feedback)
    app.add_typer(ingest_cli.app, name="ingest")
    app.add_typer(papers_app, name="papers")
    app.command("stats")(stats)
    app.command("export")(export)
