"""Which papers pass a filter, and the catalog's pages and facet counts, over an in-memory column snapshot.

The one engine behind :class:`~papersift.search.filters.Filters`: search ranks only the papers it
lets through, the catalog lists and counts them, so the CLI, the web pages and the API agree on
what a filter means.

SQLite answers one filter fast when an index fits it, but a page of the catalog wants the
filtered list *and* eight facet counts under any mix of filters; at 100,000 papers that is
hundreds of milliseconds of row lookups. So the snapshot keeps the few columns facets need (from
the narrow ``paper_facets`` and ``paper_keywords`` tables, the enrichment statuses and the
curation flags) as numpy arrays, newest paper first: a filter is a boolean mask, a page is a
slice of its positions, a facet is a ``bincount``. Each part is reloaded when its change counter
(kept by triggers in the store) moves, so a star reloads only the flags.
"""

from __future__ import annotations

import copy
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from ..models import Paper
from ..store import Store
from ..taxonomy import Labeller
from .filters import STATUSES, Filters
from .keywords import facet_labels, keyword_key

if TYPE_CHECKING:
    from ..config import Settings

AreaKey = Callable[[str | None, str | None], str | None]  # (area as stored, sub-area) -> the area's key
PER_PAGE = 50
MAX_PER_PAGE = 200
FACET_LIMIT = 20
ALLOWED_MOST_SHARE = (
    0.5  # above this share of the store, a ranker filters its hits rather than being told the allowed rowids
)
FACET_CACHE = 256  # filter sets whose counts are kept until the store changes
SYNC_RELOAD_BELOW = 20_000  # papers: a smaller store reloads before answering (well under 100 ms)


class Page(BaseModel):
    ids: list[str]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


class FacetValue(BaseModel):
    value: str
    count: int


class Facets(BaseModel):
    """Counts of the matching papers by each facet's values, largest first (months newest first)."""

    area: list[FacetValue] = []
    subarea: list[FacetValue] = []
    keyword: list[FacetValue] = []
    source: list[FacetValue] = []
    venue: list[FacetValue] = []
    month: list[FacetValue] = []
    status: list[FacetValue] = []
    flags: list[FacetValue] = Field([], description="starred, read and hidden counts")


# --- the snapshot -----------------------------------------------------------------------------------


@dataclass
class Column:
    """A categorical column: a code per paper (-1 for none) and the values the codes stand for."""

    codes: np.ndarray
    values: list[str]
    index: dict[str, int]

    @classmethod
    def of(cls, raw: list[str | None]) -> Column:
        return Codes().add(raw).column()

    def mapped(self, value_of: Callable[[str], str | None], order: np.ndarray | None = None) -> Column:
        """This column with each value replaced by ``value_of`` it (a day by its month), once per
        distinct value, its papers in ``order`` where given."""
        other = Column.of([value_of(v) for v in self.values])
        recode = np.append(other.codes, -1)  # code -1 (no value) indexes the last slot
        codes = recode[self.codes]
        return Column(codes if order is None else codes[order], other.values, other.index)

    def ranks(self) -> np.ndarray:
        """Each paper's value's place in sorted order (-1 for none): ISO dates sort by time."""
        rank_of_code = np.empty(len(self.values) + 1, dtype=np.int64)
        rank_of_code[sorted(range(len(self.values)), key=self.values.__getitem__)] = np.arange(len(self.values))
        rank_of_code[-1] = -1  # code -1 (no value) indexes the last slot
        return rank_of_code[self.codes]

    def code(self, value: str) -> int:
        return self.index.get(value, -2)  # -2 matches nothing

    def where(self, passes: Callable[[str], bool]) -> np.ndarray:
        """Which papers have a value that ``passes`` (the test runs once per distinct value)."""
        codes = [code for code, value in enumerate(self.values) if passes(value)]
        return np.isin(self.codes, np.array(codes, dtype=self.codes.dtype))

    def counts(self, mask: np.ndarray, limit: int | None = FACET_LIMIT) -> list[FacetValue]:
        codes = self.codes[mask]
        counts = np.bincount(codes[codes >= 0], minlength=len(self.values))
        present = np.flatnonzero(counts)
        if limit is not None and len(present) > limit:
            # the top ``limit`` by count (ties at the cut all kept, then sorted by value below)
            cut = np.partition(counts[present], len(present) - limit)[len(present) - limit]
            present = present[counts[present] >= cut]
        ranked = sorted(present, key=lambda i: (-counts[i], self.values[i]))[:limit]
        return [FacetValue(value=self.values[i], count=int(counts[i])) for i in ranked]


