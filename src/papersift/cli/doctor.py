"""``papersift doctor``: check the configuration, database, LLM, embedder and sources, and say
what to fix."""

from __future__ import annotations

import typer

from . import common


def doctor(
    only: str = typer.Option(
        None,
        "--only",
        metavar="CHECK[,CHECK]",
        help="Run only these checks: config, db, llm, embedder, sources (comma-separated).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Check the setup: the configuration, the database (integrity, migrations, writable), the LLM
    (the model generates a few tokens; a server serves the configured model), the embedder and
    the sources' URLs. Prints what is wrong and how to fix it; exits 1 when something is broken
    (an unreachable source is only a warning: papersift runs offline)."""
    from ..config import load_settings
    from ..doctor import CHECKS, diagnose, healthy

    names = [name.strip() for name in only.split(",") if name.strip()] if only else list(CHECKS)
    if "llm" in names:
        try:
            settings = load_settings(db=common.invocation().db)
        except ValueError:
            settings = None  # the config check says what is wrong with it
        if settings:
            common.ready_embedded_model(settings)
    try:
        results = diagnose(names, db=common.invocation().db)
    except ValueError as exc:
        common.fail(f"--only: {exc}")
    if as_json:
        common.print_json({"healthy": healthy(results), "checks": [r.model_dump(mode="json") for r in results]})
    else:
        for result in results:
            typer.echo(result.line())
    if not healthy(results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
