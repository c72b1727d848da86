"""papersift.search: embeddings and hybrid (BM25 + vector) search over the store."""

from .embeddings import EmbeddingError, VectorCoverage, embed_store, get_embedder, vector_coverage
from .hybrid import Filters, Hit, SearchError, more_like, search, similar

__all__ = [
    "EmbeddingError", "Filters", "Hit", "SearchError", "VectorCoverage", "embed_store", "get_embedder", "more_like", "search",
    "similar", "vector_coverage",
]
