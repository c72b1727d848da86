"""Hybrid search: FTS5 BM25 and vector KNN over the store, fused by reciprocal rank.

Lexical: BM25 over ``papers_fts`` (title, abstract, keywords, translated text). Chinese is
segmented with :func:`papersift.text.segment` on both sides. A user's query is never handed to
FTS5 as syntax: it is cut into words and each is quoted, so unbalanced quotes, ``AND``/``NEAR``,
``*`` or ``col:`` are searched as the words they contain. A balanced ``"..."`` stays a phrase.

Vector: the vector searcher of :mod:`.index`: exact brute force over the float32 matrix below
``INDEX_FROM`` vectors (or with ``exact``), the bit-code index with exact rescoring from it on.
Both are cached per database and follow every embed run; see bench/search.py and bench/vectors.py.

Filters: both rankers rank only the papers the catalog (:mod:`papersift.search.selection`) lets
through, so a filtered search ranks as if the store held only those papers. :func:`search_papers` is
the one entry point: ``papersift search``, the web's search page and ``/api/search`` all call it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, Field

from ..config import load_settings
from ..models import Paper
from ..store import Store
from ..text import segment
from .embeddings import (
    Embedder,
    EmbeddingError,
    VectorCoverage,
    embedder_name,
    get_embedder,
    paper_text,
    vector_coverage,
    vectors_for,
)
from .filters import Filters
from .index import vector_searcher
from .lexical import lexical_index
from .selection import EVERY_PAPER, Catalog, Selection, papers_by_id, shared_catalog

if TYPE_CHECKING:
    from ..config import Settings

Mode = Literal["auto", "hybrid", "lexical", "vector"]
MODES: tuple[str, ...] = ("auto", "hybrid", "lexical", "vector")
# How deep each method's list goes before fusion, and so how many papers a search ranks at most.
DEPTH = 100
# Weighted reciprocal-rank fusion: score = sum of weight / (RRF_K + rank). Measured on the judged
# queries of tests/test_search.py (recall@10, English / Chinese): BM25 0.80 / 0.10, USE vectors
# 0.53 / 0.47; plain RRF (k=60, equal weights) 0.71 / 0.47, below BM25 in English because the
# weaker vector list pushes BM25's hits out of the top ten; vectors at half weight with k=20
# give 0.80 / 0.49. These defaults were chosen on that small judged set (there is no other).
RRF_K = 20
RRF_WEIGHTS = {"lexical": 1.0, "vector": 0.5}
# The fusion already knows the query's language: a Chinese query over English papers has few words
# to match, so its fused list is mostly its vectors' (recall@10 86.9% against 86.5% for the vectors
# alone and 38.9% for BM25, bench/fusion.py), and a query that names things (GRPO, Qwen3) keeps BM25
# ahead. Weights that let the vectors lead for such queries measured the same, so there is no rule.
# BM25 column weights: title, abstract, keywords, translated text
BM25_WEIGHTS = (3.0, 1.0, 2.0, 1.0)


class SearchError(Exception):
    """A search that cannot run: the message says why and what to do."""


class Hit(BaseModel):
    paper: Paper
    score: float = Field(description="fused RRF score (hybrid), -BM25 (lexical) or cosine (vector); higher is better")
    ranks: dict[str, int] = Field(default_factory=dict, description="1-based rank in each method that found it")

    def as_dict(self) -> dict:
        return {**self.paper.model_dump(mode="json"), "score": round(self.score, 6), "ranks": self.ranks}


class SearchResult(BaseModel):
    """One search: every paper it ranked (best first) and the papers of the page asked for."""

    mode: str = Field(
        description="the mode used: hybrid, lexical or vector (auto resolved); newest for a listing without words"
    )
    total: int = Field(
        description="papers found: those ranked (at most the search's depth), or for a listing all that pass the filters"
    )
    ids: list[str] = Field(description="every paper ranked, best first; for a listing, the page's")
    scores: dict[str, float] = Field(description="each paper's score in ids")
    hits: list[Hit] = Field(description="the page asked for, with the papers")
    vectors: VectorCoverage | None = Field(
        None, description="papers search found by words only; null when words were asked for"
    )


# --- the query --------------------------------------------------------------------------------

_PHRASE = re.compile(r'"([^"]*)"')


def _words(text: str) -> list[str]:
    # the same tokens unicode61 makes: runs of letters and digits (underscore is a separator)
    return re.findall(r"[^\W_]+", segment(text))


def fts_query(text: str) -> str | None:
    """A safe FTS5 MATCH expression for a user's query; None if it holds no word.

    Each word is quoted (so no FTS5 operator survives) and the words are OR-ed: BM25 then ranks
    papers that have more of them, and rarer ones, first. Balanced ``"..."`` become phrases.
    """
    parts: list[str] = []
    phrases = _PHRASE.findall(text) if text.count('"') % 2 == 0 else []
    rest = _PHRASE.sub(" ", text) if phrases else text
    for phrase in phrases:
        words = _words(phrase)
        if words:
            parts.append('"' + " ".join(words) + '"')
    parts += [f'"{word}"' for word in _words(rest)]
    return " OR ".join(dict.fromkeys(parts)) or None


def has_words(text: str) -> bool:
    return bool(_words(text))


# --- the two rankers ---------------------------------------------------------------------------


def lexical_ranking(store: Store, query: str, depth: int, allowed: Selection = EVERY_PAPER) -> list[tuple[int, float]]:
    """(rowid, BM25 score) best first, among the ``allowed`` papers: from the lexical index beside a
    large store, else from FTS5."""
    match = fts_query(query)
    if match is None or (allowed.rowids is not None and len(allowed.rowids) == 0):
        return []
    if index := lexical_index(store):
        return index.ranking(match, depth, allowed)
    return store.bm25_ranking(match, depth, BM25_WEIGHTS, allowed.rowids, allowed_is_most=allowed.most)


def vector_ranking(
    store: Store,
    query: str,
    depth: int,
    embedder: Embedder,
    allowed: Selection = EVERY_PAPER,
    exact: bool | None = None,
) -> list[tuple[int, float]]:
    """(rowid, cosine) best first, among the ``allowed`` papers; ``exact`` as in :func:`search_papers`."""
    if allowed.rowids is not None and len(allowed.rowids) == 0:
        return []
    searcher = vector_searcher(store, embedder.name, exact)
    if len(searcher.rowids) == 0:
        return []
    return searcher.nearest(embedder.embed([query])[0], depth, allowed.rowids)


def reciprocal_rank_fusion(
    rankings: dict[str, list[tuple[int, float]]], k: int = RRF_K, weights: dict[str, float] | None = None
) -> list[tuple[int, float, dict[str, int]]]:
    """(rowid, fused score, rank per method) best first; ties keep the first method's order."""
    weights = weights or RRF_WEIGHTS
    fused: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for method, ranking in rankings.items():
        for rank, (rowid, _) in enumerate(ranking, start=1):
            fused[rowid] = fused.get(rowid, 0.0) + weights.get(method, 1.0) / (k + rank)
            ranks.setdefault(rowid, {})[method] = rank
    order = sorted(fused, key=lambda r: -fused[r])
    return [(r, fused[r], ranks[r]) for r in order]


