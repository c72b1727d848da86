"""Fixtures every test file may use. Tests never reach the network beyond 127.0.0.1."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from papersift.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SAMPLE = ROOT / "src" / "papersift" / "data" / "sample.jsonl"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No test reads the user's config or database."""
    monkeypatch.setenv("PAPERSIFT_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("PAPERSIFT_DB", str(tmp_path / "default.db"))
    monkeypatch.setenv("PAPERSIFT_CACHE_DIR", str(Path.home() / ".cache" / "papersift"))
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
