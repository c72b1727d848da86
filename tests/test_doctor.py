"""`papersift doctor`: a healthy setup exits 0; each broken part exits non-zero with a diagnosis
that names the fix. Everything runs on loopback: the scripted LLM server, a loopback HTTP server
standing in for the sources, and real SQLite files (a read-only one made read-only by the kernel,
for an unprivileged user, not by a mock)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import sqlite3
import tempfile
import traceback
from pathlib import Path

import numpy as np
import pytest
from fixtures.sources.loopback import Loopback, Reply
from support.llm_server import ScriptedServer
from typer.testing import CliRunner

from papersift import doctor  # noqa: F401  (imported before a test drops root: see run_unprivileged)
from papersift.cli import app
from papersift.search.embeddings import to_blob
from papersift.store import Store

runner = CliRunner()
SOURCE_PATHS = {
    "ARXIV_API_URL": "/api/query",
    "ARXIV_OAI_URL": "/oai",
    "OPENREVIEW_API_URL": "/openreview",
    "HF_API_URL": "/hf/api",
}


def doctor_cli(*args, db: Path | None = None) -> tuple[int, str]:
    result = runner.invoke(app, [*(["--db", str(db)] if db else []), "doctor", *args], catch_exceptions=False)
    return result.exit_code, result.output


def doctor_json(*args, db: Path | None = None) -> tuple[int, dict[str, dict]]:
    code, output = doctor_cli(*args, "--json", db=db)
    return code, {check["name"]: check for check in json.loads(output)["checks"]}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def llm_server(monkeypatch):
    with ScriptedServer() as server:
        monkeypatch.setenv("PAPERSIFT_LLM_BACKEND", "openai")
        monkeypatch.setenv("PAPERSIFT_LLM_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def sources(monkeypatch):
    with Loopback() as server:
        for name, path in SOURCE_PATHS.items():
            server.route(path, Reply(b"<ok/>"))
            monkeypatch.setenv(f"PAPERSIFT_NET_{name}", server.url(path))
        yield server


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "papers.db"
    Store(path).close()
    monkeypatch.setenv("PAPERSIFT_DB", str(path))
    return path


def test_a_healthy_setup_exits_0_with_every_check_ok(llm_server, sources, db):
    code, checks = doctor_json()
    assert code == 0
    assert {name: check["status"] for name, check in checks.items()} == dict.fromkeys(
        ["config", "db", "llm", "embedder", "sources"], "ok"
    )
    # the LLM generated a few tokens, without thinking, and nothing was cached or logged
    chat = llm_server.chat_requests[-1]
    assert chat.max_tokens == 8 and chat.chat_template_kwargs == {"enable_thinking": False}
    assert checks["llm"]["details"]["tokens"] > 0 and checks["llm"]["details"]["tokens_per_second"] > 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM llm_calls").fetchone() == (0,)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'papersift_doctor%'").fetchall() == []
    assert checks["embedder"]["details"] == {"model": "use-m3", "dimension": 512}
    # each source was asked once, with papersift's User-Agent
    assert sorted(r.path for r in sources.requests) == sorted(SOURCE_PATHS.values())
    assert all(r.headers["user-agent"].startswith("papersift/") for r in sources.requests)
    assert {s["status"] for s in checks["sources"]["details"]["sources"].values()} == {200}


def test_the_text_report_is_one_line_a_check(llm_server, sources, db):
    code, output = doctor_cli("--only", "db,llm")
    lines = output.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].startswith("OK      db: ") and "writable" in lines[0]
    assert lines[1].startswith("OK      llm: ") and "tokens/s" in lines[1]


def test_a_missing_model_file_is_broken_and_the_fix_names_the_setting(tmp_path, monkeypatch):
    missing = tmp_path / "models" / "qwen.gguf"
    monkeypatch.setenv("PAPERSIFT_LLM_EMBEDDED_MODEL", str(missing))
    code, output = doctor_cli("--only", "llm")
    assert code == 1
    assert len(output.splitlines()) == 1  # what `make demo` shows before it starts: one line
    assert output.startswith("BROKEN  llm: ") and str(missing) in output
    assert "fix: put a GGUF file at" in output and "PAPERSIFT_LLM_EMBEDDED_MODEL" in output


def test_a_wrong_server_url_is_broken_and_the_fix_names_the_url_and_variable(monkeypatch):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    monkeypatch.setenv("PAPERSIFT_LLM_BACKEND", "openai")
    monkeypatch.setenv("PAPERSIFT_LLM_BASE_URL", url)
    code, output = doctor_cli("--only", "llm")
    assert code == 1 and len(output.splitlines()) == 1
    assert output.startswith("BROKEN  llm: no answer to /models: ") and "connection failed" in output
    assert "PAPERSIFT_LLM_BASE_URL" in output and f"(now: {url})" in output


def test_a_model_the_server_does_not_serve_is_broken_and_the_fix_lists_what_it_serves(llm_server, monkeypatch):
    monkeypatch.setenv("PAPERSIFT_LLM_MODEL", "Qwen/Qwen3-8B")
    code, checks = doctor_json("--only", "llm")
    assert code == 1
    llm = checks["llm"]
    assert llm["status"] == "broken" and "'Qwen/Qwen3-8B'" in llm["found"]
    assert llm["fix"] == "set llm.model (PAPERSIFT_LLM_MODEL) to one of: scripted-qwen3"
    assert llm_server.chat_requests == []  # no chat with a model the server lacks


def test_a_server_whose_chat_fails_is_broken(llm_server):
    llm_server.fail_next("500")
    code, checks = doctor_json("--only", "llm")
    assert code == 1 and "a chat fails" in checks["llm"]["found"] and "HTTP 500" in checks["llm"]["found"]
    assert len(llm_server.chat_requests) == 1  # one attempt: the doctor does not back off and retry


@pytest.fixture
def world_readable_dir():
    """A folder an unprivileged user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="papersift-doctor-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def run_unprivileged(*args, db: Path) -> tuple[int, str]:
    """The doctor CLI in a forked child that has given up root for `nobody`, so that the kernel
    enforces file permissions (root ignores them). Forked rather than exec'd: the interpreter may
    live where `nobody` cannot read it, and the child already has every module it needs."""
    if os.geteuid() != 0:
        return doctor_cli(*args, db=db)
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            with os.fdopen(write_end, "w") as out:
                json.dump(doctor_cli(*args, db=db), out)
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as result:
        text = result.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged child failed"
    code, output = json.loads(text)
    return code, output


