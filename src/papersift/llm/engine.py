"""The llama.cpp engine, run in a child process: ``python -m papersift.llm.engine --model PATH``.

llama.cpp is native code: an instruction the CPU lacks, a bad build or the out-of-memory killer
ends its process, not with a Python exception. So papersift never loads it in its own process:
:mod:`papersift.llm.embedded` starts this module as a worker, speaks to it in JSON lines over
its stdin and stdout, and turns the worker's death into an error for the one call it was on.

The protocol: the worker loads the model and writes ``{"ready": true, "load_seconds": s}`` (or
``{"error": "..."}`` and exits); then, for each request line (a :class:`ChatRequest` as JSON),
one reply line, ``{"result": {ChatResult fields}}`` or ``{"error": "..."}``. End of input ends it.

Structured output is llama.cpp's grammar made from the JSON schema. Thinking: a hybrid model
(its chat template knows ``<think>`` or ``enable_thinking``) is switched by the ``/think`` and
``/no_think`` soft switches (llama-cpp-python passes no template kwargs). With thinking on, the
reasoning is generated without the grammar, up to its end or the budget (then closed with the
Qwen3 closing sentence), and the answer is generated after it under the grammar. A model without
thinking (the default Qwen2.5-Coder) gets no switch at all.
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Protocol

from .base import ChatRequest, ChatResult, LLMError, Thinking
from .reasoning import THINK_CLOSE, THINK_OPEN, budget_prefix, closed_reasoning, split_reasoning, with_soft_switch

DEFAULT_ENGINE = "papersift.llm.engine:load_llama"

# llama.cpp's grammar parser refuses (and llama-cpp-python then crashes on) a string bound as long
# as the card's digest (maxLength 1500): "number of rules that are going to be repeated ... exceeds
# sane defaults". Longer bounds are left to max_tokens and to the pydantic validation after.
GRAMMAR_MAX_LENGTH = 500


class Engine(Protocol):
    def chat(self, request: ChatRequest) -> ChatResult: ...


def load_llama(path: Path, n_ctx: int, n_threads: int) -> LlamaEngine:
    """The default engine: ``llama_cpp.Llama`` on the GGUF file at ``path``."""
    try:
        import llama_cpp  # deferred, optional: the embedded extra
    except ImportError as exc:
        raise LLMError(
            "the embedded engine needs llama-cpp-python: pip install 'papersift[embedded]' "
            "(it compiles llama.cpp once, ~11 minutes), or use an OpenAI-compatible server "
            "(PAPERSIFT_LLM_BACKEND=openai PAPERSIFT_LLM_BASE_URL=…)"
        ) from exc
    try:
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise LLMError(f"{path}: llama.cpp cannot load this model: {exc}") from exc
    return LlamaEngine(llm, model=path.stem, n_ctx=n_ctx)


class LlamaEngine:
    """Chat on one loaded ``llama_cpp.Llama`` (or anything with its methods)."""

    def __init__(self, llm: Any, *, model: str, n_ctx: int = 0):
        self.llm = llm
        self.model = model
        self.n_ctx = n_ctx

    def chat(self, request: ChatRequest) -> ChatResult:
        hybrid = _is_hybrid(self.llm)
        messages = with_soft_switch(request.messages, request.thinking.enabled) if hybrid else request.messages
        try:
            if hybrid and request.thinking.enabled:
                return self._think_then_answer(request, messages)
            return self._chat_completion(request, messages)
        except ValueError as exc:  # llama-cpp-python's way to say the prompt does not fit
            raise LLMError(f"embedded model {self.model}: {exc} (llm.n_ctx is {self.n_ctx})") from exc

    def _chat_completion(self, request: ChatRequest, messages: list[dict[str, str]]) -> ChatResult:
        options: dict[str, Any] = {
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.schema is not None:
            options["response_format"] = {"type": "json_object", "schema": grammar_schema(request.schema)}
        before = _evaluated_tokens(self.llm)
        response = self.llm.create_chat_completion(**options)
        choice = response["choices"][0]
        answer, reasoning = split_reasoning(choice["message"].get("content") or "")
        usage = response.get("usage") or {}
        prompt_tokens = usage.get("prompt_tokens", 0)
        return ChatResult(
            text=answer,
            reasoning=reasoning,
            model=self.model,
            tokens_in=prompt_tokens,
            tokens_out=usage.get("completion_tokens", 0),
            finish_reason=choice.get("finish_reason"),
            tokens_cached=_reused_prefix(before, _evaluated_tokens(self.llm), prompt_tokens),
        )

    def _think_then_answer(self, request: ChatRequest, messages: list[dict[str, str]]) -> ChatResult:
        """Reasoning first (free text, up to its end or the budget), then the answer under the grammar."""
        llm = self.llm
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
        answer_prompt = (
            prompt if not prompt.rstrip().endswith(THINK_OPEN) else prompt.rstrip()[: -len(THINK_OPEN)]
        ) + prefix
        options: dict[str, Any] = {"max_tokens": request.max_tokens, "temperature": request.temperature}
        if request.schema is not None:
            from llama_cpp import LlamaGrammar  # deferred, optional: the embedded extra

            options["grammar"] = LlamaGrammar.from_json_schema(
                json.dumps(grammar_schema(request.schema)), verbose=False
            )
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
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter  # deferred, optional: the embedded extra

    def text_of(token: int) -> str:
        return llm.detokenize([token], special=True).decode("utf-8", "replace") if token != -1 else ""

    return Jinja2ChatFormatter(
        llm.metadata["tokenizer.chat_template"], eos_token=text_of(llm.token_eos()), bos_token=text_of(llm.token_bos())
    )


def grammar_schema(schema: Any) -> Any:
    """The schema for llama.cpp's grammar: ``maxLength`` above GRAMMAR_MAX_LENGTH removed."""
    if isinstance(schema, dict):
        return {
            k: grammar_schema(v)
            for k, v in schema.items()
            if not (k == "maxLength" and isinstance(v, int) and v > GRAMMAR_MAX_LENGTH)
        }
    if isinstance(schema, list):
        return [grammar_schema(v) for v in schema]
    return schema


