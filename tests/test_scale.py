"""Scale-out: the enrichment run spread by Ray Data over actors and several OpenAI-compatible servers.

A local Ray (2 CPUs, a small object store) and scripted servers on 127.0.0.1 stand in for a
cluster with vLLM replicas; the store stays with the driver, the only writer. The servers may be
slow, die mid-run, or outlive a Ray worker or the driver that is killed.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

ray = pytest.importorskip("ray")

from scripted import card_reply  # noqa: E402  (a faithful scripted model)
from support.llm_server import ScriptedServer  # noqa: E402

from papersift.cli import app  # noqa: E402
from papersift.config import Settings  # noqa: E402
from papersift.enrich.pipeline import RunReport  # noqa: E402
from papersift.models import Enrichment, Paper  # noqa: E402
from papersift.scale.parquet import ParquetFolderError, enrich_parquet, export_pending, import_cards  # noqa: E402
from papersift.scale.ray_embed import embed_on_ray  # noqa: E402
from papersift.scale.ray_enrich import enrich_on_ray  # noqa: E402
from papersift.scale.servers import ServersDown  # noqa: E402
from papersift.search.embeddings import embed_store, get_embedder, vectors_for  # noqa: E402
from papersift.sources.files import paper_from_mapping  # noqa: E402
from papersift.store import JobRunning, Store  # noqa: E402

SRC = Path(__file__).resolve().parent.parent / "src"


@pytest.fixture(scope="module")
def local_ray():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, object_store_memory=80 * 1024**2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def settings(**llm) -> Settings:
    options = {
        "backend": "openai",
        "model": "scripted",
        "api_key": "x",
        "lang": "zh",
        "concurrency": 2,
        "timeout": 5.0,
        "max_retries": 1,
    } | llm
    return Settings(llm=options)


def add_papers(store: Store, records: list[dict], n: int) -> list[Paper]:
    """``n`` distinct papers made from the sample's abstracts (a title and a study number each)."""
    papers = []
    for i in range(n):
        record = dict(records[i % len(records)], id=f"study-{i}")
        record["title"] = f"Synthetic Study {i} of {record['keywords'][0].title()}"
        record["abstract"] = f"{record['abstract']} (Synthetic study {i}.)"
        paper_id, _ = store.upsert(paper_from_mapping(record))
        papers.append(store.get(paper_id))
    return papers


def stored_once(store: Store) -> tuple[int, int]:
    """Cards stored, and distinct papers among them."""
    return store.conn.execute("SELECT count(*), count(DISTINCT paper_id) FROM enrichments").fetchone()


def test_every_pending_paper_is_enriched_once_across_the_servers(local_ray, store, sample_records):
    add_papers(store, sample_records, 8)
    with ScriptedServer(responder=card_reply) as first, ScriptedServer(responder=card_reply) as second:
        urls = [first.base_url, second.base_url]
        report = enrich_on_ray(store, settings(concurrency=4), base_urls=urls, actors=1, batch_size=4)
        assert (report.ok, report.flagged, report.failed) == (8, 0, 0)
        assert first.chat_requests and second.chat_requests  # both replicas did work
        statuses = store.conn.execute("SELECT status, count(*) FROM enrichments GROUP BY status").fetchall()
        assert statuses == [("ok", 8)]
        served = len(first.chat_requests) + len(second.chat_requests)

        again = enrich_on_ray(store, settings(concurrency=4), base_urls=urls, actors=1)
        assert again.total == 0 and again.done == 0
        assert len(first.chat_requests) + len(second.chat_requests) == served  # done work is never asked again


def test_a_slow_server_gets_fewer_papers_and_the_run_does_not_wait_for_its_share(local_ray, store, sample_records):
    add_papers(store, sample_records, 40)
    with (
        ScriptedServer(responder=card_reply, latency=0.01) as fast,
        ScriptedServer(responder=card_reply, latency=1.5) as slow,
    ):
        report = enrich_on_ray(store, settings(), base_urls=[fast.base_url, slow.base_url], actors=1, batch_size=4)
    assert report.ok == 40
    # Round robin would give each server 20 papers and make the run wait 10 rounds of 1.5 s for
    # the slow one; taking papers as it frees up, the slow server does only the few it can.
    assert len(slow.chat_requests) < len(fast.chat_requests) / 4


