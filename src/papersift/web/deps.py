"""What the routes depend on (FastAPI dependencies): the store, the settings, the catalog, the
labeller and a paper's id. Apart from the app factory, so that the routes and the factory do not
import each other."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import HTTPException, Request

from ..config import Settings
from ..search.selection import Catalog
from ..store import Store
from ..taxonomy import Labeller


def get_store(request: Request) -> Iterator[Store]:
    """One connection per request, closed when the response is done."""
    settings = request.app.state.settings
    store = Store(settings.db, busy_timeout=settings.busy_timeout)
    try:
        yield store
    finally:
        store.close()


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def get_labeller(request: Request) -> Labeller:
    return Labeller(request.app.state.lang, request.app.state.settings)


def require_paper(store: Store, paper_id: str) -> str:
    """The paper's id from any of its ids (arXiv, DOI, ...), or 404."""
    try:
        return store.resolve(paper_id)
    except KeyError:
        raise HTTPException(404, f"no paper {paper_id!r}") from None
