"""Test tooling that ships with papersift, used by its tests and benchmarks, never by the product.

- :mod:`.llm_server`: a scripted OpenAI-compatible server (latency, faults, token counts), also
  runnable as ``python -m papersift.testing.llm_server --port 8011``.
"""
