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
    from ..store import describe_database_error

    if state.settings:
        return describe_database_error(exc, state.settings.db, state.settings.busy_timeout)
    return describe_database_error(exc, state.db or "the database")


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
