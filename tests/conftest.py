"""Fixtures every test file may use. Tests never reach the network beyond 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from papersift.config import cache_dir
from papersift.store import Store

# The cache as this session found it (PAPERSIFT_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache), where
# `make setup` put the embedded model: every test uses it, whatever a test does to HOME or XDG later.
CACHE = cache_dir()

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SAMPLE = ROOT / "src" / "papersift" / "data" / "sample.jsonl"
TRUE = {"1", "true", "yes", "on"}


def in_ci() -> bool:
    """CI runs ``CI=true bash .ci/run``: there every test must run."""
    return os.environ.get("CI", "").strip().lower() in TRUE


def _fail_a_skip_in_ci(report) -> None:
    if report.skipped and not hasattr(report, "wasxfail") and in_ci():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, and CI={os.environ['CI']} runs every test: {reason.removeprefix('Skipped: ')}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test fails, naming why it skipped: a green run then proves every test ran.

    Locally a skip stays a skip (``-rs`` lists the reasons). An expected failure (xfail) is not a
    skip and stays what it is. A skip raised while setting the test up (a ``skipif`` mark, a
    fixture that skips) becomes an error of that setup, which fails the run the same way.
    """
    outcome = yield
    _fail_a_skip_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A whole module skipped while collecting it (``importorskip`` at its top) is a collection error in CI."""
    outcome = yield
    _fail_a_skip_in_ci(outcome.get_result())


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No test reads the user's config or database: each has an empty config of its own."""
    config = tmp_path / "config.toml"
    config.touch()
    monkeypatch.setenv("PAPERSIFT_CONFIG", str(config))
    monkeypatch.setenv("PAPERSIFT_DB", str(tmp_path / "default.db"))
    monkeypatch.setenv("PAPERSIFT_CACHE_DIR", str(CACHE))
    for var in ("PAPERSIFT_LLM_BASE_URL", "PAPERSIFT_LLM_MODEL", "PAPERSIFT_LLM_API_KEY", "PAPERSIFT_LLM_BACKEND"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "papers.db")
    yield s
    s.close()


@pytest.fixture
def sample_records() -> list[dict]:
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


def shared_file(name: str) -> Path:
    """A file of ../shared, or skip the test where this checkout has none."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture(scope="session")
def httpserver_listen_address():
    """pytest-httpserver's loopback receiver binds 127.0.0.1 (not "localhost", which may be ::1)."""
    return ("127.0.0.1", 0)


def free_port() -> int:
    """A free TCP port on 127.0.0.1, for servers that take a port number (aiosmtpd)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
