"""Ingest benchmark: papers/second and peak memory for 100,000 synthetic records.

Two paths into the store, each at 10,000 and 100,000 records so that memory can be seen to
stay flat as the input grows:

- JSONL: ``papersift.sources.files.read_jsonl`` + ``ingest`` (one file, one transaction);
- arXiv OAI-PMH: ``papersift.sources.oai.sync`` against a loopback server that serves
  ``ListRecords`` pages of 1,000 ``arXivRaw`` records with resumption tokens (delay 0).

Each measurement runs in a fresh subprocess and reports its own peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``), so one run cannot inflate the next. The OAI
server runs in this (parent) process, so its work is not counted in the harvester's memory.

    python bench/ingest.py                     # full run, prints a table and a Markdown block
    python bench/ingest.py --sizes 2000 20000  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from results import write_section

PAGE = 1000
WORDS = (
    "model language attention sparse training data benchmark reasoning agent tool retrieval "
    "alignment scaling token memory latency vision diffusion policy reward graph"
).split()


def synthetic(i: int) -> dict:
    """One record, shaped like a real arXiv paper (title ~80 chars, abstract ~1,100 chars)."""
    rng = random.Random(i)
    words = lambda n: " ".join(rng.choice(WORDS) for _ in range(n))  # noqa: E731
    return {
        "id": f"syn-{i}",
        "arxiv_id": f"{2400 + i // 100000:04d}.{i % 100000:05d}",
        "title": f"{words(8).title()} with $O(n^{rng.randint(1, 3)})$ Cost ({i})",
        "abstract": (words(160) + r" We reach $\nabla$-scores of " + f"{rng.random() * 100:.1f}%."),
        "authors": [f"Author{rng.randint(0, 50000)} Surname{rng.randint(0, 50000)}" for _ in range(rng.randint(1, 6))],
        "keywords": [rng.choice(WORDS) for _ in range(rng.randint(2, 5))],
        "categories": ["cs.CL", rng.choice(["cs.LG", "cs.AI", "cs.CV"])],
        "published": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
    }


def write_jsonl(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps(synthetic(i), ensure_ascii=False) + "\n")


def oai_record(i: int) -> str:
    r = synthetic(i)
    return (
        f"<record><header><identifier>oai:arXiv.org:{r['arxiv_id']}</identifier><datestamp>{r['published']}</datestamp>"
        f'<setSpec>cs:cs:CL</setSpec></header><metadata><arXivRaw xmlns="http://arxiv.org/OAI/arXivRaw/">'
        f"<id>{r['arxiv_id']}</id><submitter>{escape(r['authors'][0])}</submitter>"
        f'<version version="v1"><date>Mon, 6 Jan 2025 18:59:59 GMT</date><size>512kb</size><source_type>D</source_type></version>'
        f"<title>{escape(r['title'])}</title><authors>{escape(', '.join(r['authors']))}</authors>"
        f"<categories>{' '.join(r['categories'])}</categories><comments>12 pages</comments>"
        f"<license>http://creativecommons.org/licenses/by/4.0/</license><abstract>{escape(r['abstract'])}</abstract>"
        f"</arXivRaw></metadata></record>"
    )


def oai_page(start: int, total: int) -> bytes:
    end = min(start + PAGE, total)
    token = (
        f'<resumptionToken cursor="{start}" completeListSize="{total}">{end}</resumptionToken>'
        if end < total
        else f'<resumptionToken cursor="{start}" completeListSize="{total}"/>'
    )
    body = "".join(oai_record(i) for i in range(start, end))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        f'<responseDate>2025-01-08T10:00:00Z</responseDate><request verb="ListRecords">bench</request>'
        f"<ListRecords>{body}{token}</ListRecords></OAI-PMH>"
    ).encode()


def serve_oai(total: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            query = parse_qs(urlsplit(self.path).query)
            body = oai_page(int(query.get("resumptionToken", ["0"])[0]), total)
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the measured part, in a child process -------------------------------------------------


def child(mode: str, source: str, db: str) -> None:
    from papersift.store import Store

    store = Store(db)
    start = time.perf_counter()
    if mode == "jsonl":
        from papersift.sources.base import ingest
        from papersift.sources.files import read_jsonl

        report = ingest(store, read_jsonl(Path(source)), where=source)
    else:
        from papersift.config import NetSettings
        from papersift.sources import oai
        from papersift.sources.http import HttpClient

        with HttpClient(NetSettings(arxiv_oai_url=source, arxiv_delay=0)) as client:
            report = oai.sync(store, client, base_url=source)
    seconds = time.perf_counter() - start
    papers = store.count()
    store.close()
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"stored": report.new, "papers": papers, "seconds": seconds, "maxrss_mib": maxrss_kib / 1024}))


def measure(mode: str, source: str, workdir: Path) -> dict:
    db = workdir / f"{mode}-{time.monotonic_ns()}.db"
    command = [sys.executable, __file__, "--child", mode, source, str(db)]
    out = subprocess.run(command, capture_output=True, text=True)
    for leftover in workdir.glob(db.name + "*"):
        leftover.unlink()
    if out.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["per_second"] = result["stored"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 100_000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true", help="replace '## Ingest, latest run' in bench/RESULTS.md")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    small, large = args.sizes
    rows = []
    with tempfile.TemporaryDirectory(prefix="papersift-bench-") as tmp:
        workdir = Path(tmp)
        for n in (small, large):
            path = workdir / f"records-{n}.jsonl"
            write_jsonl(path, n)
            rows.append(("JSONL", n, measure("jsonl", str(path), workdir)))
            path.unlink()
        for n in (small, large):
            server = serve_oai(n)
            url = f"http://127.0.0.1:{server.server_address[1]}/oai"
            rows.append(("OAI-PMH", n, measure("oai", url, workdir)))
            server.shutdown()
    for kind, n, r in rows:
        assert r["stored"] == n == r["papers"], (kind, n, r)
    text = report(rows, small, large)
    print(text)
    if args.write:
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
        write_section(
            "Ingest, latest run",
            f"## Ingest, latest run\n\n`python bench/ingest.py --write` (load average at the end {load}). {text}\n",
        )


def report(rows: list[tuple[str, int, dict]], small: int, large: int) -> str:
    by = {(kind, n): r for kind, n, r in rows}
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; each row a fresh subprocess and database.",
        "",
        "| input | records | seconds | papers/s | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {kind} | {n:,} | {r['seconds']:.1f} | {r['per_second']:,.0f} | {r['maxrss_mib']:.0f} |"
        for kind, n, r in rows
    ]
    lines.append("")
    for kind in ("JSONL", "OAI-PMH"):
        a, b = by[(kind, small)], by[(kind, large)]
        lines.append(
            f"- {kind}: peak RSS at {large:,} / at {small:,} records = {b['maxrss_mib'] / a['maxrss_mib']:.2f} "
            f"(input {large // small}x larger); speed {large:,} vs {small:,} = {b['per_second'] / a['per_second']:.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
