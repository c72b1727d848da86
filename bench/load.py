"""Load benchmark: ``papersift serve`` under concurrent clients while ``enrich`` and ``ingest`` write.

A store of ``--papers`` synthetic papers (bench/ingest.py's records) is served by ``papersift
serve`` on 127.0.0.1. For the whole run two writers work on the same file: ``papersift enrich``
against the scripted LLM server (``python tests/support/llm_server.py --latency 0.2``, so cards
keep arriving) and ``papersift ingest file`` of a new batch of ``--batch`` papers, again and
again. Meanwhile ``--clients`` clients (asyncio, one keep-alive connection each, like browsers)
send requests back to back for ``--seconds``: the catalog, a filtered catalog, a search, a
paper's page, ``/api/papers``, a star or unstar (POST with the CSRF token) and the static file
``/static/web/app.css``, in a fixed mix.

It counts every answer by status; a 5xx, a failed connection or a body that mentions a locked
database is an error. Latency p50/p95 per kind of request is given in ms and as a ratio to the
static file's under the same load. Results go to stdout and to the ``## Load`` section of
bench/RESULTS.md (other sections are left as they are). Everything stays on loopback.

    python bench/load.py                          # 50 clients, 60 s, 5,000 papers
    python bench/load.py --clients 10 --seconds 5 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import WORDS, synthetic  # noqa: E402
from results import empty_config, write_section  # noqa: E402
from web import free_port, percentiles  # noqa: E402

CLI = [sys.executable, "-c", "from papersift.cli import main; main()"]
MIX = {"catalog": 4, "filtered": 2, "search": 2, "paper": 2, "api": 1, "star": 1, "static": 2}


@dataclass
class Sample:
    kind: str
    ms: float
    status: int  # 0: the connection failed
    locked: bool  # the answer mentions a locked database


@dataclass
class Writers:
    """The two processes that write while the clients read: what they did and how they ended."""

    ingest_batches: int = 0
    ingest_failures: list[str] = field(default_factory=list)
    enriched_before: int = 0
    enriched_after: int = 0
    enrich_exit: int | None = None
    enrich_errors: str = ""


def write_batch(path: Path, start: int, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(start, start + n):
            fh.write(json.dumps(synthetic(i), ensure_ascii=False) + "\n")


def wait_until_up(url: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{what} did not start")


def request_for(kind: str, rng: random.Random, ids: list[str]) -> tuple[str, str, dict | None]:
    if kind == "catalog":
        return "GET", f"/?page={rng.randint(1, 20)}", None
    if kind == "filtered":
        return "GET", f"/?source=file&page={rng.randint(1, 5)}", None
    if kind == "search":
        return "GET", f"/search?q={'+'.join(rng.sample(WORDS, 2))}", None
    if kind == "paper":
        return "GET", f"/papers/{rng.choice(ids)}", None
    if kind == "api":
        return "GET", f"/api/papers?page={rng.randint(1, 20)}", None
    if kind == "star":
        return "POST", f"/api/papers/{rng.choice(ids)}/curation", {"starred": rng.random() < 0.5}
    return "GET", "/static/web/app.css", None


async def one_client(base: str, deadline: float, seed: int, ids: list[str], samples: list[Sample]) -> None:
    rng = random.Random(seed)
    kinds, weights = list(MIX), list(MIX.values())
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        await client.get("/")  # a first visit sets the CSRF cookie, as a browser's does
        csrf = {"X-CSRF-Token": client.cookies.get("papersift_csrf", ""), "Origin": base}
        # Each client makes at least one request, and clients start on different kinds: a short
        # run on a busy machine still tries every kind.
        kind = kinds[seed % len(kinds)]
        while True:
            method, url, body = request_for(kind, rng, ids)
            started = time.perf_counter()
            try:
                response = await client.request(method, url, json=body, headers=csrf if method == "POST" else None)
                status, text = response.status_code, response.text
            except httpx.HTTPError as exc:
                status, text = 0, str(exc)
            ms = (time.perf_counter() - started) * 1000
            samples.append(Sample(kind, ms, status, "locked" in text.lower()))
            if time.monotonic() >= deadline:
                return
            kind = rng.choices(kinds, weights)[0]


async def run_clients(base: str, clients: int, seconds: float, ids: list[str], seed: int) -> list[Sample]:
    samples: list[Sample] = []
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(one_client(base, deadline, seed + i, ids, samples) for i in range(clients)))
    return samples


def keep_ingesting(
    env: dict[str, str], work: Path, batch: int, first: int, stop: threading.Event, writers: Writers
) -> None:
    start = first
    while not stop.is_set():
        path = work / f"batch-{start}.jsonl"
        write_batch(path, start, batch)
        done = subprocess.run([*CLI, "ingest", "file", str(path)], env=env, capture_output=True, text=True)
        if done.returncode == 0:
            writers.ingest_batches += 1
        else:
            writers.ingest_failures.append(
                done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            )
        start += batch


def enriched(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM enrichments").fetchone()[0]


def log_file(db: Path, name: str):
    return (db.parent / f"{name}.stderr").open("w+")


def tail(db: Path, name: str) -> str:
    """What a process wrote to its stderr file so far."""
    return (db.parent / f"{name}.stderr").read_text(errors="replace")


def wait_for_first_card(db: Path, before: int, enrich: subprocess.Popen) -> None:
    """The clients start once enrich is writing cards (its start-up takes a few seconds)."""
    deadline = time.monotonic() + 120
    while enriched(db) <= before:
        if enrich.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"enrich stored no card (exit {enrich.poll()}): {tail(db, 'enrich')[-500:]}")
        time.sleep(0.1)


def run(db: Path, *, clients: int, seconds: float, batch: int, seed: int = 7) -> tuple[list[Sample], Writers]:
    """Serve ``db`` and load it with ``clients`` for ``seconds`` while enrich and ingest write to it."""
    env = {**os.environ, "PAPERSIFT_DB": str(db), "PAPERSIFT_CONFIG": str(empty_config(db.parent))}
    env.pop("PAPERSIFT_WEB_TOKEN", None)
    with sqlite3.connect(db) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM papers ORDER BY rowid LIMIT 2000")]
        first_new = conn.execute("SELECT count(*) FROM papers").fetchone()[0] + 1_000_000
    web_port, llm_port = free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    processes: list[subprocess.Popen] = []
    writers, stop = Writers(), threading.Event()
    try:
        llm = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve().parent.parent / "tests" / "support" / "llm_server.py"),
                "--port",
                str(llm_port),
                "--latency",
                "0.2",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(llm)
        # Each writes its stderr to a file: a pipe nobody reads until the end fills up and blocks its writer.
        serve = subprocess.Popen(
            [*CLI, "serve", "--port", str(web_port)], env=env, stderr=log_file(db, "serve"), text=True
        )
        processes.append(serve)
        wait_until_up(f"http://127.0.0.1:{llm_port}/v1/models", llm, "the scripted LLM server")
        wait_until_up(f"{base}/static/web/app.css", serve, "papersift serve")
        llm_env = {
            **env,
            "PAPERSIFT_LLM_BACKEND": "openai",
            "PAPERSIFT_LLM_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
            "PAPERSIFT_LLM_MODEL": "scripted-qwen3",
            "PAPERSIFT_LLM_API_KEY": "test",
        }
        writers.enriched_before = enriched(db)
        enrich = subprocess.Popen(
            [*CLI, "enrich", "--concurrency", "8"],
            env=llm_env,
            stdout=subprocess.DEVNULL,
            stderr=log_file(db, "enrich"),
            text=True,
        )
        processes.append(enrich)
        ingester = threading.Thread(
            target=keep_ingesting, args=(env, db.parent, batch, first_new, stop, writers), daemon=True
        )
        ingester.start()
        wait_for_first_card(db, writers.enriched_before, enrich)
        samples = asyncio.run(run_clients(base, clients, seconds, ids, seed))
        stop.set()
        if enrich.poll() is None:
            enrich.send_signal(signal.SIGINT)  # as Ctrl-C would: the run stops and resumes next time
        writers.enrich_exit = enrich.wait(timeout=120)
        writers.enrich_errors = "\n".join(line for line in tail(db, "enrich").splitlines() if "locked" in line.lower())
        ingester.join(timeout=120)
        writers.enriched_after = enriched(db)
    finally:
        stop.set()
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
    return samples, writers


def errors(samples: list[Sample]) -> dict[str, int]:
    return {
        "5xx": sum(s.status >= 500 for s in samples),
        "connection failed": sum(s.status == 0 for s in samples),
        "locked": sum(s.locked for s in samples),
    }


def report(
    samples: list[Sample],
    writers: Writers,
    *,
    papers: int,
    clients: int,
    seconds: float,
    batch: int,
    load_before: float,
    load_after: float,
) -> str:
    by_kind: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        by_kind[s.kind].append(s.ms)
    static50, static95 = percentiles(by_kind["static"])
    statuses = Counter(s.status for s in samples)
    bad = errors(samples)
    lines = [
        "## Load",
        "",
        f"`python bench/load.py --clients {clients} --seconds {seconds:g} --papers {papers}` on {platform.machine()} "
        f"({os.cpu_count()} cores, shared), load average {load_before:.1f} before and {load_after:.1f} after, "
        f"Python {platform.python_version()}, {datetime.now(UTC).date()}. `papersift serve` on 127.0.0.1 over a store "
        f"of {papers:,} synthetic papers; {clients} clients (asyncio, one keep-alive connection each, on the same "
        f"machine) send requests back to back for {seconds:g} s, from enrich's first card on, while `papersift enrich` (scripted LLM server, 0.2 s a "
        f"reply, concurrency 8) and `papersift ingest file` ({batch:,} new papers a file, again and again) write to the "
        "same database.",
        "",
        f"**{len(samples):,} requests** ({len(samples) / seconds:.0f}/s), statuses {dict(sorted(statuses.items()))}: "
        f"**{bad['5xx']} 5xx**, {bad['connection failed']} failed connections, **{bad['locked']} answers mentioning a "
        f"locked database**. Meanwhile enrich stored {writers.enriched_after - writers.enriched_before:,} cards "
        f"(exit {writers.enrich_exit} after Ctrl-C, {len(writers.enrich_errors.splitlines())} lock errors) and ingest "
        f"stored {writers.ingest_batches} files of {batch:,} papers ({len(writers.ingest_failures)} failed).",
        "",
        "| request | n | p50 ms | p95 ms | p50 / static | p95 / static |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind in MIX:
        p50, p95 = percentiles(by_kind[kind])
        lines.append(
            f"| {kind} | {len(by_kind[kind])} | {p50:.0f} | {p95:.0f} | {p50 / static50:.1f}× | {p95 / static95:.1f}× |"
        )
    lines += [
        "",
        "The clients share the 2 cores with the server and both writers, so the absolute times measure the "
        "whole machine under load; the ratios to the static file (served by the same process, under the same "
        "load) are what to compare across runs.",
    ]
    return "\n".join(lines) + "\n"


def build_store(db: Path, papers: int) -> None:
    path = db.parent / "papers.jsonl"
    write_batch(path, 0, papers)
    env = {**os.environ, "PAPERSIFT_DB": str(db), "PAPERSIFT_CONFIG": str(empty_config(db.parent))}
    subprocess.run([*CLI, "ingest", "file", str(path)], env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=60, help="how long the clients send requests")
    parser.add_argument("--papers", type=int, default=5000, help="papers in the store before the run")
    parser.add_argument("--batch", type=int, default=2000, help="papers in each file the ingest writer imports")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    if not 1 <= args.clients <= 200 or not 0 < args.seconds <= 600:
        parser.error("keep it bounded: 1-200 clients, at most 600 s")
    with tempfile.TemporaryDirectory(prefix="papersift-load-") as tmp:
        db = Path(tmp) / "load.db"
        build_store(db, args.papers)
        load_before = os.getloadavg()[0]
        samples, writers = run(db, clients=args.clients, seconds=args.seconds, batch=args.batch)
        section = report(
            samples,
            writers,
            papers=args.papers,
            clients=args.clients,
            seconds=args.seconds,
            batch=args.batch,
            load_before=load_before,
            load_after=os.getloadavg()[0],
        )
    print(section)
    if not args.no_write:
        write_section("Load", section)


if __name__ == "__main__":
    main()
