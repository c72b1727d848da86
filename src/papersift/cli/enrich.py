"""``papersift enrich`` and ``papersift runs list``: give papers their cards, and see past runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..config import Settings
from ..llm.base import LLMError, Thinking
from . import common

if TYPE_CHECKING:
    from ..enrich.pipeline import RunReport

runs_app = typer.Typer(
    cls=common.Commands, help="Runs of long jobs (enrichment, harvests) and their stats.", no_args_is_help=True
)


def _with_llm_options(settings: Settings, **options: Any) -> Settings:
    """CLI flags override the environment and the config file."""
    given = {k: v for k, v in options.items() if v is not None}
    if "thinking" in given:
        try:
            Thinking.parse(given["thinking"])
        except ValueError as exc:
            common.fail(f"--thinking: {exc}")
    if given.get("concurrency") is not None and given["concurrency"] < 1:
        common.fail("--concurrency must be at least 1")
    return settings.model_copy(update={"llm": settings.llm.model_copy(update=given)})


def _live_stats(report: RunReport) -> str:
    return (
        f"{report.papers_per_s:5.2f} papers/s · {report.tokens_in + report.tokens_out:,} tokens · "
        f"${report.cost:.4f} · [yellow]{report.flagged} flagged[/] · [yellow]{report.poor} poor[/] · [red]{report.failed} failed[/]"
    )


def _print_summary(report: RunReport) -> None:
    out = common.console
    out.print(
        f"enrich run {report.run_id} ({escape(report.lang)}, {escape(report.model)}): {report.done} of {report.total} papers — "
        f"[green]{report.ok} ok[/], [yellow]{report.flagged} flagged[/], [yellow]{report.poor} poor[/], [red]{report.failed} failed[/] "
        f"in {report.elapsed:.1f} s ({report.papers_per_s:.2f} papers/s)",
        highlight=False,
    )
    out.print(
        f"tokens: {report.tokens_in:,} in ({report.tokens_cached:,} cached), {report.tokens_out:,} out"
        f" ({report.tokens_reasoning:,} reasoning) · {report.calls} calls, {report.cache_hits} from cache"
        f" · cost ${report.cost:.4f}",
        highlight=False,
    )
    for failure in report.failures[:10]:
        out.print(f"[red]failed[/] {failure['paper_id']}: {escape(failure['reason'])}", highlight=False)


def enrich(
    backend: str = typer.Option(
        None,
        "--backend",
        help="embedded (llama.cpp in-process), openai (any OpenAI-compatible server), or an installed plugin's (papersift plugins list).",
    ),
    base_url: str = typer.Option(
        None, "--base-url", help="The server's URL, e.g. http://localhost:8000/v1 (env PAPERSIFT_LLM_BASE_URL)."
    ),
    model: str = typer.Option(
        None, "--model", help="Model name on the server, or the embedded model (env PAPERSIFT_LLM_MODEL)."
    ),
    lang: str = typer.Option(None, "--lang", help="Target language: zh (default), en, ja, ko, fr, de, es, ru, ..."),
    concurrency: int = typer.Option(None, "--concurrency", help="Requests in flight at once."),
    thinking: str = typer.Option(
        None, "--thinking", help="Reasoning: off, on, or budget:N tokens (Qwen3-style models)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Enrich again papers that already have a card (cached replies stay free)."
    ),
    limit: int = typer.Option(None, "--limit", help="At most this many papers."),
    ids: list[str] = typer.Option(
        None, "--ids", help="Only these papers (ids, arXiv ids, DOIs); repeat or separate with commas."
    ),
    subarea: str = typer.Option(None, "--subarea", help="Only papers in this sub-area (key)."),
    source: str = typer.Option(None, "--source", help="Only papers first seen from this source."),
    as_json: bool = typer.Option(False, "--json", help="Print the run's report as JSON."),
) -> None:
    """Give every paper not yet enriched a card in the target language: translated title, TL;DR,
    six-part reading, keywords and digest, each checked by the faithfulness guard and the quality
    gate (the glossary included). A run that stopped (even killed) resumes where it left off.

    Exit code 1 when some papers failed (each is listed, and stored as failed with its reason);
    3 when every paper failed or the backend cannot be reached (the fault is not the papers'), or
    when another enrich is running on the same database."""
    from ..enrich.pipeline import RunAborted, enrich_papers

    settings = _with_llm_options(
        common.settings(),
        backend=backend,
        base_url=base_url,
        model=model,
        lang=lang,
        concurrency=concurrency,
        thinking=thinking,
    )
    common.ready_embedded_model(settings)
    with common.open_store() as store:
        paper_ids = None
        if ids:
            refs = [r.strip() for chunk in ids for r in chunk.split(",") if r.strip()]
            try:
                paper_ids = [store.resolve(ref) for ref in refs]
            except KeyError as exc:
                common.fail(f"--ids: no paper {exc.args[0]!r} in {store.path}")
        with common.progress_bar("{task.fields[stats]}") as bar:
            task = bar.add_task(f"enrich ({settings.llm.lang})", total=None, stats="")

            def show(report: RunReport) -> None:
                bar.update(task, total=report.total, completed=report.done, stats=_live_stats(report))

            try:
                report = enrich_papers(
                    store,
                    settings,
                    paper_ids=paper_ids,
                    subarea=subarea,
                    source=source,
                    limit=limit,
                    force=force,
                    progress=show,
                )
            except RunAborted as exc:
                common.fail(
                    f"enrich stopped: {exc}. Check the backend settings; a new run resumes this one.",
                    code=common.ENVIRONMENT,
                )
            except LLMError as exc:  # the backend cannot start or cannot be reached
                common.fail(f"enrich: {exc}", code=common.ENVIRONMENT)
            except ValueError as exc:  # a setting or the glossary file
                common.fail(f"enrich: {exc}")
    if as_json:
        common.print_json(report.as_dict())
    else:
        _print_summary(report)
    if report.failed and report.failed == report.done:
        # not one card: the backend (down, misconfigured, failing every request), not the papers
        common.fail(
            f"no paper could be enriched: all {report.failed} failed; check the backend ({report.model})",
            code=common.ENVIRONMENT,
        )
    if report.failed:
        raise typer.Exit(common.SOME_FAILED)


@runs_app.command("list")
def list_runs(
    kind: str = typer.Option(None, "--kind", help="Only runs of this kind, e.g. enrich."),
    limit: int = typer.Option(20, "--limit", "-n", help="At most this many runs, newest first."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """List recent runs with their parameters, state and stats."""
    with common.open_store() as store:
        runs = store.runs(kind, limit)
    if as_json:
        common.print_json(runs)
        return
    table = Table("id", "kind", "status", "started", "papers", "ok/flag/poor/fail", "papers/s", "tokens", "cost")
    for run in runs:
        s = run["stats"]
        enrich_stats = "ok" in s
        table.add_row(
            str(run["id"]),
            run["kind"],
            run["status"],
            run["started_at"][:16].replace("T", " "),
            str(s.get("done", "")),
            f"{s['ok']}/{s['flagged']}/{s.get('poor', 0)}/{s['failed']}" if enrich_stats else "",
            f"{s.get('papers_per_s', 0):.2f}" if enrich_stats else "",
            f"{s.get('tokens_in', 0) + s.get('tokens_out', 0):,}" if enrich_stats else "",
            f"${s.get('cost', 0):.4f}" if enrich_stats else "",
        )
    common.Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("enrich")(enrich)
    app.add_typer(runs_app, name="runs")
