"""Any OpenAI-compatible server (vLLM, SGLang, Ollama, llama.cpp's server, cloud APIs) through
the ``openai`` SDK's async client.

- Structured output: ``response_format`` ``json_schema`` (vLLM/SGLang decode under it); a server
  that refuses that shape (llama-cpp-python's ``llama_cpp.server`` answers 500 with a validation
  error: it takes ``{"type": "json_object", "schema": …}``) is asked again in its own, and remembered.
- Thinking (Qwen3-style hybrid models): ``chat_template_kwargs.enable_thinking`` in the request
  body, or the ``/think`` / ``/no_think`` soft switches (``settings.llm.thinking_switch``; ``auto``
  sends the kwargs and, if the server rejects them, turns thinking on by the soft switch).
- Reasoning arrives in ``reasoning_content`` (or ``reasoning``) with a reasoning parser, else as
  a ``<think>`` block in the content; it is taken out of the answer and returned apart.
- A thinking budget (``budget:N``): the reply is streamed; when the reasoning reaches N tokens
  (one streamed delta is one token, as vLLM and SGLang send them) the stream is dropped and a
  second request continues an assistant message holding the reasoning so far, a closing sentence
  and ``</think>`` (vLLM/SGLang ``continue_final_message`` with ``add_generation_prompt: false``),
  so that the model writes its answer from there, as the Qwen3 report describes.
- Errors: 429, 5xx, timeouts and dropped connections are :class:`TransientLLMError` (with the
  server's ``Retry-After``); anything else is an :class:`LLMError` naming the server and status.
"""

from __future__ import annotations

import email.utils
import os
import socket
import time
from contextlib import aclosing
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI, AsyncStream
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from ..config import LLMSettings
from .base import Backend, ChatRequest, ChatResult, LLMError, TransientLLMError, Unreachable
from .engine import grammar_schema
from .reasoning import THINK_CLOSE, THINK_OPEN, budget_prefix, closed_reasoning, split_reasoning, with_soft_switch

