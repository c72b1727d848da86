"""The fault matrix: each way an LLM server, a paper source, the network or the disk can fail, and
what papersift does about it. Every fault ends in a retry, a failure recorded with its reason, or
a one-line error with exit code 3 (docs/cli.md, "Exit codes"); never a traceback, never a lost paper. The README's
reliability table lists these tests.

LLM faults are played by the scripted server (``tests/support/llm_server.py``) and, for broken
connections, by the loopback server; source faults by the loopback server; database faults are
real: a file size limit on the process (``RLIMIT_FSIZE``) or ``PRAGMA max_page_count`` for a full
disk, an immutable or read-only file, and a transaction held open by another connection.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from fixtures.sources.loopback import Loopback, Reply, fixture, in_turn
from support.llm_server import ScriptedServer, default_reply
from typer.testing import CliRunner

from papersift.cli import app
from papersift.config import NetSettings, load_settings
from papersift.sources.base import ingest
from papersift.sources.files import paper_from_mapping, read_jsonl
from papersift.sources.http import HttpClient
from papersift.store import Store
from papersift.web import create_app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "src" / "papersift" / "data" / "sample.jsonl"
TRENDING = ROOT / "src" / "papersift" / "data" / "trending-2025-05.jsonl"
CLI = [sys.executable, "-c", "from papersift.cli import main; main()"]
FEED = "arxiv_rss_cs.CL.xml"  # two papers


def invoke(*args: object, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


def assert_one_line_error(output: str, *fragments: str) -> None:
    """What a user sees when a command cannot go on: no traceback, one line that says why."""
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    for fragment in fragments:
        assert fragment in errors[0], output


def load(db: Path, records: list[dict]) -> list[str]:
    with Store(db) as store:
        return [store.upsert(paper_from_mapping(r))[0] for r in records]


def paper_ids(db: Path) -> set[str]:
    with Store(db, readonly=True) as store:
        return {row[0] for row in store.conn.execute("SELECT id FROM papers")}


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


# --- LLM faults: `papersift enrich` --------------------------------------------------------------

LLM_FAULTS = {  # fault -> what the failure recorded for the paper says
    "429": "HTTP 429",  # with Retry-After
    "429_bare": "HTTP 429",  # without
    "500": "HTTP 500",
    "503": "HTTP 503",
    "hang": "no reply within",  # a timeout
    "html": "expected a JSON completion, got: '<!DOCTYPE html>",  # the wrong content type
    "bad_utf8": "a reply that is not JSON ('utf-8' codec can't decode",
    "huge": "invalid Card twice",  # two megabytes of text where a card should be
}
BROKEN_CONNECTIONS = {
    "reset": "Connection reset by peer",
    "cut": "peer closed connection without sending complete message body",
}


@pytest.fixture
def two_papers(tmp_path, sample_records) -> tuple[Path, list[str], list[dict]]:
    db = tmp_path / "papers.db"
    return db, load(db, sample_records[:2]), sample_records[:2]


def llm_env(db: Path, base_url: str) -> dict[str, str]:
    return {
        "PAPERSIFT_DB": str(db),
        "PAPERSIFT_LLM_BACKEND": "openai",
        "PAPERSIFT_LLM_BASE_URL": base_url,
        "PAPERSIFT_LLM_MODEL": "scripted-qwen3",
        "PAPERSIFT_LLM_API_KEY": "test",
        "PAPERSIFT_LLM_TIMEOUT": "1",
        "PAPERSIFT_LLM_MAX_RETRIES": "1",
        "PAPERSIFT_LLM_CONCURRENCY": "2",
    }


def enrichment_states(db: Path) -> dict[str, tuple[str, str]]:
    with Store(db, readonly=True) as store:
        rows = store.conn.execute("SELECT paper_id, status, data FROM enrichments")
        return {pid: (status, "; ".join(json.loads(data)["reasons"])) for pid, status, data in rows}


@pytest.fixture
def llm():
    with ScriptedServer(hang_seconds=3, retry_after=0.2, huge_bytes=2_000_000) as server:
        yield server


@pytest.mark.parametrize("fault", LLM_FAULTS)
def test_an_llm_fault_that_passes_is_retried_and_the_paper_enriched(fault, llm, two_papers):
    db, ids, _ = two_papers
    llm.fail_next(fault)
    result = invoke("enrich", "--json", env=llm_env(db, llm.base_url))
    assert result.exit_code == 0, result.output
    assert {status for status, _ in enrichment_states(db).values()} == {"ok"}
    assert len(llm.requests) == 3  # two papers, one of them asked twice
    assert "Traceback" not in result.output


@pytest.mark.parametrize("fault, reason", LLM_FAULTS.items())
def test_an_llm_fault_that_lasts_fails_that_paper_with_its_reason_and_the_run_goes_on(fault, reason, llm, two_papers):
    db, ids, records = two_papers
    first = records[0]["abstract"][:80]
    llm.fail_when(lambda body: any(first in (m.get("content") or "") for m in body["messages"]), fault)
    result = invoke("enrich", env=llm_env(db, llm.base_url))
    assert result.exit_code == 1, result.output  # some papers failed
    states = enrichment_states(db)
    assert states[ids[1]][0] == "ok"
    status, why = states[ids[0]]
    assert status == "failed" and reason in why, why
    assert f"failed {ids[0]}" in result.output and "Traceback" not in result.output
    assert paper_ids(db) == set(ids)  # a failed paper is still there, and a later run tries it again


def completion(body: dict) -> Reply:
    """A chat completion as the scripted server writes it, served by the loopback server."""
    message = {"role": "assistant", "content": default_reply(body)}
    data = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return Reply(json.dumps(data).encode(), content_type="application/json")


def llm_on_loopback(server: Loopback, fault: str, times: int | None) -> None:
    """Chat completions on the loopback server: the first ``times`` requests (all: None) broken by ``fault``."""
    counter = itertools.count()

    def chat(request) -> Reply:
        reply = completion(json.loads(request.body))
        if times is None or next(counter) < times:
            reply.fault = fault
        return reply

    server.route("/v1/chat/completions", chat)


@pytest.mark.parametrize("fault", BROKEN_CONNECTIONS)
def test_a_broken_llm_connection_is_retried(fault, two_papers):
    db, ids, _ = two_papers
    with Loopback() as server:
        llm_on_loopback(server, fault, times=1)
        result = invoke("enrich", env=llm_env(db, server.url("/v1")))
        assert len(server.requests) == 3
    assert result.exit_code == 0, result.output
    assert {status for status, _ in enrichment_states(db).values()} == {"ok"}


@pytest.mark.parametrize("fault, reason", BROKEN_CONNECTIONS.items())
def test_a_connection_that_keeps_breaking_fails_the_papers_with_the_reason(fault, reason, two_papers):
    db, ids, _ = two_papers
    with Loopback() as server:
        llm_on_loopback(server, fault, times=None)
        result = invoke("enrich", env=llm_env(db, server.url("/v1")))
    assert result.exit_code == 3, result.output  # every paper failed: the backend's fault
    states = enrichment_states(db)
    assert {status for status, _ in states.values()} == {"failed"}
    assert all(
        "connection failed" in why and reason in why and "gave up after 2 attempts" in why for _, why in states.values()
    )
    assert "Traceback" not in result.output and paper_ids(db) == set(ids)


# --- source faults: `papersift ingest rss` on the loopback server ----------------------------------


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps(monkeypatch) -> Sleeps:
    """The ingest commands' HTTP client, with the waits between retries recorded instead of slept."""
    sleeps = Sleeps()
    net = NetSettings(arxiv_delay=0, max_retries=2, timeout=0.5)
    monkeypatch.setattr("papersift.cli.ingest.http_client", lambda: HttpClient(net, sleep=sleeps, max_bytes=200_000))
    return sleeps


