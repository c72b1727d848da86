"""Learn and measure the grounded card's plan: which abstract sentences each reading field is written from.

    python bench/roles.py --write      # measures, replaces "## Card plan" in RESULTS.md, writes enrich/roles.json

Labels come from the shared reference readings (../shared/data/catalog-dev.jsonl): each of a
reading's six Chinese fields is aligned to the abstract sentence (or clause, cut as the product
cuts it) closest to it in meaning by the multilingual sentence encoder. The scorer
(:mod:`papersift.enrich.roles`: position, length, numbers and word unigrams and bigrams; one
logistic regression a field) is measured by 5-fold cross-validation over papers, through the
product's own assignment (:func:`~papersift.enrich.roles.assign`), beside two anchors on the same
folds: the same model with position features only, and reading order alone (the six fields spread
evenly over the sentences, first to last). Then it is fitted on every paper and saved.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from results import run_line, write_section
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

from papersift.enrich.roles import WEIGHTS, RoleModel, assign, clauses, features
from papersift.enrich.sentences import split_sentences
from papersift.models import READING_FIELDS
from papersift.search.embeddings import USEEmbedder

SHARED = Path(os.environ.get("PAPERSIFT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CATALOG = SHARED / "data" / "catalog-dev.jsonl"
MIN_DF = 15  # a term in fewer training sentences than this is no feature
C = 0.1  # chosen by the same cross-validation among 0.1 and 0.5, and MIN_DF among 5, 15 and 40
FOLDS = 5
SEED = 0


def aligned(records: list[dict]) -> list[dict]:
    """Each paper's units and, per field, the unit the reference field is closest to (and how close)."""
    embedder = USEEmbedder.shared()
    papers = []
    for record in records:
        units = clauses(split_sentences(record["abstract"]), len(READING_FIELDS))
        reading = [record["summary_zh"][f] for f in READING_FIELDS]
        vectors = embedder.embed(units + reading)
        sims = vectors[: len(units)] @ vectors[len(units) :].T  # (units, fields)
        papers.append({"units": units, "best": sims.argmax(axis=0), "sim": sims.max(axis=0)})
    return papers


def fit(papers: list[dict], position_only: bool = False) -> RoleModel:
    rows, labels = [], []
    for paper in papers:
        for i, row in enumerate(features(paper["units"])):
            rows.append({k: v for k, v in row.items() if not (position_only and k.startswith("w:"))})
            labels.append([int(paper["best"][f] == i) for f in range(len(READING_FIELDS))])
    counts: dict[str, int] = {}
    for row in rows:
        for name in row:
            counts[name] = counts.get(name, 0) + 1
    names = sorted(n for n, c in counts.items() if c >= MIN_DF or not n.startswith("w:"))
    model = RoleModel(
        {n: i for i, n in enumerate(names)}, np.zeros((len(names), len(READING_FIELDS))), np.zeros(len(READING_FIELDS))
    )
    x, y = model.matrix(rows), np.array(labels)
    for f in range(len(READING_FIELDS)):
        lr = LogisticRegression(C=C, max_iter=3000).fit(x, y[:, f])
        model.weights[:, f], model.bias[f] = lr.coef_[0], lr.intercept_[0]
    return model


def reading_order(n: int) -> list[int]:
    return [round(k * (n - 1) / (len(READING_FIELDS) - 1)) for k in range(len(READING_FIELDS))]


def score(papers: list[dict], choose) -> dict[str, float]:
    """Per field, the share of papers whose aligned unit is the field's first unit, and is among its units."""
    first = np.zeros(len(READING_FIELDS))
    among = np.zeros(len(READING_FIELDS))
    for paper in papers:
        chosen = choose(paper)
        for f in range(len(READING_FIELDS)):
            first[f] += chosen[f][0] == paper["best"][f]
            among[f] += paper["best"][f] in chosen[f]
    return {"first": first / len(papers), "among": among / len(papers)}


def by_plan(model: RoleModel):
    def choose(paper: dict) -> list[tuple[int, ...]]:
        plan = assign(paper["units"], model)
        # the plan cuts the same units as the alignment did (both call clauses on the same sentences)
        return [
            sorted(plan.fields[f].units, key=lambda u: -model.scores(paper["units"])[u, k])
            for k, f in enumerate(READING_FIELDS)
        ]

    return choose


def measure(papers: list[dict]) -> dict[str, dict[str, np.ndarray]]:
    results: dict[str, list[dict]] = {"papersift": [], "position only": [], "reading order": []}
    for train, test in KFold(FOLDS, shuffle=True, random_state=SEED).split(papers):
        training, testing = [papers[i] for i in train], [papers[i] for i in test]
        results["papersift"].append(score(testing, by_plan(fit(training))))
        results["position only"].append(score(testing, by_plan(fit(training, position_only=True))))
        results["reading order"].append(score(testing, lambda p: [(u,) for u in reading_order(len(p["units"]))]))
    return {
        name: {k: np.mean([fold[k] for fold in folds], axis=0) for k in ("first", "among")}
        for name, folds in results.items()
    }


def markdown(papers: list[dict], measured: dict) -> str:
    sims = np.concatenate([p["sim"] for p in papers])
    units = [len(p["units"]) for p in papers]
    header = "| method | " + " | ".join(READING_FIELDS) + " | mean |"
    lines = [
        "## Card plan",
        "",
        run_line() + ".",
        "",
        f"{len(papers)} reference readings (catalog-dev.jsonl), {FOLDS}-fold cross-validation over papers. Each reference "
        "field is aligned to the abstract unit (sentence, or clause where the abstract has fewer than six sentences) "
        f"nearest it by the multilingual sentence encoder: median cosine {np.median(sims):.2f}, "
        f"{np.mean(sims < 0.4):.0%} of fields below 0.4. Units a paper: median {int(np.median(units))}, "
        f"{min(units)}–{max(units)}. A cell is the share of held-out papers whose aligned unit is the one the field is "
        "written from first (its best-scored unit), then, in brackets, among the one or two it is written from.",
        "",
        header,
        "|---|" + "---|" * (len(READING_FIELDS) + 1),
    ]
    for name, m in measured.items():
        cells = [f"{a:.0%} ({b:.0%})" for a, b in zip(m["first"], m["among"])]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {m['first'].mean():.0%} ({m['among'].mean():.0%}) |")
    return "\n".join(lines) + "\n"


def save(model: RoleModel) -> None:
    names = sorted(model.names, key=model.names.get)
    keep = [i for i, n in enumerate(names) if np.abs(model.weights[i]).max() >= 1e-4]
    data = {
        "fields": list(READING_FIELDS),
        "features": [names[i] for i in keep],
        "weights": np.round(model.weights[keep], 4).tolist(),
        "bias": np.round(model.bias, 4).tolist(),
    }
    WEIGHTS.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace '## Card plan' in RESULTS.md and save roles.json")
    args = parser.parse_args()
    if not CATALOG.exists():
        print(f"{CATALOG} is missing (set PAPERSIFT_SHARED)", file=sys.stderr)
        return 2
    records = [json.loads(line) for line in CATALOG.read_text(encoding="utf-8").splitlines() if line.strip()]
    papers = aligned(records)
    text = markdown(papers, measure(papers))
    print(text)
    if args.write:
        write_section("Card plan", text)
        save(fit(papers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
