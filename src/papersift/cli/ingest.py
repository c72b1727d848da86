"""``papersift ingest SOURCE ...``: bring papers into the store."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..models import Paper
from ..sources.base import IngestReport, RecordError, SourceError, ingest
from . import common

app = typer.Typer(help="Bring papers into the store from a source.", no_args_is_help=True)


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
    return report


@app.command("file")
def ingest_file(
    path: Path = typer.Argument(..., help="A JSONL, CSV or BibTeX file."),
    fmt: str = typer.Option(None, "--format", help="jsonl | csv | bibtex (default: from the extension)."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Import the good records and report the bad ones."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Import a local file. By default a file with any bad record imports nothing."""
    from ..sources.files import read_file

    try:
        items = read_file(path, fmt)
    except SourceError as exc:
        common.fail(str(exc))
    run_ingest(items, where=str(path), skip_invalid=skip_invalid, as_json=as_json)
