"""``papersift llm models|chat|calls``: check that the LLM backend works, and read the call log."""

from __future__ import annotations

import asyncio
import json

import typer
from rich.table import Table

from . import common

llm_app = typer.Typer(
    cls=common.Commands, help="Check the LLM backend and read the log of LLM calls.", no_args_is_help=True
)


def _settings(backend: str | None, base_url: str | None, model: str | None):
    settings = common.settings()
    overrides = {k: v for k, v in {"backend": backend, "base_url": base_url, "model": model}.items() if v}
    if overrides:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update=overrides)})
    return settings


@llm_app.command("models")
def list_models(as_json: bool = common.JSON_OPTION) -> None:
    """List the packaged embedded models, whether they are installed, and the configured backend
    (with an OpenAI-compatible server: the models it serves)."""
    from ..llm import models

    settings = common.settings()
    rows = models.status()
    configured = settings.llm.embedded_model
    for row in rows:
        row["configured"] = settings.llm.backend == "embedded" and row["name"] == configured
    served = _served_models(settings) if settings.llm.backend == "openai" else None
    if as_json:
        common.print_json(
            {
                "backend": settings.llm.backend,
                "base_url": settings.llm.base_url,
                "model": settings.llm.model,
                "server_models": served,
                "embedded_model": configured,
                "packaged": rows,
            }
        )
        return
    out = common.Console()
    where = settings.llm.base_url or "the SDK default" if settings.llm.backend == "openai" else configured
    out.print(f"backend: [bold]{settings.llm.backend}[/] ({where})", highlight=False)
    if served is not None:
        out.print(f"served models: {', '.join(served) if isinstance(served, list) else served}", highlight=False)
    table = Table("name", "installed", "assembled", "size", "description")
    for row in rows:
        name = f"{row['name']} *" if row["configured"] else row["name"]
        table.add_row(
            name,
            "yes" if row["installed"] else "no",
            "yes" if row["assembled"] else "no",
            f"{row['size'] / 1e9:.2f} GB",
            row["description"],
        )
    out.print(table)


def _served_models(settings) -> list[str] | str:
    """The models an OpenAI-compatible server lists, or why it could not be asked."""
    from ..llm.base import LLMError
    from ..llm.openai_backend import OpenAIBackend

    async def ask() -> list[str]:
        backend = OpenAIBackend(settings.llm)
        try:
            return await backend.list_models()
        finally:
            await backend.aclose()

    try:
        return asyncio.run(ask())
    except LLMError as exc:
        return f"unavailable: {exc}"


@llm_app.command("chat")
def chat(
    prompt: str = typer.Argument(..., help="What to ask the model."),
    system: str = typer.Option(None, "--system", help="A system message to send first."),
    max_tokens: int = typer.Option(256, "--max-tokens", help="At most this many tokens in the reply."),
    thinking: str = typer.Option(None, "--thinking", help="off, on or budget:N (default: the setting)."),
    backend: str = typer.Option(
        None, "--backend", help="embedded, openai or an installed plugin's (default: the setting)."
    ),
    base_url: str = typer.Option(
        None, "--base-url", help="An OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1."
    ),
    model: str = typer.Option(None, "--model", help="The model name on that server."),
    as_json: bool = typer.Option(False, "--json", help="Print the reply, reasoning and token counts as JSON."),
) -> None:
    """Send one prompt to the configured backend and print the reply (nothing is cached or logged)."""
    from ..llm.base import LLMError, Thinking
    from ..llm.client import LLMClient

    settings = _settings(backend, base_url, model)
    common.ready_embedded_model(settings)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    try:
        mode = Thinking.parse(thinking) if thinking else None
    except ValueError as exc:
        common.fail(f"--thinking: {exc}")

    async def ask():
        async with LLMClient(settings) as client:
            return await client.chat(messages, max_tokens=max_tokens, thinking=mode), client.model

    try:
        result, used_model = asyncio.run(ask())
    except LLMError as exc:
        common.fail(str(exc), code=common.ENVIRONMENT)
    if as_json:
        common.print_json(
            {
                "text": result.text,
                "reasoning": result.reasoning,
                "model": result.model or used_model,
                "tokens_in": result.tokens_in,
                "tokens_out": result.tokens_out,
                "tokens_reasoning": result.tokens_reasoning,
                "finish_reason": result.finish_reason,
            }
        )
        return
    out = common.Console()
    if result.reasoning:
        out.print(f"[dim]{result.reasoning}[/]", highlight=False)
    typer.echo(result.text)
    out.print(
        f"[dim]{result.model or used_model}: {result.tokens_in} tokens in, {result.tokens_out} out[/]", highlight=False
    )


@llm_app.command("calls")
def calls(
    limit: int = typer.Option(20, "--limit", "-n", help="At most this many calls, newest first."),
    run: int = typer.Option(None, "--run", help="Only the calls of this run, with its totals."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """List logged LLM calls with their tokens, cost and errors."""
    with common.open_store() as store:
        rows = store.recent_calls(limit, run_id=run)
        totals = store.run_totals(run) if run is not None else None
    if as_json:
        common.print_json({"calls": rows, "totals": totals} if totals is not None else rows)
        return
    table = Table("id", "when", "run", "paper", "model", "in", "cached", "out", "reasoning", "cost", "s", "error")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["created_at"],
            str(r["run_id"] or ""),
            r["paper_id"] or "",
            r["model"] or "",
            str(r["tokens_in"]),
            str(r["tokens_cached"]),
            str(r["tokens_out"]),
            str(r["tokens_reasoning"]),
            f"{r['cost'] or 0:.4f}",
            f"{r['duration'] or 0:.1f}",
            (r["error"] or "")[:60],
        )
    out = common.Console()
    out.print(table)
    if totals is not None:
        out.print(json.dumps(totals), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(llm_app, name="llm")
