"""The app factory: ``create_app(settings)`` gives a FastAPI app over one papersift store.

Each request opens its own connection to the store (SQLite in WAL mode: readers never wait for
the writer), so the app can run beside ``ingest`` and ``enrich`` on the same file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..config import Settings, load_settings
from ..publish.render import STATIC_DIR as PUBLISH_STATIC
from ..search.selection import Catalog
from ..store import Store, describe_database_error
from ..taxonomy import Labeller
from . import api, pages
from .security import Guard, csrf_guard
from .views import web_environment

WEB_STATIC = Path(__file__).with_name("static")


def create_app(settings: Settings | None = None) -> FastAPI:
    """A web app over ``settings.db``; when ``settings.web_token`` is set, every request needs it."""
    settings = settings or load_settings()
    Store(settings.db).close()  # create or migrate the database once, before any request
    app = FastAPI(
        title="papersift",
        version=__version__,
        description="Browse, search, read and curate research papers. State-changing requests need the CSRF token.",
        docs_url="/api/docs",
        redoc_url=None,
        dependencies=[Depends(csrf_guard)],
    )
    app.state.settings = settings
    app.state.lang = settings.llm.lang
    app.state.catalog = Catalog(settings.llm.lang, area_key=Labeller(settings.llm.lang, settings).area_key)
    app.state.env = web_environment(settings.llm.lang)
    app.add_middleware(Guard, token=settings.web_token)
    app.mount("/static/publish", StaticFiles(directory=PUBLISH_STATIC), name="publish-static")
    app.mount("/static/web", StaticFiles(directory=WEB_STATIC), name="web-static")
    app.include_router(pages.router)
    app.include_router(api.router)

    @app.exception_handler(sqlite3.OperationalError)
    async def database_unavailable(_request: Request, exc: sqlite3.OperationalError) -> JSONResponse:
        # Locked past busy_timeout by a long writer, read-only or full: the user's to wait for or
        # fix, said in one line, not a 500 with a traceback in the server's log.
        return JSONResponse(
            {"detail": describe_database_error(exc, settings.db, settings.busy_timeout)},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    return app
