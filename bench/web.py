"""Web benchmark: latency of the catalog, a filtered catalog and a search page at 100,000 papers.

A synthetic store (titles and abstracts drawn from a Zipf-distributed vocabulary, seven
sub-areas, four sources, a year of dates, three keywords each; no vectors, so search is
lexical BM25) is built with ``Store.upsert`` in one transaction. The app then runs under
uvicorn in its own process on loopback, and one keep-alive client requests, one at a time:

- ``catalog``: ``/`` and its first 100 pages (``?page=N``);
- ``filtered``: ``/?subarea=…&source=…`` over the 28 sub-area × source pairs, pages 1–4;
- ``search``: ``/search?q=…`` for 100 two-word queries;
- ``catalog after a star``: ``/`` right after a curation POST (the flags are reloaded, facets recounted);
- ``catalog after an upsert``: ``/`` right after another process stores a paper (answered from
  the previous snapshot while the columns reload in the background); ``new paper visible after``
  is how long until ``/api/papers`` counts it (polled every 20 ms);
- ``static``: ``/static/web/app.css`` through the same server, the floor every page pays.

Each page's p50/p95 is also given as a ratio to the static file's. Results go to stdout and
to the ``## Web`` section of bench/RESULTS.md (other sections are left as they are).

    python bench/web.py                 # 100,000 papers (about 2–4 minutes here)
    python bench/web.py --papers 20000  # quicker
    python bench/web.py --db /tmp/web100k.db   # keep (or reuse) the synthetic store
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
from results import empty_config, write_section

ROOT = Path(__file__).resolve().parent.parent
SUBAREAS = [
    "instruction-tuning-alignment",
    "reasoning-cot",
    "efficiency-compression",
    "agents-tools",
    "multimodal-foundation",
    "model-architecture",
    "llm-pretraining",
]
SOURCES = ["arxiv", "openreview", "hf", "rss"]
SYLLABLES = "ka lo mi nu tra spe vi dor el fa gen ix quo ra sel tum ber con dis pha".split()


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def build_store(path: Path, n: int, seed: int = 7) -> None:
    from papersift.models import Paper, Topic
    from papersift.store import Store

    rng = random.Random(seed)
    words = vocabulary(20_000, rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf: a few common words, a long tail
    keywords = [" ".join(rng.sample(words[:3000], 2)) for _ in range(2000)]
    start = date(2025, 1, 1)
    with Store(path) as store, store.transaction():
        for i in range(n):
            text = rng.choices(words, weights, k=70)
            store.upsert(
                Paper(
                    source=rng.choice(SOURCES),
                    source_id=f"syn-{i}",
                    title=" ".join(text[:10]).capitalize(),
                    abstract=" ".join(text[10:]),
                    authors=[f"Author {rng.randint(1, 20_000)}"],
                    keywords=rng.sample(keywords, 3),
                    venue=rng.choice([None, None, "ICLR 2025", "NeurIPS 2025", "ACL 2025"]),
                    published=start + timedelta(days=rng.randint(0, 364)),
                    url_abs=f"https://example.org/abs/{i}",
                    topic=Topic(area="foundation-models", subarea=rng.choice(SUBAREAS)),
                )
            )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(db: Path, port: int) -> subprocess.Popen:
    code = (
        "import uvicorn; from papersift.config import load_settings; from papersift.web import create_app; "
        f"uvicorn.run(create_app(load_settings(db={str(db)!r})), host='127.0.0.1', port={port}, log_level='warning')"
    )
    env = {**os.environ, "PAPERSIFT_CONFIG": str(empty_config(db.parent))}
    env.pop("PAPERSIFT_WEB_TOKEN", None)
    server = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/static/web/app.css", timeout=1)
            return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the web server did not start")


def timed(client: httpx.Client, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
    return elapsed * 1000


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[94]


def upsert_one(db: Path) -> None:
    from papersift.models import Paper
    from papersift.store import Store

    with Store(db) as store:
        n = store.count()
        store.upsert(
            Paper(source="rss", source_id=f"late-{n}", title=f"A late paper {n}", abstract="Arrived while serving.")
        )


def measure(base: str, db: Path, n_queries: int, rng: random.Random) -> dict[str, list[float]]:
    words = vocabulary(20_000, random.Random(7))[:2000]
    urls = {
        "catalog": ["/"] + [f"/?page={p}" for p in range(2, 101)],
        "filtered": [f"/?subarea={s}&source={src}&page={p}" for p in range(1, 5) for s in SUBAREAS for src in SOURCES][
            :100
        ],
        "search": [f"/search?q={rng.choice(words)}+{rng.choice(words)}" for _ in range(n_queries)],
        "static": ["/static/web/app.css"] * 100,
    }
    samples: dict[str, list[float]] = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        for url in ("/", "/search?q=warm+up", "/static/web/app.css"):
            client.get(url)  # imports, the taxonomy, jieba: paid once per process, not per request
        for name, batch in urls.items():
            samples[name] = [timed(client, url) for url in batch]
        paper = client.get("/api/papers?per_page=1").json()["papers"][0]["view"]["id"]
        token = client.cookies["papersift_csrf"]
        starred = []
        for i in range(20):
            client.post(
                f"/api/papers/{paper}/curation",
                json={"read": i % 2 == 0},
                headers={"X-CSRF-Token": token, "Origin": base},
            ).raise_for_status()
            starred.append(timed(client, "/"))
        samples["catalog after a star"] = starred
        upserted, visible = [], []
        for _ in range(5):
            before = client.get("/api/papers?per_page=1").json()["total"]
            upsert_one(db)
            start = time.perf_counter()
            upserted.append(timed(client, "/"))
            while client.get("/api/papers?per_page=1").json()["total"] == before:
                time.sleep(0.02)
            visible.append((time.perf_counter() - start) * 1000)
        samples["catalog after an upsert"] = upserted
        samples["new paper visible after"] = visible
    return samples


def report(samples: dict[str, list[float]], papers: int, build_s: float) -> str:
    static_p50, static_p95 = percentiles(samples["static"])
    lag = samples.pop("new paper visible after")
    lines = [
        "## Web",
        "",
        f"`python bench/web.py --papers {papers}` on {platform.machine()} ({os.cpu_count()} cores, shared), "
        f"load average {os.getloadavg()[0]:.1f} (other jobs share the machine), "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}. Synthetic store of {papers:,} papers "
        f"built in {build_s:.0f} s; uvicorn in its own process on loopback, one keep-alive client, requests one at a time; "
        "search is lexical (no vectors in the store). Goal: p95 < 100 ms.",
        "",
        "| request | n | p50 ms | p95 ms | p50 / static | p95 / static |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, values in samples.items():
        p50, p95 = percentiles(values)
        lines.append(
            f"| {name} | {len(values)} | {p50:.1f} | {p95:.1f} | {p50 / static_p50:.1f}× | {p95 / static_p95:.1f}× |"
        )
    lines += [
        "",
        f"A paper stored by another process shows up in the catalog {statistics.median(lag) / 1000:.1f} s later "
        f"(median of {len(lag)}; the background reload of the columns).",
        "",
        "The catalog filters and counts facets over numpy columns held by the app (a mask per filter, "
        "a bincount per facet), reloaded part by part when the store's change counters move; facet "
        "counts are also kept per filter set until then. A star reloads only the flags, before the next "
        "answer; new or changed papers or enrichments reload every column in a background thread "
        "(above 20,000 papers; below, before the next answer).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=100_000, help="size of the synthetic store")
    parser.add_argument("--db", type=Path, help="keep the synthetic store here (reused when it exists)")
    parser.add_argument("--queries", type=int, default=100, help="search requests")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="papersift-web-bench-") as tmp:
        db = args.db or Path(tmp) / "web.db"
        started = time.perf_counter()
        if not db.exists():
            print(f"building {args.papers:,} papers in {db} ...", file=sys.stderr)
            build_store(db, args.papers)
        build_s = time.perf_counter() - started
        port = free_port()
        server = start_server(db, port)
        try:
            samples = measure(f"http://127.0.0.1:{port}", db, args.queries, random.Random(11))
        finally:
            server.terminate()
            server.wait(10)
    section = report(samples, args.papers, build_s)
    print(section)
    if not args.no_write:
        write_section("Web", section)


if __name__ == "__main__":
    main()