class Codes:
    """A column's codes built a chunk of rows at a time: the index of values grows as they come."""

    def __init__(self) -> None:
        self.index: dict = {}
        self.parts: list[np.ndarray] = []

    def add(self, raw: list) -> Codes:
        index = self.index
        self.parts.append(
            np.fromiter((-1 if v is None else index.setdefault(v, len(index)) for v in raw), np.int32, len(raw))
        )
        return self

    def column(self, order: np.ndarray | None = None) -> Column:
        codes = np.concatenate(self.parts) if self.parts else np.empty(0, dtype=np.int32)
        return Column(codes if order is None else codes[order], list(self.index), self.index)


class Snapshot:
    """The catalog's columns, position 0 the newest paper (published descending, then rowid)."""

    def __init__(self, store: Store, lang: str, area_key: AreaKey | None = None):
        self.lang = lang
        self._area_key = area_key
        self._load_papers(store)
        self._load_enrichments(store)
        self._load_curation(store)

    def _load_papers(self, store: Store) -> None:
        chunks: list[np.ndarray] = []
        columns = {name: Codes() for name in ("areas", "source", "venue", "day")}
        for rows in store.facet_rows():  # a chunk at a time, each column kept as codes
            chunks.append(_rowids(rows))
            columns["areas"].add([(r[1], r[2]) for r in rows])
            for name, i in (("source", 3), ("venue", 4), ("day", 5)):
                columns[name].add([r[i] for r in rows])
        rowids = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
        day = columns["day"].column()
        # newest first (no date last), then the later rowid: sorted here, cheaper than ORDER BY
        order = np.lexsort((rowids, day.ranks()))[::-1]
        self.rowids = rowids[order]
        self._by_rowid = np.argsort(self.rowids)
        self._sorted_rowids = self.rowids[self._by_rowid]
        areas = columns["areas"].column()
        # a source may give an area's label (the shared catalog does), the classifier its key:
        # one facet value per area either way
        area_of = (lambda pair: self._area_key(*pair)) if self._area_key else (lambda pair: pair[0])
        self.columns = {
            "area": areas.mapped(area_of, order),
            "subarea": areas.mapped(lambda pair: pair[1], order),
            "source": columns["source"].column(order),
            "venue": columns["venue"].column(order),
            "day": Column(day.codes[order], day.values, day.index),
            "month": day.mapped(lambda value: value[:7], order),
        }
        self._load_keywords(store)

    def _load_keywords(self, store: Store) -> None:
        positions, spelled = [], Codes()
        for rows in store.keyword_rows(self.lang):
            positions.append(self.positions(_rowids(rows)))
            spelled.add([r[1] for r in rows])
        spellings = spelled.column()
        papers_with = np.bincount(spellings.codes, minlength=len(spellings.values))
        labels = facet_labels(dict(zip(spellings.values, papers_with.tolist())), self.lang)
        column = spellings.mapped(labels.__getitem__)  # LLM, LLMs, Large Language Models: one value
        positions = np.concatenate(positions) if positions else np.empty(0, dtype=np.int64)
        pairs = np.unique(np.stack([positions, column.codes]), axis=1) if len(positions) else np.empty((2, 0), np.int64)
        keep = pairs[0] >= 0  # a paper with two spellings of one keyword counts once
        codes = pairs[1][keep].astype(column.codes.dtype)
        self.keyword_paper, self.keywords = pairs[0][keep], Column(codes, column.values, column.index)

    # each loader builds its arrays aside and assigns them at the end: a copy of the snapshot can
    # reload one part while requests read the original

    def _load_enrichments(self, store: Store) -> None:
        rows = store.enrichment_status_rows(self.lang)
        status = np.zeros(len(self.rowids), dtype=np.int8)  # 0: pending
        codes = np.array([STATUSES.index(r[1]) if r[1] in STATUSES else 0 for r in rows], dtype=np.int8)
        self._set(status, _rowids(rows), codes)
        self.status = status

    def _load_curation(self, store: Store) -> None:
        rows = store.curation_rows()
        flags = {}
        for i, name in enumerate(("starred", "read", "hidden"), 1):
            flags[name] = np.zeros(len(self.rowids), dtype=bool)
            self._set(flags[name], _rowids(rows), np.array([bool(r[i]) for r in rows], dtype=bool))
        self.flags = flags

    def positions(self, rowids: np.ndarray) -> np.ndarray:
        """Positions of these papers in the snapshot (-1 for rowids it does not have)."""
        if not len(self.rowids):
            return np.full(len(rowids), -1, dtype=np.int64)
        i = np.minimum(np.searchsorted(self._sorted_rowids, rowids), len(self.rowids) - 1)
        return np.where(self._sorted_rowids[i] == rowids, self._by_rowid[i], -1)

    def _set(self, target: np.ndarray, rowids: np.ndarray, values: np.ndarray) -> None:
        positions = self.positions(rowids)
        keep = positions >= 0
        target[positions[keep]] = values[keep]

    # --- queries -------------------------------------------------------------------------------

    def mask(self, filters: Filters, *, hidden_rule: bool = True, within: np.ndarray | None = None) -> np.ndarray:
        """Which papers pass ``filters`` (``hidden_rule=False``: hidden or not; ``within``: positions)."""
        mask = np.ones(len(self.rowids), dtype=bool)
        if within is not None:
            mask[:] = False
            mask[within] = True
        for name in ("subarea", "source", "month"):
            value = getattr(filters, name)
            if value is not None:
                mask &= self.columns[name].codes == self.columns[name].code(value)
        if filters.area is not None:  # by its key or its label: the column holds the key
            area = self._area_key(filters.area, None) if self._area_key else filters.area
            mask &= self.columns["area"].codes == self.columns["area"].code(area)
        if filters.venue:
            venue = filters.venue.lower()
            mask &= self.columns["venue"].where(lambda v: venue in v.lower())
        if filters.day is not None:
            mask &= self.columns["day"].codes == self.columns["day"].code(filters.day.isoformat())
        if filters.date_from or filters.date_to:
            since = filters.date_from.isoformat() if filters.date_from else ""
            until = filters.date_to.isoformat() if filters.date_to else "9999"
            mask &= self.columns["day"].where(lambda d: since <= d[:10] <= until)
        if filters.keyword is not None:
            key = keyword_key(filters.keyword, self.lang)
            having = np.zeros(len(self.rowids), dtype=bool)
            having[self.keyword_paper[self.keywords.where(lambda k: keyword_key(k, self.lang) == key)]] = True
            mask &= having
        if filters.status is not None:
            mask &= self.status == STATUSES.index(filters.status)
        for flag in ("starred", "read"):
            value = getattr(filters, flag)
            if value is not None:
                mask &= self.flags[flag] == value
        if hidden_rule:
            mask &= self.flags["hidden"] == filters.hidden
        return mask

    def page(self, filters: Filters, page: int, per_page: int) -> tuple[list[int], int]:
        """Rowids of one page, newest first, and how many papers match in all."""
        matching = np.flatnonzero(self.mask(filters))
        start = (page - 1) * per_page
        return [int(r) for r in self.rowids[matching[start : start + per_page]]], len(matching)

    def facets(self, filters: Filters, within: np.ndarray | None = None) -> Facets:
        mask = self.mask(filters, within=within)
        facets = Facets(**{name: self.columns[name].counts(mask) for name in ("area", "subarea", "source", "venue")})
        months = self.columns["month"].counts(mask, limit=None)
        facets.month = sorted(months, key=lambda v: v.value, reverse=True)[:24]
        facets.keyword = self.keywords.counts(mask[self.keyword_paper]) if len(self.keyword_paper) else []
        statuses = np.bincount(self.status[mask], minlength=len(STATUSES))
        facets.status = [
            FacetValue(value=STATUSES[i], count=int(statuses[i]))
            for i in np.argsort(-statuses, kind="stable")
            if statuses[i]
        ]
        unhidden = self.mask(filters, hidden_rule=False, within=within)  # else "hidden" would always count 0
        facets.flags = [
            FacetValue(value=name, count=int(np.count_nonzero(self.flags[name] & unhidden))) for name in self.flags
        ]
        return facets


