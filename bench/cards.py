"""Cards of the configured LLM (the embedded engine by default) on a real day of papers, scored
against the reference digest: how each way of writing a card (``llm.card_mode``) costs and reads.

    python bench/cards.py --modes fields whole --papers 10 --write   # replaces "## Cards" in RESULTS.md

The papers are the bundled May 2025 trending day (src/papersift/data/trending-2025-05.jsonl) that
have a reference digest paragraph in ../shared/data/digest-examples.jsonl (10 of the 19). Per
mode, in a fresh store: enrich them, then report the statuses, the share of the reference
paragraphs' numbers found in the cards (``papersift eval cards``), the median reading-field and
digest lengths, the cards with repeated fields, and the seconds a paper. On this 2-core machine a
real model's figures move with whatever else runs: the load average is written beside them.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from papersift.config import load_settings
from papersift.demo import PAPERS
from papersift.enrich.card_eval import evaluate_store, load_card_references
from papersift.enrich.language import language
from papersift.enrich.pipeline import enrich_papers
from papersift.enrich.quality import card_texts, length
from papersift.sources.base import ingest
from papersift.sources.files import read_jsonl
from papersift.store import Store

from results import write_section

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(os.environ.get("PAPERSIFT_SHARED", ROOT.parent / "shared")) / "data" / "digest-examples.jsonl"
TARGET_FIELD = 63  # characters: the reference reading fields' length (shared/formats.md)


def run_mode(mode: str, papers: int, folder: Path) -> dict:
    settings = load_settings(db=folder / f"{mode}.db", llm={**load_settings().llm.model_dump(), "card_mode": mode,
                                                           "concurrency": 1})
    references = load_card_references(REFERENCE)[:papers]
    with Store(settings.db) as store:
        ingest(store, read_jsonl(PAPERS), where=str(PAPERS))
        ids = [store.resolve(ref.arxiv_id) for ref in references]
        started = time.monotonic()
        report = enrich_papers(store, settings, paper_ids=ids)
        elapsed = time.monotonic() - started
        scores = evaluate_store(store, references, "zh")["overall"]
        lang = language("zh")
        fields = [length(text, lang) for pid in ids if (e := store.enrichment(pid, "zh")) and e.card
                  for name, text in card_texts(e.card).items() if name.startswith("reading.")]
    return {"mode": mode, "papers": len(ids), "report": report, "scores": scores, "seconds": elapsed / max(1, len(ids)),
            "field_median": statistics.median(fields) if fields else None, "model": report.model}


def markdown(rows: list[dict]) -> str:
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "## Cards", "",
        f"`python bench/cards.py`, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores, load average at the end {load}. Model: {rows[0]['model']}. Papers: the bundled "
        "trending day's papers that have a reference digest paragraph; numbers: the share of the reference "
        "paragraphs' numbers the card states (`papersift eval cards`). Goals (issue 12): numbers ≥ 80%, no `ok` "
        f"card with repeated fields, median reading field within 20% of {TARGET_FIELD} characters.", "",
        "| card mode | papers | ok / poor / flagged / failed | numbers found | median reading field | median digest (reference) | cards with repeats (ok ones) | LLM calls | s a paper |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r, s = row["report"], row["scores"]
        recall = f"{s['number_recall']:.0%} ({s['numbers_found']}/{s['numbers_total']})" if s["number_recall"] is not None else "—"
        lines.append(
            f"| {row['mode']} | {row['papers']} | {r.ok} / {r.poor} / {r.flagged} / {r.failed} | {recall} | "
            f"{row['field_median'] or '—'} | {s['median_length'] or '—'} ({s['median_reference_length']}) | "
            f"{s['cards_with_repeats']} ({s['ok_cards_with_repeats']}) | {r.calls} | {row['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["fields", "whole"], choices=["fields", "whole"])
    parser.add_argument("--papers", type=int, default=10, help="how many of the 10 referenced papers")
    parser.add_argument("--write", action="store_true", help="replace '## Cards' in bench/RESULTS.md")
    args = parser.parse_args()
    if not REFERENCE.exists():
        print(f"{REFERENCE} is missing (set PAPERSIFT_SHARED)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:
            rows.append(run_mode(mode, args.papers, Path(tmp)))
            for failure in rows[-1]["report"].failures:  # why, for whoever reads the run
                print(f"{mode}: failed {failure['paper_id']}: {failure['reason'][:300]}", flush=True)
            text = markdown(rows)
            print(text, flush=True)
            if args.write:  # after each mode: a long run cut short still leaves what it measured
                write_section("Cards", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
