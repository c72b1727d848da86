"""The embedded backend: a packaged GGUF model on llama.cpp, in a worker process of its own.

The worker (:mod:`papersift.llm.engine`) is started on the first call and kept for the next ones,
one per model and settings in this process, shared by every client; one generation runs at a
time (two on the same cores slow each other 10-60x). Whatever kills the worker — a segfault, an
illegal instruction, the out-of-memory killer — fails only the call it was on, with a message
that says what happened and what to do; the next call starts a fresh worker. After
``CRASHES_IN_A_ROW`` deaths without an answer between them the engine is taken as unusable on
this machine (:class:`BackendUnavailable`), so that a run stops with one clear message instead
of failing every paper. A call that runs past ``llm.embedded_timeout`` kills the worker, and the
client retries it on a fresh one.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..config import LLMSettings
from . import models
from .base import Backend, BackendUnavailable, ChatRequest, ChatResult, LLMError, TransientLLMError
from .engine import DEFAULT_ENGINE, request_to_json

CRASHES_IN_A_ROW = 3
STDERR_QUOTED = 300  # characters of the worker's last stderr line quoted in a crash message
WHAT_TO_DO = (
    "Run `papersift doctor --only llm` to check the engine; if it crashes there too, rebuild llama.cpp "
    "for this machine (`make engine`, see the README) or use an OpenAI-compatible server "
    "(PAPERSIFT_LLM_BACKEND=openai PAPERSIFT_LLM_BASE_URL=…)."
)
SIGNAL_MEANING = {
    signal.SIGSEGV: "segmentation fault: llama.cpp built with CPU instructions this machine cannot run, or a damaged model",
    signal.SIGILL: "illegal instruction: llama.cpp built for a newer CPU than this one",
    signal.SIGKILL: "killed, most often by the out-of-memory killer (the default model needs about 2 GB)",
    signal.SIGBUS: "bus error: the model file changed or its disk went away while it was mapped",
    signal.SIGABRT: "aborted by llama.cpp itself",
}


class EngineCrashed(LLMError):
    """The worker died during a call."""


class EngineProcess:
    """One worker process: started on demand, asked one request at a time, restarted after a death."""

    def __init__(self, command: list[str], label: str):
        self.command = command
        self.label = label
        self.crashes_in_a_row = 0
        self.load_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._lock = threading.Lock()
        self._killed_on_purpose = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def ask(self, request: ChatRequest) -> ChatResult:
        with self._lock:
            if self.crashes_in_a_row >= CRASHES_IN_A_ROW:
                raise BackendUnavailable(
                    f"{self.label} crashed {self.crashes_in_a_row} times in a row and is not "
                    f"started again in this run. {WHAT_TO_DO}"
                )
            if self.pid is None:
                self._start()
            reply = self._exchange(request_to_json(request))
            self.crashes_in_a_row = 0
        if "error" in reply:
            raise LLMError(reply["error"])
        return ChatResult(**reply["result"])

    def _start(self) -> None:
        if self._stderr is not None:
            self._stderr.close()  # the last worker's, read for its crash message already
        self._stderr = tempfile.TemporaryFile()
        self._killed_on_purpose = False
        self._proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        ready = self._read()
        if "error" in ready:
            self.close()
            raise LLMError(ready["error"])  # a setup error, not a crash: it says what to install or fix
        self.load_seconds = ready.get("load_seconds")

    def _exchange(self, line: str) -> dict[str, Any]:
        assert self._proc and self._proc.stdin
        try:
            self._proc.stdin.write(line.encode() + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it died before reading: _read says how
        return self._read()

    def _read(self) -> dict[str, Any]:
        assert self._proc and self._proc.stdout
        line = self._proc.stdout.readline()
        if line:
            return json.loads(line)
        code = self._proc.wait()
        if self._killed_on_purpose:
            raise TransientLLMError(f"{self.label}: stopped after running past its time limit (llm.embedded_timeout)")
        self.crashes_in_a_row += 1
        raise EngineCrashed(f"{self.label} crashed: {describe_exit(code)}{self._stderr_tail()}. {WHAT_TO_DO}")

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        return f" (its last words: {lines[-1].strip()[:STDERR_QUOTED]})" if lines else ""

    def kill(self) -> None:
        """Stop a generation midway (a timed-out call): the worker is killed, the next call starts another."""
        if self._proc and self._proc.poll() is None:
            self._killed_on_purpose = True
            self._proc.kill()

    def close(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.stdin.close()  # end of input: the worker exits by itself
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


def describe_exit(code: int) -> str:
    if code < 0:
        sig = signal.Signals(-code)
        return f"its process was killed by {sig.name} ({SIGNAL_MEANING.get(sig, signal.strsignal(sig) or 'a signal')})"
    return f"its process exited with status {code}"


_WORKERS: dict[tuple[str, ...], EngineProcess] = {}
_WORKERS_LOCK = threading.Lock()


def worker_for(command: list[str], label: str) -> EngineProcess:
    """The shared worker for this command line (model, context, threads, engine)."""
    with _WORKERS_LOCK:
        return _WORKERS.setdefault(tuple(command), EngineProcess(command, label))


@atexit.register
def _close_workers() -> None:
    while _WORKERS:
        _WORKERS.popitem()[1].close()


class EmbeddedBackend(Backend):
    name = "embedded"
    one_at_a_time = True

    def __init__(self, settings: LLMSettings, *, engine: str = DEFAULT_ENGINE):
        self.settings = settings
        self.engine = engine
        self.model_ref = settings.embedded_model
        self.model = (
            Path(settings.embedded_model).stem
            if settings.embedded_model not in models.MODELS
            else settings.embedded_model
        )
        self.n_threads = settings.n_threads or os.cpu_count() or 1
        self.timeout = settings.embedded_timeout
        self._worker: EngineProcess | None = None
        self._turn: asyncio.Lock | None = None

    def worker(self) -> EngineProcess:
        """The worker for this backend's model (assembling the packaged model first if needed)."""
        if self._worker is None:
            path = models.resolve(self.model_ref)
            command = [
                sys.executable,
                "-m",
                "papersift.llm.engine",
                "--model",
                str(path),
                "--n-ctx",
                str(self.settings.n_ctx),
                "--n-threads",
                str(self.n_threads),
                "--engine",
                self.engine,
            ]
            self._worker = worker_for(command, f"the embedded engine (llama.cpp, {self.model})")
        return self._worker

    @property
    def load_seconds(self) -> float | None:
        return self._worker.load_seconds if self._worker else None

    async def chat(self, request: ChatRequest) -> ChatResult:
        # Calls wait their turn here, not in threads: a waiting call holds no thread of the pool.
        self._turn = self._turn or asyncio.Lock()
        async with self._turn:
            worker = await asyncio.to_thread(self.worker)
            try:
                return await asyncio.to_thread(worker.ask, request)
            except asyncio.CancelledError:
                worker.kill()  # a timed-out call: its thread then reads the end and returns
                raise
