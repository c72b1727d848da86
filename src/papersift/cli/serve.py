"""``papersift serve``: the web app on one address (loopback unless told otherwise)."""

from __future__ import annotations

import socket

import typer

from . import common


def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; anything but loopback needs web_token (PAPERSIFT_WEB_TOKEN)."
    ),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
) -> None:
    """Browse, search, read and curate papers in a browser."""
    from ..web.security import MIN_TOKEN_CHARS, is_loopback

    settings = common.settings()
    if not is_loopback(host) and not settings.web_token:
        common.fail(
            f"refusing to serve on {host}: anyone who can reach it could read and change your papers. "
            'Set an access token first (PAPERSIFT_WEB_TOKEN=... or web_token = "..." in the config file), '
            "or serve on 127.0.0.1."
        )
    if settings.web_token and len(settings.web_token) < MIN_TOKEN_CHARS:
        common.fail(
            f"web_token is too short to guess-proof: use at least {MIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 16`)"
        )
    common.require_store()
    import uvicorn

    from ..store import StoreError
    from ..web import create_app

    try:
        app = create_app(settings)
    except StoreError as exc:
        common.fail(str(exc))
    listening = _bound(host, port)  # before saying it serves: a busy port is an error, not a promise
    shown = f"[{host}]" if ":" in host else host
    port = listening.getsockname()[1]  # the one the system chose, for --port 0
    common.console.print(f"papersift: serving {settings.db} on http://{shown}:{port}/", highlight=False)
    if settings.web_token:
        common.console.print(
            "papersift: open it once with ?token=<your web_token> (or send Authorization: Bearer)", highlight=False
        )
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listening])


def _bound(host: str, port: int) -> socket.socket:
    """A socket bound to the address, or one line that says why it cannot be (exit code 3)."""
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as exc:
        listening.close()
        common.fail(f"cannot serve on {host}:{port}: {common.os_cause(exc)}", code=common.ENVIRONMENT)
    return listening


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
