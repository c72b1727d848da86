"""Exit codes, the same for every command (docs/cli.md, "Exit codes"):

- **0** everything was done;
- **1** the command ran and some items failed (a record skipped, a paper not enriched), each named;
- **2** the command or its input is wrong (an option, a file), and nothing was changed;
- **3** the machine or another process stopped it (a full disk, a busy port, the LLM unreachable,
  the same job already running), in one line naming the path or address and the cause.

Each case runs the real ``papersift`` process, as a script sees it. The database faults (full,
read-only, locked) are in test_fault_matrix.py.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support.llm_server import ScriptedServer

from papersift.sources.files import paper_from_mapping
from papersift.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "src" / "papersift" / "data" / "sample.jsonl"
CLI = [sys.executable, "-c", "from papersift.cli import main; main()"]


def papersift(*args: object, db: Path, preexec_fn=None, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PAPERSIFT_DB": str(db), **env}
    return subprocess.run(
        [*CLI, *map(str, args)], env=environment, capture_output=True, text=True, timeout=120, preexec_fn=preexec_fn
    )


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one ``error:`` line a failed command prints, and never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def said(result: subprocess.CompletedProcess) -> str:
    """What the command printed, with the terminal's line wrapping undone."""
    return " ".join(result.stderr.split())


def paper_count(db: Path) -> int:
    with Store(db, readonly=True) as store:
        return store.count()


@pytest.fixture
def db(tmp_path, sample_records) -> Path:
    path = tmp_path / "papers.db"
    with Store(path) as store:
        for record in sample_records[:3]:
            store.upsert(paper_from_mapping(record))
    return path


def llm_env(base_url: str) -> dict[str, str]:
    return {
        "PAPERSIFT_LLM_BACKEND": "openai",
        "PAPERSIFT_LLM_BASE_URL": base_url,
        "PAPERSIFT_LLM_MODEL": "scripted-qwen3",
        "PAPERSIFT_LLM_API_KEY": "test",
        "PAPERSIFT_LLM_TIMEOUT": "2",
        "PAPERSIFT_LLM_MAX_RETRIES": "1",
    }


# --- 0 and 1: it ran --------------------------------------------------------------------------


def test_an_import_of_good_records_exits_0(tmp_path):
    result = papersift("ingest", "file", SAMPLE, db=tmp_path / "p.db")
    assert result.returncode == 0, result.stderr
    assert paper_count(tmp_path / "p.db") == 35


def test_an_import_that_skipped_bad_records_exits_1_and_keeps_the_good(tmp_path):
    source = tmp_path / "mixed.jsonl"
    source.write_text('{"title": "Good", "abstract": "A good paper."}\n{"title": \n', encoding="utf-8")
    result = papersift("ingest", "file", source, "--skip-invalid", db=tmp_path / "p.db")
    assert result.returncode == 1, result.stderr
    assert f"{source}:2" in result.stderr and "1 invalid skipped" in result.stderr
    assert paper_count(tmp_path / "p.db") == 1


def test_enrich_exits_0_when_every_paper_has_its_card_and_1_when_some_failed(db):
    with ScriptedServer() as server:
        first = papersift("enrich", "--limit", "1", db=db, **llm_env(server.base_url))
        assert first.returncode == 0, first.stderr
        with Store(db, readonly=True) as store:
            failing, passing = [p for p in store.iter_papers() if store.enrichment(p.id, "zh") is None]
        server.fail_when(lambda body: failing.abstract[:80] in json.dumps(body, ensure_ascii=False), "500")
        second = papersift("enrich", db=db, **llm_env(server.base_url))
    assert second.returncode == 1, second.stderr
    assert f"failed {failing.id}: " in said(second) and "HTTP 500" in said(second)
    with Store(db, readonly=True) as store:
        assert store.enrichment(passing.id, "zh").status == "ok"


# --- 2: the command or its input is wrong ------------------------------------------------------


@pytest.mark.parametrize(
    "args, says",
    [
        (["ingest", "file", "{csv}"], "{csv}:2: csv: a quote opened here is never closed"),
        (["ingest", "file", "{missing}"], "{missing}: no such file"),
        (["export", "--format", "docx"], "unknown format 'docx'"),
        (["search", "x", "--mode", "psychic"], "--mode: 'psychic'"),
        (["enrich", "--concurrency", "0"], "--concurrency must be at least 1"),
        (["serve", "--host", "0.0.0.0"], "refusing to serve on 0.0.0.0"),
    ],
)
def test_a_wrong_option_or_input_exits_2_and_changes_nothing(db, tmp_path, args, says):
    names = {"csv": tmp_path / "open-quote.csv", "missing": tmp_path / "missing.jsonl"}
    names["csv"].write_text('title,abstract\n"Paper A,abs A\nPaper B,abs B\n', encoding="utf-8")
    before = paper_count(db)
    result = papersift(*(a.format(**names) for a in args), db=db)
    assert result.returncode == 2, result.stderr
    error_line(result)
    assert says.format(**names) in result.stderr  # on the error line, or on the list of bad records under it
    assert paper_count(db) == before


