"""``papersift ingest SOURCE ...``: bring papers into the store."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ..plugins import PluginError
from ..sources.base import HarvestInterrupted, IngestReport, InvalidInput, Source, SourceError
from ..sources.http import HttpClient
from ..sources.kinds import SOURCES, SourceOptionsError, describe_source, ingest_source
from . import common


class SourceCommands(common.Commands):
    """The ingest commands: the built-in ones, and one for each installed source plugin, loaded when used."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in SOURCES.third_party() if name not in self.commands)]

    def get_command(self, ctx: Any, name: str) -> Any:
        command = super().get_command(ctx, name)
        if command is None and name in SOURCES.third_party():
            try:
                command = plugin_command(name, SOURCES.get(name))
            except PluginError as exc:
                command = unusable_command(name, str(exc))
        return command


app = typer.Typer(help="Bring papers into the store from a source.", no_args_is_help=True, cls=SourceCommands)
SKIP_INVALID_OPTION = typer.Option(False, "--skip-invalid", help="Import the good records and report the bad ones.")


def run_source(kind: str, options: dict[str, Any], *, as_json: bool, skip_invalid: bool = False) -> IngestReport | None:
    """Run :func:`~papersift.sources.kinds.ingest_source` with a progress bar and print its report;
    every ``ingest`` command is this with its own options."""
    settings = common.settings()
    options = {k: v for k, v in options.items() if v is not None}
    try:
        where = describe_source(kind, options, settings)
    except SourceOptionsError as exc:
        common.fail(f"{kind}: {exc}")
    with (
        common.open_store(create=True) as store,
        http_client() as client,
        common.progress_bar("{task.speed:>7.0f}/s") as bar,
    ):
        task = bar.add_task(f"ingest {where}", total=None)
        try:
            report = ingest_source(
                kind,
                options,
                store,
                settings,
                skip_invalid=skip_invalid,
                client=client,
                on_item=lambda: bar.advance(task),
            )
        except HarvestInterrupted as exc:
            print_report(exc.report, where=where, as_json=as_json)
            common.fail(str(exc), code=common.ENVIRONMENT)
        except SourceOptionsError as exc:
            common.fail(str(exc))
        except SourceError as exc:
            # a local file that cannot be read is the input's fault; a server that fails is not
            bad_input = kind == "file" or isinstance(exc, InvalidInput)
            common.fail(str(exc), code=common.USAGE if bad_input else common.ENVIRONMENT)
    if report is None:
        if as_json:
            common.print_json({"skipped": True, "reason": "already fetched; use --full to fetch again"})
        else:
            common.console.print(f"{where}: already fetched; use --full to fetch again", highlight=False)
    else:
        print_report(report, where=where, as_json=as_json)
        if report.errors:  # skipped with --skip-invalid: imported, and still not all of it
            raise typer.Exit(common.SOME_FAILED)
    return report


def print_report(report: IngestReport, *, where: str, as_json: bool) -> None:
    if as_json:
        common.print_json(report.as_dict())
    else:
        for error in report.errors:
            common.console.print(f"[yellow]skipped[/] {escape(str(error))}", highlight=False, markup=True)
        common.console.print(
            f"{escape(where)}: [green]{report.new} new[/], {report.updated} updated, {report.unchanged} unchanged"
            + (f", [yellow]{len(report.errors)} invalid skipped[/]" if report.errors else ""),
            highlight=False,
        )


@app.command("file")
def ingest_file(
    path: Path = typer.Argument(..., help="A JSONL, CSV, BibTeX or RIS file."),
    fmt: str = typer.Option(None, "--format", help="jsonl | csv | bibtex | ris (default: from the extension)."),
    skip_invalid: bool = SKIP_INVALID_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> IngestReport | None:
    """Import a local file. By default a file with any bad record imports nothing."""
    return run_source("file", {"path": path, "format": fmt, "skip_invalid": skip_invalid}, as_json=as_json)


def plugin_command(name: str, read: Source) -> Any:
    """``papersift ingest NAME`` for a source plugin: its options from its signature, stored as a file is."""
    try:
        signature = inspect.signature(read, eval_str=True)
    except (NameError, TypeError, ValueError) as exc:
        raise PluginError(
            f"source plugin {name!r}: papersift cannot read its options from its signature: {exc}"
        ) from exc
    ours = [
        inspect.Parameter("skip_invalid", inspect.Parameter.KEYWORD_ONLY, default=SKIP_INVALID_OPTION, annotation=bool),
        inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, default=common.JSON_OPTION, annotation=bool),
    ]
    clash = [p.name for p in ours if p.name in signature.parameters]
    if clash:
        raise PluginError(f"source plugin {name!r}: its parameter {clash[0]!r} is one papersift adds; rename it")

    def ingest_plugin(**values):
        skip_invalid, as_json = values.pop("skip_invalid"), values.pop("as_json")
        return run_source(name, values, as_json=as_json, skip_invalid=skip_invalid)

    ingest_plugin.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *ours])
    ingest_plugin.__doc__ = inspect.getdoc(read) or f"Bring papers in from the {name} source (a plugin)."
    single = typer.Typer(add_completion=False)
    single.command(name)(ingest_plugin)
    return typer.main.get_command(single)


