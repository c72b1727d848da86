"""The embedded engine runs in a worker process, so that a native crash costs one paper, not the run.

The worker here loads a scripted engine (tests/engines.py) instead of llama.cpp, through the same
process, protocol and restarts as the real one; the test kills it mid-request with the signals a
broken build or the out-of-memory killer send.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from papersift.config import LLMSettings, Settings
from papersift.enrich.pipeline import RunAborted, enrich_papers_async
from papersift.llm import embedded
from papersift.llm.client import LLMClient
from papersift.sources.files import paper_from_mapping
from papersift.store import Store

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def cues(tmp_path, monkeypatch) -> Path:
    """The folder the scripted engines read their cues from; the child finds tests/engines.py."""
    folder = tmp_path / "cues"
    folder.mkdir()
    monkeypatch.setenv("PAPERSIFT_TEST_ENGINE_DIR", str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    yield folder
    embedded._close_workers()


def settings_for(tmp_path: Path, **llm) -> Settings:
    model = tmp_path / "scripted.gguf"
    model.write_bytes(b"GGUF\x03\x00")
    # The whole card in one call: these tests are about the worker, not about how a card is written.
    options = {
        "backend": "embedded",
        "embedded_model": str(model),
        "concurrency": 1,
        "max_retries": 1,
        "card_mode": "whole",
    } | llm
    return Settings(db=tmp_path / "papers.db", llm=LLMSettings(**options))


def load(store: Store, records: list[dict]) -> list[str]:
    return [store.upsert(paper_from_mapping(r))[0] for r in records]


async def enrich_with(store: Store, settings: Settings, engine: str, *, on_busy=None):
    """An enrich run whose embedded backend loads ``engine``; ``on_busy(pid)`` runs once a worker
    holds a request (the ``hold`` cue)."""
    backend = embedded.EmbeddedBackend(settings.llm, engine=engine)
    async with LLMClient(settings, store=store, backend=backend) as client:
        run = asyncio.create_task(enrich_papers_async(store, settings, client=client))
        if on_busy is not None:
            busy = Path(os.environ["PAPERSIFT_TEST_ENGINE_DIR"]) / "busy"
            while not busy.exists() or not busy.read_text():
                await asyncio.sleep(0.05)
            on_busy(int(busy.read_text()))
        return await run, backend


def statuses(store: Store) -> dict[str, str]:
    return dict(store.conn.execute("SELECT paper_id, status FROM enrichments").fetchall())


def integrity(store: Store) -> str:
    return store.conn.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGKILL])
async def test_a_worker_killed_mid_request_fails_that_paper_and_a_fresh_worker_does_the_next(
    tmp_path, store, cues, sample_records, sig
):
    ids = load(store, sample_records[:2])
    (cues / "hold").touch()
    killed = []

    report, backend = await enrich_with(
        store,
        settings_for(tmp_path),
        "engines:ScriptedEngine",
        on_busy=lambda pid: (killed.append(pid), os.kill(pid, sig)),
    )

    assert (report.ok, report.failed, report.status) == (1, 1, "done")
    [failure] = report.failures
    assert f"killed by {sig.name}" in failure["reason"] and "papersift doctor" in failure["reason"]
    assert sorted(statuses(store).values()) == ["failed", "ok"] and set(statuses(store)) == set(ids)
    assert backend.worker().pid not in (None, *killed)  # the paper after was answered by a new worker
    assert integrity(store) == "ok"


async def test_an_engine_that_crashes_every_time_stops_the_run_with_what_to_do(tmp_path, store, cues, sample_records):
    ids = load(store, sample_records[:5])
    settings = settings_for(tmp_path)

    with pytest.raises(RunAborted, match=r"crashed 3 times in a row.*papersift doctor"):
        await enrich_with(store, settings, "engines:SegfaultingEngine")

    failed = statuses(store)
    assert list(failed.values()) == ["failed"] * 3  # one paper a crash; the rest wait for a fixed engine
    reasons = [r[0] for r in store.conn.execute("SELECT error FROM run_items WHERE state = 'failed'")]
    assert len(reasons) == 3 and all("SIGSEGV (segmentation fault" in r for r in reasons)
    assert integrity(store) == "ok" and store.runs("enrich")[0]["status"] == "aborted"

    # With a working engine, the stopped run resumes with the papers it had not reached, and the
    # next run tries the failed ones again.
    resumed, _ = await enrich_with(store, settings, "engines:ScriptedEngine")
    again, _ = await enrich_with(store, settings, "engines:ScriptedEngine")
    assert (resumed.ok, again.ok) == (2, 3) and set(statuses(store)) == set(ids)
    assert set(statuses(store).values()) == {"ok"}


async def test_a_call_past_its_time_limit_stops_the_worker_and_is_retried_on_a_new_one(
    tmp_path, store, cues, sample_records
):
    load(store, sample_records[:1])
    (cues / "hold").touch()
    settings = settings_for(tmp_path, embedded_timeout=1.0)

    report, backend = await enrich_with(store, settings, "engines:ScriptedEngine")

    held = int((cues / "busy").read_text())
    assert report.ok == 1 and backend.worker().pid != held
    with pytest.raises(ProcessLookupError):
        os.kill(held, 0)  # the held worker is gone, not left running beside the new one


async def test_a_model_the_engine_cannot_load_fails_the_papers_with_that_reason(tmp_path, store, cues, sample_records):
    load(store, sample_records[:2])

    report, _ = await enrich_with(store, settings_for(tmp_path), "engines:refusing_engine")

    assert report.failed == 2
    assert all("cannot load this model: unknown model architecture" in f["reason"] for f in report.failures)


async def test_the_engine_gets_one_paper_at_a_time_so_each_prompt_is_evaluated_once(
    tmp_path, store, cues, sample_records
):
    load(store, sample_records[:3])
    settings = settings_for(tmp_path, card_mode="fields", concurrency=4)  # a field a call: ten calls a paper

    await enrich_with(store, settings, "engines:ScriptedEngine")

    order = [pid for (pid,) in store.conn.execute("SELECT paper_id FROM llm_calls ORDER BY id")]
    runs = [pid for i, pid in enumerate(order) if i == 0 or order[i - 1] != pid]
    assert len(order) >= 30 and len(runs) == 3  # each paper's calls together, not interleaved
