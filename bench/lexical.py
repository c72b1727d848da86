"""Lexical search at scale: SQLite FTS5 (what papersift runs) beside Tantivy (block-max WAND), in one run.

FTS5 scores every row a query matches and has no top-k pruning; papersift's queries are words
OR-ed, so 2-4 common words match most of a million abstracts. Tantivy, an on-disk Lucene-like
engine with Python bindings on the package index, prunes with block-max WAND. Both index the same
text (read back from the store's ``papers_fts``: title, abstract, keywords, translated) with the
same column weights and BM25 (k1 1.2, b 0.75), and answer the same queries for the depth hybrid
search asks of its lexical side (100) and for a page (10), unfiltered and filtered (a sub-area and
a date range, as ``bench/search.py``). Agreement: the share of FTS5's top 10 that Tantivy also
returns in its top 10 (the two tokenisers and score formulas differ a little).

The papers are ``bench/search.py``'s synthetic ones (Zipf vocabulary of ML terms and made-up words).

    python bench/lexical.py --papers 1000000 --write     # replaces "## Lexical search at scale"
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from results import run_line, write_section
from search import SEVEN, TERMS, fill, percentiles, vocabulary

from papersift.search import Filters
from papersift.search.hybrid import BM25_WEIGHTS, DEPTH, lexical_ranking
from papersift.search.selection import Catalog
from papersift.store import Store

FIELDS = ("title", "abstract", "keywords", "translated")
EPOCH = date(1970, 1, 1)


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def tantivy_index(store: Store, folder: Path):
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("rowid", stored=True, indexed=True, fast=True)
    for field in FIELDS:
        builder.add_text_field(field, tokenizer_name="default")
    builder.add_text_field("subarea", tokenizer_name="raw")
    builder.add_integer_field("day", indexed=True, fast=True)
    schema = builder.build()
    index = tantivy.Index(schema, path=str(folder))
    writer = index.writer(heap_size=256 * 2**20, num_threads=2)
    rows = store.conn.execute(
        "SELECT f.rowid, f.title, f.abstract, f.keywords, f.translated, p.subarea, p.published"
        " FROM papers_fts f JOIN paper_facets p ON p.rowid = f.rowid"
    )
    for rowid, title, abstract, keywords, translated, subarea, published in rows:
        day = (date.fromisoformat(published) - EPOCH).days if published else -1
        writer.add_document(
            tantivy.Document(
                rowid=rowid,
                title=title,
                abstract=abstract,
                keywords=keywords,
                translated=translated,
                subarea=subarea or "",
                day=day,
            )
        )
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index, schema


def tantivy_search(index, schema, query: str, depth: int, filters: Filters | None = None) -> list[tuple[int, float]]:
    import tantivy

    words = re.findall(r"[^\W_]+", query.lower())
    text = index.parse_query(
        " ".join(f'"{w}"' for w in words), list(FIELDS), field_boosts=dict(zip(FIELDS, BM25_WEIGHTS))
    )
    if filters is not None:
        days = [(d - EPOCH).days for d in (filters.date_from, filters.date_to)]
        text = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, text),
                (tantivy.Occur.Must, tantivy.Query.term_query(schema, "subarea", filters.subarea)),
                (tantivy.Occur.Must, tantivy.Query.range_query(schema, "day", tantivy.FieldType.Integer, *days)),
            ]
        )
    searcher = index.searcher()
    hits = searcher.search(text, depth, count=False).hits
    return [(searcher.doc(address)["rowid"][0], score) for score, address in hits]


def timed(fn, queries: list[str]) -> tuple[float, float]:
    samples = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        samples.append(time.perf_counter() - t)
    return percentiles(samples)


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

    folder = directory / "tantivy"
    folder.mkdir()
    t = time.perf_counter()
    index, schema = tantivy_index(store, folder)
    result["tantivy_build_s"] = time.perf_counter() - t
    result["tantivy_mib"] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20

    pool = TERMS[:120] + words[len(TERMS) + 200 : len(TERMS) + 2200]  # bench/search.py's queries
    queries = [" ".join(rng.sample(pool, rng.randint(2, 4))) for _ in range(n_queries)]
    filters = Filters(subarea=SEVEN[1], date_from=date(2024, 6, 1), date_to=date(2025, 3, 31))
    allowed = Catalog("en").allowed(store, filters)

    for depth in (DEPTH, 10):
        result[f"fts5_{depth}"] = timed(lambda q, d=depth: lexical_ranking(store, q, d), queries)
    result["fts5_filtered"] = timed(lambda q: lexical_ranking(store, q, DEPTH, allowed), queries)
    before = rss_mib()
    for depth in (DEPTH, 10):
        result[f"tantivy_{depth}"] = timed(lambda q, d=depth: tantivy_search(index, schema, q, d), queries)
    result["tantivy_filtered"] = timed(lambda q: tantivy_search(index, schema, q, DEPTH, filters), queries)
    result["tantivy_rss_mib"] = rss_mib() - before  # its mapped pages touched by the queries, and its heap

    agree = filtered_agree = 0
    for q in queries:
        fts = {r for r, _ in lexical_ranking(store, q, 10)}
        agree += len(fts & {r for r, _ in tantivy_search(index, schema, q, 10)})
        fts = {r for r, _ in lexical_ranking(store, q, 10, allowed)}
        filtered_agree += len(fts & {r for r, _ in tantivy_search(index, schema, q, 10, filters)})
    result["agreement_at_10"] = agree / (10 * len(queries))
    result["filtered_agreement_at_10"] = filtered_agree / (10 * len(queries))
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store.close()
    return result


def markdown(r: dict, n_queries: int) -> str:
    def pair(key: str) -> str:
        return f"{r[key][0]:.1f} / {r[key][1]:.1f}"

    lines = [
        run_line(),
        "",
        f"{r['papers']:,} synthetic papers (`bench/search.py`'s generator), {n_queries} queries of 2-4 words OR-ed,",
        "as papersift's search makes them. Latency p50 / p95 in ms, in the same run; the filter is a",
        "sub-area and a date range (about a fortieth of the store).",
        "",
        "| | SQLite FTS5 (papersift today) | Tantivy (block-max WAND) |",
        "|---|---|---|",
        f"| top {DEPTH} (hybrid search's lexical side) | {pair(f'fts5_{DEPTH}')} | {pair(f'tantivy_{DEPTH}')} |",
        f"| top 10 | {pair('fts5_10')} | {pair('tantivy_10')} |",
        f"| top {DEPTH}, filtered | {pair('fts5_filtered')} | {pair('tantivy_filtered')} |",
        f"| index on disk | {r['fts5_mib']:,.0f} MiB (inside the store) | {r['tantivy_mib']:,.0f} MiB |",
        f"| build | {r['store_s']:.0f} s (the whole store: papers, keys, FTS5) | {r['tantivy_build_s']:.0f} s |",
        "",
        f"Agreement: Tantivy's top 10 holds {r['agreement_at_10']:.1%} of FTS5's "
        f"({r['filtered_agreement_at_10']:.1%} filtered). Memory the Tantivy queries added to the process: "
        f"{r['tantivy_rss_mib']:,.0f} MiB; the process's peak {r['peak_rss_mib']:,.0f} MiB.",
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
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    text = markdown(result, args.queries)
    print(text)
    if args.write:
        write_section("Lexical search at scale", text)


if __name__ == "__main__":
    sys.exit(main())