def _rowids(rows: list[tuple]) -> np.ndarray:
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


class Catalog:
    """The app's snapshot of one store, each part reloaded when the store's change counters move.

    A star or a note reloads only the flags, at once. New or changed papers or enrichments mean
    reloading columns over the whole store (about a second at 100,000 papers): below
    ``sync_below`` papers that happens before the request is answered; above it, in a background
    thread, while requests are answered from the previous snapshot (plus fresh flags), so an
    ingest or an enrich run beside the app never makes every page wait.
    """

    def __init__(self, lang: str, sync_below: int = SYNC_RELOAD_BELOW, area_key: AreaKey | None = None):
        self.lang = lang
        self.sync_below = sync_below
        self.area_key = area_key
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._counters: dict[str, int] = {}
        self._facets: dict[tuple, Facets] = {}  # by filter set, for the snapshot in use
        self._worker: threading.Thread | None = None

    def snapshot(self, store: Store) -> Snapshot:
        counters = (
            store.change_counters()
        )  # read before loading: a write during the load means one more reload, never a miss
        with self._lock:
            snap, seen = self._snapshot, self._counters
            if snap is None:
                return self._install(Snapshot(store, self.lang, self.area_key), counters)
            heavy = any(counters[part] != seen[part] for part in ("papers", "enrichments"))
            if heavy and len(snap.rowids) < self.sync_below:
                return self._install(self._refreshed(snap, store, counters, seen), counters)
            if heavy:
                self._refresh_in_background(store.path)
            if counters["curation"] != seen["curation"]:
                snap = copy.copy(snap)  # requests still reading the old one keep it whole
                snap._load_curation(store)
                self._install(snap, {**seen, "curation": counters["curation"]})
            return self._snapshot

    def wait_for_refresh(self, timeout: float | None = None) -> None:
        """Until a background reload under way (if any) is done."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)

    def _refreshed(self, snap: Snapshot, store: Store, counters: dict[str, int], seen: dict[str, int]) -> Snapshot:
        if counters["papers"] != seen["papers"]:
            return Snapshot(store, self.lang, self.area_key)
        snap = copy.copy(snap)
        snap._load_enrichments(store)
        snap._load_keywords(store)  # generated keywords come with enrichments
        if counters["curation"] != seen["curation"]:
            snap._load_curation(store)
        return snap

    def _install(self, snap: Snapshot, counters: dict[str, int]) -> Snapshot:
        if snap is not self._snapshot:
            self._facets = {}
        self._snapshot, self._counters = snap, counters
        return snap

    def _refresh_in_background(self, path) -> None:
        if self._worker is not None and self._worker.is_alive():
            return

        def reload() -> None:
            with Store(path) as store:
                counters = store.change_counters()
                fresh = Snapshot(store, self.lang, self.area_key)
            with self._lock:
                self._install(fresh, counters)

        self._worker = threading.Thread(target=reload, name="papersift-catalog-reload", daemon=True)
        self._worker.start()

    def page(self, store: Store, filters: Filters, page: int = 1, per_page: int = PER_PAGE) -> Page:
        rowids, total = self.snapshot(store).page(filters, page, per_page)
        return Page(ids=ids_of_rowids(store, rowids), total=total, page=page, per_page=per_page)

    def facets(self, store: Store, filters: Filters, within_ids: list[str] | None = None) -> Facets:
        snap = self.snapshot(store)
        if within_ids is None:
            key = tuple(sorted(filters.active().items()))
            with self._lock:
                facets = self._facets.get(key) if snap is self._snapshot else None
            if facets is None:
                facets = snap.facets(filters)
                with self._lock:
                    if snap is self._snapshot:
                        if len(self._facets) >= FACET_CACHE:
                            self._facets.pop(next(iter(self._facets)))
                        self._facets[key] = facets
            return facets
        within = None
        if within_ids is not None:
            within = snap.positions(np.array(list(store.rowids_by_id(within_ids).values()), dtype=np.int64))
            within = within[within >= 0]
        return snap.facets(filters, within)

    def allowed(self, store: Store, filters: Filters) -> Selection:
        """The papers a search may rank."""
        if not filters.active() and not store.any_hidden():
            return Selection(None)  # the empty filter leaves out hidden papers only: no snapshot to load
        snap = self.snapshot(store)
        mask = snap.mask(filters)
        passing = np.count_nonzero(mask)
        if passing == len(mask):
            return Selection(None)
        return Selection(np.sort(snap.rowids[mask]), most=passing > ALLOWED_MOST_SHARE * len(mask))


@dataclass(frozen=True)
class Selection:
    """The papers that pass a filter, as a ranker needs them."""

    rowids: np.ndarray | None  # sorted; None when every paper passes
    most: bool = False  # they are most of the store: cheaper to drop the others from a ranking than to name them all


EVERY_PAPER = Selection(None)


def ids_of_rowids(store: Store, rowids: list[int]) -> list[str]:
    """Paper ids in the order of ``rowids`` (missing ones left out)."""
    found = store.ids_by_rowid(rowids)
    return [found[r] for r in rowids if r in found]


def papers_by_id(store: Store, ids: list[str]) -> list[Paper]:
    """Papers in the order of ``ids`` (missing ones left out)."""
    found = store.paper_json_by_id(ids)
    return [Paper.model_validate_json(found[i]) for i in ids if i in found]


_shared: dict[tuple[str, str], Catalog] = {}
_shared_lock = threading.Lock()


def shared_catalog(store: Store, settings: Settings) -> Catalog:
    """One catalog per database and reader's language for callers without their own (the CLI, the
    library): it reloads before answering whenever the store changed, however large."""

    key = (str(store.path.resolve()), settings.llm.lang)
    with _shared_lock:
        if key not in _shared:
            area_key = Labeller(settings.llm.lang, settings).area_key
            _shared[key] = Catalog(settings.llm.lang, sync_below=sys.maxsize, area_key=area_key)
        return _shared[key]
