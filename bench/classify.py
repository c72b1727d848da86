"""Sub-area classifier benchmark: stratified 5-fold cross-validation on the labelled catalog.

The same measure as ``papersift classify --eval``: every fold trains, and picks its base models
by an inner CV, on its own four fifths only. Beside it, on the same folds and text, the plain
baseline a reader would try first (scikit-learn's TF-IDF and linear SVM with their defaults).

    PAPERSIFT_SHARED=../shared python bench/classify.py [--folds 5] [--write]   # --write replaces "## Classification"
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from results import run_line, write_section  # noqa: E402

from papersift.classify import pipeline, supervised  # noqa: E402
from papersift.search.embeddings import USEEmbedder  # noqa: E402
from papersift.sources.base import ingest  # noqa: E402
from papersift.sources.files import read_jsonl  # noqa: E402
from papersift.store import Store  # noqa: E402

REFERENCE = Path(os.environ.get("PAPERSIFT_SHARED") or ROOT.parent / "shared") / "data" / "catalog-dev.jsonl"


def baseline_accuracy(examples: list[supervised.Example], folds: int) -> float:
    labels = np.array([e.label for e in examples])
    texts = [e.text for e in examples]
    correct = 0
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=supervised.SEED).split(texts, labels):
        vectorizer = TfidfVectorizer()
        model = LinearSVC().fit(vectorizer.fit_transform([texts[i] for i in train]), labels[train])
        correct += int((model.predict(vectorizer.transform([texts[i] for i in test])) == labels[test]).sum())
    return correct / len(labels)


def markdown(ours: pipeline.Evaluation, baseline: float, reference: Path, seconds: float) -> str:
    width = max(len(label) for label in ours.labels)
    confusion = "\n".join(
        f"{label:<{width}}  " + " ".join(f"{n:3d}" for n in row) for label, row in zip(ours.labels, ours.confusion)
    )
    return "\n".join(
        [
            "## Classification",
            "",
            f"{run_line()}. `{reference.name}`, {ours.n} papers, {len(ours.labels)} sub-areas. "
            + __doc__.split("\n\n")[1].replace("\n", " "),
            "",
            "| | accuracy | macro-F1 |",
            "|---|---|---|",
            f"| papersift (nested CV; models chosen per fold: {', '.join(ours.chosen)}) | **{ours.accuracy:.3f}** | **{ours.macro_f1:.3f}** |",
            f"| plain TF-IDF + linear SVM (same folds and text) | {baseline:.3f} | – |",
            "",
            f"Confusion (rows true, columns predicted, in the order of the rows); {seconds:.0f} s in all, embedding included:",
            "",
            "```",
            confusion,
            "```",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference", type=Path, default=REFERENCE, help="labelled papers (JSONL with a sub-area label)"
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="replace '## Classification' in bench/RESULTS.md")
    args = parser.parse_args()
    if not args.reference.exists():
        print(f"{args.reference} is missing (set PAPERSIFT_SHARED)", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
        ingest(store, read_jsonl(args.reference), where=str(args.reference))
        examples = pipeline.training_examples(store, USEEmbedder.shared())
    ours = pipeline.cross_validate(examples, folds=args.folds)
    text = markdown(ours, baseline_accuracy(examples, args.folds), args.reference, time.monotonic() - started)
    print(text)
    if args.write:
        write_section("Classification", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
