"""Ranking quality of the daily run: does a reader get the papers of their own sub-area first?

A synthetic reader's library is half of one sub-area of ``../shared/data/catalog-dev.jsonl``
(seven sub-areas, labelled by the reference system); a day of new papers is 10 papers drawn
from each sub-area, the library's excluded (70 papers, 10 of them "relevant": same sub-area).
Each day paper gets a random date in the last week. The store is the whole file. Orders compared,
over every sub-area and three seeds (21 readers), in one run:

- papersift's ranking with its reader model (``papersift.daily.reader``: a linear SVM on TF-IDF,
  the multilingual embedding and the sub-area weighed by the classifier's confidence, trained on
  the store), with and without MMR diversity, without the sub-area, and with the sub-area at full
  weight (as before);
- the anchors: arxiv-sanity-lite's TF-IDF + linear SVM as it ships; the cosine to the library's
  centroid (zotero-arxiv-daily's idea); BM25 (the store's FTS5) with the library's 30 most
  frequent author keywords as the query; recency; and papersift's ranking before the reader
  model (likeness to the nearest library papers).

The sub-area papersift sees is never the file's label: it is papersift's own classifier's
prediction, made out of fold (5 folds: each paper classified by a classifier trained on the
other four fifths), as a store's papers are classified by one trained on other labelled papers.
Relevance is the label, so this feature helps exactly where the bench looks: the row without it
says how much of the figure it is.

precision@10 and nDCG@10 against "same sub-area", p@10 against library size (3, 10, 30), and the
time to train and rank at the daily run's scale beside arxiv-sanity-lite's on the same papers.
The reader model's C, sub-area weight and embedding weight are chosen on a grid (3 × 3 × 2),
averaged over library sizes, of other readers of the same file (other seeds), not on the readers
of the tables; the anchors are as their authors ship them.

    PAPERSIFT_SHARED=../shared python bench/rank.py [--write]   # --write replaces "## Daily ranking" in bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from results import write_section
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from papersift.classify import supervised
from papersift.daily.rank import Interests, label_of, rank
from papersift.daily.reader import EMBEDDING_WEIGHT as READER_WEIGHT
from papersift.daily.reader import TOPIC_WEIGHT as READER_TOPIC
from papersift.daily.reader import C as READER_C
from papersift.daily.reader import Features, ReaderModel
from papersift.models import Paper, Topic
from papersift.search.embeddings import USEEmbedder, paper_text
from papersift.search.hybrid import lexical_ranking
from papersift.sources.files import paper_from_mapping
from papersift.store import Store

ROOT = Path(__file__).resolve().parent.parent
CATALOG = Path(os.environ.get("PAPERSIFT_SHARED") or ROOT.parent / "shared") / "data" / "catalog-dev.jsonl"
PER_AREA = 10
K = 10
SEEDS = (0, 1, 2)
TODAY = date(2026, 11, 29)


def load() -> list[tuple[Paper, str]]:
    rows = [json.loads(line) for line in CATALOG.read_text(encoding="utf-8").splitlines() if line.strip()]
    papers = []
    for row in rows:
        paper = paper_from_mapping({k: v for k, v in row.items() if k != "summary_zh"})
        papers.append((paper.model_copy(update={"id": row["id"]}), row["subcategory_key"]))
    return papers


def precision(relevant: list[bool]) -> float:
    return sum(relevant[:K]) / K


def ndcg(relevant: list[bool], total_relevant: int) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(relevant[:K]) if r)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(K, total_relevant)))
    return dcg / ideal if ideal else 0.0


def split(
    papers: list[tuple[Paper, str]], area: str, seed: int, size: int | None = None
) -> tuple[list[Paper], list[Paper], dict[str, str]]:
    """A reader of ``area``: ``size`` of its papers as library (half of them by default), and a day
    of ``PER_AREA`` papers of every sub-area, the library's left out."""
    rng = random.Random(f"{seed}:{area}")
    by_area: dict[str, list[Paper]] = {}
    for paper, key in papers:
        by_area.setdefault(key, []).append(paper)
    own = by_area[area][:]
    rng.shuffle(own)
    library = own[: size or len(own) // 2]
    kept = {p.id for p in library}
    day: list[Paper] = []
    for _area, members in sorted(by_area.items()):
        pool = [p for p in members if p.id not in kept]
        day += rng.sample(pool, PER_AREA)
    rng.shuffle(day)  # the source's order says nothing
    dated = [p.model_copy(update={"published": TODAY - timedelta(days=rng.randrange(7))}) for p in day]
    return library, dated, {p.id: key for p, key in papers}


def bm25_order(day: list[Paper], library: list[Paper], tmp: Path) -> list[str]:
    counts = Counter(k.casefold() for p in library for k in p.keywords)
    query = " ".join(k for k, _ in counts.most_common(30))
    with Store(tmp / f"bm25-{time.monotonic_ns()}.db") as store:
        ids = [store.upsert(p.model_copy(update={"id": None}))[0] for p in day]
        by_rowid = {
            store.conn.execute("SELECT rowid FROM papers WHERE id = ?", (i,)).fetchone()[0]: p.id
            for i, p in zip(ids, day)
        }
        ranked = [by_rowid[rowid] for rowid, _ in lexical_ranking(store, query, depth=len(day))]
    return ranked + [p.id for p in day if p.id not in ranked]


def centroid_order(day: list[Paper], library: list[Paper], vectors: dict[str, np.ndarray]) -> list[str]:
    """zotero-arxiv-daily's idea: likeness to the library as a whole (the cosine to its mean vector)."""
    centroid = np.mean([vectors[p.id] for p in library], axis=0)
    return [p.id for p in sorted(day, key=lambda p: -float(vectors[p.id] @ centroid))]


def arxiv_sanity_vectorizer() -> TfidfVectorizer:
    """arxiv-sanity-lite's compute.py, with its defaults (-n 20000, --min_df 5, --max_df 0.1)."""
    return TfidfVectorizer(
        input="content",
        encoding="utf-8",
        decode_error="replace",
        strip_accents="unicode",
        lowercase=True,
        analyzer="word",
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
        ngram_range=(1, 2),
        max_features=20_000,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=True,
        max_df=0.1,
        min_df=5,
    )


def arxiv_sanity_order(day: list[Paper], library: list[Paper], store: list[Paper]) -> list[str]:
    """arxiv-sanity-lite as it ships (compute.py, serve.py): TF-IDF of title, abstract and authors,
    one linear SVM (C 0.01, balanced) trained on every paper of the store, the library's as
    positives; ranked by its decision value."""
    documents = [" ".join([p.title or "", p.abstract or "", " ".join(p.authors)]) for p in store]
    x = arxiv_sanity_vectorizer().fit_transform(documents).astype(np.float32)
    kept = {p.id for p in library}
    svm = LinearSVC(class_weight="balanced", max_iter=10_000, tol=1e-6, C=0.01)
    svm.fit(x, [p.id in kept for p in store])
    row = {p.id: i for i, p in enumerate(store)}
    decision = svm.decision_function(x[[row[p.id] for p in day]])
    return [day[i].id for i in np.argsort(-decision, kind="stable")]


def with_predicted_subareas(
    papers: list[tuple[Paper, str]], vectors: dict[str, np.ndarray]
) -> tuple[list[tuple[Paper, str]], float]:
    """Each paper with the sub-area papersift's classifier gives it out of fold, its label kept beside
    it; and the classifier's accuracy."""
    labels = np.array([key for _, key in papers])
    predicted: dict[str, tuple[str, float]] = {}
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(labels, labels):
        examples = [supervised.example(papers[i][0], vectors[papers[i][0].id], labels[i]) for i in train]
        classifier = supervised.train(examples)
        unseen = [papers[i][0] for i in test]
        guesses = classifier.predict([supervised.example(p, vectors[p.id]) for p in unseen])
        predicted.update({p.id: guess for p, guess in zip(unseen, guesses)})
    right = np.mean([predicted[p.id][0] == key for p, key in papers])
    print(f"out-of-fold sub-area accuracy {right:.3f}", file=sys.stderr)
    labelled = [
        (
            p.model_copy(
                update={"topic": Topic(subarea=predicted[p.id][0], origin="model", confidence=predicted[p.id][1])}
            ),
            key,
        )
        for p, key in papers
    ]
    return labelled, float(right)


def learned_order(
    day: list[Paper],
    library: list[Paper],
    store: list[Paper],
    vectors: dict[str, np.ndarray],
    diversity: float,
    **weights: float,
) -> list[str]:
    """papersift's reader model (papersift.daily.reader) in papersift's ranking, with or without MMR."""
    model = ReaderModel.train(store, vectors, {p.id for p in library}, **weights)
    interests = Interests(vectors=np.stack([vectors[p.id] for p in library]), labels=[label_of(p) for p in library])
    picks = rank(day, vectors, interests, top=K, today=TODAY, diversity=diversity, model=model)
    return [pick.paper_id for pick in picks]


def sure_of_every_subarea(store: list[Paper]) -> list[Paper]:
    """The papers with their sub-areas as a source would give them: no confidence to weigh them by."""
    return [p.model_copy(update={"topic": p.topic.model_copy(update={"confidence": None})}) for p in store]


def orders(
    library: list[Paper], day: list[Paper], store: list[Paper], vectors: dict[str, np.ndarray], tmp: Path
) -> dict[str, list[str]]:
    interests = Interests(vectors=np.stack([vectors[p.id] for p in library]), labels=[label_of(p) for p in library])
    return {
        LEARNED: learned_order(day, library, store, vectors, diversity=0.3),
        "papersift reader model, without diversity": learned_order(day, library, store, vectors, diversity=0.0),
        WITHOUT_TOPIC: learned_order(day, library, store, vectors, diversity=0.3, topic_weight=0.0),
        FULL_TOPIC: learned_order(day, library, sure_of_every_subarea(store), vectors, diversity=0.3),
        ARXIV_SANITY: arxiv_sanity_order(day, library, store),
        CENTROID: centroid_order(day, library, vectors),
        "papersift before: likeness + recency + MMR 0.3": [
            pick.paper_id for pick in rank(day, vectors, interests, top=K, today=TODAY)
        ],
        "BM25 over the library's keywords": bm25_order(day, library, tmp),
        "recency order": [p.id for p in sorted(day, key=lambda p: p.published, reverse=True)],
    }


LEARNED = (
    "papersift: reader model (SVM on TF-IDF + embedding + sub-area by the classifier's confidence) + recency + MMR 0.3"
)
FULL_TOPIC = "papersift before: the same, the sub-area at full weight whatever the classifier's confidence"
WITHOUT_TOPIC = "papersift reader model without the sub-area (TF-IDF + embedding) + recency + MMR 0.3"
ARXIV_SANITY = "arxiv-sanity-lite: TF-IDF + linear SVM"
CENTROID = "centroid cosine (zotero-arxiv-daily's idea)"
SIZES = (3, 10, 30)  # library sizes of the growth table (every sub-area has 40 papers or more)


def run(tmp: Path) -> dict:
    papers = load()
    store = [p for p, _ in papers]
    embedder = USEEmbedder.shared()
    started = time.monotonic()
    matrix = embedder.embed([paper_text(p) for p in store])
    print(f"embedded {len(papers)} papers in {time.monotonic() - started:.0f} s", file=sys.stderr)
    vectors = {p.id: matrix[i] for i, p in enumerate(store)}
    papers, subarea_accuracy = with_predicted_subareas(papers, vectors)
    store = [p for p, _ in papers]
    areas = sorted({key for _, key in papers})
    scores: dict[str, dict[int, list[tuple[float, float]]]] = {}  # order -> seed -> per reader
    growth: dict[tuple[str, int], list[float]] = {}  # (order, library size) -> p@10 per reader
    for seed in SEEDS:
        for area in areas:
            library, day, label = split(papers, area, seed)
            for name, order in orders(library, day, store, vectors, tmp).items():
                relevant = [label[i] == area for i in order]
                scores.setdefault(name, {}).setdefault(seed, []).append((precision(relevant), ndcg(relevant, PER_AREA)))
            for size in SIZES:
                library, day, label = split(papers, area, seed, size)
                ranked = orders(library, day, store, vectors, tmp)
                for name in (LEARNED, WITHOUT_TOPIC, ARXIV_SANITY, CENTROID):
                    growth.setdefault((name, size), []).append(precision([label[i] == area for i in ranked[name]]))
    table = {}
    for name, by_seed in scores.items():
        per_seed = [np.mean([s[0] for s in v]) for v in by_seed.values()]
        table[name] = {
            "p@10": float(np.mean(per_seed)),
            "p@10 spread": float(np.std(per_seed)),
            "ndcg@10": float(np.mean([s[1] for v in by_seed.values() for s in v])),
            "readers": sum(len(v) for v in by_seed.values()),
        }
    return {
        "table": table,
        "growth": {f"{n}|{k}": float(np.mean(v)) for (n, k), v in growth.items()},
        "subarea_accuracy": subarea_accuracy,
        "speed": speed(store, vectors),
        "grid": grid(papers, store, vectors),
    }


GRID_C = (0.01, 0.1, 1.0)
GRID_WEIGHT = (0.5, 1.0)  # 0 leaves a library in another language nothing to match; 2.0 lost everywhere before
GRID_TOPIC = (0.0, 0.5, 1.0)
GRID_SIZES = (*SIZES, None)  # None: half the sub-area, the tables' library
TUNING_SEEDS = (10, 11, 12)  # the grid's readers: other libraries and days than the tables'


def grid(papers: list[tuple[Paper, str]], store: list[Paper], vectors: dict[str, np.ndarray]) -> dict[str, float]:
    """p@10 of the reader model (without diversity) for each C, sub-area weight and embedding
    weight, averaged over the library sizes (3, 10, 30 papers and half the sub-area), on readers of
    other seeds than the tables': how its constants are chosen. A reader's library is small before
    it is large, so each size counts the same."""
    areas = sorted({key for _, key in papers})
    nobody = Interests(vectors=np.zeros((0, 1)), labels=[])
    found = {}
    for c in GRID_C:
        for topic in GRID_TOPIC:
            for weight in GRID_WEIGHT:
                hits = []
                for seed in TUNING_SEEDS:
                    for area in areas:
                        for size in GRID_SIZES:
                            library, day, label = split(papers, area, seed, size)
                            model = ReaderModel.train(
                                store,
                                vectors,
                                {p.id for p in library},
                                embedding_weight=weight,
                                topic_weight=topic,
                                c=c,
                            )
                            picks = rank(day, vectors, nobody, top=K, today=TODAY, diversity=0.0, model=model)
                            hits.append(precision([label[p.paper_id] == area for p in picks]))
                found[f"{c}|{topic}|{weight}"] = float(np.mean(hits))
    return found


def speed(store: list[Paper], vectors: dict[str, np.ndarray]) -> dict[str, float]:
    """Seconds to train the reader model and rank 5,000 candidates for a 1,000-paper library, at
    the daily run's scale: its model learns from the library and the store's newest 5,000 papers,
    which are the day's candidates. Beside it, arxiv-sanity-lite's SVM on the same 6,000 papers
    (the catalog's papers repeated under new ids, their vectors with them)."""
    copies = [p.model_copy(update={"id": f"{p.id}~{n}", "published": TODAY}) for n in range(13) for p in store][:6_000]
    copied = {p.id: vectors[p.id.split("~")[0]] for p in copies}
    library, candidates = copies[:1_000], copies[1_000:]
    interests = Interests(vectors=np.stack([copied[p.id] for p in library]), labels=[label_of(p) for p in library])
    started = time.perf_counter()
    _, rows = Features.fit(copies, copied)
    featured = time.perf_counter()
    model = ReaderModel.train(copies, copied, {p.id for p in library})
    trained = time.perf_counter()
    rank(candidates, copied, interests, top=K, today=TODAY, model=model)
    ranked = time.perf_counter()
    arxiv_sanity_order(candidates, library, copies)
    anchor = time.perf_counter() - ranked
    svm_started = time.perf_counter()
    kept = {p.id for p in library}
    LinearSVC(class_weight="balanced", C=READER_C, max_iter=10_000).fit(rows, [p.id in kept for p in copies])
    return {
        "features": featured - started,
        "train": trained - featured,
        "svm": time.perf_counter() - svm_started,
        "rank": ranked - trained,
        "anchor": anchor,
    }


def markdown(result: dict) -> str:
    table, growth = result["table"], result["growth"]
    lines = [
        "## Daily ranking",
        "",
        "`python bench/rank.py --write`: 21 synthetic readers (7 sub-areas of `catalog-dev.jsonl` × 3 seeds),",
        "each with half of one sub-area as library, ranking a day of 70 new papers (10 per sub-area,",
        "random dates within a week); the store is the whole file (481 papers), which the two SVMs",
        "train on. Relevant = same sub-area (10 of 70; a random order scores p@10 ≈ 0.14). Spread:",
        "the standard deviation of p@10 over the 3 seeds. The sub-area papersift's model sees is its own",
        f"classifier's, out of fold (accuracy {result['subarea_accuracy']:.3f} on this file), never the label:",
        "since relevance here is the label, the row without it shows how much of the figure that block is.",
        "",
        "| order | precision@10 | spread | nDCG@10 |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {r['p@10']:.3f} | ±{r['p@10 spread']:.3f} | {r['ndcg@10']:.3f} |" for name, r in table.items()
    ]
    lines += ["", "Precision@10 against the library's size (the same 21 readers):", ""]
    lines += ["| order | " + " | ".join(f"{n} papers" for n in SIZES) + " |", "|---|" + "---|" * len(SIZES)]
    for name in (LEARNED, WITHOUT_TOPIC, ARXIV_SANITY, CENTROID):
        lines.append(f"| {name} | " + " | ".join(f"{growth[f'{name}|{n}']:.3f}" for n in SIZES) + " |")
    lines += [
        "",
        "How the reader model's three constants are chosen: p@10 without diversity, averaged over libraries of 3, 10"
        f" and 30 papers and half the sub-area, on 21 other readers (seeds {', '.join(map(str, TUNING_SEEDS))}: other"
        " libraries and days drawn from the same file), never on the readers of the tables above:",
        "",
        "| C, sub-area weight \\ embedding weight | " + " | ".join(str(w) for w in GRID_WEIGHT) + " |",
        "|---|" + "---|" * len(GRID_WEIGHT),
    ]
    for c in GRID_C:
        for topic in GRID_TOPIC:
            cells = " | ".join(f"{result['grid'][f'{c}|{topic}|{w}']:.3f}" for w in GRID_WEIGHT)
            lines.append(f"| {c}, {topic} | {cells} |")
    chosen = max(result["grid"], key=result["grid"].get)
    lines += [
        "",
        f"Best there: C, sub-area weight, embedding weight = {chosen.replace('|', ', ')}. Shipped: C {READER_C},"
        f" sub-area weight {READER_TOPIC}, embedding weight {READER_WEIGHT} (why, where they differ: the comment"
        " above them in papersift/daily/reader.py). The readers of the tables share the"
        " file with the grid's, so this protects against fitting the tables' libraries, not the file; weight 0 for"
        " the embedding (TF-IDF alone) would leave a library in another language with nothing to match, which is why"
        " it stays in.",
    ]
    best = max(table, key=lambda name: table[name]["p@10"])
    fast = result["speed"]
    total = fast["train"] + fast["rank"]
    lines += [
        "",
        f"Best p@10 in this run: {best}.",
        "",
        f"Speed, a 1,000-paper library and 5,000 candidates (the daily run's scale): the reader model trains in"
        f" {fast['train']:.2f} s (its features, TF-IDF fitted on the 6,000 papers and the blocks beside it,"
        f" {fast['features']:.2f} s of it when timed alone; the SVM alone on those rows {fast['svm']:.2f} s: what a"
        f" retraining on the same papers costs) and ranks in {fast['rank']:.2f} s ({total:.2f} s in all);"
        f" arxiv-sanity-lite's TF-IDF and SVM on the same papers take {fast['anchor']:.2f} s"
        f" ({total / fast['anchor']:.2f}× ours to theirs).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace '## Daily ranking' in bench/RESULTS.md")
    args = parser.parse_args()
    if not CATALOG.exists():
        sys.exit(f"{CATALOG} not found")
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp))
    text = markdown(result)
    print(text)
    if args.write:
        write_section("Daily ranking", text)


if __name__ == "__main__":
    main()
