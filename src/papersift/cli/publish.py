"""``papersift publish catalog|digest|site`` and ``papersift deepdive``: what readers read."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from . import common

publish_app = typer.Typer(
    cls=common.Commands, help="Publish the catalog, the daily digest or a whole static site.", no_args_is_help=True
)

LANG_OPTION = typer.Option(
    None, "--lang", help="The reader's language for labels and readings (default: settings.llm.lang)."
)
OUTPUT_OPTION = typer.Option(None, "--output", "-o", help="Write this file (atomically) instead of printing.")


def _lang(lang: str | None) -> str:
    return lang or common.settings().llm.lang


def _emit(content: str | bytes, output: Path | None, what: str) -> None:
    from ..atomic import write_atomic

    if output is None:
        if isinstance(content, bytes):
            sys.stdout.buffer.write(content)
        else:
            sys.stdout.write(content)
        return
    try:
        write_atomic(output, content)
    except OSError as exc:
        common.fail(f"{output}: cannot write: {common.os_cause(exc)}", code=common.ENVIRONMENT)
    common.console.print(f"wrote {what} to {output}", highlight=False)


def _check_format(fmt: str, publication: str) -> None:
    """Fail before any work when ``--format`` names no format that writes ``publication``."""
    from ..publish.formats import FormatError, get_format

    try:
        get_format(fmt, publication)
    except FormatError as exc:
        common.fail(f"--format: {exc}")


def _render(publication: str, content, fmt: str, site_url: str | None = None) -> str | bytes:
    from ..publish.formats import RenderOptions, render

    return render(publication, content, fmt, RenderOptions(site_url=site_url))


@publish_app.command("catalog")
def publish_catalog(
    fmt: str = typer.Option(
        "md", "--format", "-f", help="md | html | json, or an installed format (papersift plugins list)."
    ),
    output: Path = OUTPUT_OPTION,
    lang: str = LANG_OPTION,
    order: str = typer.Option(
        None, "--order", help="Sub-area keys, comma-separated, to show first in this order (default: by paper count)."
    ),
) -> None:
    """Every paper by area and sub-area, one card each (format A)."""
    from ..publish import catalog

    _check_format(fmt, "catalog")
    keys = [k.strip() for k in order.split(",") if k.strip()] if order else []
    with common.open_store() as store:
        built = catalog.build_catalog(store, _lang(lang), settings=common.settings(), order=keys)
    _emit(_render("catalog", built, fmt), output, f"the catalog ({built.count} papers)")


@publish_app.command("digest")
def publish_digest(
    fmt: str = typer.Option(
        "md", "--format", "-f", help="md | html | json | rss | atom, or an installed format (papersift plugins list)."
    ),
    output: Path = OUTPUT_OPTION,
    on: str = typer.Option(None, "--date", help="Only this day (YYYY-MM-DD)."),
    since: str = typer.Option(None, "--since", help="Every day from this one on (YYYY-MM-DD)."),
    everything: bool = typer.Option(False, "--all", help="Every day in the store."),
    order: str = typer.Option("source", "--order", help="source | score | category"),
    lang: str = LANG_OPTION,
    site_url: str = typer.Option(
        None,
        "--site-url",
        help="Absolute address where the output is served (the feed's channel link); default: site_url in the config (PAPERSIFT_SITE_URL).",
    ),
) -> None:
    """Notable papers by day (format B).

    A paper's day is its published date, or the day it was stored when the source gave none. Without --date, --since or --all: the days after the newest day of the last digest (the first time, the newest day); every digest remembers its newest day for the next one.
    """
    from ..publish import digest

    _check_format(fmt, "digest")
    if order not in digest.ORDERS:
        common.fail(f"--order: unknown order {order!r}; use one of {', '.join(digest.ORDERS)}")
    if sum(x is not None for x in (on, since)) + everything > 1:
        common.fail("choose one of --date, --since and --all")
    with common.open_store() as store:
        built = digest.build_digest(
            store,
            _lang(lang),
            on=common.parse_day(on, "--date"),
            since=common.parse_day(since, "--since"),
            everything=everything,
            order=order,
            settings=common.settings(),
        )
        if not built.papers and on is None and since is None and not everything:
            last = digest.last_digest(store)
            common.console.print(
                f"no papers after {last}, the newest day of the last digest: nothing written "
                "(--all, --since or --date publish earlier days)"
                if last
                else f"no papers in {store.path} to publish",
                highlight=False,
            )
            return
        content = _render("digest", built, fmt, site_url=site_url or common.settings().site_url)
        _emit(content, output, f"the digest ({len(built.papers)} papers, {len(built.days)} days)")
        digest.mark_published(store, built)


@publish_app.command("site")
def publish_site(
    out: Path = typer.Option(..., "--out", help="The directory to write the site into."),
    lang: str = LANG_OPTION,
    order: str = typer.Option(None, "--order", help="Sub-area keys, comma-separated, to show first in the catalog."),
    digest_order: str = typer.Option("source", "--digest-order", help="source | score | category"),
    site_url: str = typer.Option(
        None,
        "--site-url",
        help="Absolute address where the site will be served (used in the feeds); default: site_url in the config (PAPERSIFT_SITE_URL).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Write the catalog by topic, daily digests, paper pages, deep-dives, a search page, feeds and assets: a site for any file server."""
    from ..publish.digest import ORDERS
    from ..publish.site import build_site

    if digest_order not in ORDERS:
        common.fail(f"--digest-order: unknown order {digest_order!r}; use one of {', '.join(ORDERS)}")
    keys = [k.strip() for k in order.split(",") if k.strip()] if order else []
    with common.open_store() as store:
        try:
            report = build_site(
                store,
                out,
                _lang(lang),
                settings=common.settings(),
                order=keys,
                digest_order=digest_order,
                site_url=site_url or common.settings().site_url,
            )
        except OSError as exc:
            common.fail(f"{out}: cannot write the site: {common.os_cause(exc)}", code=common.ENVIRONMENT)
    if as_json:
        common.print_json(report.model_dump(mode="json"))
    else:
        common.console.print(
            f"wrote {report.files} files ({report.papers} papers, {report.days} days, {report.deepdives} deep-dives) to {out}",
            highlight=False,
        )
        if not (site_url or common.settings().site_url):
            common.console.print(
                "the feeds link to a placeholder address: set --site-url, or site_url in the config "
                "(PAPERSIFT_SITE_URL), to where this site is served",
                highlight=False,
            )