def unusable_command(name: str, error: str) -> Any:
    """A source plugin that cannot load: listed with its error (``ingest --help`` still works), failing when run."""

    def unusable() -> None:
        common.fail(error)

    unusable.__doc__ = f"Cannot be used: {error}"
    single = typer.Typer(add_completion=False)
    single.command(name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})(unusable)
    return typer.main.get_command(single)


def http_client() -> HttpClient:
    return HttpClient(common.settings().net)


# --- network sources ----------------------------------------------------------------------

FULL_OPTION = typer.Option(False, "--full", help="Ignore what earlier runs fetched and ask for everything again.")


@app.command("arxiv")
def ingest_arxiv(
    category: str = typer.Option(None, "--category", help="An arXiv category, e.g. cs.CL."),
    query: str = typer.Option(None, "--query", help="A search: a phrase, or arXiv's syntax (ti:, abs:, AND, ...)."),
    ids: str = typer.Option(None, "--ids", help="Comma-separated arXiv ids, e.g. 2501.01234,2501.04321v2."),
    date_from: str = typer.Option(None, "--from", help="Submitted on or after this day (YYYY-MM-DD)."),
    date_until: str = typer.Option(None, "--until", help="Submitted on or before this day (YYYY-MM-DD)."),
    limit: int = typer.Option(None, "--max", help="At most this many papers, newest first."),
    full: bool = FULL_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> IngestReport | None:
    """Fetch papers from the arXiv export API (one request every 3 s, as arXiv asks)."""
    if not (category or query or ids or date_from or date_until):
        common.fail("an arXiv query needs something to ask: give --category, --query, --ids or --from/--until")
    return run_source(
        "arxiv",
        {
            "category": category,
            "query": query,
            "ids": ids,
            "max": limit,
            "full": full,
            "from": common.parse_day(date_from, "--from"),
            "until": common.parse_day(date_until, "--until"),
        },
        as_json=as_json,
    )


@app.command("oai")
def ingest_oai(
    set_spec: str = typer.Option(None, "--set", help="An OAI set, e.g. cs or cs:cs:CL."),
    date_from: str = typer.Option(None, "--from", help="Records changed on or after this day (YYYY-MM-DD)."),
    date_until: str = typer.Option(None, "--until", help="Records changed on or before this day (YYYY-MM-DD)."),
    fmt: str = typer.Option("arXivRaw", "--format", help="Metadata format: arXivRaw (with versions) or arXiv."),
    full: bool = FULL_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> IngestReport | None:
    """Harvest arXiv in bulk over OAI-PMH (ListRecords with resumption tokens)."""
    return run_source(
        "oai",
        {
            "set": set_spec,
            "format": fmt,
            "full": full,
            "from": common.parse_day(date_from, "--from"),
            "until": common.parse_day(date_until, "--until"),
        },
        as_json=as_json,
    )


@app.command("openreview")
def ingest_openreview(
    venue_id: str = typer.Argument(..., help="A venue id, e.g. ICLR.cc/2025/Conference."),
    limit: int = typer.Option(None, "--max", help="At most this many papers."),
    all_submissions: bool = typer.Option(
        False,
        "--all-submissions",
        help="Every public submission (rejected and withdrawn too), not only the venue's papers.",
    ),
    full: bool = FULL_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> IngestReport | None:
    """Fetch a venue's papers from the OpenReview API v2.

    A later run fetches only the papers created or edited since (a decision posted, a revision).
    """
    return run_source(
        "openreview",
        {"venue_id": venue_id, "max": limit, "all_submissions": all_submissions, "full": full},
        as_json=as_json,
    )


@app.command("hf-daily")
def ingest_hf_daily(
    day: str = typer.Option(None, "--date", help="The day's list to fetch (YYYY-MM-DD; default: today, UTC)."),
    full: bool = FULL_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> IngestReport | None:
    """Fetch the Hugging Face daily papers of one day."""
    return run_source("hf-daily", {"date": common.parse_day(day, "--date"), "full": full}, as_json=as_json)


@app.command("rss")
def ingest_rss(
    url: str = typer.Argument(..., help="The feed's URL (RSS or Atom), e.g. https://rss.arxiv.org/rss/cs.CL."),
    full: bool = FULL_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> IngestReport | None:
    """Fetch an RSS/Atom feed; an unchanged feed (ETag/Last-Modified) costs one request."""
    return run_source("rss", {"url": url, "full": full}, as_json=as_json)


@app.command("pdf")
def ingest_pdf(
    ref_or_path: str = typer.Argument(
        ...,
        help="A paper (id, arXiv id, DOI, OpenReview id) to fetch its PDF link; or, with --paper, a PDF file or URL.",
    ),
    paper: str = typer.Option(None, "--paper", help="The stored paper the PDF belongs to."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Extract a PDF's full text and attach it to a stored paper."""
    from ..sources.pdf import attach_fulltext

    ref, location = (paper, ref_or_path) if paper else (ref_or_path, None)
    if not paper and (ref_or_path.lower().endswith(".pdf") or Path(ref_or_path).is_file()):
        common.fail(f"{ref_or_path}: say which stored paper this PDF belongs to with --paper REF")
    with common.open_store() as store, http_client() as client:
        try:
            paper_id, chars = attach_fulltext(store, ref, location, client)
        except SourceError as exc:
            common.fail(str(exc))
    if as_json:
        common.print_json({"paper_id": paper_id, "characters": chars})
    else:
        common.console.print(f"{paper_id}: stored {chars} characters of full text", highlight=False)
