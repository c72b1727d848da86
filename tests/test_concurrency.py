"""The web app stays up while other processes write: clients reading and starring papers through
``papersift serve`` while ``papersift enrich`` and ``papersift ingest`` write to the same database
get no 5xx and never see a locked database. A short run of bench/load.py (which measures the
same with 50 clients for 60 s)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from support.llm_server import ScriptedServer

from papersift.sources.files import paper_from_mapping
from papersift.store import Store

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import load  # noqa: E402  bench/load.py


def test_serving_while_enrich_and_ingest_write_gives_no_5xx_and_no_lock_error(tmp_path):
    db = tmp_path / "load.db"
    load.build_store(db, 500)
    samples, writers = load.run(db, clients=10, seconds=4, batch=300)

    assert load.errors(samples) == {"5xx": 0, "connection failed": 0, "locked": 0}
    assert {s.status for s in samples} == {200}
    assert {s.kind for s in samples} == set(load.MIX)  # reads, stars (writes) and the static file all ran
    assert writers.enriched_after > writers.enriched_before and writers.enrich_errors == ""
    assert writers.ingest_batches >= 1 and writers.ingest_failures == []


def test_a_second_enrich_on_the_same_store_exits_naming_the_first_and_no_paper_is_sent_twice(tmp_path, sample_records):
    """Two ``papersift enrich`` processes on one database: the second would resume the first's run
    and send the same papers again (paying twice, while the run counted one process's tokens).
    It stops at once instead, naming the first; the first enriches every paper once."""
    db = tmp_path / "papers.db"
    with Store(db) as store:
        for record in sample_records[:6]:
            store.upsert(paper_from_mapping(record))
    env = {
        **os.environ,
        "PAPERSIFT_DB": str(db),
        "PAPERSIFT_LLM_BACKEND": "openai",
        "PAPERSIFT_LLM_MODEL": "scripted-qwen3",
        "PAPERSIFT_LLM_API_KEY": "test",
        "PAPERSIFT_LLM_CARD_MODE": "whole",  # one request a paper: calls can be counted against papers
    }
    cli = [sys.executable, "-c", "from papersift.cli import main; main()", "enrich"]
    with ScriptedServer(hold_after=0) as server:  # every request waits: the first run cannot finish early
        env["PAPERSIFT_LLM_BASE_URL"] = server.base_url
        first = subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not server.chat_requests and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the first run holds the lock before it sends anything
        second = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
        server.hold_after = None
        first_out, first_err = first.communicate(timeout=120)

    assert second.returncode == 3, second.stderr
    assert f"another papersift enrich is running on this database (pid {first.pid}" in " ".join(second.stderr.split())
    assert first.returncode == 0, first_err
    asked = [r.last_user for r in server.chat_requests]
    assert len(asked) == 6 and len(set(asked)) == 6  # calls = papers, each paper once
    with Store(db, readonly=True) as store:
        assert store.enrichment_counts("zh") == {"ok": 6}
        (run,) = store.runs("enrich", 10)
        assert run["stats"]["calls"] == 6  # the run's tokens and cost are every call's
