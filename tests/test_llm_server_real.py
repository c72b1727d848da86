"""The server path against a real OpenAI-compatible server, not our scripted one: llama-cpp-python's
own ``llama_cpp.server`` with the packaged model, started on loopback. It shows what the scripted
server cannot: that a real server honours ``response_format`` (the card's JSON schema), ``max_tokens``
and the chat template as the openai backend sends them. Marked ``embedded``: it loads the 1.1 GB
model on the CPU and writes one whole card (a few minutes on 2 cores)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from papersift.cli import app
from papersift.llm import models
from papersift.llm.base import LLMError
from papersift.models import Card, Paper
from papersift.store import Store

SHORT = Paper(
    source="arxiv",
    arxiv_id="2505.11049",
    title="GuardReasoner-VL: Safeguarding VLMs via Reinforced Reasoning",
    abstract=(
        "We present GuardReasoner-VL, a reasoning-based guard model for vision-language models that is trained "
        "with online reinforcement learning. On our benchmarks it surpasses the runner-up by 19.27% F1 score "
        "on average."
    ),
)
STARTUP = 180.0  # seconds: the model is mapped from the cache and loaded on a busy machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed (make setup)")
    try:
        model = models.resolve(models.DEFAULT_MODEL)
    except LLMError as exc:
        pytest.skip(str(exc))
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
            "--n_threads",
            "2",
            "--verbose",
            "false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + STARTUP
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within {STARTUP:.0f} s")
            time.sleep(1)
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.embedded
def test_enrich_against_llama_cpp_server_stores_a_valid_card(llama_server, tmp_path):
    db = tmp_path / "papers.db"
    with Store(db) as store:
        paper_id = store.upsert(SHORT)[0]

    result = CliRunner().invoke(
        app,
        [
            "--db",
            str(db),
            "enrich",
            "--backend",
            "openai",
            "--base-url",
            llama_server,
            "--model",
            "qwen2.5-coder-1.5b",
            "--concurrency",
            "1",
        ],
        env={"PAPERSIFT_LLM_API_KEY": "none", "PAPERSIFT_LLM_TIMEOUT": "900"},
    )

    assert result.exit_code == 0, result.output
    with Store(db) as store:
        enrichment = store.enrichment(paper_id, "zh")
        calls = store.recent_calls(limit=10)
    assert enrichment.status != "failed", enrichment.reasons
    card = Card.model_validate(enrichment.card.model_dump())  # the server's JSON, under the schema we sent
    assert card.title and card.tldr and card.digest and card.keywords
    assert 1 <= len(calls) <= 4 and all(c["error"] is None for c in calls)  # the one-call card, re-asked at most


@pytest.mark.embedded
def test_the_grounded_deepdive_works_through_llama_cpp_server(llama_server, tmp_path):
    """The section-by-section article of a model without thinking, through the openai backend: every
    request fits the server's 4,096 tokens, and each point is a sentence in Chinese."""
    from pdfs import FACTS, make_pdf

    from papersift.config import LLMSettings, Settings
    from papersift.enrich import deepdive as dd

    settings = Settings(
        db=tmp_path / "papers.db",
        llm=LLMSettings(
            backend="openai", base_url=llama_server, model="qwen2.5-coder-1.5b", api_key="none", timeout=900
        ),
    )
    with Store(settings.db) as store:
        store.upsert(Paper(source="arxiv", arxiv_id="2505.12345", title="TinyMoE: Sparse Experts for Small Devices"))
        options = dd.DeepDiveOptions(thinking_budget=0, grounded=True, context_tokens=4096)
        dive = dd.deepdive(store, "2505.12345", settings, options, pdf=make_pdf(tmp_path / "p.pdf"))
        calls = store.recent_calls(limit=200)

    assert dive.mode == "grounded" and dive.headline.startswith("TinyMoE")
    numbered = len(FACTS) - 2  # the sections but the abstract (the lead) and the conclusion (the closing)
    left_out = sum("left out a point" in w for w in dive.warnings)  # a section whose one point the guard refused
    assert 3 <= len(dive.sections) <= numbered <= len(dive.sections) + left_out
    points = [b.text for s in dive.sections for sub in s.subsections for b in sub.bullets]
    assert points and all(re.search(r"[\u4e00-\u9fff]", p) for p in points)
    assert all(c["error"] is None for c in calls)
