"""The one small interface every LLM backend implements.

A backend turns a :class:`ChatRequest` into a :class:`ChatResult`; everything else (caching,
accounting, retries, structured output, the concurrency limit) lives in
:mod:`papersift.llm.client` and works the same for every backend. A backend is a subclass of
:class:`Backend` constructed with the ``[llm]`` settings, registered in :data:`BACKENDS`: the
built-ins here, another package's through the ``papersift.backends`` entry point group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..plugins import Registry


@dataclass(frozen=True)
class Thinking:
    """Qwen3-style hybrid thinking: ``off``, ``on``, or ``budget:N`` (stop reasoning at N tokens)."""

    enabled: bool = False
    budget: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> Thinking:
        text = (text or "off").strip().lower()
        if text == "off":
            return cls(False)
        if text == "on":
            return cls(True)
        m = re.fullmatch(r"budget:(\d+)", text)
        if m:
            return cls(True, int(m[1]))
        raise ValueError(f"thinking must be off, on or budget:N, not {text!r}")

    def __str__(self) -> str:
        if not self.enabled:
            return "off"
        return f"budget:{self.budget}" if self.budget is not None else "on"


@dataclass
class ChatRequest:
    messages: list[dict[str, str]]
    max_tokens: int = 1024
    temperature: float = 0.0
    schema: dict[str, Any] | None = None  # JSON schema for structured output
    schema_name: str = "output"
    strict: bool = False  # ask for strict schema adherence (OpenAI's "strict": the schema must allow it)
    thinking: Thinking = field(default_factory=Thinking)


@dataclass
class ChatResult:
    text: str  # the answer, with any reasoning removed
    reasoning: str | None = None
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_reasoning: int = 0
    tokens_cached: int = 0
    finish_reason: str | None = None


class LLMError(Exception):
    """A call failed for good (after retries): the message says why."""


class BackendUnavailable(LLMError):
    """The backend cannot work at all (its engine keeps crashing): a run stops here instead of
    failing every paper that is left."""


class TransientLLMError(LLMError):
    """A call failed in a way worth retrying (429, 5xx, timeout, dropped connection)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Unreachable(TransientLLMError):
    """No connection could be made (refused, no such host): the server is not there, as opposed to
    a server that answered badly or dropped a reply."""


class Backend:
    name: ClassVar[str]
    # Seconds one attempt may take before it is given up and retried; None: ``llm.timeout``.
    timeout: float | None = None
    # True where one engine answers one request at a time from a single prompt cache (the embedded
    # engine): a run then sends it one paper at a time, so that a paper's prompt is evaluated once
    # for all its requests instead of again after every other paper's.
    one_at_a_time: ClassVar[bool] = False

    model: str

    async def chat(self, request: ChatRequest) -> ChatResult:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


BACKENDS: Registry[type[Backend]] = Registry("backends", "LLM backend")
BACKENDS.builtin("embedded", "papersift.llm.embedded:EmbeddedBackend")  # imported when chosen: it loads llama.cpp
BACKENDS.builtin("openai", "papersift.llm.openai_backend:OpenAIBackend")
