"""The paper store: one SQLite file that every stage reads and writes.

WAL mode, append-only migrations keyed on ``PRAGMA user_version``, an FTS5 index, and every
write inside a transaction. Each table belongs to one module of this package, which alone runs
SQL on it; :class:`Store` combines them:

- :mod:`.schema`: the migrations (every table's definition) and the checks of a database file
- :mod:`.papers`: papers, their source records, keys, versions, full text and search index
- :mod:`.topics`: topics set by a model or a user, training labels, predictions
- :mod:`.enrichments`: cards and deep-dives
- :mod:`.vectors`: embeddings
- :mod:`.curation`: a reader's stars, hides, read marks and notes
- :mod:`.calls`: the LLM call log and cache
- :mod:`.runs`: runs, their items, the sync cursors
- :mod:`.daily`: the daily run's digests and deliveries
- :mod:`.catalog` and :mod:`.search`: read-only views across those tables for the catalog and search
- :mod:`.base`: the connection and its transactions (no table)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import StoreError, describe_database_error, now
from .calls import CallTables
from .curation import CurationTables
from .daily import DailyTables
from .enrichments import EnrichmentTables
from .listings import CatalogQueries
from .papers import UpsertStatus
from .runs import JobRunning, RunTables
from .schema import MIGRATIONS, Schema
from .search import SearchQueries
from .topics import TopicTables
from .vectors import VectorTables

__all__ = ["MIGRATIONS", "JobRunning", "Store", "StoreError", "UpsertStatus", "describe_database_error", "now"]


class Store(
    Schema,
    TopicTables,
    EnrichmentTables,
    VectorTables,
    CurationTables,
    CallTables,
    RunTables,
    DailyTables,
    CatalogQueries,
    SearchQueries,
):
    """A papersift database. Open one per thread; connections are not shared."""

    def __init__(self, path: str | Path, *, readonly: bool = False, busy_timeout: float = 30.0):
        super().__init__(path, readonly=readonly, busy_timeout=busy_timeout)
        if not readonly:
            self.migrate()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        return {**self.paper_stats(), "enrichments": self.enrichment_counts()}
