"""The ``papersift`` command: a thin layer of ``noun verb`` commands over the library."""

from __future__ import annotations

from pathlib import Path

import typer

from . import common

app = typer.Typer(
    name="papersift",
    help="Collect, enrich, classify, search and publish research papers, in your language.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main_options(
    db: Path = typer.Option(None, "--db", help="The SQLite database (default: $PAPERSIFT_DB, the config file, or ~/.local/share/papersift/papersift.db).", envvar="PAPERSIFT_DB"),
) -> None:
    """papersift: research papers, triaged and read for you."""
    common.state.db = str(db) if db else None
    common.state.settings = None


# Each stage registers its commands here; the modules stay importable on their own.
from . import papers as _papers  # noqa: E402

_papers.register(app)


def main() -> None:
    app()
