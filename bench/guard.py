"""Faithfulness guard benchmark: false alarms on reference readings and catches of planted errors.

The same measure as ``papersift eval readings`` (``papersift.evaluate.readings``), over several
seeds, with the CPU time it takes; no LLM is involved. Each reference reading (``summary_zh``,
six fields) is checked against its abstract; then copies with ONE planted error each — a number
changed, a model/dataset/benchmark name swapped for one from another record's abstract, or the
size or version inside a name changed (Qwen2-7B → Qwen2-70B) — are checked, and a copy counts as
caught when the guard reports a violation the unchanged reading did not have.

    PAPERSIFT_SHARED=../shared python bench/guard.py [--seeds 0 1 2 3 4] [--write]   # --write replaces "## Faithfulness guard"
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from results import run_line, write_section  # noqa: E402

from papersift.evaluate import readings  # noqa: E402

REFERENCE = Path(os.environ.get("PAPERSIFT_SHARED") or ROOT.parent / "shared") / "data" / "catalog-dev.jsonl"
KINDS = {"number": "numbers", "name": "names swapped", "name_variant": "name sizes changed"}


def pct(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.2f}%"


def measure(records: list, seed: int) -> dict:
    cpu = time.process_time()
    report = readings.evaluate(records, seed=seed)
    cpu = time.process_time() - cpu
    return {"seed": seed, "cpu_s": cpu, "summary": report.summary({}), "flagged": report.flagged_examples}


def markdown(runs: list[dict], lengths: dict, reference: Path) -> str:
    first = runs[0]["summary"]
    lines = [
        "## Faithfulness guard",
        "",
        f"{run_line()}. Reference: `{reference.name}` ({first['n']} readings). "
        + __doc__.split("\n\n")[1].replace("\n", " "),
        "",
        "| seed | flagged readings | false-alarm rate | planted | caught | catch rate | "
        + " | ".join(KINDS.values())
        + " | CPU s |",
        "|---|---|---|---|---|---|" + "---|" * len(KINDS) + "---|",
    ]
    for run in runs:
        s = run["summary"]
        kinds = " | ".join(
            f"{k['caught']}/{k['planted']} ({pct(k['catch_rate'])})" for k in (s["by_kind"][kind] for kind in KINDS)
        )
        lines.append(
            f"| {run['seed']} | {s['flagged']} | {pct(s['false_alarm_rate'])} | {s['planted']} | {s['planted_caught']} "
            f"| {pct(s['catch_rate'])} | {kinds} | {run['cpu_s']:.2f} |"
        )
    gate = ", ".join(f"{rule} {n}" for rule, n in sorted(first["gate_by_rule"].items())) or "none"
    lines += [
        "",
        "Goals: false alarms < 2%, catches ≥ 95% (`tests/test_eval_readings.py` asserts both on this file).",
        f"The quality gate fails {first['gate_failed']} reference readings ({pct(first['gate_false_alarm_rate'])}; {gate}).",
        f"Lengths of the reference readings: {lengths['mean_chars_per_field']} characters a field, "
        f"{lengths['mean_reading_chars']} a reading.",
        "",
        "The flagged reference readings (the same for every seed), with the guard's reasons:",
        "",
    ]
    for item in runs[0]["flagged"]:
        lines.append(
            f"- `{item['id']}`: "
            + "; ".join(f"{kind} `{value}` in {field}" for kind, field, value in item["violations"])
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference", type=Path, default=REFERENCE, help="reference readings (JSONL with abstract and summary_zh)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="one run per seed")
    parser.add_argument("--write", action="store_true", help="replace '## Faithfulness guard' in bench/RESULTS.md")
    args = parser.parse_args()
    if not args.reference.exists():
        print(f"{args.reference} is missing (set PAPERSIFT_SHARED)", file=sys.stderr)
        return 2
    records = readings.load_reference(args.reference)
    runs = [measure(records, seed) for seed in args.seeds]
    text = markdown(runs, readings.reading_lengths([r.reading for r in records]), args.reference)
    print(text)
    if args.write:
        write_section("Faithfulness guard", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