# --- the wire format ---------------------------------------------------------------------------


def request_to_json(request: ChatRequest) -> str:
    return json.dumps(dataclasses.asdict(request) | {"thinking": str(request.thinking)}, ensure_ascii=False)


def request_from_json(line: str) -> ChatRequest:
    data = json.loads(line)
    return ChatRequest(**data | {"thinking": Thinking.parse(data["thinking"])})


def factory(spec: str) -> Any:
    """``module:callable`` → the callable that loads an engine (path, n_ctx, n_threads)."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def serve(engine: Engine, requests: Any, replies: Any) -> None:
    """Answer request lines until the input ends; an error is a reply, not the end."""
    for line in requests:
        try:
            reply = {"result": dataclasses.asdict(engine.chat(request_from_json(line)))}
        except (LLMError, ValueError, TypeError, KeyError) as exc:
            reply = {"error": str(exc) or type(exc).__name__}
        replies.write(json.dumps(reply, ensure_ascii=False) + "\n")
        replies.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--n-ctx", type=int, default=8192)
    parser.add_argument("--n-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--engine", default=DEFAULT_ENGINE, help="module:callable that loads the engine")
    args = parser.parse_args(argv)
    # The protocol owns the real stdout; native code that prints goes to stderr instead.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    faulthandler.enable()  # a native crash leaves its Python stack on stderr, for the parent to quote
    started = time.monotonic()
    try:
        engine = factory(args.engine)(args.model, args.n_ctx, args.n_threads)
    except LLMError as exc:
        replies.write(json.dumps({"error": str(exc)}) + "\n")
        replies.flush()
        sys.exit(1)
    replies.write(json.dumps({"ready": True, "load_seconds": round(time.monotonic() - started, 3)}) + "\n")
    replies.flush()
    sys.stdin.reconfigure(encoding="utf-8")
    serve(engine, sys.stdin, replies)


if __name__ == "__main__":
    main()
