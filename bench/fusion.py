"""Fusion that knows the query's language, measured on a cross-lingual known-item set.

The store is ../shared/data/catalog-dev.jsonl (803 papers, English abstracts, no cards: nothing
Chinese to match words against), embedded with the packaged encoder. The queries, built by a rule
fixed before any run: every paper's reference problem statement in Chinese (``summary_zh.problem``)
and its author TL;DR in English where it has one; a query finds its paper when the paper is in the
top 10. Each ranking is taken once and fused several ways in the same run: BM25 alone, vectors
alone, papersift's weights (lexical 1.0, vectors 0.5, measured on English judged queries), and the
vectors leading (lexical 0.5, vectors 1.0) for a Chinese query that names nothing in Latin letters:
the rule issue 27 proposed, which measured the same and so is not in papersift.

    python bench/fusion.py --write     # replaces "## Cross-lingual fusion" in bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from results import run_line, write_section

from papersift.config import load_settings
from papersift.search.embeddings import embed_store, get_embedder
from papersift.search.hybrid import RRF_WEIGHTS, lexical_ranking, reciprocal_rank_fusion, vector_ranking
from papersift.sources.base import ingest
from papersift.sources.files import read_jsonl
from papersift.store import Store
from papersift.text import has_cjk

ROOT = Path(__file__).resolve().parent.parent
CATALOG = Path(os.environ.get("PAPERSIFT_SHARED", ROOT.parent / "shared")) / "data" / "catalog-dev.jsonl"
DEPTH = 100
TOP = 10


def queries(rows: list[dict]) -> list[tuple[str, str, str]]:
    """(catalog id, language, query) for every paper: its Chinese problem statement, its English TL;DR."""
    found = []
    for row in rows:
        if problem := (row.get("summary_zh") or {}).get("problem"):
            found.append((row["id"], "zh", problem))
        if row.get("tldr"):
            found.append((row["id"], "en", row["tldr"]))
    return found


def vectors_leading(query: str) -> dict[str, float]:
    """Lexical 0.5, vectors 1.0 for a Chinese query with no name in Latin letters (GRPO, Qwen3)."""
    names = [w for w in re.findall(r"[A-Za-z][\w\-.]*", query) if any(c.isdigit() or c.isupper() for c in w[1:])]
    return {"lexical": 0.5, "vector": 1.0} if has_cjk(query) and not names else RRF_WEIGHTS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the section in bench/RESULTS.md")
    args = parser.parse_args()
    rows = [json.loads(line) for line in CATALOG.read_text(encoding="utf-8").splitlines()]
    methods = {
        "BM25 alone": lambda q: {"lexical": 1.0, "vector": 0.0},
        "vectors alone": lambda q: {"lexical": 0.0, "vector": 1.0},
        "papersift's weights (lexical 1.0, vectors 0.5)": lambda q: RRF_WEIGHTS,
        "vectors leading for a Chinese query naming nothing": vectors_leading,
    }
    found = {name: {"zh": [], "en": []} for name in methods}
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(db=Path(tmp) / "fusion.db")
        with Store(settings.db) as store:
            ingest(store, read_jsonl(CATALOG), where=str(CATALOG), skip_invalid=True)
            embedder = get_embedder(settings)
            embed_store(store, embedder)
            rowid_of = {
                abstract: rowid
                for rowid, abstract in store.conn.execute("SELECT rowid, json_extract(data, '$.abstract') FROM papers")
            }
            for catalog_id, lang, query in queries(rows):
                target = rowid_of.get(next(r["abstract"] for r in rows if r["id"] == catalog_id))
                rankings = {
                    "lexical": lexical_ranking(store, query, DEPTH),
                    "vector": vector_ranking(store, query, DEPTH, embedder),
                }
                for name, weights in methods.items():
                    w = weights(query)  # a method weighed 0 is left out, not appended after the other's hits
                    fused = reciprocal_rank_fusion({m: r for m, r in rankings.items() if w[m] > 0}, weights=w)
                    found[name][lang].append(target in {rowid for rowid, _, _ in fused[:TOP]})
    text = markdown(found)
    print(text)
    if args.write:
        write_section("Cross-lingual fusion", text)
    return 0


def rate(hits: list[bool]) -> str:
    return f"{sum(hits) / len(hits):.1%} ({sum(hits)}/{len(hits)})"


def markdown(found: dict) -> str:
    lines = [
        "## Cross-lingual fusion",
        "",
        run_line() + ".",
        "",
        "Known-item search over catalog-dev.jsonl (803 English abstracts, no cards): each paper's reference "
        "problem statement in Chinese, and its author TL;DR in English where it has one, as the query; "
        f"recall@{TOP} (the paper in the top {TOP}). All rows fuse the same two rankings, taken once.",
        "",
        "| fusion | Chinese queries | English queries |",
        "|---|---|---|",
        *(f"| {name} | {rate(by['zh'])} | {rate(by['en'])} |" for name, by in found.items()),
        "",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
