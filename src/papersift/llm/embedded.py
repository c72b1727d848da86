"""The embedded engine: llama.cpp in-process (llama-cpp-python), running a packaged GGUF model.

One engine per model file is loaded on first use and shared by the whole process; a lock lets
one generation run at a time (two on the same cores slow each other 10-60x) and every call runs
in a worker thread, so the event loop stays free. Structured output is llama.cpp's grammar made
from the JSON schema (``response_format={"type": "json_object", "schema": …}``).

Thinking: a hybrid model (its chat template knows ``<think>`` or ``enable_thinking``) is switched
by the ``/think`` and ``/no_think`` soft switches (llama-cpp-python passes no template kwargs).
With thinking on, the reasoning is generated without the grammar, up to its end or the budget
(then closed with the Qwen3 closing sentence), and the answer is generated after it under the
grammar. A model without thinking (the default Qwen2.5-Coder) gets no switch at all.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..config import LLMSettings
from . import models
from .base import Backend, ChatRequest, ChatResult, LLMError, register
from .reasoning import THINK_CLOSE, THINK_OPEN, budget_prefix, closed_reasoning, split_reasoning, with_soft_switch

_ENGINES: dict[Path, Any] = {}
_LOCK = threading.Lock()  # one generation (and one load) at a time in this process


def load_engine(path: Path, n_ctx: int, n_threads: int) -> Any:
    """The shared ``llama_cpp.Llama`` for ``path``; call with ``_LOCK`` held."""
    engine = _ENGINES.get(path)
    if engine is None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise LLMError("the embedded engine needs llama-cpp-python: pip install 'papersift[embedded]' "
                           "(it compiles llama.cpp once, ~11 minutes), or use an OpenAI-compatible server "
                           "(PAPERSIFT_LLM_BACKEND=openai PAPERSIFT_LLM_BASE_URL=…)") from exc
        try:
            engine = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"{path}: llama.cpp cannot load this model: {exc}") from exc
        _ENGINES[path] = engine
    return engine


@atexit.register
def _close_engines() -> None:
    # Closed before the interpreter tears down the modules llama.cpp's finaliser needs;
    # left to garbage collection at exit, it fails with a traceback on stderr.
    while _ENGINES:
        _ENGINES.popitem()[1].close()


@register
class EmbeddedBackend(Backend):
    name = "embedded"
    cancellable = False  # a generation in a worker thread cannot be stopped: no client-side timeout

    def __init__(self, settings: LLMSettings):
        self.settings = settings
        self.model_ref = settings.embedded_model
        self.model = Path(settings.embedded_model).stem if settings.embedded_model not in models.MODELS else settings.embedded_model
        self.n_threads = settings.n_threads or os.cpu_count() or 1
        self.load_seconds: float | None = None
        self._path: Path | None = None

    def engine(self) -> Any:
        """The loaded engine (assembling the packaged model first if needed); call with ``_LOCK`` held."""
        if self._path is None:
            self._path = models.resolve(self.model_ref)
        if self._path not in _ENGINES:
            started = time.monotonic()
            load_engine(self._path, self.settings.n_ctx, self.n_threads)
            self.load_seconds = time.monotonic() - started
        return _ENGINES[self._path]

    async def chat(self, request: ChatRequest) -> ChatResult:
        return await asyncio.to_thread(self._chat_locked, request)

    def _chat_locked(self, request: ChatRequest) -> ChatResult:
        with _LOCK:
            llm = self.engine()
            hybrid = _is_hybrid(llm)
            messages = with_soft_switch(request.messages, request.thinking.enabled) if hybrid else request.messages
            try:
                if hybrid and request.thinking.enabled:
                    return self._think_then_answer(llm, request, messages)
                return self._chat_completion(llm, request, messages)
            except ValueError as exc:  # llama-cpp-python's way to say the prompt does not fit
                raise LLMError(f"embedded model {self.model}: {exc} (llm.n_ctx is {self.settings.n_ctx})") from exc

    def _chat_completion(self, llm: Any, request: ChatRequest, messages: list[dict[str, str]]) -> ChatResult:
        options: dict[str, Any] = {"messages": messages, "max_tokens": request.max_tokens,
                                   "temperature": request.temperature}
        if request.schema is not None:
            options["response_format"] = {"type": "json_object", "schema": grammar_schema(request.schema)}
        before = _evaluated_tokens(llm)
        response = llm.create_chat_completion(**options)
        choice = response["choices"][0]
        answer, reasoning = split_reasoning(choice["message"].get("content") or "")
        usage = response.get("usage") or {}
        prompt_tokens = usage.get("prompt_tokens", 0)
        return ChatResult(text=answer, reasoning=reasoning, model=self.model, tokens_in=prompt_tokens,
                          tokens_out=usage.get("completion_tokens", 0), finish_reason=choice.get("finish_reason"),
                          tokens_cached=_reused_prefix(before, _evaluated_tokens(llm), prompt_tokens))

    def _think_then_answer(self, llm: Any, request: ChatRequest, messages: list[dict[str, str]]) -> ChatResult:
        """Reasoning first (free text, up to its end or the budget), then the answer under the grammar."""
        prompt = _formatter(llm)(messages=messages).prompt
        budget = request.thinking.budget if request.thinking.budget is not None else request.max_tokens
        thought, reasoning_tokens, cut = "", 0, False
        start = prompt if prompt.rstrip().endswith(THINK_OPEN) else prompt + THINK_OPEN + "\n"
        for chunk in llm.create_completion(start, max_tokens=budget + 1, temperature=request.temperature, stream=True):
            thought += chunk["choices"][0]["text"]
            if THINK_CLOSE in thought:
                break
            reasoning_tokens += 1
            if reasoning_tokens >= budget:
                cut = True
                break
        reasoning = thought.split(THINK_CLOSE)[0].strip()
        prefix = budget_prefix(reasoning) if cut else f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n"
        answer_prompt = (prompt if not prompt.rstrip().endswith(THINK_OPEN) else prompt.rstrip()[: -len(THINK_OPEN)]) + prefix
        options: dict[str, Any] = {"max_tokens": request.max_tokens, "temperature": request.temperature}
        if request.schema is not None:
            from llama_cpp import LlamaGrammar

            options["grammar"] = LlamaGrammar.from_json_schema(json.dumps(grammar_schema(request.schema)), verbose=False)
        response = llm.create_completion(answer_prompt, **options)
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        return ChatResult(
            text=split_reasoning(choice["text"])[0].strip(),
            reasoning=closed_reasoning(reasoning) if cut else (reasoning or None),
            model=self.model,
            tokens_in=usage.get("prompt_tokens", 0),
            tokens_out=reasoning_tokens + usage.get("completion_tokens", 0),
            tokens_reasoning=reasoning_tokens,
            finish_reason=choice.get("finish_reason"),
        )


def _evaluated_tokens(llm: Any) -> list[int]:
    """The tokens in the engine's KV cache (llama-cpp-python keeps the last prompt's)."""
    ids = getattr(llm, "_input_ids", None)
    return ids.tolist() if ids is not None else []


def _reused_prefix(before: list[int], after: list[int], prompt_tokens: int) -> int:
    """Prompt tokens llama.cpp did not evaluate again: the prefix shared with the previous prompt
    (it always evaluates the last prompt token itself)."""
    shared = 0
    for a, b in zip(before, after[:prompt_tokens]):
        if a != b:
            break
        shared += 1
    return min(shared, max(prompt_tokens - 1, 0))


def _is_hybrid(llm: Any) -> bool:
    template = llm.metadata.get("tokenizer.chat_template", "")
    return "enable_thinking" in template or THINK_OPEN in template


def _formatter(llm: Any) -> Any:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text_of(token: int) -> str:
        return llm.detokenize([token], special=True).decode("utf-8", "replace") if token != -1 else ""

    return Jinja2ChatFormatter(llm.metadata["tokenizer.chat_template"], eos_token=text_of(llm.token_eos()),
                               bos_token=text_of(llm.token_bos()))


# llama.cpp's grammar parser refuses (and llama-cpp-python then crashes on) a string bound as long
# as the card's digest (maxLength 1500): "number of rules that are going to be repeated ... exceeds
# sane defaults". Longer bounds are left to max_tokens and to the pydantic validation after.
GRAMMAR_MAX_LENGTH = 500


def grammar_schema(schema: Any) -> Any:
    """The schema for llama.cpp's grammar: ``maxLength`` above GRAMMAR_MAX_LENGTH removed."""
    if isinstance(schema, dict):
        return {k: grammar_schema(v) for k, v in schema.items()
                if not (k == "maxLength" and isinstance(v, int) and v > GRAMMAR_MAX_LENGTH)}
    if isinstance(schema, list):
        return [grammar_schema(v) for v in schema]
    return schema
