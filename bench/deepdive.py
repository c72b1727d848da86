"""The deep-dive on the default engine: the Qwen3 technical report (35 pages), read and written.

    python bench/deepdive.py --write      # replaces "## Deep-dive" in bench/RESULTS.md

The report's record comes from the bundled trending day, its PDF from ../shared/data (set
PAPERSIFT_SHARED). The run plans as ``papersift deepdive`` does (:func:`papersift.enrich.deepdive.plan`,
default settings: the embedded engine and its packaged model) in a fresh store, and reports the
minutes of each step kind (headings, sentences) and of the whole, the tokens in and out, the guard's
flags, the points left out, the length, and which of the report's headline facts the article states.
The facts are the ones issue 29 lists for this report, each with the ways a Chinese article writes
it; the list was fixed before the first run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from results import run_line, write_section

from papersift.config import load_settings
from papersift.demo import PAPERS
from papersift.enrich import deepdive as dd
from papersift.publish.article import to_html, to_markdown
from papersift.sources.base import ingest
from papersift.sources.files import read_jsonl
from papersift.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PAPERSIFT_SHARED", ROOT.parent / "shared")) / "data"
PDF = SHARED / "qwen3-technical-report.pdf"
ARXIV_ID = "2505.09388"
FIRST_SCREEN = 30  # lines of the article shown in the results
FACTS = {  # issue 29's headline facts of the report, and how an article may state each
    "model sizes 0.6B–235B": [r"(?:0\.6B|6亿|0\.6 ?亿).*(?:235B|2350亿)|(?:235B|2350亿).*(?:0\.6B|6亿)"],
    "dense and MoE models": [r"(?:稠密|密集|dense).*(?:MoE|混合专家)|(?:MoE|混合专家).*(?:稠密|密集|dense)"],
    "128 experts, 8 activated": [r"128.{0,30}8|8.{0,30}128"],
    "36 trillion pre-training tokens": [r"36 ?万亿|36 ?trillion|36T"],
    "119 languages": [r"119"],
    "thinking and non-thinking modes": [r"非思考"],
    "thinking budget": [r"思考预算|thinking budget"],
    "leading benchmark results (AIME)": [r"AIME.{0,40}\d{2}\.\d|\d{2}\.\d.{0,40}AIME"],
}


def stated(article: str) -> dict[str, bool]:
    flat = " ".join(article.split())
    return {fact: any(re.search(p, flat, re.S) for p in patterns) for fact, patterns in FACTS.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace '## Deep-dive' in bench/RESULTS.md")
    parser.add_argument("--html", type=Path, help="also write the article as HTML here, to look at")
    args = parser.parse_args()
    if not PDF.exists():
        print(f"{PDF} is missing (set PAPERSIFT_SHARED)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        settings, options, notes = dd.plan(load_settings(db=Path(tmp) / "bench.db"))
        with Store(settings.db) as store:
            ingest(store, (p for p in read_jsonl(PAPERS) if p.arxiv_id == ARXIV_ID), where=str(PAPERS))
            stamps = [time.monotonic()]
            dive = dd.deepdive(
                store,
                ARXIV_ID,
                settings,
                options,
                pdf=PDF,
                progress=lambda done, total: stamps.append(time.monotonic()),
            )
            tokens_in, tokens_out = store.conn.execute(
                "SELECT coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0) FROM llm_calls"
            ).fetchone()
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    article = to_markdown(dive)
    facts = stated(article)
    lines = [
        "## Deep-dive",
        "",
        f"{run_line()}. Model: {settings.llm.embedded_model} (context {options.context_tokens}, thinking "
        f"{'off' if not options.thinking_budget else options.thinking_budget}, {dive.mode}). Before (issue 29): "
        "the composed article did not finish on this engine — 15.5 minutes for the first notes call, then a "
        "request over the context window.",
        "",
        *(f"- {note}" for note in notes),
        "",
        "| minutes | steps | s a step (median, max) | LLM calls | tokens in / out | guard flags | points left out | "
        "length (Chinese characters) | headline facts stated |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {(stamps[-1] - stamps[0]) / 60:.1f} | {len(steps)} | {statistics.median(steps):.1f}, {max(steps):.1f} | "
        f"{dive.calls} | {tokens_in} / {tokens_out} | {len(dive.reasons)} | {len(dive.warnings)} | {dive.length} | "
        f"{sum(facts.values())} / {len(facts)} |",
        "",
        "Headline facts: " + "; ".join(f"{fact} {'✓' if ok else '✗'}" for fact, ok in facts.items()) + ".",
        "",
        *(f"- guard: {reason}" for reason in dive.reasons),
        *(f"- warning: {warning}" for warning in dive.warnings),
        "",
        "The first screen of the article (its Markdown, indented so that its headings stay inside this section):",
        "",
        *(f"    {line}".rstrip() for line in article.splitlines()[:FIRST_SCREEN]),
    ]
    text = "\n".join(lines) + "\n\n"
    print(text)
    print(article)
    if args.write:
        write_section("Deep-dive", text)
    if args.html:
        args.html.write_text(to_html(dive), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
