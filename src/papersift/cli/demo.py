"""``papersift demo``: the whole pipeline on one bundled day of arXiv papers, offline by default."""

from __future__ import annotations

from pathlib import Path

import typer

from . import common


def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", help="Folder for the demo's database and publications."),
    enrich: int = typer.Option(2, "--enrich", help="How many papers the LLM enriches (0: none)."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Ingest 19 bundled arXiv papers of one day, file them by topic, enrich a few, search, and publish the catalog, digest and site."""
    from ..demo import run_demo

    settings = common.settings()
    if enrich:
        common.ready_embedded_model(settings)
    report = run_demo(
        out,
        settings,
        enrich=enrich,
        say=lambda line: common.console.print(line, highlight=False, markup=False, soft_wrap=True),
    )
    if as_json:
        common.print_json({k: (str(v) if isinstance(v, Path) else v) for k, v in report.__dict__.items()})
        return
    common.console.print("\n[bold]Done.[/] Open these:", highlight=False)
    for name, path in report.outputs.items():
        common.console.print(f"  {name:<20} {path.resolve()}", highlight=False)
    common.console.print(f"  {'web app':<20} papersift --db {(out / 'papersift.db')} serve", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
