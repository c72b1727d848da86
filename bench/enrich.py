"""Enrichment benchmark: does papersift keep an LLM server saturated, and at what cost to itself?

1,000 synthetic papers (real sample abstracts, each made unique) are enriched against the
scripted OpenAI-compatible server (``tests/support/llm_server.py``), run in a subprocess with a
fixed latency per request and a limit on requests served at once. A server like that allows at
most ``concurrency / latency`` requests a second; papersift should reach it (goal ≥ 0.95). The
default runs twice: at 50 ms a request, where papersift's own CPU time per paper sets the pace
on a small machine, and at 500 ms, closer to a real server (a card takes seconds to generate),
where the server should.

Reported:

- throughput: papers/s, and the ratio of the ideal ``calls × latency / concurrency`` seconds to
  the run's time (from the first request to the last card stored; the one-off start is in wall s);
- CPU time this process (papersift: pipeline, client, guard, store) spends per paper;
- peak RSS of this process, and its growth during the run (flat memory: a bounded queue);
- the share of prompt tokens the server found in its prefix cache (``cached_tokens``): the
  static part of the prompt comes first and is byte-identical across papers;
- with ``--embedded``: papers/s with the embedded llama.cpp model on 2–3 real sample papers
  (skipped when ``llama_cpp`` is not importable).

    python bench/enrich.py                          # 1,000 papers, 16 at once, 50 ms then 500 ms
    python bench/enrich.py --papers 200 --latency 0.1 --concurrency 8
    python bench/enrich.py --embedded               # also the embedded model
    python bench/enrich.py --write                  # and replace "## Enrichment" in bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from results import run_line, write_section  # noqa: E402

from papersift.config import LLMSettings, Settings  # noqa: E402
from papersift.enrich.pipeline import Selection, enrich_papers_async  # noqa: E402
from papersift.sources.files import paper_from_mapping  # noqa: E402
from papersift.store import Store  # noqa: E402

SERVER = [str(ROOT / "tests" / "support" / "llm_server.py")]
SAMPLE = ROOT / "src" / "papersift" / "data" / "sample.jsonl"


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    return kb / 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_records(n: int) -> list[dict]:
    """``n`` distinct papers made from the sample's real abstracts: a title and a study number each."""
    base = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    records = []
    for i in range(n):
        record = dict(base[i % len(base)])
        record["id"] = f"bench-{i}"
        record["title"] = f"Synthetic Study {i} of {record['keywords'][0].title()}"
        record["abstract"] = f"{record['abstract']} (Synthetic study {i}.)"
        records.append(record)
    return records


def start_server(latency: float, concurrency: int) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, *SERVER, "--port", "0", "--latency", str(latency), "--concurrency", str(concurrency)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": str(ROOT / "src")})
    line = server.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
    if not match:
        server.kill()
        raise SystemExit(f"the scripted server did not start: {line!r}")
    return server, match[1]


def scripted_run(papers: int, latency: float, concurrency: int, in_flight: int) -> dict:
    """``concurrency``: what the server serves at once; ``in_flight``: papersift's own limit
    (above the server's, requests queue at the server, as they do at a vLLM replica)."""
    server, base_url = start_server(latency, concurrency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "bench.db")
            store.upsert_many(paper_from_mapping(r) for r in synthetic_records(papers))
            llm = LLMSettings(
                backend="openai",
                base_url=base_url,
                model="scripted-qwen3",
                api_key="bench",
                concurrency=in_flight,
                timeout=30,
                max_retries=2,
            )
            settings = Settings(db=store.path, llm=llm)
            rss_before = rss_mib()
            rss_at_tenth: list[float] = []

            def sample_memory(report) -> None:
                if report.done == max(1, papers // 10):
                    rss_at_tenth.append(rss_mib())

            cpu, wall = time.process_time(), time.perf_counter()
            report = asyncio.run(enrich_papers_async(store, settings, selection=Selection(), progress=sample_memory))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            store.close()
    finally:
        server.terminate()
        server.wait()
    ideal = report.calls * latency / concurrency
    # The run's own clock starts when the workers do: the one-off start (importing the client,
    # loading the segmenter's dictionary) is left out of the ratio and shown in wall_s.
    return {
        "papers": report.done,
        "ok": report.ok,
        "flagged": report.flagged,
        "failed": report.failed,
        "calls": report.calls,
        "latency_s": latency,
        "concurrency": concurrency,
        "in_flight": in_flight,
        "wall_s": round(wall, 2),
        "run_s": round(report.elapsed, 2),
        "papers_per_s": round(report.papers_per_s, 1),
        "ideal_papers_per_s": round(concurrency / latency * report.done / max(report.calls, 1), 1),
        "throughput_ratio": round(ideal / report.elapsed, 3),
        "cpu_ms_per_paper": round(1000 * cpu / max(report.done, 1), 2),
        "rss_before_mib": round(rss_before, 1),
        "rss_at_10pct_mib": round(rss_at_tenth[0], 1) if rss_at_tenth else None,
        "rss_end_mib": round(rss_mib(), 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "tokens_in": report.tokens_in,
        "tokens_cached": report.tokens_cached,
        "cached_prefix_share": round(report.tokens_cached / max(report.tokens_in, 1), 3),
    }


def embedded_run(n: int) -> dict:
    if importlib.util.find_spec("llama_cpp") is None:
        return {"skipped": "llama_cpp is not importable (pip install -e '.[embedded]')"}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "embedded.db")
        records = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()][:n]
        store.upsert_many(paper_from_mapping(r) for r in records)
        settings = Settings(db=store.path, llm=LLMSettings(backend="embedded", concurrency=1, timeout=900))
        wall = time.perf_counter()
        report = asyncio.run(enrich_papers_async(store, settings))
        wall = time.perf_counter() - wall
        store.close()
    return {
        "papers": report.done,
        "ok": report.ok,
        "flagged": report.flagged,
        "failed": report.failed,
        "model": report.model,
        "wall_s": round(wall, 1),
        "papers_per_s": round(report.done / wall, 4),
        "s_per_paper": round(wall / max(report.done, 1), 1),
        "tokens_out": report.tokens_out,
        "failures": report.failures,
    }


