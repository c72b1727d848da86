"""Hybrid search: FTS5 BM25 and vector KNN over the store, fused by reciprocal rank.

Lexical: BM25 over ``papers_fts`` (title, abstract, keywords, translated text). Chinese is
segmented with :func:`papersift.text.segment` on both sides. A user's query is never handed to
FTS5 as syntax: it is cut into words and each is quoted, so unbalanced quotes, ``AND``/``NEAR``,
``*`` or ``col:`` are searched as the words they contain. A balanced ``"..."`` stays a phrase.

Vector: exact brute force, ``vectors @ q`` over the matrix of :func:`load_matrix` (cached in
memory, reloaded when an embed run changes it). At 100,000 × 512 this is a few milliseconds;
see bench/search.py for the measurement against an SQLite extension index.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from ..models import Paper
from ..store import Store
from ..text import segment
from .embeddings import Embedder, VectorMatrix, get_embedder, load_matrix, paper_text

Mode = Literal["hybrid", "lexical", "vector"]
MODES: tuple[str, ...] = ("hybrid", "lexical", "vector")
# Weighted reciprocal-rank fusion: score = sum of weight / (RRF_K + rank). Measured on the judged
# queries of tests/test_search.py (recall@10, English / Chinese): BM25 0.80 / 0.10, USE vectors
# 0.53 / 0.47; plain RRF (k=60, equal weights) 0.71 / 0.47, below BM25 in English because the
# weaker vector list pushes BM25's hits out of the top ten; vectors at half weight with k=20
# give 0.80 / 0.49. These defaults were chosen on that small judged set (there is no other).
RRF_K = 20
RRF_WEIGHTS = {"lexical": 1.0, "vector": 0.5}
# BM25 column weights: title, abstract, keywords, translated text
BM25_WEIGHTS = (3.0, 1.0, 2.0, 1.0)
FLAGS = ("ok", "flagged", "poor", "failed", "none")


class SearchError(Exception):
    """A search that cannot run: the message says why and what to do."""


class Filters(BaseModel):
    """Conditions every hit must meet; ``None`` means no condition."""

    subarea: str | None = Field(None, description="sub-area key")
    area: str | None = Field(None, description="area as stored with the paper (key or label)")
    date_from: date | None = Field(None, description="published on or after")
    date_to: date | None = Field(None, description="published on or before")
    source: str | None = None
    venue: str | None = Field(None, description="venue contains this text (case-insensitive)")
    keyword: str | None = Field(None, description="has this keyword (case-insensitive)")
    flag: Literal["ok", "flagged", "poor", "failed", "none"] | None = Field(
        None, description="enrichment status; 'none' for papers not enriched"
    )
    starred: bool | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in self.model_dump().values())

    def parts(self) -> tuple[list[tuple[str, list]], list[tuple[str, list]]]:
        """Conditions over ``papers``: those an index answers alone (sub-area, source, date), and the rest."""
        indexed: list[tuple[str, list]] = []
        other: list[tuple[str, list]] = []
        for column in ("subarea", "source"):
            if getattr(self, column) is not None:
                indexed.append((f"{column} = ?", [getattr(self, column)]))
        if self.date_from or self.date_to:
            indexed.append(("published BETWEEN ? AND ?",
                            [(self.date_from or date.min).isoformat(), (self.date_to or date.max).isoformat()]))
        if self.area is not None:
            other.append(("area = ?", [self.area]))
        if self.venue:
            other.append(("instr(lower(venue), lower(?)) > 0", [self.venue]))
        if self.keyword:  # paper_keywords holds the source's keywords, else the generated ones
            other.append(("rowid IN (SELECT paper_rowid FROM paper_keywords WHERE keyword = ? COLLATE NOCASE)", [self.keyword]))
        if self.flag == "none":
            other.append(("NOT EXISTS (SELECT 1 FROM enrichments e WHERE e.paper_id = papers.id)", []))
        elif self.flag:
            other.append(("EXISTS (SELECT 1 FROM enrichments e WHERE e.paper_id = papers.id AND e.status = ?)", [self.flag]))
        if self.starred is not None:
            starred = "EXISTS (SELECT 1 FROM curation c WHERE c.paper_id = papers.id AND c.starred = 1)"
            other.append((starred if self.starred else f"NOT {starred}", []))
        return indexed, other

    def sql(self) -> tuple[str, list]:
        """One condition over the ``papers`` table, and its parameters."""
        conditions = [c for part in self.parts() for c in part]
        return " AND ".join(c for c, _ in conditions), [p for _, params in conditions for p in params]


class Hit(BaseModel):
    paper: Paper
    score: float = Field(description="fused RRF score (hybrid), -BM25 (lexical) or cosine (vector); higher is better")
    ranks: dict[str, int] = Field(default_factory=dict, description="1-based rank in each method that found it")

    def as_dict(self) -> dict:
        return {**self.paper.model_dump(mode="json"), "score": round(self.score, 6), "ranks": self.ranks}


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


def allowed_rowids(store: Store, filters: Filters | None) -> np.ndarray | None:
    """Rowids of the papers that pass ``filters`` (sorted), or None when nothing is filtered.

    Each condition an index answers (sub-area, source, date) is one covering-index query, and
    their rowids are intersected: no JSON row is read for them. The other conditions are then
    checked only on those rowids. Both rankers test membership in the result.
    """
    if filters is None or filters.is_empty():
        return None
    indexed, other = filters.parts()
    allowed: np.ndarray | None = None
    for where, params in indexed:
        rowids = _rowids(store, where, params)
        allowed = rowids if allowed is None else np.intersect1d(allowed, rowids, assume_unique=True)
    if other:
        where = " AND ".join(c for c, _ in other)
        params = [p for _, ps in other for p in ps]
        if allowed is not None:
            where = f"rowid IN (SELECT value FROM json_each(?)) AND {where}"
            params = [json.dumps(allowed.tolist()), *params]
        allowed = _rowids(store, where, params)
    return np.sort(allowed)


def _rowids(store: Store, where: str, params: list) -> np.ndarray:
    rows = store.conn.execute(f"SELECT rowid FROM papers WHERE {where}", params).fetchall()
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def lexical_ranking(store: Store, query: str, depth: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
    """(rowid, -bm25) best first, among ``allowed`` rowids when given."""
    match = fts_query(query)
    if match is None or (allowed is not None and len(allowed) == 0):
        return []
    weights = ", ".join(str(w) for w in BM25_WEIGHTS)
    matches = f"SELECT rowid, -bm25(papers_fts, {weights}) AS score FROM papers_fts WHERE papers_fts MATCH ?"
    if allowed is None:
        rows = store.conn.execute(f"{matches} ORDER BY score DESC LIMIT ?", (match, depth))
    else:
        # FTS5 first (materialised), then membership: SQLite would otherwise run MATCH once per allowed rowid
        rows = store.conn.execute(
            f"WITH m AS MATERIALIZED ({matches}) SELECT rowid, score FROM m"
            " WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY score DESC LIMIT ?",
            (match, json.dumps(allowed.tolist()), depth),
        )
    return [(r[0], float(r[1])) for r in rows]


def _top(matrix: VectorMatrix, query: np.ndarray, depth: int, allowed: np.ndarray | None, exclude: set[int] = frozenset()) -> list[tuple[int, float]]:
    if len(matrix.rowids) == 0:
        return []
    scores = matrix.vectors @ query.astype(np.float32)
    if allowed is not None:
        scores = np.where(np.isin(matrix.rowids, allowed, assume_unique=True), scores, -np.inf)
    for rowid in exclude:
        row = matrix.row_of(rowid)
        if row is not None:
            scores[row] = -np.inf
    depth = min(depth, len(scores))
    top = np.argpartition(-scores, depth - 1)[:depth]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(matrix.rowids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]


def vector_ranking(store: Store, query: str, depth: int, embedder: Embedder, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
    """(rowid, cosine) best first, among ``allowed`` rowids when given."""
    matrix = load_matrix(store, embedder.name)
    if len(matrix.rowids) == 0 or (allowed is not None and len(allowed) == 0):
        return []
    return _top(matrix, embedder.embed([query])[0], depth, allowed)


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


def _papers_by_rowid(store: Store, rowids: list[int]) -> dict[int, Paper]:
    if not rowids:
        return {}
    marks = ",".join("?" * len(rowids))
    rows = store.conn.execute(f"SELECT rowid, data FROM papers WHERE rowid IN ({marks})", rowids)
    return {r[0]: Paper.model_validate_json(r[1]) for r in rows}


def _hits(store: Store, scored: list[tuple[int, float, dict[str, int]]]) -> list[Hit]:
    papers = _papers_by_rowid(store, [r for r, _, _ in scored])
    return [Hit(paper=papers[r], score=s, ranks=ranks) for r, s, ranks in scored if r in papers]


def _browse(store: Store, filters: Filters, limit: int) -> list[Hit]:
    where, params = filters.sql()
    papers = store.iter_papers(where, params, order="published DESC, rowid DESC", limit=limit)
    return [Hit(paper=p, score=0.0) for p in papers]


def search(
    store: Store,
    query: str,
    *,
    limit: int = 20,
    filters: Filters | None = None,
    mode: Mode = "hybrid",
    embedder: Embedder | None = None,
    depth: int = 100,
) -> list[Hit]:
    """Papers for a query, best first.

    ``mode``: ``hybrid`` (BM25 and vectors fused by reciprocal rank), ``lexical`` or ``vector``.
    A query with no word lists the papers that pass ``filters``, newest first; with no filter
    either, it is a :class:`SearchError`. ``depth`` is how deep each method's list goes before fusion.
    """
    if mode not in MODES:
        raise SearchError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
    if limit < 1:
        raise SearchError(f"limit must be at least 1, not {limit}")
    if not has_words(query):
        if filters is None or filters.is_empty():
            raise SearchError("empty query: give some words to search for, or a filter to list papers by")
        return _browse(store, filters, limit)
    depth = max(depth, limit)
    allowed = allowed_rowids(store, filters)
    rankings: dict[str, list[tuple[int, float]]] = {}
    if mode in ("hybrid", "lexical"):
        rankings["lexical"] = lexical_ranking(store, query, depth, allowed)
    if mode in ("hybrid", "vector"):
        embedder = embedder or get_embedder(_default_settings())
        if mode == "vector" and len(load_matrix(store, embedder.name).rowids) == 0:
            raise SearchError(f"no {embedder.name} embeddings in {store.path}: run `papersift embed` first")
        rankings["vector"] = vector_ranking(store, query, depth, embedder, allowed)
    if mode == "hybrid":
        scored = reciprocal_rank_fusion(rankings)[:limit]
    else:
        (method, ranking), = rankings.items()
        scored = [(rowid, score, {method: rank}) for rank, (rowid, score) in enumerate(ranking[:limit], start=1)]
    return _hits(store, scored)


def _query_vector(store: Store, paper_ids: list[str], embedder: Embedder) -> tuple[np.ndarray, set[int]]:
    """Mean vector of these papers (embedding any that have none yet), and their rowids."""
    matrix = load_matrix(store, embedder.name)
    vectors, rowids = [], set()
    for paper_id in paper_ids:
        try:
            rowid = store.conn.execute("SELECT rowid FROM papers WHERE id = ?", (store.resolve(paper_id),)).fetchone()[0]
        except KeyError:
            raise SearchError(f"no paper {paper_id!r} in {store.path}") from None
        rowids.add(rowid)
        row = matrix.row_of(rowid)
        if row is not None:
            vectors.append(matrix.vectors[row])
        else:
            vectors.append(embedder.embed([paper_text(store.get(store.resolve(paper_id)))])[0])
    mean = np.mean(vectors, axis=0)
    return mean / (np.linalg.norm(mean) or 1.0), rowids


def more_like(
    store: Store, paper_ids: list[str], limit: int = 10, *, filters: Filters | None = None, embedder: Embedder | None = None
) -> list[Hit]:
    """Papers nearest the mean vector of a set ("more like these"), the set itself left out."""
    if not paper_ids:
        raise SearchError("more like what? give at least one paper")
    embedder = embedder or get_embedder(_default_settings())
    query, exclude = _query_vector(store, paper_ids, embedder)
    matrix = load_matrix(store, embedder.name)
    ranking = _top(matrix, query, limit, allowed_rowids(store, filters), exclude)
    return _hits(store, [(rowid, score, {"vector": rank}) for rank, (rowid, score) in enumerate(ranking, start=1)])


def similar(store: Store, paper_id: str, limit: int = 10, *, filters: Filters | None = None, embedder: Embedder | None = None) -> list[Hit]:
    """A paper's nearest neighbours by embedding, itself left out."""
    return more_like(store, [paper_id], limit, filters=filters, embedder=embedder)


def _default_settings():
    from ..config import load_settings

    return load_settings()