def test_a_server_that_dies_mid_run_leaves_its_papers_to_the_others(local_ray, store, sample_records):
    add_papers(store, sample_records, 30)
    with ScriptedServer(responder=card_reply, latency=0.05) as healthy, ScriptedServer(latency=0.05) as dying:

        def reply_then_die(body):
            if len(dying.chat_requests) == 4:
                threading.Thread(target=dying.stop).start()  # stop() waits for the server's thread
            return card_reply(body)

        dying.responder = reply_then_die
        report = enrich_on_ray(store, settings(), base_urls=[healthy.base_url, dying.base_url], actors=1, batch_size=4)
    assert (report.ok, report.failed) == (30, 0)
    assert len(dying.chat_requests) < 10 and len(healthy.chat_requests) > 20  # the healthy one did the rest
    assert stored_once(store) == (30, 30)


def test_with_every_server_dead_the_run_stops_and_its_papers_stay_pending(local_ray, store, sample_records):
    add_papers(store, sample_records, 6)
    server = ScriptedServer(responder=card_reply)
    with server:
        url = server.base_url
    with pytest.raises(ServersDown, match=f"no server answers: {url}"):
        enrich_on_ray(store, settings(), base_urls=[url], actors=1, batch_size=2)
    assert stored_once(store) == (0, 0)
    assert store.runs("enrich")[0]["status"] == "interrupted"


def test_a_cluster_run_and_a_local_enrich_never_work_on_one_store_at_once(local_ray, store, sample_records):
    add_papers(store, sample_records, 2)
    with Store(store.path) as other, other.job("enrich"), ScriptedServer(responder=card_reply) as server:
        with pytest.raises(JobRunning, match="another papersift enrich is running"):
            enrich_on_ray(store, settings(), base_urls=[server.base_url], actors=1)
        assert server.chat_requests == []
    assert stored_once(store) == (0, 0) and store.runs("enrich") == []


