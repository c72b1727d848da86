"""``papersift daily``: the whole chain in one command, for a timer or cron."""

from __future__ import annotations

import typer

from . import common


def register(app: typer.Typer) -> None:
    app.command("daily")(daily)


def daily(
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Fetch, enrich and send nothing: rank the papers waiting and show what would be delivered.",
    ),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Fetch every configured source, embed, classify, enrich what is new or stale, rank for the
    reader, write the day's synthesis, publish and deliver, as the config file's daily section says.

    Safe to run twice (nothing is delivered twice) and to kill (the next run resumes); a second
    run while one is going says so and exits with code 3. Exit code 1 when any source, stage or
    channel failed; the rest still runs.
    """
    from ..daily import run_daily
    from ..store import JobRunning

    settings = common.settings()
    if not dry_run:
        common.ready_embedded_model(settings)
    with common.console.status("starting", spinner="dots") as status:

        def progress(message: str) -> None:
            status.update(message)
            if not common.console.is_terminal:
                return
            common.console.log(message, highlight=False)

        try:
            report = run_daily(settings, dry_run=dry_run, progress=progress)
        except JobRunning as exc:
            common.fail(str(exc), code=common.ENVIRONMENT)
        except ValueError as exc:
            common.fail(str(exc))
    if as_json:
        common.print_json(report.as_dict())
    else:
        print_summary(report)
    if report.failed:
        raise typer.Exit(common.SOME_FAILED)


def print_summary(report) -> None:
    from rich.table import Table

    console = common.console
    for source in report.sources:
        line = f"{source['name']}: " + (
            f"[red]failed[/]: {source['error']}"
            if source["error"]
            else f"[green]{source['new']} new[/], {source['updated']} updated"
        )
        console.print(line, highlight=False)
    if not report.dry_run:
        e = report.enriched
        console.print(
            f"embedded {report.embedded}, classified {report.classified}; enriched {e['ok']} ok, {e['poor']} poor, "
            f"{e['flagged']} flagged, {e['failed']} failed ({e['stale']} stale); "
            f"tokens {report.tokens_in} in / {report.tokens_out} out, cost ${report.cost:.4f}",
            highlight=False,
        )
    if report.picks:
        table = Table(
            title=f"{'would deliver' if report.dry_run else 'digest'}: {len(report.picks)} of {report.considered} new paper(s)"
        )
        for column in ("#", "score", "title", "why"):
            table.add_column(column)
        for i, pick in enumerate(report.picks, start=1):
            table.add_row(str(i), f"{pick['score']:.3f}", pick["title"] or pick["id"], "; ".join(pick["why"]))
        console.print(table)
    else:
        console.print("no new papers since the last digest", highlight=False)
    if report.synthesis != "off":
        console.print(
            f"synthesis: {report.synthesis}" + (f" ({report.synthesis_note})" if report.synthesis_note else ""),
            highlight=False,
        )
    for d in report.deliveries:
        status = (
            "[green]sent[/]"
            if d["status"] == "sent"
            else f"[red]{d['status']}[/]" + (f": {d['error']}" if d["error"] else "")
        )
        console.print(f"digest {d['digest_id']} → {d['channel']}: {status} (attempts {d['attempts']})", highlight=False)
    for note in report.notes:
        console.print(f"[yellow]note[/]: {note}", highlight=False)
    for error in report.errors:
        console.print(f"[red]error[/]: {error}", highlight=False)
    console.print(
        f"done in {report.elapsed:.1f} s" + (" [red]with failures[/]" if report.failed else ""), highlight=False
    )
