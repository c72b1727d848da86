"""Scale-out benchmark: the local engine and the Ray engine against 1, 2 and 4 servers, and a slow one.

``--papers`` synthetic papers (bench/enrich.py's: real sample abstracts, each made unique) are
enriched against scripted OpenAI-compatible servers (``python tests/support/llm_server.py``,
one subprocess each) with a fixed latency a request and at most ``--concurrency`` requests served
at once, as a vLLM replica with ``--max-num-seqs`` would. Together the servers allow at most
``sum(concurrency / latency)`` requests a second: the ideal. Each row is a fresh store.

- local: ``papersift enrich`` (one process, one server: it cannot use more), with 1.5x the
  server's concurrency in flight (the setting bench/enrich.py found best);
- ray: ``papersift scale enrich`` on a local Ray (``--actors`` actors), 1.5x each server's
  concurrency in flight per server across the actors, at 1, 2 and 4 servers, and at 4 servers of
  which one takes twice as long a request (half the speed).

The throughput ratio is papers/s over the ideal, on the run's own clock (report.elapsed: for Ray
that includes starting the actors, a few seconds); wall s adds the process's one-off start. The
steady rate counts from the first card stored to the last, leaving the start out.
With ``--embed N`` it also times embedding N papers with the default embedder: ``papersift embed``
and ``papersift scale embed`` (Ray Data ``map_batches`` over actors holding the embedder).

    python bench/scale.py --write                      # 10,000 papers (long on a small machine)
    python bench/scale.py --papers 2000 --write        # what a shared 2-core machine manages
    python bench/scale.py --papers 200 --servers 1 2 --no-local
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from enrich import start_server, synthetic_records  # noqa: E402
from results import write_section  # noqa: E402

from papersift.config import LLMSettings, Settings  # noqa: E402
from papersift.enrich.pipeline import enrich_papers_async  # noqa: E402
from papersift.sources.files import paper_from_mapping  # noqa: E402
from papersift.store import Store  # noqa: E402

IN_FLIGHT_FACTOR = 1.5  # requests papersift keeps in flight per server, over what the server serves at once


def template_store(folder: Path, papers: int) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "template.db"
    with Store(path) as store:
        store.upsert_many(paper_from_mapping(r) for r in synthetic_records(papers))
    return path


def fresh_store(template: Path, folder: Path, name: str) -> Store:
    path = folder / f"{name}.db"
    shutil.copy(template, path)
    return Store(path)


class Cards:
    """When the cards arrive: the steady rate leaves out the start (Ray's actors importing papersift)."""

    def __init__(self):
        self.started = time.perf_counter()
        self.first: tuple[float, int] | None = None
        self.last: tuple[float, int] = (0.0, 0)

    def __call__(self, report) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = (now, report.done)
        self.last = (now, report.done)

    @property
    def steady_per_s(self) -> float:
        if self.first is None or self.last[0] <= self.first[0]:
            return 0.0
        return (self.last[1] - self.first[1]) / (self.last[0] - self.first[0])


def row(engine: str, latencies: list[float], concurrency: int, report, wall: float, cards: Cards) -> dict:
    ideal = sum(concurrency / latency for latency in latencies) * report.done / max(report.calls, 1)
    return {
        "engine": engine,
        "servers": len(latencies),
        "latencies_s": latencies,
        "papers": report.done,
        "ok": report.ok,
        "failed": report.failed,
        "calls": report.calls,
        "run_s": round(report.elapsed, 2),
        "wall_s": round(wall, 2),
        "papers_per_s": round(report.papers_per_s, 1),
        "ideal_papers_per_s": round(ideal, 1),
        "throughput_ratio": round(report.papers_per_s / ideal, 3),
        "first_card_s": round(cards.first[0] - cards.started, 2) if cards.first else None,
        "steady_papers_per_s": round(cards.steady_per_s, 1),
        "steady_ratio": round(cards.steady_per_s / ideal, 3),
        "tokens_in": report.tokens_in,
        "tokens_out": report.tokens_out,
    }


def local_run(template: Path, folder: Path, latency: float, concurrency: int) -> dict:
    server, url = start_server(latency, concurrency)
    try:
        store = fresh_store(template, folder, "local")
        llm = LLMSettings(
            backend="openai",
            base_url=url,
            model="scripted-qwen3",
            api_key="bench",
            concurrency=math.ceil(IN_FLIGHT_FACTOR * concurrency),
            timeout=60,
            max_retries=2,
        )
        cards = Cards()
        report = asyncio.run(enrich_papers_async(store, Settings(db=store.path, llm=llm), progress=cards))
        wall = time.perf_counter() - cards.started
        store.close()
    finally:
        server.terminate()
        server.wait()
    return row("local", [latency], concurrency, report, wall, cards)


def ray_run(template: Path, folder: Path, latencies: list[float], concurrency: int, actors: int) -> dict:
    from papersift.scale.ray_enrich import enrich_on_ray

    servers = [start_server(latency, concurrency) for latency in latencies]
    try:
        store = fresh_store(template, folder, f"ray-{len(latencies)}")
        per_actor = math.ceil(IN_FLIGHT_FACTOR * concurrency / actors)
        llm = LLMSettings(
            backend="openai", model="scripted-qwen3", api_key="bench", concurrency=per_actor, timeout=60, max_retries=2
        )
        cards = Cards()
        report = enrich_on_ray(
            store,
            Settings(db=store.path, llm=llm),
            base_urls=[url for _, url in servers],
            actors=actors,
            batch_size=16,
            progress=cards,
        )
        wall = time.perf_counter() - cards.started
        store.close()
    finally:
        for server, _ in servers:
            server.terminate()
            server.wait()
    return row(f"ray, {actors} actors", latencies, concurrency, report, wall, cards)


def embed_runs(template: Path, folder: Path, actors: int) -> dict:
    """Seconds to embed the template's papers with the default embedder: ``papersift embed`` (one
    model, its 2 threads) and ``papersift scale embed`` (Ray Data actors holding the model); both
    store the vectors."""
    from papersift.scale.ray_embed import embed_on_ray
    from papersift.search.embeddings import USEEmbedder, embed_store

    settings = Settings()
    USEEmbedder.shared().embed(["warm"])  # the model loaded once, as the actors' start is counted on Ray
    with fresh_store(template, folder, "embed-local") as store:
        local = time.perf_counter()
        local_report = embed_store(store, USEEmbedder.shared())
        local = time.perf_counter() - local
    with fresh_store(template, folder, "embed-ray") as store:
        on_ray = time.perf_counter()
        ray_report = embed_on_ray(store, settings, actors=actors)
        on_ray = time.perf_counter() - on_ray
    n = local_report.embedded
    assert ray_report.embedded == n, (ray_report, local_report)
    return {
        "papers": n,
        "local_s": round(local, 1),
        "ray_s": round(on_ray, 1),
        "actors": actors,
        "local_papers_per_s": round(n / local, 1),
        "ray_papers_per_s": round(n / on_ray, 1),
    }


def markdown(rows: list[dict], embed: dict | None, args: argparse.Namespace, started: str) -> str:
    load = os.getloadavg()
    lines = [
        f"## {args.section}",
        "",
        f"`{shlex.join(['python', 'bench/scale.py', *sys.argv[1:]])}`, {started}, {platform.machine()}, {os.cpu_count()} cores "
        f"(shared with other work; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}), "
        f"Ray {__import__('ray').__version__} started locally on those cores. Scripted servers (subprocesses on the same "
        f"machine): {' or '.join(f'{x * 1000:.0f}' for x in args.latency)} ms a request, {args.concurrency} served at once each; papersift keeps "
        f"{IN_FLIGHT_FACTOR:g}x that in flight per server. Ideal: the servers' sum of concurrency / latency.",
        "",
        "| engine | servers (latency) | papers (ok/failed, calls) | run s (wall s) | papers/s | ideal papers/s "
        "| throughput ratio | first card after s | steady papers/s (ratio) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        latencies = ", ".join(f"{x * 1000:.0f}" for x in r["latencies_s"])
        lines.append(
            f"| {r['engine']} | {r['servers']} ({latencies} ms) | {r['papers']} ({r['ok']}/{r['failed']}, {r['calls']}) "
            f"| {r['run_s']} ({r['wall_s']}) | {r['papers_per_s']} | {r['ideal_papers_per_s']} | {r['throughput_ratio']} "
            f"| {r['first_card_s']} | {r['steady_papers_per_s']} ({r['steady_ratio']}) |"
        )
    if embed:
        lines += [
            "",
            f"Embedding {embed['papers']} papers with the default embedder (USE, numpy), vectors stored: `papersift embed` {embed['local_s']} s "
            f"({embed['local_papers_per_s']} papers/s); `papersift scale embed` (Ray Data `map_batches` over {embed['actors']} actors holding "
            f"the embedder) {embed['ray_s']} s ({embed['ray_papers_per_s']} papers/s), on the same cores.",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=10_000, help="synthetic papers a run")
    parser.add_argument(
        "--latency",
        type=float,
        nargs="+",
        default=[0.5],
        help="seconds a request takes at a server; a set of runs per value",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="requests a server serves at once")
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2, 4], help="server counts for the Ray engine")
    parser.add_argument("--actors", type=int, default=2, help="Ray actors")
    parser.add_argument("--no-local", action="store_true", help="skip the local engine")
    parser.add_argument("--no-slow", action="store_true", help="skip the run with one server at half speed")
    parser.add_argument("--embed", type=int, default=0, help="also time embedding this many papers, locally and on Ray")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--write", action="store_true", help="replace its section of bench/RESULTS.md")
    parser.add_argument(
        "--section", default="Scale-out", help="the section's title (a run at another size keeps its own)"
    )
    args = parser.parse_args()

    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = template_store(folder, args.papers)
        ray.init(include_dashboard=False, log_to_driver=False)
        for latency in args.latency:
            if not args.no_local:
                rows.append(local_run(template, folder, latency, args.concurrency))
                print(json.dumps(rows[-1]), flush=True)
            for n in args.servers:
                rows.append(ray_run(template, folder, [latency] * n, args.concurrency, args.actors))
                print(json.dumps(rows[-1]), flush=True)
            if not args.no_slow:
                slow = [latency] * (max(args.servers) - 1) + [2 * latency]
                rows.append(ray_run(template, folder, slow, args.concurrency, args.actors))
                print(json.dumps(rows[-1]), flush=True)
        embed = embed_runs(template_store(folder / "embed", args.embed), folder, args.actors) if args.embed else None
        ray.shutdown()
    text = markdown(rows, embed, args, started)
    print(json.dumps({"runs": rows, "embed": embed}, indent=2) if args.json else text)
    if args.write:
        write_section(args.section, text + "\n")


if __name__ == "__main__":
    main()