@pytest.fixture
def stored(tmp_path, sample_records) -> tuple[Path, set[str]]:
    """A store that already holds papers: a failed harvest must not lose any."""
    db = tmp_path / "papers.db"
    return db, set(load(db, sample_records[:5]))


FEED_BODY = fixture(FEED).body
SOURCE_FAULTS = {  # fault -> the broken reply that comes before the good one
    "429 with Retry-After": Reply(b"slow down", 429, "text/plain", {"Retry-After": "7"}),
    "429 without Retry-After": Reply(b"slow down", 429, "text/plain"),
    "500": Reply(b"oops", 500, "text/plain"),
    "503": Reply(b"busy", 503, "text/plain"),
    "connection reset": Reply(fault="reset"),
    "timeout": Reply(FEED_BODY, fault="stall", stall=1.5),
    "truncated body": Reply(FEED_BODY, fault="cut"),
}
LASTING_SOURCE_FAULTS = {  # fault -> (reply, what the error line says)
    "429 with Retry-After": (
        Reply(b"slow down", 429, "text/plain", {"Retry-After": "7"}),
        "HTTP 429 Too Many Requests",
    ),
    "429 without Retry-After": (Reply(b"slow down", 429, "text/plain"), "HTTP 429 Too Many Requests (gave up"),
    "500": (Reply(b"oops", 500, "text/plain"), "HTTP 500 Internal Server Error (gave up after 3 attempts)"),
    "503": (Reply(b"busy", 503, "text/plain"), "HTTP 503 Service Unavailable (gave up after 3 attempts)"),
    "connection reset": (Reply(fault="reset"), "connection failed"),
    "timeout": (Reply(FEED_BODY, fault="stall", stall=1.5), "timed out (ReadTimeout) (gave up after 3 attempts)"),
    "truncated body": (Reply(FEED_BODY, fault="cut"), "connection failed (peer closed connection"),
    "huge response": (Reply(b"<rss>" + b" " * 300_000 + b"</rss>"), "response too large"),
    "wrong content type": (fixture("error.html", content_type="text/html"), "expected XML, got an HTML page"),
}


