"""The async front every stage uses to talk to an LLM, whatever the backend.

:class:`LLMClient` adds to a :class:`~papersift.llm.base.Backend`:

- a bound on requests in flight (``settings.llm.concurrency``), held only while a request is
  out, so that a request waiting to retry gives its place to another;
- a per-attempt timeout and retries with jitter (tenacity) on :class:`TransientLLMError`,
  honouring the server's ``Retry-After``;
- a cache: a content hash of (backend, model, template and its version, messages, schema,
  max_tokens, temperature, thinking) maps to the stored response in the store's ``llm_calls``
  table, where every call is logged (tokens, cost, duration, error). The row is written, in its
  own small transaction, as soon as the response arrives, so that a run resumed after
  ``kill -9`` calls nothing for work that had reached the server;
- accounting: tokens in/out/reasoning/cached per call and in :attr:`LLMClient.usage`, the cost
  from ``settings.llm.prices`` (per million tokens, keyed by model);
- :meth:`LLMClient.structured`: a pydantic model in, a validated instance out, with the JSON
  schema sent for constrained decoding, near-JSON repaired, and one re-ask that quotes the
  validation error.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import json_repair
import pydantic
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from ..config import Settings
from ..plugins import PluginError
from ..store import Store
from .base import (
    BACKENDS,
    Backend,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    LLMError,
    Thinking,
    TransientLLMError,
    Unreachable,
)
from .templates import environment

M = TypeVar("M", bound=pydantic.BaseModel)
Validator = Callable[[Any], Any]
CACHE_VERSION = 1  # bump when what the cache key covers changes meaning


def make_backend(settings: Settings) -> Backend:
    """The backend ``settings.llm.backend`` names: ``embedded`` (llama.cpp in-process), ``openai``, or a plugin's."""
    try:
        backend = BACKENDS.get(settings.llm.backend, where="llm.backend / PAPERSIFT_LLM_BACKEND")
    except PluginError as exc:
        raise LLMError(str(exc)) from exc
    return backend(settings.llm)


@dataclass
class Usage:
    """What a client has spent: calls that reached the backend, cache hits, tokens and cost."""

    calls: int = 0
    cache_hits: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0  # includes reasoning tokens, as servers count them
    tokens_reasoning: int = 0
    tokens_cached: int = 0
    cost: float = 0.0
    duration: float = 0.0

    def add(self, result: ChatResult, cost: float, duration: float) -> None:
        self.calls += 1
        self.tokens_in += result.tokens_in
        self.tokens_out += result.tokens_out
        self.tokens_reasoning += result.tokens_reasoning
        self.tokens_cached += result.tokens_cached
        self.cost += cost
        self.duration += duration

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"cost": round(self.cost, 6), "duration": round(self.duration, 3)}


def cost_of(result: ChatResult, prices: dict[str, dict[str, float]], model: str) -> float:
    """The price of one call: ``{"input": $, "output": $}`` per million tokens, and optionally
    ``"cached_input"`` for prompt tokens the server had cached."""
    price = prices.get(model) or prices.get(result.model) or {}
    if not price:
        return 0.0
    cached = result.tokens_cached if "cached_input" in price else 0
    return (
        (result.tokens_in - cached) * price.get("input", 0.0)
        + cached * price.get("cached_input", 0.0)
        + result.tokens_out * price.get("output", 0.0)
    ) / 1_000_000


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every object closed (``additionalProperties: false``) and every property
    required, as OpenAI's strict mode and grammar-based decoders want; optional fields are
    already nullable in pydantic's schema."""
    schema = json.loads(json.dumps(schema))

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


@functools.lru_cache(maxsize=64)
def _schema_text(model_cls: type[pydantic.BaseModel]) -> str:
    return json.dumps(strict_schema(model_cls.model_json_schema()))


