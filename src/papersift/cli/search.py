"""``papersift search``, ``similar`` and ``embed``: find papers by words and by meaning."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text  # a title is text, never markup

from . import common


def _embedder():
    from ..search.embeddings import EmbeddingError, get_embedder

    try:
        return get_embedder(common.settings())
    except EmbeddingError as exc:  # the embedding model cannot load
        common.fail(str(exc), code=common.ENVIRONMENT)


def _print_hits(hits, titles: dict[str, str], as_json: bool, coverage=None, mode: str | None = None) -> None:
    """The hits, and what search could not see (``coverage``: papers without vectors) when it matters."""
    if as_json:
        common.print_json(
            {
                **({"mode": mode} if mode else {}),
                "hits": [hit.as_dict() for hit in hits],
                "vectors": coverage.model_dump() if coverage else None,
            }
        )
        return
    if coverage and coverage.notice:
        common.console.print(f"[yellow]note:[/] {coverage.notice}", highlight=False, markup=True, soft_wrap=True)
    if not hits:
        common.console.print("no papers found")
        return
    table = Table("#", "score", "id", "sub-area", "title", "found by")
    for i, hit in enumerate(hits, start=1):
        paper = hit.paper
        found_by = ", ".join(f"{m} #{r}" for m, r in hit.ranks.items())
        table.add_row(
            str(i),
            f"{hit.score:.4f}",
            paper.id,
            paper.topic.subarea if paper.topic else "",
            Text(titles[paper.id]),
            found_by,
        )
    common.Console().print(table)


def search_command(
    query: str = typer.Argument(
        ..., help="Words to look for, in English or Chinese; quotes make a phrase. Empty lists papers by the filters."
    ),
    limit: int = typer.Option(20, "--limit", "-n", help="At most this many hits."),
    mode: str = typer.Option(
        "auto",
        "--mode",
        help="auto (hybrid once the store has vectors, else lexical) | hybrid (BM25 + vectors, fused) | lexical (BM25 only) | vector (embeddings only).",
    ),
    subarea: str = typer.Option(None, "--subarea", help="Only papers in this sub-area (key)."),
    area: str = typer.Option(None, "--area", help="Only papers in this area (its key or label)."),
    since: str = typer.Option(None, "--from", help="Only papers published on or after this day (YYYY-MM-DD)."),
    until: str = typer.Option(None, "--to", help="Only papers published on or before this day (YYYY-MM-DD)."),
    source: str = typer.Option(None, "--source", help="Only papers first seen from this source."),
    venue: str = typer.Option(None, "--venue", help="Only papers whose venue contains this text."),
    keyword: str = typer.Option(
        None,
        "--keyword",
        help="Only papers with this keyword (the source's, or the card's in the configured language).",
    ),
    flag: str = typer.Option(
        None,
        "--flag",
        help="Only papers whose enrichment in the configured language is ok | flagged | poor | failed | none (not enriched).",
    ),
    starred: bool = typer.Option(None, "--starred/--not-starred", help="Only starred (or only unstarred) papers."),
    hidden: bool = typer.Option(False, "--hidden", help="Only the papers hidden in the web app (left out otherwise)."),
    exact: bool = typer.Option(
        False, "--exact", help="Scan every vector exactly, not through the vector index (used from 20,000 vectors)."
    ),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Search papers by words and meaning; prints hits best first, and how many papers it could match by words only (no vector yet: run `papersift embed`).

    The same search, filters and ranking as the web app's search page and /api/search.
    With --json: {"mode", "hits": [...], "vectors": {"model", "papers", "without_vectors", "notice"}}; vectors is null with --mode lexical.
    """
    from pydantic import ValidationError

    from ..search import Filters, SearchError, search_papers
    from ..search.hybrid import MODES

    if mode not in MODES:
        common.fail(f"--mode: {mode!r} is not one of {', '.join(MODES)}")
    status = "pending" if flag == "none" else flag  # the CLI's word for "not enriched" is none
    try:
        filters = Filters(
            subarea=subarea,
            area=area,
            date_from=common.parse_day(since, "--from"),
            date_to=common.parse_day(until, "--to"),
            source=source,
            venue=venue,
            keyword=keyword,
            status=status,
            starred=starred,
            hidden=hidden,
        )
    except ValidationError as exc:
        option = {"status": "flag", "date_from": "from", "date_to": "to"}
        common.fail(
            "; ".join(f"--{option.get(e['loc'][0], e['loc'][0])}: {e['msg']}" for e in exc.errors(include_url=False))
        )
    with common.open_store() as store:
        try:
            result = search_papers(
                store, query, filters=filters, mode=mode, limit=limit, settings=common.settings(), exact=exact or None
            )
        except SearchError as exc:
            common.fail(str(exc))
        titles = common.shown_titles(store, [hit.paper for hit in result.hits])
    _print_hits(result.hits, titles, as_json, result.vectors, mode=result.mode)