def card_actor_pids() -> list[int]:
    """The processes of the Ray actors that write cards (Ray names them after the class)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"CardActor" in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue  # the process ended meanwhile
    return pids


def test_a_ray_worker_killed_mid_run_is_restarted_and_every_paper_stored_once(local_ray, store, sample_records):
    add_papers(store, sample_records, 40)
    killed: list[int] = []

    def kill_the_actor_once(report):
        if not killed:
            killed.extend(card_actor_pids())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    with ScriptedServer(responder=card_reply, latency=0.1) as server:
        report = enrich_on_ray(
            store, settings(), base_urls=[server.base_url], actors=1, batch_size=4, progress=kill_the_actor_once
        )
    assert killed  # the actor died after its first batch, with the others in flight
    assert (report.ok, report.done) == (40, 40)
    assert stored_once(store) == (40, 40)
    run_items = store.conn.execute("SELECT count(*), count(DISTINCT item) FROM run_items").fetchone()
    assert run_items == (40, 40)


def scale_enrich(db: Path, url: str, address: str, timeout: float = 5) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "PAPERSIFT_DB": str(db),
        "PAPERSIFT_LLM_API_KEY": "x",
        "PAPERSIFT_LLM_TIMEOUT": str(timeout),
        "PAPERSIFT_LLM_MAX_RETRIES": "1",
    }
    command = [
        sys.executable,
        "-c",
        "from papersift.cli import main; main()",
        "scale",
        "enrich",
        "--server",
        url,
        "--model",
        "scripted",
        "--address",
        address,
        "--actors",
        "1",
        "--concurrency",
        "2",
        "--lang",
        "zh",
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_a_killed_driver_resumes_from_the_store_without_asking_again_for_finished_papers(
    local_ray, tmp_path, sample_records
):
    db = tmp_path / "papers.db"
    with Store(db) as store:
        papers = add_papers(store, sample_records, 40)
    # The driver saves a batch of 16 cards at a time. Holding every request after the 32nd
    # unanswered lets one or two batches be saved and never the third, however slow the machine
    # is to notice them (the held requests outwait the client's timeout, so none fails).
    with ScriptedServer(responder=card_reply, latency=0.05, hold_after=32) as server:
        driver = scale_enrich(db, server.base_url, local_ray, timeout=600)
        with Store(db) as store:
            deadline = time.monotonic() + 120
            while store.conn.execute("SELECT count(*) FROM enrichments").fetchone()[0] < 8:
                assert driver.poll() is None, driver.stderr.read().decode()
                assert time.monotonic() < deadline, "the first cards never came"
                time.sleep(0.1)
            driver.send_signal(signal.SIGKILL)
            driver.wait()
            finished = {row[0] for row in store.conn.execute("SELECT paper_id FROM enrichments")}
        asked_before = len(server.chat_requests)
        server.hold_after = None

        again = scale_enrich(db, server.base_url, local_ray)
        assert again.wait(timeout=180) == 0, again.stderr.read().decode()
        asked_after = server.chat_requests[asked_before:]

    titles = {p.title: p.id for p in papers}
    asked_again = {pid for r in asked_after for title, pid in titles.items() if f"Title: {title}\n" in r.last_user}
    assert 8 <= len(finished) < 40 and finished <= set(titles.values())
    assert asked_again and not asked_again & finished  # the resumed run asked only for unfinished papers
    with Store(db) as store:
        assert stored_once(store) == (40, 40)
        assert [run["status"] for run in store.runs("enrich")] == ["done"]  # the killed run, resumed and finished


def cli(*args, db: Path):
    return CliRunner().invoke(app, ["--db", str(db), *map(str, args)], catch_exceptions=False)


def enrichment_rows(db: Path) -> list[tuple]:
    with Store(db) as store:
        return store.conn.execute("SELECT * FROM enrichments ORDER BY paper_id").fetchall()


def test_the_parquet_path_enriches_on_the_cluster_alone_and_importing_twice_changes_nothing(
    local_ray, tmp_path, sample_records
):
    db, pending, cards = tmp_path / "papers.db", tmp_path / "pending", tmp_path / "cards"
    with Store(db) as store:
        add_papers(store, sample_records, 12)
    exported = cli("scale", "export-pending", "--out", pending, "--lang", "zh", "--json", db=db)
    assert json.loads(exported.stdout)["papers"] == 12
    with ScriptedServer(responder=card_reply) as server:
        # The cluster's side: no --db is read; the papers come from the folder alone.
        run = cli(
            "scale",
            "enrich",
            "--input",
            pending,
            "--output",
            cards,
            "--server",
            server.base_url,
            "--model",
            "scripted",
            "--lang",
            "zh",
            "--actors",
            "1",
            "--json",
            db=tmp_path / "absent" / "no.db",
        )
    assert json.loads(run.stdout)["ok"] == 12
    assert not (tmp_path / "absent").exists()

    first = json.loads(cli("scale", "import", cards, "--json", db=db).stdout)
    assert (first["imported"], first["unchanged"], first["unknown"]) == (12, 0, [])
    stored = enrichment_rows(db)
    assert [row[2] for row in stored] == ["ok"] * 12
    second = json.loads(cli("scale", "import", cards, "--json", db=db).stdout)
    assert (second["imported"], second["unchanged"]) == (0, 12)
    assert enrichment_rows(db) == stored  # not a byte changed, not even the stored time
    again = json.loads(cli("scale", "export-pending", "--out", pending, "--lang", "zh", "--json", db=db).stdout)
    assert again["papers"] == 0 and not list(pending.glob("*.parquet"))  # nothing left to do, the old export gone


def test_what_ray_prints_while_it_works_goes_to_stderr_so_json_stays_the_only_stdout(local_ray, tmp_path, monkeypatch):
    def enrich_while_ray_talks(settings, *args, **kwargs):
        # Ray's own threads print the raylet's warnings to whatever sys.stdout is at the time.
        print("(raylet) WARNING: 8 PYTHON worker processes have been started on node")
        return RunReport(run_id=0, lang="zh", model="scripted", ok=3)

    monkeypatch.setattr("papersift.scale.parquet.enrich_parquet", enrich_while_ray_talks)
    run = cli(
        "scale",
        "enrich",
        "--input",
        tmp_path,
        "--output",
        tmp_path / "cards",
        "--server",
        "http://127.0.0.1:1/v1",
        "--json",
        db=tmp_path / "no.db",
    )
    assert json.loads(run.stdout)["ok"] == 3
    assert "(raylet) WARNING" in run.stderr


def test_a_failed_result_does_not_replace_a_card_on_import(store, tmp_path, sample_records):
    (paper,) = add_papers(store, sample_records, 1)
    store.save_enrichment(Enrichment(paper_id=paper.id, lang="zh", status="ok", model="m"))
    failed = Enrichment(paper_id=paper.id, lang="zh", status="failed", reasons=["timed out"], model="m")
    (tmp_path / "cards").mkdir()
    pq.write_table(
        pa.table({"paper_id": [paper.id], "enrichment": [failed.model_dump_json()], "reasked": [False]}),
        tmp_path / "cards" / "part.parquet",
    )
    report = import_cards(store, tmp_path / "cards")
    assert (report.imported, report.kept) == (0, 1)
    assert store.enrichment(paper.id, "zh").status == "ok"


def test_a_wrong_folder_is_a_clear_error_naming_the_file(store, tmp_path, sample_records):
    add_papers(store, sample_records, 3)
    with pytest.raises(ParquetFolderError, match="nowhere: no such folder"):
        import_cards(store, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParquetFolderError, match="no Parquet files"):
        enrich_parquet(settings(), tmp_path / "empty", tmp_path / "out", base_urls=["http://127.0.0.1:9/v1"])
    export_pending(store, settings(), tmp_path / "papers")
    with pytest.raises(ParquetFolderError, match=r"pending-00000\.parquet: no column enrichment"):
        import_cards(store, tmp_path / "papers")  # the papers to do, not the cards done
    (tmp_path / "papers" / "notes.parquet").write_text("not parquet")
    with pytest.raises(ParquetFolderError, match=r"notes\.parquet: not a Parquet file"):
        enrich_parquet(settings(), tmp_path / "papers", tmp_path / "out", base_urls=["http://127.0.0.1:9/v1"])
    (tmp_path / "papers" / "notes.parquet").unlink()
    with pytest.raises(ParquetFolderError, match="holds Parquet files already"):
        enrich_parquet(settings(), tmp_path / "papers", tmp_path / "papers", base_urls=["http://127.0.0.1:9/v1"])


def test_embedding_on_ray_stores_the_vectors_a_local_embed_would(local_ray, tmp_path, sample_records):
    with ScriptedServer() as server:  # hashed bag-of-words vectors: cheap and deterministic
        embedding = {"backend": "openai", "base_url": server.base_url, "model": "hashed"}
        with Store(tmp_path / "ray.db") as on_ray, Store(tmp_path / "local.db") as local:
            add_papers(on_ray, sample_records, 40)
            add_papers(local, sample_records, 40)
            report = embed_on_ray(on_ray, Settings(embedding=embedding), actors=1)
            embed_store(local, get_embedder(Settings(embedding=embedding)))
            assert (report.embedded, report.unchanged, report.errors) == (40, 0, [])
            ids = [p.id for p in on_ray.iter_papers()]
            expected = vectors_for(local, ids, "openai:hashed")
            assert {pid: v.tolist() for pid, v in vectors_for(on_ray, ids, "openai:hashed").items()} == {
                pid: v.tolist() for pid, v in expected.items()
            }
            again = embed_on_ray(on_ray, Settings(embedding=embedding), actors=1)
            assert (again.embedded, again.unchanged) == (0, 40)


def test_no_server_is_a_clear_error(store):
    with pytest.raises(ValueError, match="--server"):
        enrich_on_ray(store, Settings(), base_urls=[])
