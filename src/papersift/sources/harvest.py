"""Incremental fetching: remember how far each source+query got, ask only for what is new.

The cursor lives in the store's ``sync_state`` table under ``(source, key)``. It moves only
when a harvest finishes: a harvest that stops part-way keeps what it stored (see
:func:`~papersift.sources.base.ingest_stream`) but leaves the cursor where it was, so the next
run asks for the missing part again (upserts are idempotent, so the overlap costs nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..models import Paper
from ..store import Store
from .base import IngestReport, RecordError, ingest_stream


def harvest(
    store: Store,
    *,
    source: str,
    key: str,
    fetch: Callable[[str | None], Iterable[Paper | RecordError]],
    cursor: Callable[[Paper], str | None],
    full: bool = False,
    on_item: Callable[[], None] | None = None,
) -> IngestReport:
    """Run ``fetch(since)`` into the store and advance the cursor to the largest ``cursor(record)``.

    ``since`` is the saved cursor, or None with ``full`` (or on the first run); the cursor never
    moves backwards. Cursors are
    compared as strings, so they must sort like their values (ISO dates, zero-padded numbers).
    """
    saved = store.get_state(source, key)
    since = None if full else saved
    newest = saved

    def seen(_paper_id: str, record: Paper) -> None:
        nonlocal newest
        value = cursor(record)
        if value is not None and (newest is None or value > newest):
            newest = value

    report = ingest_stream(store, fetch(since), on_item=on_item, on_stored=seen)
    if newest != saved:
        store.set_state(source, key, newest)
    return report