METHOD = (
    "Synthetic papers (the 35 real sample abstracts, each made unique with a title and a study number) are "
    "enriched against the scripted OpenAI-compatible server (`tests/support/llm_server.py`, run in a subprocess) "
    "with a fixed latency per request and a limit on requests served at once, through the whole pipeline: prompt, "
    "`LLMClient.structured` (openai SDK backend, cache and log in the store), language check, faithfulness guard, "
    "`store.save_enrichment` and the run's per-paper state. The ideal is what the server allows: "
    "`calls × latency / at once` seconds; the throughput ratio uses the run's own clock (first request to last card "
    "stored), wall s adds the one-off start (importing the client, loading jieba's dictionary). CPU ms/paper is this "
    "process's CPU time over the whole call, start included. The cached prefix share is the share of prompt tokens "
    "the server found in its prefix cache (the static part of the prompt comes first)."
)


def markdown(results: list[dict], embedded: dict | None) -> str:
    lines = [
        "## Enrichment",
        "",
        f"{run_line()}.",
        "",
        METHOD,
        "",
        "| papers (ok/flagged/failed, calls) | server: latency × at once | papersift in flight | run s (wall s) | papers/s "
        "| ideal papers/s | throughput ratio | CPU ms/paper | RSS MiB: before → at 10% → end (peak) | cached prefix share |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['papers']} ({r['ok']}/{r['flagged']}/{r['failed']}, {r['calls']}) | {r['latency_s'] * 1000:.0f} ms × "
            f"{r['concurrency']} | {r['in_flight']} | {r['run_s']} ({r['wall_s']}) | {r['papers_per_s']} | {r['ideal_papers_per_s']} | {r['throughput_ratio']} "
            f"| {r['cpu_ms_per_paper']} | {r['rss_before_mib']} → {r['rss_at_10pct_mib']} → {r['rss_end_mib']} "
            f"({r['peak_rss_mib']}) | {r['cached_prefix_share']} |"
        )
    if embedded is not None:
        lines.append("")
        if "skipped" in embedded:
            lines.append(f"Embedded model: skipped ({embedded['skipped']}).")
        else:
            lines.append(
                f"Embedded model ({embedded['model']}): {embedded['papers']} real sample papers in {embedded['wall_s']} s, "
                f"{embedded['papers_per_s']} papers/s ({embedded['s_per_paper']} s a paper); "
                f"{embedded['ok']} ok, {embedded['flagged']} flagged, {embedded['failed']} failed."
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=1000, help="synthetic papers to enrich")
    parser.add_argument(
        "--latency",
        type=float,
        nargs="+",
        default=[0.05, 0.5],
        help="seconds the server takes per request; one run per value",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="requests the server serves at once")
    parser.add_argument(
        "--in-flight",
        type=int,
        nargs="+",
        default=[16, 24],
        help="papersift's limit on requests in flight (its --concurrency); one run per value",
    )
    parser.add_argument("--embedded", action="store_true", help="also time the embedded model on real sample papers")
    parser.add_argument("--embedded-papers", type=int, default=2, help="sample papers for --embedded")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--write", action="store_true", help="replace '## Enrichment' in bench/RESULTS.md")
    args = parser.parse_args()
    results = [
        scripted_run(args.papers, latency, args.concurrency, in_flight)
        for latency in args.latency
        for in_flight in args.in_flight
    ]
    embedded = embedded_run(args.embedded_papers) if args.embedded else None
    text = markdown(results, embedded)
    if args.json:
        print(json.dumps({"scripted": results, "embedded": embedded}, indent=2))
    else:
        print(text)
    if args.write:
        write_section("Enrichment", text + "\n")


if __name__ == "__main__":
    main()