def similar_command(
    refs: list[str] = typer.Argument(
        ..., help="One paper (its neighbours) or several (more like these): ids, arXiv ids, DOIs or OpenReview ids."
    ),
    limit: int = typer.Option(10, "--limit", "-n", help="At most this many papers."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Papers nearest in meaning to one paper, or to a set of papers; says how many papers it cannot see (no vector yet: run `papersift embed`).

    With --json: {"hits": [...], "vectors": {"model", "papers", "without_vectors", "notice"}}.
    """
    from ..search.embeddings import vector_coverage
    from ..search.hybrid import SearchError, more_like

    embedder = _embedder()
    with common.open_store() as store:
        try:
            hits = more_like(store, refs, limit, embedder=embedder)
        except SearchError as exc:
            common.fail(str(exc))
        coverage = vector_coverage(store, embedder.name)
        titles = common.shown_titles(store, [hit.paper for hit in hits])
    _print_hits(hits, titles, as_json, coverage)


def embed_command(as_json: bool = common.JSON_OPTION) -> None:
    """Embed new and changed papers for vector search (the rest keep their vectors), and bring the
    vector index beside the store up to date (from 20,000 vectors; rebuilt where it is missing or behind)."""
    from ..search.embeddings import embed_store
    from ..search.index import ensure_index

    embedder = _embedder()
    with common.open_store() as store, store.job("embed"), common.progress_bar() as bar:
        task = bar.add_task(f"embed ({embedder.name})", total=None)
        report = embed_store(
            store, embedder, on_total=lambda n: bar.update(task, total=n), on_progress=lambda n: bar.advance(task, n)
        )
        index = bar.add_task("vector index", total=None, visible=False)
        ensure_index(
            store,
            embedder.name,
            on_build=lambda: bar.update(index, visible=True),
            on_total=lambda n: bar.update(index, total=n),
            on_progress=lambda n: bar.advance(index, n),
        )
    print_embed_report(report, as_json)


def print_embed_report(report, as_json: bool) -> None:
    """What an embedding run did (``embed`` and ``scale embed``); exit 1 when a batch failed."""
    if as_json:
        common.print_json(report.as_dict())
    else:
        for error in report.errors:
            common.console.print(f"[yellow]failed[/] {error}", highlight=False, markup=True)
        common.console.print(
            f"{report.model}: [green]{report.embedded} embedded[/], {report.unchanged} unchanged"
            + (f", [red]{len(report.errors)} batch(es) failed[/]" if report.errors else ""),
            highlight=False,
        )
    if report.errors:
        raise typer.Exit(common.SOME_FAILED)


def ask_command(
    question: str = typer.Argument(..., help="The question, in any language: the answer is in the same one."),
    paper: str = typer.Option(None, "--paper", help="Ask this one paper (an id, arXiv id, DOI or OpenReview id)."),
    limit: int = typer.Option(5, "--limit", "-n", min=1, max=50, help="Papers to draw passages from."),
    lang: str = typer.Option(None, "--lang", help="Answer in this language (default: the question's)."),
    thinking: str = typer.Option(
        None, "--thinking", help="Reasoning: off, on, or budget:N tokens (Qwen3-style models)."
    ),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Answer a question from the papers in the store, every sentence citing the passages it rests on.

    Each sentence is checked against the passages it cites: one the passages do not support is asked
    about once, then left out (status partial). Where no passage bears on the question, or the model
    finds no answer in them, the status is not_found and there is no answer: never one from the
    model's own memory. Exit code 0 for ok and partial, 1 for not_found.
    With --json: {"question", "lang", "status", "answer", "citations": [{"n", "paper_id", "title",
    "passage", "section", "page"}], "dropped", "reason", "model", "tokens_in", "tokens_out", "seconds"}.
    """
    from ..ask import ask

    settings = common.settings()
    if thinking:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"thinking": thinking})})
    common.ready_embedded_model(settings)
    with common.open_store() as store:
        try:
            answer = ask(store, question, settings, paper=paper, limit=limit, lang=lang)
        except KeyError:
            common.fail(f"no paper {paper!r} in {store.path}")
    if as_json:
        common.print_json(answer.model_dump())
    else:
        _print_answer(answer)
    if answer.status == "not_found":
        raise typer.Exit(common.SOME_FAILED)


def _print_answer(answer) -> None:
    out = common.Console()
    if answer.status == "not_found":
        out.print(f"[yellow]not found:[/] {answer.reason}", highlight=False)
        return
    out.print(Text(answer.answer))
    out.print()
    for c in answer.citations:
        where = ", ".join(x for x in (c.section, f"p. {c.page}" if c.page else None) if x) or "abstract"
        out.print(Text(f"[{c.n}] {c.title} ({where}) {c.paper_id}", style="cyan"))
        out.print(Text("    " + common.short(c.passage, 200)))
    if answer.dropped:
        out.print(Text(f"\nleft out ({len(answer.dropped)}), not supported by the passages it cited:", style="yellow"))
        for sentence in answer.dropped:
            out.print(Text(f"  - {sentence}"))


def register(app: typer.Typer) -> None:
    app.command("ask")(ask_command)
    app.command("search")(search_command)
    app.command("similar")(similar_command)
    app.command("embed")(embed_command)