@pytest.mark.parametrize("folder_mode", [0o777, 0o755], ids=["read-only file", "read-only file and folder"])
def test_a_read_only_database_is_broken_and_the_fix_names_the_permissions(world_readable_dir, monkeypatch, folder_mode):
    folder = world_readable_dir / "data"
    folder.mkdir()
    path = folder / "papers.db"
    Store(path).close()
    path.chmod(0o444)
    folder.chmod(folder_mode)
    (config := world_readable_dir / "config.toml").touch()
    monkeypatch.setenv("PAPERSIFT_CONFIG", str(config))
    code, output = run_unprivileged("--only", "db", db=path)
    assert code == 1 and len(output.splitlines()) == 1
    user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    assert output.startswith(f"BROKEN  db: {path} is read-only for {user}: ")
    assert f"make {path} and its folder {folder} writable" in output and "PAPERSIFT_DB" in output
    assert path.stat().st_mode & 0o777 == 0o444  # the doctor changed nothing


def test_a_corrupt_database_file_is_broken(tmp_path):
    path = tmp_path / "papers.db"
    path.write_bytes(np.random.default_rng(7).bytes(8192))
    code, output = doctor_cli("--only", "db", db=path)
    assert code == 1
    assert output.startswith(f"BROKEN  db: {path} is not a usable SQLite database")
    assert f"move {path} aside" in output


def test_an_older_schema_is_a_warning_and_a_newer_one_is_broken(db):
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 2")
    code, checks = doctor_json("--only", "db")
    assert code == 0 and checks["db"]["status"] == "warning" and "version 2 of " in checks["db"]["found"]
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    code, checks = doctor_json("--only", "db")
    assert code == 1 and checks["db"]["status"] == "broken" and "newer papersift" in checks["db"]["fix"]


def test_no_database_yet_is_fine_and_the_doctor_does_not_create_one(tmp_path):
    path = tmp_path / "new" / "papers.db"
    code, checks = doctor_json("--only", "db", db=path)
    assert code == 0 and checks["db"]["status"] == "ok" and not path.exists()


def test_unreachable_sources_are_a_warning_not_broken(monkeypatch):
    dead = f"http://127.0.0.1:{closed_port()}"
    for name, path in SOURCE_PATHS.items():
        monkeypatch.setenv(f"PAPERSIFT_NET_{name}", dead + path)
    code, checks = doctor_json("--only", "sources")
    assert code == 0
    assert checks["sources"]["status"] == "warning" and "0 of 4 sources reachable" in checks["sources"]["found"]
    assert f"net.hf_api_url {dead}/hf/api: unreachable" in checks["sources"]["found"]


def test_an_embedder_whose_dimension_differs_from_the_stored_vectors_is_broken(db, monkeypatch):
    with ScriptedServer(embedding_dim=64) as server:
        monkeypatch.setenv("PAPERSIFT_EMBEDDING_BACKEND", "openai")
        monkeypatch.setenv("PAPERSIFT_EMBEDDING_BASE_URL", server.base_url)
        monkeypatch.setenv("PAPERSIFT_EMBEDDING_MODEL", "m")
        code, checks = doctor_json("--only", "embedder")
        assert code == 0 and checks["embedder"]["details"]["dimension"] == 64
        with sqlite3.connect(db) as conn:  # vectors an earlier 32-dimensional model left
            conn.execute("INSERT INTO embeddings VALUES ('p1', 'openai:m', 'h', ?)", (to_blob(np.ones(32)),))
        code, checks = doctor_json("--only", "embedder")
    assert code == 1
    assert "returns 64 dimensions but the store's vectors of it have 32" in checks["embedder"]["found"]
    assert "DELETE FROM embeddings WHERE model = 'openai:m'" in checks["embedder"]["fix"]


def test_a_config_that_does_not_load_is_broken_and_stops_the_other_checks(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[llm]\nbackend = "openai\n', encoding="utf-8")
    monkeypatch.setenv("PAPERSIFT_CONFIG", str(config))
    code, checks = doctor_json("--only", "db,llm")
    assert code == 1 and list(checks) == ["config"]
    assert str(config) in checks["config"]["found"] and "invalid TOML" in checks["config"]["found"]


def test_invalid_config_values_are_broken_each_named(monkeypatch):
    monkeypatch.setenv("PAPERSIFT_LLM_BACKEND", "ollama")
    monkeypatch.setenv("PAPERSIFT_LLM_THINKING", "sometimes")
    code, checks = doctor_json("--only", "config")
    assert code == 1
    found = checks["config"]["found"]
    assert "unknown LLM backend 'ollama'" in found and "llm.thinking: thinking must be off, on or budget:N" in found


def test_an_unknown_check_is_an_error_naming_the_option():
    result = runner.invoke(app, ["doctor", "--only", "db,gpu"])
    assert result.exit_code == 2 and "--only: unknown check gpu" in result.output
