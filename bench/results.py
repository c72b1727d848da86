"""bench/RESULTS.md: each benchmark script owns one ``## Title`` section and replaces only that."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(title: str, text: str, path: Path = RESULTS) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    start = old.find(f"## {title}\n")
    if start == -1:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + 1)
        new = old[:start] + text + (old[end + 1:] if end != -1 else "")
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")