def test_an_unknown_option_exits_2_as_click_says(db):
    assert papersift("stats", "--no-such-option", db=db).returncode == 2


# --- 3: the machine or another process stopped it ----------------------------------------------


def test_an_llm_that_cannot_be_reached_exits_3_at_the_first_paper_and_leaves_them_pending(db):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        result = papersift("enrich", db=db, **llm_env(f"http://127.0.0.1:{port}/v1"))
    assert result.returncode == 3, result.stderr
    line = error_line(result)
    assert "enrich stopped" in line and "connection failed" in line and "nothing answers at that address" in line
    with Store(db, readonly=True) as store:
        assert store.enrichment_counts("zh") == {}  # a later run, with the server up, takes them all


def test_serve_on_a_busy_port_exits_3_before_saying_it_serves(db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = papersift("serve", "--port", port, db=db)
    assert result.returncode == 3
    assert f"cannot serve on 127.0.0.1:{port}: the port is in use" in error_line(result)
    assert "serving" not in result.stderr


def file_size_limit(max_bytes: int):
    """No file may grow past ``max_bytes``: a write fails as it would on a full disk."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))


def test_an_export_onto_a_full_disk_exits_3_and_leaves_no_file_behind(tmp_path):
    db = tmp_path / "papers.db"
    assert papersift("ingest", "file", SAMPLE, db=db).returncode == 0
    out = tmp_path / "out" / "papers.jsonl"  # the 35 papers take about 90 kB, the database's shared memory file 32 kB
    result = papersift("export", "-o", out, db=db, preexec_fn=file_size_limit(48_000))
    assert result.returncode == 3
    assert f"{out}: cannot write: the file would pass the size limit" in error_line(result)
    assert list(out.parent.iterdir()) == []  # neither papers.jsonl nor papers.jsonl.part


def test_a_database_in_a_folder_that_cannot_exist_exits_3_naming_the_folder(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder", encoding="utf-8")
    result = papersift("ingest", "file", SAMPLE, db=a_file / "papers.db")
    assert result.returncode == 3
    assert f"{a_file / 'papers.db'}: cannot create its folder" in error_line(result)


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder no file can be created in: immutable (chattr +i) for root, whom permissions do not
    stop; mode 0555 for anyone else. (A read-only mount says the same, with its own cause.)"""
    folder = tmp_path / "shelf"
    folder.mkdir()
    root = os.geteuid() == 0
    subprocess.run(["chattr", "+i", str(folder)], check=True) if root else folder.chmod(0o555)
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], check=True) if root else folder.chmod(0o755)


def test_a_new_database_in_an_unwritable_folder_is_named_as_such_not_as_a_bad_database(unwritable_folder):
    result = papersift("ingest", "file", SAMPLE, db=unwritable_folder / "papers.db")
    assert result.returncode == 3
    line = error_line(result)
    assert f"cannot open the database: no permission to write {unwritable_folder}" in line
    assert "not a papersift database" not in line


def test_a_second_daily_run_exits_3_naming_the_first(db):
    with Store(db) as store, store.job("daily"):
        result = papersift("daily", db=db)
    assert result.returncode == 3
    assert f"another papersift daily is running on this database (pid {os.getpid()}" in error_line(result)


def test_a_killed_job_leaves_no_lock_behind(db):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from papersift.store import Store; "
         "s = Store(sys.argv[1]); job = s.job('enrich'); job.__enter__(); print('held', flush=True); time.sleep(60)", str(db)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with Store(db) as store:
        with pytest.raises(RuntimeError, match="another papersift enrich is running"), store.job("enrich"):
            pass
        holder.kill()
        holder.wait()
        with store.job("enrich"):  # no error: the kernel let go of the dead process's lock
            pass


def test_a_read_command_on_a_missing_store_names_it_and_creates_nothing(tmp_path):
    missing = tmp_path / "forgotten.db"
    for command in (["stats"], ["papers", "list"], ["search", "attention"], ["export"], ["serve", "--port", "0"]):
        result = papersift(*command, db=missing)
        assert result.returncode == 2, command
        assert f"no store at {missing}" in error_line(result) and "--db" in error_line(result)
    assert list(tmp_path.iterdir()) == [tmp_path / "config.toml"]  # the test's own empty config


def test_a_config_file_named_but_missing_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERSIFT_CONFIG", str(tmp_path / "typo.toml"))
    result = papersift("stats", db=tmp_path / "papers.db")
    assert result.returncode == 2
    assert f"{tmp_path / 'typo.toml'}: no such config file (PAPERSIFT_CONFIG)" in error_line(result)