# --- the library calls -------------------------------------------------------------------------


def _hits(store: Store, scored: list[tuple[int, float, dict[str, int]]]) -> list[Hit]:
    papers = store.paper_json_by_rowid([r for r, _, _ in scored])
    return [
        Hit(paper=Paper.model_validate_json(papers[r]), score=s, ranks=ranks) for r, s, ranks in scored if r in papers
    ]


def search_papers(
    store: Store,
    query: str,
    *,
    filters: Filters | None = None,
    mode: Mode = "auto",
    limit: int = 20,
    page: int = 1,
    depth: int = DEPTH,
    embedder: Embedder | None = None,
    settings: Settings | None = None,
    catalog: Catalog | None = None,
    exact: bool | None = None,
) -> SearchResult:
    """The one search behind ``papersift search``, the web's search page and ``/api/search``: papers
    for a query, best first, among those that pass ``filters``.

    ``mode``: ``hybrid`` (BM25 and vectors fused by reciprocal rank), ``lexical``, ``vector``, or
    ``auto``: hybrid when the store has vectors of the configured model, else lexical. Each
    method ranks ``max(depth, limit)`` papers; the result holds them all (``ids``) and the
    papers of page ``page`` of ``limit`` (``hits``). A query with no word lists the papers
    that pass ``filters``, newest first; with no filter either, it is a :class:`SearchError`.
    ``catalog`` decides which papers pass (the web app's own, kept warm); by default one shared
    per database. Unless words only were asked for (``lexical``), the result says how many
    papers have no vector (search finds those by their words only). ``exact``: vectors scanned
    exactly (True) or through the index (False); by default the index from ``INDEX_FROM`` vectors.
    """
    if mode not in MODES:
        raise SearchError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
    if limit < 1 or page < 1:
        raise SearchError(f"limit and page must be at least 1, not {limit} and {page}")
    settings = settings or _default_settings()
    filters = filters or Filters()
    catalog = catalog or shared_catalog(store, settings)
    if not has_words(query):
        if not filters.active():
            raise SearchError("empty query: give some words to search for, or a filter to list papers by")
        return _newest(store, catalog, filters, limit, page)
    model = embedder.name if embedder else embedder_name(settings)
    # Words only: the vectors are not looked at (whether a model has any is a scan of the embeddings
    # table where it has none: 360 ms a query beside a million vectors of another model).
    has_vectors = mode != "lexical" and store.has_vectors(model)
    coverage = vector_coverage(store, model) if mode != "lexical" else None
    mode = ("hybrid" if has_vectors else "lexical") if mode == "auto" else mode
    if mode == "vector" and not has_vectors:
        raise SearchError(f"no {model} embeddings in {store.path}: run `papersift embed` first")
    embedder = (embedder or _embedder(settings)) if has_vectors and mode != "lexical" else None
    scored = _ranked(store, query, mode, max(depth, limit), catalog.allowed(store, filters), embedder, exact)
    id_of = store.ids_by_rowid([r for r, _, _ in scored])
    scored = [s for s in scored if s[0] in id_of]  # a paper deleted since it was ranked
    start = (page - 1) * limit
    return SearchResult(
        mode=mode,
        total=len(scored),
        ids=[id_of[r] for r, _, _ in scored],
        scores={id_of[r]: score for r, score, _ in scored},
        hits=_hits(store, scored[start : start + limit]),
        vectors=coverage,
    )


