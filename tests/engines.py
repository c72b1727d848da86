"""Engines for the embedded backend's worker process in tests, loaded in the child with
``--engine engines:NAME`` (the tests put this folder on the child's PYTHONPATH).

They answer like the scripted server does by default (a schema-valid object in the asked
language, echoing the prompt's numbers and names) and misbehave on cue, through files in the
folder named by ``PAPERSIFT_TEST_ENGINE_DIR``: ``hold`` makes the next request wait (after
writing its pid to ``busy``) until the test kills it; the file is taken by that one request.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import time
from pathlib import Path

from support.llm_server import default_reply

from papersift.llm import models
from papersift.llm.base import ChatRequest, ChatResult, LLMError

HOLD_SECONDS = 60  # long past what any test waits: the test kills the worker well before


class ScriptedEngine:
    def __init__(self, path: Path, n_ctx: int, n_threads: int):
        self.model = path.stem
        self.cues = Path(os.environ["PAPERSIFT_TEST_ENGINE_DIR"])

    def chat(self, request: ChatRequest) -> ChatResult:
        try:
            (self.cues / "hold").unlink()  # only one request takes the cue
        except FileNotFoundError:
            pass
        else:
            (self.cues / "busy").write_text(str(os.getpid()))
            time.sleep(HOLD_SECONDS)
        body = {"messages": request.messages}
        if request.schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"schema": request.schema}}
        text = default_reply(body)
        return ChatResult(text=text, model=self.model, tokens_in=100, tokens_out=len(text) // 4, finish_reason="stop")


class SegfaultingEngine(ScriptedEngine):
    """Loads, then dies of a real segmentation fault on every request, as a bad native build does."""

    def chat(self, request: ChatRequest) -> ChatResult:
        ctypes.string_at(0)  # reads address 0: SIGSEGV
        raise AssertionError("unreachable")


def refusing_engine(path: Path, n_ctx: int, n_threads: int) -> ScriptedEngine:
    from papersift.llm.base import LLMError

    raise LLMError(f"{path}: llama.cpp cannot load this model: unknown model architecture")


def default_model_missing() -> str | None:
    """Why the real default embedded model cannot run here (a skip reason), or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'papersift[embedded]')"
    try:
        models.part_paths(models.MODELS[models.DEFAULT_MODEL])
    except LLMError as exc:
        return str(exc)
    return None
