"""The ``papersift`` command: a thin layer of ``noun verb`` commands over the library.

Each command imports the stage it runs inside its own function, on purpose: ``papersift --help``
and a command that needs little then start in about 0.7 s, where importing every stage up front
(scikit-learn, SciPy, the openai SDK, FastAPI) took 3.2 s (``python -X importtime``). Everywhere
else in papersift an import inside a function defers an optional or heavy dependency (ray,
pyarrow, llama_cpp, jieba, the sentence encoder) and says so on its line.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import typer

from ..store import JobRunning
from . import common

# `papersift --help` lists the commands in the order of a day's work, not in the order the
# modules register them; a command a plugin adds goes under "Other commands".
WORKFLOW = {
    "Start here": ["demo", "doctor"],
    "Collect": ["ingest", "papers", "stats"],
    "Enrich": ["enrich", "deepdive", "classify", "embed", "runs"],
    "Find": ["search", "similar", "ask", "feedback"],
    "Publish": ["publish", "export"],
    "Serve and run daily": ["serve", "daily"],
    "Measure and extend": ["eval", "llm", "scale", "plugins"],
}


class WorkflowGroup(common.Commands):
    def list_commands(self, ctx) -> list[str]:
        order = [name for names in WORKFLOW.values() for name in names]
        return sorted(super().list_commands(ctx), key=lambda n: order.index(n) if n in order else len(order))

    def format_commands(self, ctx, formatter) -> None:
        listed = {name for names in WORKFLOW.values() for name in names}
        others = [n for n in self.list_commands(ctx) if n not in listed]
        self.write_sections(ctx, formatter, [*WORKFLOW.items(), ("Other commands", others)])


# Plain help, not Rich's panels: those put a "<bool>" after every flag and keep the docstrings'
# line breaks in the middle of sentences.
app = typer.Typer(
    name="papersift",
    cls=WorkflowGroup,
    help="Collect, enrich, classify, search and publish research papers, in your language.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"papersift {version('papersift')}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Path = typer.Option(
        None,
        "--db",
        help="The SQLite database (default: $PAPERSIFT_DB, the config file, or ~/.local/share/papersift/papersift.db).",
        envvar="PAPERSIFT_DB",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print papersift's version and exit."
    ),
) -> None:
    """papersift: research papers, triaged and read for you."""
    if not isinstance(ctx.obj, common.Invocation):
        ctx.obj = common.Invocation()
    ctx.obj.db, ctx.obj.settings = (str(db) if db else None), None


# Each stage registers its commands here; the modules stay importable on their own.
from . import classify as _classify  # noqa: E402
from . import daily as _daily  # noqa: E402
from . import demo as _demo  # noqa: E402
from . import doctor as _doctor  # noqa: E402
from . import enrich as _enrich  # noqa: E402
from . import eval as _eval  # noqa: E402
from . import llm as _llm  # noqa: E402
from . import papers as _papers  # noqa: E402
from . import plugins as _plugins  # noqa: E402
from . import publish as _publish  # noqa: E402
from . import scale as _scale  # noqa: E402
from . import search as _search  # noqa: E402
from . import serve as _serve  # noqa: E402

_papers.register(app)
_classify.register(app)
_search.register(app)
_enrich.register(app)
_publish.register(app)
_serve.register(app)
_eval.register(app)
_scale.register(app)
_llm.register(app)
_demo.register(app)
_doctor.register(app)
_daily.register(app)
_plugins.register(app)


def main() -> None:
    invocation = common.Invocation()  # kept here too: the error below is printed after the command's context closed
    try:
        app(obj=invocation)
    # What the machine or another process stops a command with is for the user to fix, not a
    # bug: said in one line that names the path and the cause, never a traceback.
    except sqlite3.Error as exc:  # a locked, read-only or full database
        message = common.database_error(exc, invocation)
    except JobRunning as exc:  # raised by the library's jobs too (enrich), not only by the commands
        message = str(exc)
    except OSError as exc:  # a full disk, a read-only file system, a missing folder, a permission
        message = common.describe_os_error(exc)
    else:
        return
    common.print_error(message)
    raise SystemExit(common.ENVIRONMENT)
