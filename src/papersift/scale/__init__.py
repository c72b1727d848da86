"""papersift.scale: enrichment and embedding of a whole venue or years of arXiv on a Ray cluster.

- :mod:`.ray_enrich`: Ray Data actors writing cards against vLLM/SGLang replicas (:mod:`.servers`);
- :mod:`.parquet`: the same through Parquet, for a cluster that cannot reach the store;
- :mod:`.ray_embed`: embeddings on the cluster.
"""
