"""Test tooling, used by the tests and the benchmarks, never by the product (nor shipped with it).

- :mod:`.llm_server`: a scripted OpenAI-compatible server (latency, faults, token counts), also
  runnable as ``python tests/support/llm_server.py --port 8011``.

The tests find it on their path (pytest puts ``tests/`` there); a benchmark adds ``tests/`` itself.
"""
