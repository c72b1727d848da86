"""``papersift scale``: the enrichment run spread over a Ray cluster and vLLM servers, with the
store on this machine or, for a cluster that cannot reach it, through Parquet files."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer

from . import common
from .search import print_embed_report

app = typer.Typer(cls=common.Commands, help="Run the long jobs on a Ray cluster.", no_args_is_help=True)


@contextlib.contextmanager
def _on_ray(address: str | None) -> Iterator[None]:
    """Join the cluster (or start a local Ray) for the work inside, with stdout sent to stderr
    meanwhile: Ray's background threads print its raylet's warnings and workers' lines to the
    driver's stdout, where they would break the JSON of --json, the only thing stdout carries."""
    try:
        import ray
    except ImportError:
        common.fail("Ray is not installed: pip install 'papersift[scale]'", code=common.ENVIRONMENT)
    with contextlib.redirect_stdout(sys.stderr):
        ray.init(address=address, ignore_reinit_error=True)
        yield


def _summary(report) -> str:
    return f"ok {report.ok}, flagged {report.flagged}, poor {report.poor}, failed {report.failed} in {report.elapsed:.1f} s"


@app.command("enrich")
def scale_enrich(
    server: list[str] = typer.Option(
        ..., "--server", help="An OpenAI-compatible server URL (vLLM, SGLang); repeat for replicas."
    ),
    model: str = typer.Option(None, "--model", help="The model name the servers serve."),
    address: str = typer.Option(
        None, "--address", help="The Ray cluster to join (default: RAY_ADDRESS, else a local Ray)."
    ),
    actors: int = typer.Option(2, "--actors", help="Ray actors sending requests."),
    concurrency: int = typer.Option(None, "--concurrency", help="Requests in flight per actor and server."),
    lang: str = typer.Option(None, "--lang", help="Target language (default: the configured one)."),
    limit: int = typer.Option(None, "--limit", help="At most this many papers (store mode)."),
    force: bool = typer.Option(False, "--force", help="Enrich again papers that already have a card (store mode)."),
    input_dir: str = typer.Option(
        None,
        "--input",
        help="Read the papers from this folder of Parquet files "
        "(from `scale export-pending`) instead of the store; needs --output.",
    ),
    output_dir: str = typer.Option(
        None,
        "--output",
        help="Write the cards to this empty folder as Parquet (merge them with `scale import`); with --input.",
    ),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Enrich every paper without a card on a Ray cluster: the store stays on this machine, or,
    with --input and --output, the whole run stays on the cluster (Parquet in, Parquet out)."""
    if (input_dir is None) != (output_dir is None):
        common.fail("--input and --output go together: papers from one folder, cards to the other")
    from ..scale.servers import ServersDown

    settings = common.settings()
    overrides = {k: v for k, v in {"model": model, "concurrency": concurrency, "lang": lang}.items() if v is not None}
    settings.llm = settings.llm.model_copy(update=overrides)
    if input_dir is not None:
        from ..scale.parquet import ParquetFolderError, enrich_parquet

        with _on_ray(address):
            try:
                report = enrich_parquet(settings, input_dir, output_dir, base_urls=server, actors=actors)
            except (ParquetFolderError, ServersDown, ValueError) as exc:
                common.fail(str(exc))
    else:
        from ..enrich.pipeline import Selection
        from ..scale.ray_enrich import enrich_on_ray

        with _on_ray(address), common.open_store() as store:
            try:
                report = enrich_on_ray(
                    store,
                    settings,
                    base_urls=server,
                    actors=actors,
                    selection=Selection(limit=limit),
                    force=force,
                    progress=lambda r: common.console.print(f"{r.done} done, {r.papers_per_s:.2f} papers/s", end="\r"),
                )
            except ServersDown as exc:
                common.fail(f"{exc}; the papers not done stay pending for the next run", code=common.ENVIRONMENT)
    if as_json:
        common.print_json(report.as_dict())
    else:
        common.console.print(_summary(report))


@app.command("embed")
def scale_embed(
    address: str = typer.Option(
        None, "--address", help="The Ray cluster to join (default: RAY_ADDRESS, else a local Ray)."
    ),
    actors: int = typer.Option(2, "--actors", help="Ray actors, each holding the embedder."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Embed new and changed papers as `papersift embed` does, the model run by Ray actors."""
    from ..scale.ray_embed import embed_on_ray
    from ..search.embeddings import EmbeddingError

    settings = common.settings()
    with _on_ray(address), common.open_store() as store:
        try:
            report = embed_on_ray(store, settings, actors=actors)
        except EmbeddingError as exc:
            common.fail(str(exc))
    print_embed_report(report, as_json)


@app.command("export-pending")
def scale_export_pending(
    out: str = typer.Option(..., "--out", help="Folder (or s3://… URI) to write the Parquet files to."),
    lang: str = typer.Option(None, "--lang", help="Target language (default: the configured one)."),
    limit: int = typer.Option(None, "--limit", help="At most this many papers."),
    force: bool = typer.Option(False, "--force", help="Export also papers that already have a card."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Write the papers that still need a card as Parquet, for a cluster that cannot reach the store."""
    from ..enrich.pipeline import Selection
    from ..scale.parquet import ParquetFolderError, export_pending

    settings = common.settings()
    if lang:
        settings.llm = settings.llm.model_copy(update={"lang": lang})
    with common.open_store() as store:
        try:
            written = export_pending(store, settings, out, selection=Selection(limit=limit), force=force)
        except ParquetFolderError as exc:
            common.fail(str(exc))
    if as_json:
        common.print_json({"papers": written, "folder": out})
    else:
        common.console.print(f"{written} papers to {out}")


@app.command("import")
def scale_import(
    folder: str = typer.Argument(..., help="The folder `scale enrich --output` wrote."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Merge the cards of a cluster run into the store; importing again changes nothing."""
    from ..scale.parquet import ParquetFolderError, import_cards

    with common.open_store() as store:
        try:
            report = import_cards(store, folder)
        except ParquetFolderError as exc:
            common.fail(str(exc))
    if as_json:
        common.print_json(report.as_dict())
    else:
        unknown = f", {len(report.unknown)} of papers not in the store" if report.unknown else ""
        common.console.print(
            f"{report.imported} imported, {report.unchanged} unchanged, "
            f"{report.kept} failed results not over a card{unknown}"
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="scale")
