"""``papersift ingest SOURCE ...``: bring papers into the store."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from ..models import Paper
from ..plugins import PluginError
from ..sources.base import SOURCES, HarvestInterrupted, IngestReport, RecordError, Source, SourceError, ingest
from ..sources.http import HttpClient
from . import common


class SourceCommands(TyperGroup):
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


def source(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An ingest command that brings papers in: a built-in source, a ``type`` of ``[[daily.sources]]``."""

    def register(command: Callable[..., Any]) -> Callable[..., Any]:
        SOURCES.builtin(name, command)
        return app.command(name)(command)

    return register


def progress_bar(total: int | None = None) -> Progress:
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.speed:>7.0f}/s" if total is None else ""), TimeElapsedColumn()]
    return Progress(*columns, console=common.console, transient=True, disable=not common.console.is_terminal)


def run_ingest(items: Iterable[Paper | RecordError], *, where: str, skip_invalid: bool, as_json: bool) -> IngestReport:
    """Drive one import with a progress bar and print its report; used by every ``ingest`` command."""
    with common.open_store() as store, progress_bar() as bar:
        task = bar.add_task(f"ingest {where}", total=None)
        try:
            report = ingest(store, items, where=where, skip_invalid=skip_invalid, on_item=lambda: bar.advance(task))
        except SourceError as exc:
            common.fail(str(exc))
    print_report(report, where=where, as_json=as_json)
    return report


def print_report(report: IngestReport, *, where: str, as_json: bool) -> None:
    if as_json:
        common.print_json(report.as_dict())
    else:
        for error in report.errors:
            common.console.print(f"[yellow]skipped[/] {error}", highlight=False, markup=True)
        common.console.print(
            f"{where}: [green]{report.new} new[/], {report.updated} updated, {report.unchanged} unchanged"
            + (f", [yellow]{len(report.errors)} invalid skipped[/]" if report.errors else ""),
            highlight=False,
        )


@source("file")
def ingest_file(
    path: Path = typer.Argument(..., help="A JSONL, CSV, BibTeX or RIS file."),
    fmt: str = typer.Option(None, "--format", help="jsonl | csv | bibtex | ris (default: from the extension)."),
    skip_invalid: bool = SKIP_INVALID_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> IngestReport:
    """Import a local file. By default a file with any bad record imports nothing."""
    from ..sources.files import read_file

    try:
        items = read_file(path, fmt)
    except SourceError as exc:
        common.fail(str(exc))
    return run_ingest(items, where=str(path), skip_invalid=skip_invalid, as_json=as_json)


def plugin_command(name: str, read: Source) -> Any:
    """``papersift ingest NAME`` for a source plugin: its options from its signature, stored as a file is."""
    try:
        signature = inspect.signature(read, eval_str=True)
    except (NameError, TypeError, ValueError) as exc:
        raise PluginError(f"source plugin {name!r}: papersift cannot read its options from its signature: {exc}") from exc
    ours = [
        inspect.Parameter("skip_invalid", inspect.Parameter.KEYWORD_ONLY, default=SKIP_INVALID_OPTION, annotation=bool),
        inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, default=common.JSON_OPTION, annotation=bool),
    ]
    clash = [p.name for p in ours if p.name in signature.parameters]
    if clash:
        raise PluginError(f"source plugin {name!r}: its parameter {clash[0]!r} is one papersift adds; rename it")

    def ingest_plugin(**values):
        skip_invalid, as_json = values.pop("skip_invalid"), values.pop("as_json")
        try:
            items = read(**values)
        except SourceError as exc:
            common.fail(f"{name}: {exc}")
        return run_ingest(items, where=name, skip_invalid=skip_invalid, as_json=as_json)

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


# --- network sources ----------------------------------------------------------------------

FULL_OPTION = typer.Option(False, "--full", help="Ignore what earlier runs fetched and ask for everything again.")




def http_client() -> HttpClient:
    return HttpClient(common.settings().net)


def run_sync(sync: Callable[..., IngestReport | None], *, where: str, as_json: bool) -> IngestReport | None:
    """Run one network harvest ``sync(store, client, on_item=...)`` with a progress bar, print its report."""
    with common.open_store() as store, http_client() as client, progress_bar() as bar:
        task = bar.add_task(f"ingest {where}", total=None)
        try:
            report = sync(store, client, on_item=lambda: bar.advance(task))
        except HarvestInterrupted as exc:
            print_report(exc.report, where=where, as_json=as_json)
            common.fail(str(exc))
        except SourceError as exc:
            common.fail(str(exc))
    if report is None:
        if as_json:
            common.print_json({"skipped": True, "reason": "already fetched; use --full to fetch again"})
        else:
            common.console.print(f"{where}: already fetched; use --full to fetch again", highlight=False)
    else:
        print_report(report, where=where, as_json=as_json)
    return report


