"""What every command shares: the settings, the store, and one way to print results."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator
from datetime import date
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

from ..config import Settings, load_settings
from ..store import Store

console = Console(stderr=True)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")


class State:
    settings: Settings | None = None
    db: str | None = None


state = State()


def settings() -> Settings:
    if state.settings is None:
        try:
            state.settings = load_settings(db=state.db)
        except ValueError as exc:
            fail(str(exc))
    return state.settings


@contextmanager
def open_store() -> Iterator[Store]:
    from ..store import StoreError

    try:
        store = Store(settings().db, busy_timeout=settings().busy_timeout)
    except StoreError as exc:
        fail(str(exc))
    try:
        yield store
    finally:
        store.close()


def database_error(exc: sqlite3.Error) -> str:
    """One line for a database a command could not use: locked, read-only, full, or else."""
    db = state.settings.db if state.settings else state.db or "the database"
    text = str(exc)
    if "locked" in text or "busy" in text:
        wait = f"{state.settings.busy_timeout:g} s" if state.settings else "busy_timeout"
        return (f"{db}: another process kept the database locked for over {wait} (busy_timeout); this command's "
                "unfinished transaction was rolled back: run it again once the other has finished")
    if "readonly" in text or "read-only" in text:
        return f"{db}: the database is read-only ({text}): make the file and its folder writable, or use --db"
    if "full" in text or "disk I/O" in text:
        return (f"{db}: the database cannot grow ({text}): the disk is full or a file size limit was reached; "
                "the unfinished transaction was rolled back: free some space and run again")
    return f"{db}: database error: {text}"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def parse_day(value: str | None, option: str) -> date | None:
    """A ``YYYY-MM-DD`` option's value, or a clear error naming the option."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date (use YYYY-MM-DD)")