def schema_for(model_cls: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The strict JSON schema of a pydantic model (built once per class: pydantic takes ms)."""
    return json.loads(_schema_text(model_cls))


def parse_json(text: str) -> Any:
    """JSON from a reply: as is, else without a Markdown fence, else repaired (json-repair)."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    repaired = json_repair.loads(stripped)
    if not isinstance(repaired, (dict, list)) or repaired in ({}, []):
        raise ValueError(f"the reply is not JSON: {text[:120]!r}")
    return repaired


class LLMClient:
    """See the module docstring. One client per run; share it between the run's tasks."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        backend: Backend | None = None,
        *,
        run_id: int | None = None,
        backoff: float = 1.0,
    ):
        self.settings = settings
        self.llm = settings.llm
        self.store = store
        self.backend = backend or make_backend(settings)
        self.run_id = run_id
        self.backoff = backoff  # seconds: the scale of the exponential wait between retries
        self.usage = Usage()
        self.answered = False  # whether the backend has answered a call since this client was made
        self.thinking = Thinking.parse(self.llm.thinking)
        self._slots = asyncio.Semaphore(max(1, self.llm.concurrency))

    @classmethod
    def from_settings(cls, settings: Settings, store: Store | None = None, run_id: int | None = None) -> LLMClient:
        return cls(settings, store=store, run_id=run_id)

    async def aclose(self) -> None:
        await self.backend.aclose()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    @property
    def _timeout(self) -> float:
        return self.backend.timeout or self.llm.timeout

    @property
    def model(self) -> str:
        return self.backend.model or self.llm.model or ""

    # --- one call ------------------------------------------------------------------------------

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        schema: dict[str, Any] | None = None,
        schema_name: str = "output",
        thinking: Thinking | str | None = None,
        paper_id: str | None = None,
        run_id: int | None = None,
        template: str | None = None,
    ) -> ChatResult:
        """One chat call: from the cache if this exact request was answered before, else from the
        backend (bounded, timed out, retried) and logged."""
        thinking = self._thinking(thinking)
        request = ChatRequest(
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            schema=schema,
            schema_name=schema_name,
            thinking=thinking,
        )
        key = self.cache_key(request, template)
        cached = self._cached(key)
        if cached is not None:
            self.usage.cache_hits += 1
            return cached
        started = time.monotonic()
        try:
            result = await self._call_with_retries(request)
        except LLMError as exc:
            self.usage.errors += 1
            self._log(key, request, None, time.monotonic() - started, paper_id, run_id, error=str(exc))
            raise
        duration = time.monotonic() - started
        cost = cost_of(result, self.llm.prices, self.model)
        self.usage.add(result, cost, duration)
        self._log(key, request, result, duration, paper_id, run_id, cost=cost)
        return result

    def _thinking(self, thinking: Thinking | str | None) -> Thinking:
        if thinking is None:
            return self.thinking
        return thinking if isinstance(thinking, Thinking) else Thinking.parse(thinking)

    async def _call_with_retries(self, request: ChatRequest) -> ChatResult:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientLLMError),
            stop=stop_after_attempt(self.llm.max_retries + 1),
            wait=self._wait,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    result = await self._attempt(request)
                    self.answered = True
                    return result
        except TransientLLMError as exc:
            message = f"{exc} (gave up after {self.llm.max_retries + 1} attempts)"
            if isinstance(exc, Unreachable) and not self.answered:
                # Never reached: every other paper would wait through the same retries to fail the same way.
                raise BackendUnavailable(f"{message}: nothing answers at that address") from exc
            raise LLMError(message) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: Any) -> float:
        """The server's Retry-After when it gave one, else exponential backoff; both with jitter,
        so that many waiting requests do not come back at the same instant."""
        exc = state.outcome.exception()
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return retry_after + random.uniform(0, 0.1 * retry_after + 0.05)
        return random.uniform(0, min(30.0, self.backoff * 2 ** (state.attempt_number - 1)))

    async def _attempt(self, request: ChatRequest) -> ChatResult:
        async with self._slots:
            try:
                async with asyncio.timeout(self._timeout):
                    return await self.backend.chat(request)
            except TimeoutError as exc:
                raise TransientLLMError(
                    f"{self.backend.name} ({self.model}): no reply within {self._timeout:g} s"
                ) from exc

    # --- structured output ---------------------------------------------------------------------

    async def structured(
        self,
        messages: list[dict[str, str]],
        model_cls: type[M],
        *,
        max_tokens: int = 1024,
        thinking: Thinking | str | None = None,
        paper_id: str | None = None,
        run_id: int | None = None,
        template: str | None = None,
        validate: Validator | None = None,
        temperature: float = 0.0,
    ) -> tuple[M, ChatResult]:
        """A validated ``model_cls`` instance and the call's result.

        The JSON schema of ``model_cls`` goes to the backend for constrained decoding; the reply
        is parsed (repairing near-JSON), validated by pydantic and then by ``validate`` (which
        takes the instance and returns it, or raises ``ValueError``). On a failure the model is
        asked once more, with its reply and the error; a second failure raises :class:`LLMError`.
        """
        schema = schema_for(model_cls)
        options = dict(
            max_tokens=max_tokens,
            temperature=temperature,
            schema=schema,
            schema_name=model_cls.__name__,
            thinking=thinking,
            paper_id=paper_id,
            run_id=run_id,
            template=template,
        )
        result = await self.chat(messages, **options)
        try:
            return self._parse(result, model_cls, validate), result
        except ValueError as exc:
            first_error = _describe(exc)
        retry = [
            *messages,
            {"role": "assistant", "content": result.text},
            {"role": "user", "content": reask_message(first_error)},
        ]
        result = await self.chat(retry, **options)
        try:
            return self._parse(result, model_cls, validate), result
        except ValueError as exc:
            second_error = _describe(exc)
            errors = first_error if second_error == first_error else f"{first_error}; then: {second_error}"
            raise LLMError(f"invalid {model_cls.__name__} twice: {errors}") from exc

    @staticmethod
    def _parse(result: ChatResult, model_cls: type[M], validate: Validator | None) -> M:
        if result.finish_reason == "length":
            raise ValueError("the reply was cut off at max_tokens: write a shorter object")
        instance = model_cls.model_validate(parse_json(result.text))  # pydantic's ValidationError is a ValueError
        if validate is not None:
            instance = validate(instance) or instance
        return instance

    # --- the cache and the log -----------------------------------------------------------------

    def cache_key(self, request: ChatRequest, template: str | None = None) -> str:
        payload = {
            "v": CACHE_VERSION,
            "backend": self.backend.name,
            "model": self.model,
            "template": template,
            "messages": request.messages,
            "schema": request.schema,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "thinking": str(request.thinking),
        }
        encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(encoded.encode()).hexdigest()

    def _cached(self, key: str) -> ChatResult | None:
        if self.store is None:
            return None
        row = self.store.cached_call(key)
        if row is None:
            return None
        response = json.loads(row["response"])
        return ChatResult(
            text=response["text"],
            reasoning=row["reasoning"],
            model=row["model"] or "",
            tokens_in=row["tokens_in"] or 0,
            tokens_out=row["tokens_out"] or 0,
            tokens_reasoning=row["tokens_reasoning"] or 0,
            tokens_cached=row["tokens_cached"] or 0,
            finish_reason=response.get("finish_reason"),
        )

    def _log(
        self,
        key: str,
        request: ChatRequest,
        result: ChatResult | None,
        duration: float,
        paper_id: str | None,
        run_id: int | None,
        *,
        cost: float = 0.0,
        error: str | None = None,
    ) -> None:
        if self.store is None:
            return
        encoded_request = json.dumps(
            {
                "messages": request.messages,
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                "schema": request.schema,
                "thinking": str(request.thinking),
            },
            ensure_ascii=False,
        )
        response = (
            json.dumps({"text": result.text, "finish_reason": result.finish_reason}, ensure_ascii=False)
            if result
            else None
        )
        reasoning = result.reasoning if result and self.llm.keep_reasoning else None
        self.store.log_call(
            cache_key=key,
            run_id=run_id if run_id is not None else self.run_id,
            paper_id=paper_id,
            backend=self.backend.name,
            model=result.model if result and result.model else self.model,
            request=encoded_request,
            response=response,
            reasoning=reasoning,
            tokens_in=result.tokens_in if result else 0,
            tokens_out=result.tokens_out if result else 0,
            tokens_reasoning=result.tokens_reasoning if result else 0,
            tokens_cached=result.tokens_cached if result else 0,
            cost=cost,
            duration=round(duration, 4),
            error=error,
        )


def reask_message(error: str) -> str:
    return environment().get_template("structured_reask.jinja").render(error=error)


def _describe(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        problems = [f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:8]]
        return "; ".join(problems)
    return str(exc)