@source("arxiv")
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
    from ..sources import arxiv

    try:
        q = arxiv.ArxivQuery(
            category=category, search=query, ids=tuple(i.strip() for i in (ids or "").split(",") if i.strip()),
            date_from=common.parse_day(date_from, "--from"), date_until=common.parse_day(date_until, "--until"),
        )
    except ValueError as exc:
        common.fail(f"{exc}: give --category, --query, --ids or --from/--until")
    base_url = common.settings().net.arxiv_api_url
    return run_sync(lambda store, client, on_item: arxiv.sync(store, client, q, base_url=base_url, full=full, limit=limit, on_item=on_item),
             where=f"arXiv {q.search_query() or q.params().get('id_list')}", as_json=as_json)


@source("oai")
def ingest_oai(
    set_spec: str = typer.Option(None, "--set", help="An OAI set, e.g. cs or cs:cs:CL."),
    date_from: str = typer.Option(None, "--from", help="Records changed on or after this day (YYYY-MM-DD)."),
    date_until: str = typer.Option(None, "--until", help="Records changed on or before this day (YYYY-MM-DD)."),
    fmt: str = typer.Option("arXivRaw", "--format", help="Metadata format: arXivRaw (with versions) or arXiv."),
    full: bool = FULL_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> IngestReport | None:
    """Harvest arXiv in bulk over OAI-PMH (ListRecords with resumption tokens)."""
    from ..sources import oai

    if fmt not in oai.FORMATS:
        common.fail(f"--format {fmt!r}: use one of {', '.join(oai.FORMATS)}")
    start, end = common.parse_day(date_from, "--from"), common.parse_day(date_until, "--until")
    base_url = common.settings().net.arxiv_oai_url
    return run_sync(lambda store, client, on_item: oai.sync(
        store, client, base_url=base_url, metadata_prefix=fmt, set_spec=set_spec, full=full, on_item=on_item,
        date_from=start.isoformat() if start else None, date_until=end.isoformat() if end else None,
    ), where=f"OAI-PMH {base_url} set={set_spec or 'all'}", as_json=as_json)


@source("openreview")
def ingest_openreview(
    venue_id: str = typer.Argument(..., help="A venue id, e.g. ICLR.cc/2025/Conference."),
    limit: int = typer.Option(None, "--max", help="At most this many papers."),
    all_submissions: bool = typer.Option(
        False, "--all-submissions", help="Every public submission (rejected and withdrawn too), not only the venue's papers."
    ),
    full: bool = FULL_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> IngestReport | None:
    """Fetch a venue's papers from the OpenReview API v2.

    A later run fetches only the papers created or edited since (a decision posted, a revision).
    """
    from ..sources import openreview

    base_url = common.settings().net.openreview_api_url
    return run_sync(lambda store, client, on_item: openreview.sync(
        store, client, venue_id, base_url=base_url, all_submissions=all_submissions, limit=limit, full=full, on_item=on_item,
    ), where=f"OpenReview {venue_id}", as_json=as_json)


@source("hf-daily")
def ingest_hf_daily(
    day: str = typer.Option(None, "--date", help="The day's list to fetch (YYYY-MM-DD; default: today, UTC)."),
    full: bool = FULL_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> IngestReport | None:
    """Fetch the Hugging Face daily papers of one day."""
    from ..sources import hf

    wanted = common.parse_day(day, "--date") or datetime.now(UTC).date()
    base_url = common.settings().net.hf_api_url
    return run_sync(lambda store, client, on_item: hf.sync(store, client, wanted, base_url=base_url, full=full, on_item=on_item),
             where=f"HF daily papers {wanted}", as_json=as_json)


@source("rss")
def ingest_rss(
    url: str = typer.Argument(..., help="The feed's URL (RSS or Atom), e.g. https://rss.arxiv.org/rss/cs.CL."),
    full: bool = FULL_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> IngestReport | None:
    """Fetch an RSS/Atom feed; an unchanged feed (ETag/Last-Modified) costs one request."""
    from ..sources import rss

    return run_sync(lambda store, client, on_item: rss.sync(store, client, url, full=full, on_item=on_item), where=url, as_json=as_json)


@app.command("pdf")
def ingest_pdf(
    ref_or_path: str = typer.Argument(
        ..., help="A paper (id, arXiv id, DOI, OpenReview id) to fetch its PDF link; or, with --paper, a PDF file or URL."
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
