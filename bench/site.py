"""Static site benchmark: ``build_site`` over a store of ``--papers`` papers, each with a card.

The papers are bench/ingest.py's synthetic records (title ~80 characters, abstract ~1,100), each
given a sub-area of the default taxonomy and a Chinese card of a real card's length (title, TL;DR,
six reading fields of ~65 characters, keywords, a ~400-character digest paragraph). Reported: the
build's seconds and peak memory, the files and bytes written, the largest page (what a reader's
browser must load at once) and the search index the site's search page loads.

    python bench/site.py                     # 100,000 papers
    python bench/site.py --papers 2000 --no-write
"""

from __future__ import annotations

import argparse
import gzip
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest import synthetic
from results import run_line, write_section

from papersift.models import Card, Enrichment, Paper, Reading, Topic
from papersift.publish.site import build_site
from papersift.store import Store
from papersift.taxonomy import load_taxonomy

FIELD = "在三个数学数据集上，该方法将平均响应长度减少了一半，同时提高了准确率，表明按难度选择思考模式的潜力。"


def card(i: int) -> Card:
    return Card(
        title=f"第 {i} 篇论文的中文标题：按难度选择思考模式",
        tldr=FIELD,
        reading=Reading(**{name: FIELD for name in Reading.model_fields}),
        keywords=["推理", "强化学习", "效率"],
        digest=FIELD * 8,
    )


def fill(store: Store, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    subareas = [(area.key, sub.key) for area in load_taxonomy().areas for sub in area.subareas]
    papers = []
    for i in range(n):
        area, sub = rng.choice(subareas)
        record = synthetic(i)
        papers.append(Paper(source="file", **record, topic=Topic(area=area, subarea=sub)))
    store.upsert_many(papers)
    for i, (paper_id, _) in enumerate(store.abstracts()):
        store.save_enrichment(Enrichment(paper_id=paper_id, lang="zh", status="ok", card=card(i)))


def measure(n: int, folder: Path) -> dict:
    """The store is filled by a child process, so that the peak memory is the build's own."""
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--fill", str(folder / "site.db"), "--papers", str(n)], check=True)
    fill_s = time.perf_counter() - started
    with Store(folder / "site.db") as store:
        started = time.perf_counter()
        report = build_site(store, folder / "site", "zh")
        build_s = time.perf_counter() - started
    pages = [p for p in (folder / "site").rglob("*") if p.is_file() and "static" not in p.parts]
    largest = max(pages, key=lambda p: p.stat().st_size if p.suffix == ".html" else 0)
    index = folder / "site" / "search-index.js"
    return {
        "papers": report.papers,
        "fill_s": fill_s,
        "build_s": build_s,
        "files": report.files,
        "mib": sum(p.stat().st_size for p in pages) / 2**20,
        "largest": largest.relative_to(folder / "site").as_posix(),
        "largest_kib": largest.stat().st_size / 1024,
        "catalog_kib": (folder / "site" / "catalog.html").stat().st_size / 1024,
        "index_mib": index.stat().st_size / 2**20,
        "index_gzip_mib": len(gzip.compress(index.read_bytes())) / 2**20,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def markdown(r: dict) -> str:
    return "\n".join(
        [
            "## Static site",
            "",
            run_line(),
            "",
            f"`build_site` over {r['papers']:,} papers, each with a card (the store filled in {r['fill_s']:.0f} s first).",
            "",
            "| measure | value |",
            "|---|---|",
            f"| build time | {r['build_s']:.0f} s ({r['papers'] / r['build_s']:,.0f} papers/s) |",
            f"| files written, bytes | {r['files']:,} files, {r['mib']:,.0f} MiB |",
            f"| largest HTML page | `{r['largest']}`, {r['largest_kib']:,.0f} KiB |",
            f"| catalog.html (the contents) | {r['catalog_kib']:,.0f} KiB |",
            f"| search index (search-index.js, loaded by search.html) | {r['index_mib']:,.1f} MiB "
            f"({r['index_gzip_mib']:,.1f} MiB gzipped, as a server sends it) |",
            f"| peak memory of the build | {r['peak_rss_mib']:,.0f} MiB |",
            "",
            "Before this layout the catalog was one page of every card: 4 MB at 500 papers, so about 800 MB "
            "at 100,000. Now a topic's page and a day's page hold at most 100 papers each, so no page grows "
            "with the store; the search index does (one row a paper), and it is the one file a reader of "
            "search.html downloads whole. The build holds every paper's view in memory (the catalog and the "
            "digest are built whole before any page is written), which is what its peak memory measures.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--fill", type=Path, help=argparse.SUPPRESS)  # the child that fills the store
    args = parser.parse_args()
    if args.fill:
        with Store(args.fill) as store:
            fill(store, args.papers)
        return
    with tempfile.TemporaryDirectory(prefix="papersift-site-") as tmp:
        result = measure(args.papers, Path(tmp))
    text = markdown(result)
    print(text)
    if not args.no_write:
        write_section("Static site", text)


if __name__ == "__main__":
    main()
