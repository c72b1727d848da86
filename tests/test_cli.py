"""The command line: thin over the library, clear errors, docs that cannot drift."""

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from papersift.cli import app
from papersift.cli.docs import arguments, options, render, root, walk

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_every_command_and_option_has_help():
    commands = list(walk(root()))
    assert len(commands) > 30  # the walk sees the whole tree: ingest file, papers list, ...
    missing = []
    for path, command in commands:
        if path and not (command.help or "").strip():
            missing.append(" ".join(path))
        for param in options(command):
            if not (param.help or "").strip():
                missing.append(f"{' '.join(path)} {param.opts[0]}")
        for param in arguments(command):
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{' '.join(path)} {param.name}")
    assert missing == []


def test_the_command_reference_is_up_to_date():
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: run `.venv/bin/python -m papersift.cli.docs > docs/cli.md`"
    )


def test_the_readme_names_every_top_level_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [" ".join(p) for p, _ in walk(root()) if len(p) == 1 and f"papersift {p[0]}" not in readme]
    assert missing == []


def test_ingest_stats_export_round_trip(tmp_path, sample_records):
    db = tmp_path / "x.db"
    sample = ROOT / "src" / "papersift" / "data" / "sample.jsonl"
    first = run("--db", db, "ingest", "file", sample)
    assert first.exit_code == 0, first.output
    result = run("--db", db, "ingest", "file", sample, "--json")
    assert json.loads(result.stdout) == {
        "new": 0,
        "updated": 0,
        "unchanged": len(sample_records),
        "invalid": 0,
        "errors": [],
    }
    stats = json.loads(run("--db", db, "stats", "--json").stdout)
    assert stats["papers"] == len(sample_records) and sum(stats["by_label"].values()) == len(sample_records)
    out = tmp_path / "export.jsonl"
    assert run("--db", db, "export", "--format", "jsonl", "-o", out).exit_code == 0
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(docs) == len(sample_records) and all(d["sources"] and d["topic"]["subarea"] for d in docs)
    # the export reads back into a fresh store as the same papers
    assert run("--db", tmp_path / "y.db", "ingest", "file", out).exit_code == 0
    assert json.loads(run("--db", tmp_path / "y.db", "stats", "--json").stdout)["by_label"] == stats["by_label"]


def test_export_formats(tmp_path):
    db = tmp_path / "x.db"
    sample = ROOT / "src" / "papersift" / "data" / "sample.jsonl"
    run("--db", db, "ingest", "file", sample)
    bib = run("--db", db, "export", "--format", "bibtex").stdout
    assert bib.count("@misc{") == 35
    csv_text = run("--db", db, "export", "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("id,source,")
    md = run("--db", db, "export", "--format", "markdown").stdout
    assert md.count("\n## ") + md.startswith("## ") == 35
    assert run("--db", db, "export", "--format", "pdf").exit_code == 2


def test_a_bad_file_exits_non_zero_naming_file_and_line_and_leaves_the_db_as_it_was(tmp_path):
    db = tmp_path / "x.db"
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"title": "Kept", "abstract": "a"}) + "\n")
    run("--db", db, "ingest", "file", good)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"title": "New", "abstract": "b"}) + "\n{oops\n")
    result = runner.invoke(app, ["--db", str(db), "ingest", "file", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2: json: invalid JSON" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert json.loads(run("--db", db, "stats", "--json").stdout)["papers"] == 1


def test_papers_list_and_show(tmp_path):
    db = tmp_path / "x.db"
    f = tmp_path / "a.jsonl"
    f.write_text(
        json.dumps({"title": "Qwen3 Technical Report", "abstract": "We present Qwen3.", "arxiv_id": "2505.09388v1"})
        + "\n"
    )
    run("--db", db, "ingest", "file", f)
    listed = json.loads(run("--db", db, "papers", "list", "--json").stdout)
    assert [p["title"] for p in listed] == ["Qwen3 Technical Report"]
    shown = json.loads(run("--db", db, "papers", "show", "2505.09388", "--json").stdout)
    assert shown["id"] == listed[0]["id"]
    missing = runner.invoke(app, ["--db", str(db), "papers", "show", "nope"])
    assert missing.exit_code == 2 and "no paper 'nope'" in missing.output


def test_db_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERSIFT_DB", str(tmp_path / "env.db"))
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps({"title": "T", "abstract": "A"}) + "\n")
    assert run("ingest", "file", f).exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_version():
    from importlib.metadata import version

    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"papersift {version('papersift')}"


def test_help_lists_the_commands_in_the_order_of_a_days_work():
    text = run("--help").stdout
    sections = ["Start here:", "Collect:", "Enrich:", "Find:", "Publish:", "Serve and run daily:"]
    assert [text.index(s) for s in sections] == sorted(text.index(s) for s in sections)
    order = [text.index(f"\n  {name} ") for name in ("ingest", "enrich", "search", "publish", "serve", "daily")]
    assert order == sorted(order)
    assert "<bool>" not in text + run("papers", "list", "--help").stdout  # a flag takes no value


def test_the_readme_shows_only_screenshots_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"\]\((docs/screenshots/[^)]+\.png)\)", readme)
    assert shown and [s for s in shown if not (ROOT / s).is_file()] == []