def deepdive(
    paper: str = typer.Argument(..., help="A paper id, arXiv id, DOI or OpenReview id."),
    thinking_budget: int = typer.Option(
        None,
        "--thinking-budget",
        min=0,
        help="Stop the model's reasoning at N tokens; 0 turns thinking off (default: the budget of settings.llm.thinking, else 4096; off for a model without a thinking mode).",
    ),
    lang: str = LANG_OPTION,
    fmt: str = typer.Option(
        "md", "--format", "-f", help="md | html | json, or an installed format (papersift plugins list)."
    ),
    output: Path = OUTPUT_OPTION,
    pdf: Path = typer.Option(None, "--pdf", help="Read the full text from this PDF (and keep it in the store)."),
    context: int = typer.Option(
        None,
        "--context",
        min=256,
        help="The model's context window in tokens, the embedded engine started with it (default: the embedded model's own window, 32768 for the packaged one; 32768 for a server); a longer paper is read section by section.",
    ),
) -> None:
    """Write a deep-dive article on one paper from its full text (format C).

    The article is also kept in the store: `publish site` and the web app show it beside the paper.
    """
    from ..enrich import deepdive as dd
    from ..llm.base import LLMError

    _check_format(fmt, "deepdive")
    common.ready_embedded_model(common.settings())
    try:
        settings, options, notes = dd.plan(
            common.settings(), lang=_lang(lang), thinking_budget=thinking_budget, context=context
        )
    except ValueError as exc:
        common.fail(f"settings llm.thinking: {exc}")
    except LLMError as exc:  # the embedded model cannot be found or read
        common.fail(str(exc), code=common.ENVIRONMENT)
    for note in notes:
        common.console.print(note, highlight=False)
    with common.open_store() as store, common.progress_bar() as bar:
        task = bar.add_task(f"deepdive ({options.lang})", total=None)
        try:
            dive = dd.deepdive(
                store,
                paper,
                settings,
                options,
                pdf=pdf,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except dd.DeepDiveError as exc:
            common.fail(str(exc))
    for warning in dive.warnings:
        common.console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if dive.status == "flagged":
        common.console.print("[yellow]flagged by the faithfulness guard:[/]", highlight=False)
        for reason in dive.reasons:
            common.console.print(f"  - {reason}", highlight=False, markup=False)
    _emit(
        _render("deepdive", dive, fmt),
        output,
        f"the deep-dive ({dive.length} characters, {dive.mode}, {dive.calls} calls)",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(publish_app, name="publish")
    app.command("deepdive")(deepdive)
