"""Lexical search at scale: SQLite FTS5 (what papersift runs) beside Tantivy (block-max WAND), in one run.

FTS5 scores every row a query matches and has no top-k pruning; papersift's queries are words
OR-ed, so 2-4 common words match most of a million abstracts. Tantivy, an on-disk Lucene-like
engine with Python bindings on the package index, prunes with block-max WAND: papersift's lexical
index (``search/lexical.py``) holds the same text as FTS5, with the same column weights. Both answer
the same queries, through papersift's own code, for the depth hybrid search asks of its lexical side
(100) and for a page (10), unfiltered and filtered (a sub-area and a date range, as
``bench/search.py``, the allowed papers given to both as the search gives them). Agreement: the share of FTS5's top 10 that Tantivy also
returns in its top 10 (the two tokenisers and score formulas differ a little).

The papers are ``bench/search.py``'s synthetic ones (Zipf vocabulary of ML terms and made-up words).

    python bench/lexical.py --papers 1000000 --write     # replaces "## Lexical search at scale"
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from results import run_line, write_section
from search import SEVEN, TERMS, fill, timed, vocabulary

from papersift.search import Filters
from papersift.search.hybrid import BM25_WEIGHTS, DEPTH, fts_query
from papersift.search.lexical import LexicalIndex, build_index
from papersift.search.selection import EVERY_PAPER, Catalog, Selection
from papersift.sources.base import ingest
from papersift.sources.files import read_jsonl
from papersift.store import Store

CATALOG = (
    Path(os.environ.get("PAPERSIFT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    / "data"
    / "catalog-dev.jsonl"
)


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def fts5(store: Store, query: str, depth: int, allowed: Selection = EVERY_PAPER) -> list[tuple[int, float]]:
    """FTS5's ranking, as papersift runs it below the index's size."""
    return store.bm25_ranking(fts_query(query), depth, BM25_WEIGHTS, allowed.rowids, allowed_is_most=allowed.most)


def indexed(index: LexicalIndex, query: str, depth: int, allowed: Selection = EVERY_PAPER) -> list[tuple[int, float]]:
    """The lexical index's ranking (``search/lexical.py``), as papersift runs it from its size on."""
    return index.ranking(fts_query(query), depth, allowed)


def agreeing(fts: list[tuple[int, float]], deep: list[tuple[int, float]]) -> int:
    """How many of FTS5's top 10 the index ranks in its own top 10, a tie with its 10th counted in
    (generated text ties often: among a few hundred allowed papers, many match one query word once)."""
    scores = dict(deep)
    tenth = deep[min(9, len(deep) - 1)][1] if deep else 0.0
    return sum(scores.get(r, -1.0) >= tenth - 1e-4 for r, _ in fts[:10])


def run(n: int, n_queries: int, directory: Path) -> dict:
    rng = random.Random(0)
    words, p = vocabulary(20_000, rng)
    store = Store(directory / "bench.db")
    result: dict = {"papers": n}
    t = time.perf_counter()
    fill(store, n, words, p)
    result["store_s"] = time.perf_counter() - t  # papers, records, keys and the FTS5 index
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fts_pages = store.conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'papers_fts%'").fetchone()[0]
    result["fts5_mib"] = (fts_pages or 0) / 2**20

    t = time.perf_counter()
    index = build_index(store)
    result["tantivy_build_s"] = time.perf_counter() - t
    result["tantivy_mib"] = index.size_bytes / 2**20

    pool = TERMS[:120] + words[len(TERMS) + 200 : len(TERMS) + 2200]  # bench/search.py's queries
    queries = [" ".join(rng.sample(pool, rng.randint(2, 4))) for _ in range(n_queries)]
    filters = Filters(subarea=SEVEN[1], date_from=date(2024, 6, 1), date_to=date(2025, 3, 31))
    allowed = Catalog("en").allowed(store, filters)

    for depth in (DEPTH, 10):
        result[f"fts5_{depth}"] = timed(lambda q, d=depth: fts5(store, q, d), queries)
    result["fts5_filtered"] = timed(lambda q: fts5(store, q, DEPTH, allowed), queries)
    before = rss_mib()
    for depth in (DEPTH, 10):
        result[f"tantivy_{depth}"] = timed(lambda q, d=depth: indexed(index, q, d), queries)
    result["tantivy_filtered"] = timed(lambda q: indexed(index, q, DEPTH, allowed), queries)
    result["tantivy_rss_mib"] = rss_mib() - before  # its mapped pages touched by the queries, and its heap

    pairs = [(fts5(store, q, 10), indexed(index, q, DEPTH)) for q in queries]
    result["agreement_at_10"] = sum(agreeing(a, b) for a, b in pairs) / max(1, sum(len(a) for a, _ in pairs))
    pairs = [(fts5(store, q, 10, allowed), indexed(index, q, DEPTH, allowed)) for q in queries]
    result["filtered_agreement_at_10"] = sum(agreeing(a, b) for a, b in pairs) / max(1, sum(len(a) for a, _ in pairs))
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store.close()
    return result