def _ranked(
    store: Store,
    query: str,
    mode: str,
    depth: int,
    allowed: Selection,
    embedder: Embedder | None,
    exact: bool | None = None,
) -> list[tuple[int, float, dict[str, int]]]:
    """(rowid, score, rank per method) best first; ``embedder`` None: no vectors to rank by."""
    rankings: dict[str, list[tuple[int, float]]] = {}
    if mode in ("hybrid", "lexical"):
        rankings["lexical"] = lexical_ranking(store, query, depth, allowed)
    if mode in ("hybrid", "vector") and embedder is not None:  # hybrid over a store with no vectors yet: words alone
        rankings["vector"] = vector_ranking(store, query, depth, embedder, allowed, exact)
    if mode == "hybrid":
        return reciprocal_rank_fusion(rankings)[:depth]
    ((method, ranking),) = rankings.items()
    return [(rowid, score, {method: rank}) for rank, (rowid, score) in enumerate(ranking, start=1)]


def _newest(store: Store, catalog: Catalog, filters: Filters, limit: int, page: int) -> SearchResult:
    listed = catalog.page(store, filters, page, limit)
    hits = [Hit(paper=paper, score=0.0) for paper in papers_by_id(store, listed.ids)]
    return SearchResult(
        mode="newest", total=listed.total, ids=listed.ids, scores=dict.fromkeys(listed.ids, 0.0), hits=hits
    )


def search(store: Store, query: str, **options) -> list[Hit]:
    """The hits of :func:`search_papers` (same options): the papers of the first page, best first."""
    return search_papers(store, query, **options).hits


def _embedder(settings: Settings) -> Embedder:
    try:
        return get_embedder(settings)
    except EmbeddingError as exc:
        raise SearchError(str(exc)) from None


def _query_vector(store: Store, paper_ids: list[str], embedder: Embedder) -> tuple[np.ndarray, set[int]]:
    """Mean vector of these papers (embedding any that have none yet), and their rowids."""
    resolved = []
    for paper_id in paper_ids:
        try:
            resolved.append(store.resolve(paper_id))
        except KeyError:
            raise SearchError(f"no paper {paper_id!r} in {store.path}") from None
    stored = vectors_for(store, resolved, embedder.name)
    missing = [pid for pid in resolved if pid not in stored]
    if missing:
        stored |= dict(zip(missing, embedder.embed([paper_text(store.get(pid)) for pid in missing])))
    mean = np.mean([stored[pid] for pid in resolved], axis=0)
    return mean / (np.linalg.norm(mean) or 1.0), {store.rowid_of(pid) for pid in resolved}


def more_like(
    store: Store,
    paper_ids: list[str],
    limit: int = 10,
    *,
    filters: Filters | None = None,
    embedder: Embedder | None = None,
    settings: Settings | None = None,
) -> list[Hit]:
    """Papers nearest the mean vector of a set ("more like these"), the set itself left out;
    among those that pass ``filters`` when given (hidden papers included when not)."""
    if not paper_ids:
        raise SearchError("more like what? give at least one paper")
    embedder = embedder or _embedder(settings or _default_settings())
    query, exclude = _query_vector(store, paper_ids, embedder)
    allowed = shared_catalog(store, settings or _default_settings()).allowed(store, filters).rowids if filters else None
    ranking = vector_searcher(store, embedder.name).nearest(query, limit, allowed, exclude)
    return _hits(store, [(rowid, score, {"vector": rank}) for rank, (rowid, score) in enumerate(ranking, start=1)])


def similar(
    store: Store,
    paper_id: str,
    limit: int = 10,
    *,
    filters: Filters | None = None,
    embedder: Embedder | None = None,
    settings: Settings | None = None,
) -> list[Hit]:
    """A paper's nearest neighbours by embedding, itself left out."""
    return more_like(store, [paper_id], limit, filters=filters, embedder=embedder, settings=settings)


def _default_settings() -> Settings:

    return load_settings()
