"""papersift.search: embeddings and hybrid (BM25 + vector) search over the store."""

from .embeddings import EmbeddingError, embed_store, get_embedder
from .hybrid import Filters, Hit, SearchError, more_like, search, similar

__all__ = ["EmbeddingError", "Filters", "Hit", "SearchError", "embed_store", "get_embedder", "more_like", "search", "similar"]