def known_items(directory: Path) -> dict:
    """Which engine ranks a paper first for its own author TL;DR (English), over the real
    catalog-dev.jsonl: quality on real text, where the synthetic papers only time the engines."""
    store = Store(directory / "catalog.db")
    ingest(store, read_jsonl(CATALOG), where=str(CATALOG))
    index = build_index(store)
    asked = [
        (paper_id, tldr)
        for paper_id, tldr in store.conn.execute(
            "SELECT id, data ->> '$.tldr' FROM papers WHERE data ->> '$.tldr' IS NOT NULL"
        )
    ]
    rowid = dict(store.conn.execute("SELECT id, rowid FROM papers"))
    found = {"fts5": [0, 0], "tantivy": [0, 0]}  # (first, in the top 10)
    for paper_id, tldr in asked:
        for engine, ranking in (
            ("fts5", fts5(store, tldr, 10)),
            ("tantivy", indexed(index, tldr, 10)),
        ):
            ranks = [r for r, _ in ranking]
            found[engine][0] += bool(ranks) and ranks[0] == rowid[paper_id]
            found[engine][1] += rowid[paper_id] in ranks
    store.close()
    return {"questions": len(asked), **{k: [n / len(asked) for n in v] for k, v in found.items()}}


def markdown(r: dict, n_queries: int) -> str:
    def pair(key: str) -> str:
        return f"{r[key][0]:.1f} / {r[key][1]:.1f}"

    lines = [
        "## Lexical search at scale",
        "",
        run_line(),
        "",
        f"{r['papers']:,} synthetic papers (`bench/search.py`'s generator), {n_queries} queries of 2-4 words OR-ed,",
        "as papersift's search makes them. Latency p50 / p95 in ms, in the same run; the filter is a",
        "sub-area and a date range (about a fortieth of the store).",
        "",
        "| | SQLite FTS5 (papersift below 100,000 papers) | the lexical index, Tantivy (from 100,000) |",
        "|---|---|---|",
        f"| top {DEPTH} (hybrid search's lexical side) | {pair(f'fts5_{DEPTH}')} | {pair(f'tantivy_{DEPTH}')} |",
        f"| top 10 | {pair('fts5_10')} | {pair('tantivy_10')} |",
        f"| top {DEPTH}, filtered | {pair('fts5_filtered')} | {pair('tantivy_filtered')} |",
        f"| index on disk | {r['fts5_mib']:,.0f} MiB (inside the store) | {r['tantivy_mib']:,.0f} MiB |",
        f"| build | {r['store_s']:.0f} s (the whole store: papers, keys, FTS5) | {r['tantivy_build_s']:.0f} s |",
        "",
        f"Agreement: Tantivy's top 10 (ties with its 10th counted in) holds {r['agreement_at_10']:.1%} of FTS5's "
        f"({r['filtered_agreement_at_10']:.1%} filtered). Memory the Tantivy queries added to the process: "
        f"{r['tantivy_rss_mib']:,.0f} MiB; the process's peak {r['peak_rss_mib']:,.0f} MiB.",
    ]
    if known := r.get("known_items"):
        lines += [
            "",
            f"On real text: each of the {known['questions']} papers of catalog-dev.jsonl with an author TL;DR, "
            "searched by that TL;DR (English, OR-ed words) among the file's papers:",
            "",
            "| | FTS5 | Tantivy |",
            "|---|---|---|",
            f"| the paper first | {known['fts5'][0]:.1%} | {known['tantivy'][0]:.1%} |",
            f"| the paper in the top 10 | {known['fts5'][1]:.1%} | {known['tantivy'][1]:.1%} |",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--write", action="store_true", help="replace '## Lexical search at scale' in bench/RESULTS.md")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="lexical-", dir="/work" if Path("/work").is_dir() else None))
    try:
        result = run(args.papers, args.queries, directory)
        if CATALOG.exists():
            result["known_items"] = known_items(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    text = markdown(result, args.queries)
    print(text)
    if args.write:
        write_section("Lexical search at scale", text)


if __name__ == "__main__":
    sys.exit(main())