@pytest.mark.parametrize("fault", SOURCE_FAULTS)
def test_a_source_fault_that_passes_is_retried_and_the_papers_stored(fault, sleeps, stored):
    db, before = stored
    with Loopback() as server:
        server.route("/feed", in_turn(SOURCE_FAULTS[fault], fixture(FEED)))
        result = invoke("--db", db, "ingest", "rss", server.url("/feed"), "--json")
        assert len(server.requests) == 2
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new"] == 2
    assert len(paper_ids(db)) == len(before) + 2
    assert len(sleeps) == 1 and (
        sleeps[0] == 7.0 if "Retry-After" in fault and "without" not in fault else sleeps[0] < 2
    )


@pytest.mark.parametrize("fault", LASTING_SOURCE_FAULTS)
def test_a_source_fault_that_lasts_is_a_one_line_error_and_loses_nothing(fault, sleeps, stored):
    db, before = stored
    reply, says = LASTING_SOURCE_FAULTS[fault]
    with Loopback() as server:
        server.route("/feed", reply)
        result = invoke("--db", db, "ingest", "rss", server.url("/feed"))
    assert result.exit_code == 3
    assert_one_line_error(result.output, "/feed", says)
    assert paper_ids(db) == before


def test_invalid_utf8_in_a_feed_spoils_one_character_not_every_name(sleeps, stored):
    db, _ = stored
    # A stray byte in the channel's title made feedparser read the whole feed as another encoding.
    broken = FEED_BODY.replace(b"<title>", b"<title>\xff\xfe ", 1)
    with Loopback() as server:
        server.route("/feed", Reply(broken))
        result = invoke("--db", db, "ingest", "rss", server.url("/feed"), "--json")
    assert result.exit_code == 0, result.output
    with Store(db, readonly=True) as store:
        authors = [a for p in store.iter_papers("source = 'rss'") for a in p.authors]
    assert "José Ñúñez" in authors and "王小明" in authors


# --- database faults: real ones, on `papersift` processes ------------------------------------------


