"""papersift.search: embeddings, the one filter model and hybrid (BM25 + vector) search over the store."""

from .embeddings import EmbeddingError, VectorCoverage, embed_store, get_embedder, vector_coverage
from .filters import Filters
from .hybrid import Hit, SearchError, SearchResult, more_like, search, search_papers, similar

__all__ = [
    "EmbeddingError",
    "Filters",
    "Hit",
    "SearchError",
    "SearchResult",
    "VectorCoverage",
    "embed_store",
    "get_embedder",
    "more_like",
    "search",
    "search_papers",
    "similar",
    "vector_coverage",
]
