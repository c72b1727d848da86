"""``papersift scale enrich``: the enrichment run, spread over a Ray cluster and vLLM servers."""

from __future__ import annotations

import typer

from . import common

app = typer.Typer(help="Run the long jobs on a Ray cluster.", no_args_is_help=True)


@app.command("enrich")
def scale_enrich(
    server: list[str] = typer.Option(..., "--server", help="An OpenAI-compatible server URL (vLLM, SGLang); repeat for replicas."),
    model: str = typer.Option(None, "--model", help="The model name the servers serve."),
    address: str = typer.Option(None, "--address", help="The Ray cluster to join (default: RAY_ADDRESS, else a local Ray)."),
    actors: int = typer.Option(2, "--actors", help="Ray actors sending requests."),
    concurrency: int = typer.Option(None, "--concurrency", help="Requests in flight per actor and server."),
    lang: str = typer.Option(None, "--lang", help="Target language (default: the configured one)."),
    limit: int = typer.Option(None, "--limit", help="At most this many papers."),
    force: bool = typer.Option(False, "--force", help="Enrich again papers that already have a card."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Enrich every paper without a card on a Ray cluster; the store stays on this machine."""
    try:
        import ray
    except ImportError:
        common.fail("Ray is not installed: pip install 'papersift[scale]'")
    from ..enrich.pipeline import Selection
    from ..scale.ray_enrich import enrich_on_ray

    settings = common.settings()
    overrides = {k: v for k, v in {"model": model, "concurrency": concurrency, "lang": lang}.items() if v is not None}
    settings.llm = settings.llm.model_copy(update=overrides)
    ray.init(address=address, ignore_reinit_error=True)
    with common.open_store() as store:
        report = enrich_on_ray(store, settings, base_urls=server, actors=actors, selection=Selection(limit=limit), force=force,
                               progress=lambda r: common.console.print(f"{r.done} done, {r.papers_per_s:.2f} papers/s", end="\r"))
    if as_json:
        common.print_json(report.as_dict())
    else:
        common.console.print(f"ok {report.ok}, flagged {report.flagged}, poor {report.poor}, failed {report.failed} in {report.elapsed:.1f} s")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="scale")