def run_cli(*args: object, db: Path, preexec_fn=None, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PAPERSIFT_DB": str(db), **env}
    return subprocess.run(
        [*CLI, *map(str, args)], env=environment, capture_output=True, text=True, timeout=120, preexec_fn=preexec_fn
    )


def file_size_limit(max_bytes: int):
    """For a child process: no file may grow past ``max_bytes`` (Python ignores SIGXFSZ, so the
    write fails with EFBIG as it would with ENOSPC on a full disk)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))


def test_a_full_disk_stops_an_import_with_one_line_and_the_store_intact(stored):
    db, before = stored
    full = run_cli("ingest", "file", TRENDING, db=db, preexec_fn=file_size_limit(32 * 1024))
    assert full.returncode == 3
    assert_one_line_error(full.stderr, "the database cannot grow", "free some space")
    assert integrity(db) == "ok" and paper_ids(db) == before
    again = run_cli("ingest", "file", TRENDING, db=db)
    assert again.returncode == 0, again.stderr
    assert len(paper_ids(db)) == len(before) + 19


def test_sqlite_full_in_the_middle_of_an_import_rolls_it_back(stored):
    db, before = stored
    with Store(db) as store:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLITE_FULL two pages on
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            ingest(store, read_jsonl(TRENDING), where=str(TRENDING))
    assert integrity(db) == "ok" and paper_ids(db) == before


def test_a_full_disk_stops_enrich_with_one_line_and_a_rerun_finishes(tmp_path, sample_records, llm):
    db = tmp_path / "papers.db"
    ids = load(db, sample_records[:6])
    env = llm_env(db, llm.base_url)
    full = run_cli("enrich", db=db, preexec_fn=file_size_limit(os.path.getsize(db)), **env)
    assert full.returncode == 3
    assert_one_line_error(full.stderr, "the database cannot grow")
    assert integrity(db) == "ok" and paper_ids(db) == set(ids)
    again = run_cli("enrich", db=db, **env)
    assert again.returncode == 0, again.stderr
    assert {status for status, _ in enrichment_states(db).values()} == {"ok"} and len(enrichment_states(db)) == 6


@pytest.fixture
def read_only(stored):
    """The store's file made unwritable for this user: immutable (chattr +i) for root, whom
    permissions do not stop; mode 0444 for anyone else."""
    db, before = stored
    root = os.geteuid() == 0
    subprocess.run(["chattr", "+i", str(db)], check=True) if root else db.chmod(0o444)
    yield db, before
    subprocess.run(["chattr", "-i", str(db)], check=True) if root else db.chmod(0o644)


def test_a_read_only_database_can_be_read_and_refuses_writes_in_one_line(read_only):
    db, before = read_only
    listed = run_cli("papers", "list", "--json", db=db)
    assert listed.returncode == 0, listed.stderr
    assert {p["id"] for p in json.loads(listed.stdout)} == before
    refused = run_cli("ingest", "file", TRENDING, db=db)
    assert refused.returncode == 3
    assert_one_line_error(refused.stderr, "the database is read-only", "writable")


@pytest.fixture
def locked(stored):
    """Another writer holding the database in a transaction for as long as the test runs."""
    db, before = stored
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE change_counters SET n = n + 1")
    yield db, before
    writer.execute("ROLLBACK")
    writer.close()


def test_a_database_locked_past_the_busy_timeout_is_a_one_line_error_and_a_retry_later_works(locked):
    db, before = locked
    refused = run_cli("ingest", "file", TRENDING, db=db, PAPERSIFT_BUSY_TIMEOUT="1")
    assert refused.returncode == 3
    assert_one_line_error(refused.stderr, "locked for over 1 s (busy_timeout)", "try again")
    assert paper_ids(db) == before


def test_the_web_app_answers_503_with_the_reason_when_the_database_stays_locked(locked):
    db, before = locked
    settings = load_settings(db=db).model_copy(update={"busy_timeout": 0.5})
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        assert client.get("/api/papers").status_code == 200  # readers never wait for the writer
        client.get("/")
        paper = sorted(before)[0]
        headers = {"X-CSRF-Token": client.cookies["papersift_csrf"], "Origin": "http://127.0.0.1:8000"}
        response = client.post(f"/api/papers/{paper}/curation", json={"starred": True}, headers=headers)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert "locked for over 0.5 s" in response.json()["detail"]
