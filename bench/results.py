"""bench/RESULTS.md: each benchmark script owns one ``## Title`` section and replaces only that."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(title: str, text: str, path: Path = RESULTS) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    start = old.find(f"## {title}\n")
    if start == -1:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + 1)
        new = old[:start] + text + (old[end + 1 :] if end != -1 else "")
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


def run_line() -> str:
    """The command as run, when, on what machine and under what load: the figures move with all four."""
    command = shlex.join(["python", f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"`{command}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average at the end {load} (1 / 5 / 15 min)"
    )


def empty_config(folder: Path) -> Path:
    """An empty config file of the run's own: the defaults, never the user's (a named one must exist)."""
    path = folder / "config.toml"
    path.touch()
    return path
