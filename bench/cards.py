"""Cards of the configured LLM (the embedded engine by default) on a real day of papers, scored
against the reference digest: how each way of writing a card (``llm.card_mode``) costs and reads.

    python bench/cards.py --modes grounded fields whole --papers 10 --catalog 20 --write   # replaces "## Cards"

Two sets of papers: the bundled May 2025 trending day (src/papersift/data/trending-2025-05.jsonl)
that have a reference digest paragraph in ../shared/data/digest-examples.jsonl (10 of the 19), and
``--catalog N`` papers of ../shared/data/catalog-dev.jsonl with their reference six-part readings
(every 24th line, fixed before any run; the grounded mode's role weights were learnt on that file,
so these are not held out for the plan, only for the cards). Per mode and set, in a fresh store:
enrich them, then report the statuses, the share of the references' numbers found in the cards
(``papersift eval cards``), the median reading-field and digest lengths, the cards with repeated
fields, and the seconds a paper. Every ``ok`` card is printed in full, to be read. On this 2-core
machine a real model's figures move with whatever else runs: the load average is written beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from results import write_section

from papersift.checks.language import language
from papersift.checks.quality import card_texts, length
from papersift.config import load_settings
from papersift.demo import PAPERS
from papersift.enrich.pipeline import enrich_papers
from papersift.evaluate.cards import evaluate_store, find_paper, load_card_references
from papersift.sources.base import ingest
from papersift.sources.files import read_jsonl
from papersift.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PAPERSIFT_SHARED", ROOT.parent / "shared")) / "data"
REFERENCE = SHARED / "digest-examples.jsonl"
CATALOG = SHARED / "catalog-dev.jsonl"
CATALOG_STEP = 24
TARGET_FIELD = 63  # characters: the reference reading fields' length (shared/formats.md)


def catalog_sample(folder: Path, n: int) -> Path:
    """Every ``CATALOG_STEP``-th record of the catalog, ``n`` of them, as a JSONL file to ingest and to score against."""
    lines = CATALOG.read_text(encoding="utf-8").splitlines()[::CATALOG_STEP][:n]
    path = folder / "catalog-sample.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(
                {
                    k: v
                    for k, v in json.loads(line).items()
                    if k in ("id", "abstract", "keywords", "tldr", "summary_zh")
                },
                ensure_ascii=False,
            )
            for line in lines
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def run_mode(mode: str, papers: int, folder: Path, catalog: int = 0) -> dict:
    label = f"{mode}-catalog" if catalog else mode
    settings = load_settings(
        db=folder / f"{label}.db", llm={**load_settings().llm.model_dump(), "card_mode": mode, "concurrency": 1}
    )
    source = catalog_sample(folder, catalog) if catalog else PAPERS
    references = load_card_references(source)[:catalog] if catalog else load_card_references(REFERENCE)[:papers]
    with Store(settings.db) as store:
        ingest(store, read_jsonl(source), where=str(source))
        ids = [store.resolve(ref.arxiv_id) if ref.arxiv_id else find_paper(store, ref) for ref in references]
        finished = [time.monotonic()]  # one paper at a time: the gaps between papers are their times
        report = enrich_papers(store, settings, paper_ids=ids, progress=lambda _: finished.append(time.monotonic()))
        per_paper = [b - a for a, b in zip(finished, finished[1:])]
        scores = evaluate_store(store, references, "zh")["overall"]
        lang = language("zh")
        fields = [
            length(text, lang)
            for pid in ids
            if (e := store.enrichment(pid, "zh")) and e.card
            for name, text in card_texts(e.card).items()
            if name.startswith("reading.")
        ]
        for pid in ids:  # every ok card, to be read
            e = store.enrichment(pid, "zh")
            if e and e.status == "ok":
                print(
                    f"--- {label} ok card of {pid}:\n{store.get(pid).abstract}\n{e.card.model_dump_json(indent=1)}",
                    flush=True,
                )
        reasons = [
            f"{pid} {e.status}: " + "; ".join(e.reasons)[:400]
            for pid in ids
            if (e := store.enrichment(pid, "zh")) and e.status != "ok"
        ]
    return {
        "mode": label,
        "papers": len(ids),
        "reasons": reasons,
        "report": report,
        "scores": scores,
        "seconds": statistics.median(per_paper) if per_paper else 0.0,
        "field_median": statistics.median(fields) if fields else None,
        "model": report.model,
    }


def markdown(rows: list[dict]) -> str:
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "## Cards",
        "",
        f"`python bench/cards.py`, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores, load average at the end {load}. Model: {rows[0]['model']}. Papers: the bundled "
        "trending day's papers that have a reference digest paragraph, and (`-catalog` rows) every 24th paper of "
        "catalog-dev.jsonl with its reference reading; numbers: the share of the references' numbers the card "
        "states (`papersift eval cards`). Goals (issue 22): ≥ 80% of the cards `ok`, ≥ 90% of the reference numbers "
        f"found, median reading field 55–70 characters, ≤ 60 s a paper (median). Before the grounded mode "
        "(2026-11-29, same papers): `fields` 6 papers 0 ok / 2 poor / 2 flagged / 2 failed, 113 s a paper; `whole` "
        "3 papers 0 ok / 2 poor / 1 flagged, 227 s a paper.",
        "",
        "| card mode | papers | ok / poor / flagged / failed | numbers found | median reading field | median digest (reference) | cards with repeats (ok ones) | LLM calls | s a paper (median) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r, s = row["report"], row["scores"]
        recall = (
            f"{s['number_recall']:.0%} ({s['numbers_found']}/{s['numbers_total']})"
            if s["number_recall"] is not None
            else "—"
        )
        lines.append(
            f"| {row['mode']} | {row['papers']} | {r.ok} / {r.poor} / {r.flagged} / {r.failed} | {recall} | "
            f"{row['field_median'] or '—'} | {s['median_length'] or '—'} ({s['median_reference_length']}) | "
            f"{s['cards_with_repeats']} ({s['ok_cards_with_repeats']}) | {r.calls} | {row['seconds']:.0f} |"
        )
    held = [f"- {row['mode']}: {reason}" for row in rows for reason in row["reasons"]]
    if held:  # why the others were held back, for whoever reads the run
        lines += ["", "Held back, and why:", "", *held]
    return "\n".join(lines) + "\n\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["grounded"], choices=["grounded", "fields", "whole"])
    parser.add_argument("--papers", type=int, default=10, help="how many of the 10 referenced papers")
    parser.add_argument("--catalog", type=int, default=0, help="also this many papers of catalog-dev.jsonl")
    parser.add_argument("--write", action="store_true", help="replace '## Cards' in bench/RESULTS.md")
    args = parser.parse_args()
    if not REFERENCE.exists():
        print(f"{REFERENCE} is missing (set PAPERSIFT_SHARED)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(mode, 0) for mode in args.modes] + [(mode, args.catalog) for mode in args.modes if args.catalog]
        for mode, catalog in runs:
            rows.append(run_mode(mode, args.papers, Path(tmp), catalog))
            for failure in rows[-1]["report"].failures:  # why, for whoever reads the run
                print(f"{mode}: failed {failure['paper_id']}: {failure['reason'][:300]}", flush=True)
            text = markdown(rows)
            print(text, flush=True)
            if args.write:  # after each mode: a long run cut short still leaves what it measured
                write_section("Cards", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