SWITCHES = ("auto", "kwargs", "soft")
DUMMY_KEY = "not-needed"  # local servers take any key; the SDK insists on one


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, settings: LLMSettings, *, client: AsyncOpenAI | None = None):
        if settings.thinking_switch not in SWITCHES:
            raise LLMError(
                f"llm.thinking_switch must be one of {', '.join(SWITCHES)}, not {settings.thinking_switch!r}"
            )
        self.settings = settings
        self.model = settings.model or ""
        self.switch = settings.thinking_switch
        self.schema_shape = "json_schema"  # or "json_object", once a server refused the first
        api_key = settings.api_key or os.environ.get("OPENAI_API_KEY") or DUMMY_KEY
        # The LLM client retries (with the concurrency slot released); the SDK must not as well.
        self.client = client or AsyncOpenAI(
            base_url=settings.base_url, api_key=api_key, timeout=settings.timeout, max_retries=0
        )
        self.where = str(self.client.base_url).rstrip("/")

    async def aclose(self) -> None:
        await self.client.close()

    async def list_models(self) -> list[str]:
        try:
            page = await self.client.models.list()
        except openai.OpenAIError as exc:
            raise _mapped(exc, self.where) from exc
        return [m.id for m in page.data]

    async def _resolve_model(self) -> str:
        """The configured model, else the server's only (first) one: local servers serve one."""
        if not self.model:
            models = await self.list_models()
            if not models:
                raise LLMError(f"{self.where}: the server lists no model; set PAPERSIFT_LLM_MODEL")
            self.model = models[0]
        return self.model

    async def chat(self, request: ChatRequest) -> ChatResult:
        model = await self._resolve_model()
        try:
            if request.thinking.enabled and request.thinking.budget is not None:
                return await self._chat_with_budget(request, model)
            return await self._chat_once(request, model)
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            raise _mapped(exc, f"{self.where} ({model})") from exc

    # --- one request ---------------------------------------------------------------------------

    async def _create(self, body: dict[str, Any], thinking: bool) -> Any:
        """POST /chat/completions; in ``auto`` mode, a server that rejects ``chat_template_kwargs``
        is asked again with the soft switch, and remembered."""
        try:
            return await self._post(self._with_switch(self._shaped(body), thinking))
        except openai.APIStatusError as exc:
            if self._refuses_schema_shape(exc):
                self.schema_shape = "json_object"
                return await self._create(body, thinking)
            if (
                not isinstance(exc, openai.BadRequestError)
                or self.switch != "auto"
                or "chat_template_kwargs" not in str(exc)
            ):
                raise
            self.switch = "soft-fallback"
            return await self._post(self._with_switch(self._shaped(body), thinking))

    def _refuses_schema_shape(self, exc: openai.APIStatusError) -> bool:
        """A server that validates ``response_format`` against another shape says so in its error."""
        text = str(exc)
        return (
            self.schema_shape == "json_schema"
            and exc.status_code in (400, 422, 500)
            and "response_format" in text
            and ("literal" in text or "json_object" in text)
        )

    def _shaped(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body with its ``response_format`` in the shape this server takes."""
        wanted = body.get("response_format")
        if not wanted or self.schema_shape == "json_schema":
            return body
        # that server builds a llama.cpp grammar from it, which refuses long string bounds as the engine's does
        schema = grammar_schema(wanted["json_schema"]["schema"])
        return {**body, "response_format": {"type": "json_object", "schema": schema}}

    async def _post(self, body: dict[str, Any]) -> Any:
        # The SDK's own request path (auth, errors, SSE, typed replies) without its per-call
        # transform of typed parameters, which walks the schema and messages: ~5 ms of CPU a call.
        stream = bool(body.get("stream"))
        try:
            reply = await self.client.post(
                "/chat/completions",
                body=body,
                cast_to=ChatCompletion,
                stream=stream,
                stream_cls=AsyncStream[ChatCompletionChunk],
            )
        except ValueError as exc:  # the body is not JSON, or not even UTF-8
            raise TransientLLMError(f"{self.where}: a reply that is not JSON ({exc})") from exc
        if not stream and not isinstance(reply, ChatCompletion):
            # The SDK hands back the text of a reply that is not application/json: a proxy's error page.
            raise TransientLLMError(f"{self.where}: expected a JSON completion, got: {_snippet(reply)!r}")
        return reply

    def _with_switch(self, body: dict[str, Any], thinking: bool) -> dict[str, Any]:
        body = dict(body)
        if self.switch in ("auto", "kwargs"):
            body["chat_template_kwargs"] = {**body.get("chat_template_kwargs", {}), "enable_thinking": thinking}
        elif self.switch == "soft" or thinking:
            # After a fallback, only "on" is switched: a server without chat_template_kwargs is
            # mostly a cloud API whose models do not think unless asked, so "off" needs no words.
            body["messages"] = with_soft_switch(body["messages"], thinking)
        return body

    def _params(self, request: ChatRequest, model: str, messages: list[dict[str, str]] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": messages if messages is not None else request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": request.schema, "strict": request.strict},
            }
        return body

    async def _chat_once(self, request: ChatRequest, model: str) -> ChatResult:
        response = await self._create(self._params(request, model), request.thinking.enabled)
        if not response.choices:
            raise TransientLLMError(f"{self.where} ({model}): a reply without choices")
        choice = response.choices[0]
        answer, inline = split_reasoning(choice.message.content or "")
        result = ChatResult(
            text=answer,
            reasoning=_field_reasoning(choice.message) or inline,
            model=response.model or model,
            finish_reason=choice.finish_reason,
        )
        _add_usage(result, response.usage)
        return result

    # --- a thinking budget ---------------------------------------------------------------------

    async def _chat_with_budget(self, request: ChatRequest, model: str) -> ChatResult:
        budget = request.thinking.budget or 0
        params = self._params(request, model) | {"stream": True, "stream_options": {"include_usage": True}}
        stream = await self._create(params, True)
        reader = _StreamReader()
        try:
            # aclosing: the stream's generator is closed here, not later by the garbage collector
            async with aclosing(stream.__aiter__()) as chunks:
                async for chunk in chunks:
                    reader.feed(chunk)
                    if reader.reasoning_tokens >= budget and not reader.reasoning_done:
                        reader.cut = True
                        break
        finally:
            await stream.close()
        if not reader.cut:
            return reader.result(model)
        return await self._continue_after_budget(request, model, reader)

    async def _continue_after_budget(self, request: ChatRequest, model: str, reader: _StreamReader) -> ChatResult:
        prefix = budget_prefix(reader.reasoning)
        messages = [*request.messages, {"role": "assistant", "content": prefix}]
        params = self._params(request, model, messages) | {
            "continue_final_message": True,
            "add_generation_prompt": False,
        }
        response = await self._create(params, True)
        choice = response.choices[0] if response.choices else None
        content = (choice.message.content or "") if choice else ""
        # A reasoning parser that missed the </think> of the prefix calls the answer reasoning.
        answer = split_reasoning(content)[0] or (_field_reasoning(choice.message) if choice else "") or ""
        result = ChatResult(
            text=answer,
            reasoning=closed_reasoning(reader.reasoning),
            model=response.model or model,
            finish_reason=choice.finish_reason if choice else None,
        )
        _add_usage(result, reader.usage)
        _add_usage(result, response.usage)
        result.tokens_out += reader.reasoning_tokens if reader.usage is None else 0
        result.tokens_reasoning = reader.reasoning_tokens
        return result


class _StreamReader:
    """Collects a streamed reply, counting reasoning tokens (field deltas, or deltas inside <think>)."""

    def __init__(self) -> None:
        self.field_parts: list[str] = []
        self.content = ""
        self.reasoning_tokens = 0
        self.reasoning_done = False
        self.cut = False
        self.usage: Any = None
        self.finish_reason: str | None = None
        self.model = ""

    def feed(self, chunk: Any) -> None:
        self.model = chunk.model or self.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        if not chunk.choices:
            return
        choice = chunk.choices[0]
        self.finish_reason = choice.finish_reason or self.finish_reason
        delta = choice.delta
        piece = _field_reasoning(delta)
        if piece:
            self.field_parts.append(piece)
            self.reasoning_tokens += 1
        text = delta.content or ""
        if not text:
            return
        if self.field_parts:
            self.reasoning_done = True  # content after field reasoning: the answer has begun
        inside_before = self._inside_think()
        self.content += text
        if inside_before and self._inside_think():
            self.reasoning_tokens += 1
        elif THINK_CLOSE in self.content[-len(text) - len(THINK_CLOSE) :]:
            self.reasoning_done = True

    def _inside_think(self) -> bool:
        start = self.content.find(THINK_OPEN)
        return start >= 0 and THINK_CLOSE not in self.content[start:]

    @property
    def reasoning(self) -> str:
        if self.field_parts:
            return "".join(self.field_parts)
        start = self.content.find(THINK_OPEN)
        return self.content[start + len(THINK_OPEN) :].strip() if start >= 0 else ""

    def result(self, model: str) -> ChatResult:
        answer, inline = split_reasoning(self.content)
        result = ChatResult(
            text=answer,
            reasoning="".join(self.field_parts) or inline,
            model=self.model or model,
            finish_reason=self.finish_reason,
        )
        _add_usage(result, self.usage)
        if self.usage is None:
            result.tokens_reasoning = self.reasoning_tokens
        return result


def _field_reasoning(message: Any) -> str | None:
    """Reasoning in its own field: ``reasoning_content`` (vLLM, SGLang, DeepSeek) or ``reasoning``."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(message, name, None)
        if value is None and getattr(message, "model_extra", None):
            value = message.model_extra.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _add_usage(result: ChatResult, usage: Any) -> None:
    if usage is None:
        return
    result.tokens_in += usage.prompt_tokens or 0
    result.tokens_out += usage.completion_tokens or 0
    details = getattr(usage, "completion_tokens_details", None)
    result.tokens_reasoning += (getattr(details, "reasoning_tokens", None) or 0) if details else 0
    cached = getattr(usage, "prompt_tokens_details", None)
    result.tokens_cached += (getattr(cached, "cached_tokens", None) or 0) if cached else 0


def retry_after_seconds(headers: Any) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``, in seconds."""
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _mapped(exc: Exception, where: str) -> LLMError:
    if isinstance(exc, openai.APITimeoutError) or isinstance(exc, httpx.TimeoutException):
        return TransientLLMError(f"{where}: timed out")
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):
        failure = Unreachable if _could_not_connect(exc) else TransientLLMError
        return failure(f"{where}: connection failed: {_underlying(exc)}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = _error_message(exc)
        if status == 429 or status >= 500 or status == 408:
            return TransientLLMError(f"{where}: HTTP {status}: {message}", retry_after_seconds(exc.response.headers))
        hint = " (check PAPERSIFT_LLM_API_KEY)" if status in (401, 403) else ""
        return LLMError(f"{where}: HTTP {status}: {message}{hint}")
    return LLMError(f"{where}: {exc}")


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return exc.message


def _could_not_connect(exc: BaseException) -> bool:
    """Whether no connection was made at all (refused, no such host), not one that broke: the
    socket's own error down the chain (the SDK wraps it in its own copy of httpx)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (httpx.ConnectError, ConnectionRefusedError, socket.gaierror)):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _underlying(exc: BaseException) -> str:
    """What happened (reset, refused, cut off): the SDK says only "Connection error.", and httpx's
    own error is often empty; the first cause down the chain with a message says it."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not str(cause):
        cause = cause.__cause__ or cause.__context__
    return str(cause) if cause is not None else str(exc)


def _snippet(reply: Any, n: int = 120) -> str:
    text = " ".join(str(reply).split())
    return text if len(text) <= n else text[: n - 1] + "…"
