"""``papersift plugins list``: the sources, LLM backends, embedders, output formats and channels installed."""

from __future__ import annotations

import typer
from rich.table import Table

from . import common

plugins_app = typer.Typer(
    cls=common.Commands,
    help="See the plugins papersift has: built-in, and installed from other packages.",
    no_args_is_help=True,
)


def registries() -> dict:
    """Every kind's registry, by kind (the entry-point group is ``papersift.<kind>``)."""
    from ..deliver import CHANNELS
    from ..llm.base import BACKENDS
    from ..publish.formats import FORMATS
    from ..search.embeddings import EMBEDDERS
    from ..sources.kinds import SOURCES
    from . import ingest  # noqa: F401 - registers the built-in sources, which are its commands

    return {"sources": SOURCES, "backends": BACKENDS, "embedders": EMBEDDERS, "formats": FORMATS, "channels": CHANNELS}


@plugins_app.command("list")
def list_plugins(as_json: bool = common.JSON_OPTION) -> None:
    """Every plugin by kind: its name, where it comes from (papersift, or a package and its version) and where it lives.

    Nothing is loaded to list it, so a plugin that fails to load is listed too; using it names the error.
    """
    found = [info for registry in registries().values() for info in registry.plugins()]
    if as_json:
        common.print_json([info.as_dict() for info in found])
        return
    table = Table("kind", "name", "from", "target")
    for info in found:
        origin = f"{info.origin} (not used: a built-in has this name)" if info.shadowed else info.origin
        table.add_row(info.kind, info.name, origin, info.target)
    common.Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(plugins_app, name="plugins")
