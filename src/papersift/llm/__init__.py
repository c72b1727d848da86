"""papersift.llm: every LLM call papersift makes goes through here.

- :mod:`.client`: :class:`~papersift.llm.client.LLMClient`, the async front (concurrency bound,
  retries, timeouts, the cache and call log in the store, accounting, structured output).
- :mod:`.base`: the small interface a backend implements; :mod:`.openai_backend` (any
  OpenAI-compatible server) and :mod:`.embedded` (llama.cpp in-process) implement it.
- :mod:`.models`: the GGUF models that ship as PyPI packages.
- :mod:`.reasoning`: Qwen3-style thinking switches and ``<think>`` handling.
"""
