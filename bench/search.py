"""Search benchmark: a synthetic store of 100,000 papers; build time, latency, size, recall.

The papers are generated: titles, abstracts and keywords drawn from a Zipf-distributed
vocabulary (200 real ML terms and 20,000 made-up words), a random sub-area, venue and date.
Their vectors are *hashed-vocabulary* vectors of the real dimension (512, as multilingual USE):
each word has a fixed Gaussian vector seeded by its CRC32, a paper's vector is the normalised sum
over its words. Papers sharing words therefore lie near each other, as with a real model, and a
query embedded the same way finds them; embedding 100,000 abstracts with USE would take hours
here. Query latency is measured with that hashed embedder and, for hybrid search, also with the
real USE model embedding each query (what a user pays).

Vector search runs through the index (``search/index.py``) and, side by side, as the exact scan of
the float32 matrix; the index's recall@10 is taken against exact search of the stored vectors.

    python bench/search.py --write            # 100,000 papers: replaces "## Search" in bench/RESULTS.md
    python bench/search.py --papers 1000000 --no-exact --json search-1m.json --write
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
import zlib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from results import run_line, write_section
from scipy import sparse

from papersift.models import Paper, Topic
from papersift.search import Filters, search
from papersift.search.embeddings import USEEmbedder, save_vectors
from papersift.search.index import STATE_SOURCE, ensure_index, update_index, vector_searcher
from papersift.search.lexical import lexical_index, lexical_summary
from papersift.store import Store

DIM = 512
CHUNK = 50_000  # papers generated and stored at a time
SEVEN = [
    "instruction-tuning-alignment",
    "reasoning-cot",
    "efficiency-compression",
    "agents-tools",
    "multimodal-foundation",
    "model-architecture",
    "llm-pretraining",
]
TERMS = (
    "model language attention sparse training data benchmark reasoning agent tool retrieval alignment "
    "scaling token memory latency vision diffusion policy reward graph transformer decoding speculative "
    "quantization pruning distillation cache context window instruction preference feedback chain thought "
    "math code planning search web image video audio multimodal encoder decoder mixture experts routing "
    "state space recurrent linear kernel optimizer schedule pretraining corpus filtering contamination "
    "hallucination safety jailbreak robustness calibration uncertainty evaluation leaderboard synthetic "
    "curriculum exploration verifier process outcome grpo ppo dpo rlhf sft lora adapter prompt embedding "
    "tokenizer vocabulary byte positional rotary normalization layer residual depth width compute flops "
    "throughput gpu kernel serving batch inference parallel pipeline shard gradient loss objective "
    "contrastive masked autoregressive generation sampling temperature beam energy flow score noise "
    "denoising latent vae clip caption grounding detection segmentation tracking depth point cloud "
    "robot manipulation navigation embodied simulation environment game reward shaping credit "
    "assignment memory retrieval augmented knowledge graph entity relation question answering summarization "
    "translation multilingual chinese english dialogue persona user simulation tutor medical clinical "
    "legal finance scientific chemistry protein"
).split()


def vocabulary(n_made_up: int, rng: random.Random) -> tuple[list[str], np.ndarray]:
    made_up = {
        "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
        for _ in range(n_made_up * 2)
    }
    words = list(dict.fromkeys([*TERMS, *sorted(made_up)[:n_made_up]]))
    weights = 1.0 / np.arange(1, len(words) + 1) ** 1.07  # Zipf: a few words everywhere, most rare
    return words, weights / weights.sum()


class HashedEmbedder:
    """A word's vector is fixed by its CRC32; a text's is the normalised sum of its words'."""

    name = "bench-hash"

    def __init__(self, words: list[str]):
        self.index = {w: i for i, w in enumerate(words)}
        self.table = np.stack(
            [np.random.default_rng(zlib.crc32(w.encode())).standard_normal(DIM).astype(np.float32) for w in words]
        )

    def counts(self, texts: list[str]) -> sparse.csr_matrix:
        rows, cols = [], []
        for r, text in enumerate(texts):
            for word in text.lower().split():
                if word in self.index:
                    rows.append(r)
                    cols.append(self.index[word])
        return sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(texts), len(self.table)))

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self.counts(texts) @ self.table, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


class UsePricedEmbedder:
    """Embeds each query with USE (to pay its real cost) but answers with the hashed vector the store holds."""

    def __init__(self, use: USEEmbedder, hashed: HashedEmbedder):
        self.use, self.hashed, self.name = use, hashed, hashed.name

    def embed(self, texts: list[str]) -> np.ndarray:
        self.use.embed(texts)
        return self.hashed.embed(texts)


def synthetic_papers(n: int, words: list[str], p: np.ndarray, seed: int, first: int = 0) -> list[Paper]:
    rng = np.random.default_rng(seed)
    draws = rng.choice(len(words), size=(n, 170), p=p)
    start = date(2024, 1, 1)
    papers = []
    for i in range(first, first + n):
        tokens = [words[j] for j in draws[i - first]]
        papers.append(
            Paper(
                source="bench",
                source_id=str(i),
                title=" ".join(tokens[:10]).capitalize(),
                abstract=" ".join(tokens[10:160]).capitalize() + ".",
                keywords=tokens[160:164],
                venue=f"Venue {i % 20}",
                published=start + timedelta(days=int(i % 700)),
                topic=Topic(area="foundation-models", subarea=SEVEN[i % 7], origin="source"),
            )
        )
    return papers


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)) * 1000, float(np.percentile(samples, 95)) * 1000


def timed(fn, queries: list[str]) -> tuple[float, float]:
    samples = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        samples.append(time.perf_counter() - t)
    return percentiles(samples)


def db_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.parent.glob(path.name + "*"))


def fill(store: Store, n: int, words: list[str], p: np.ndarray) -> None:
    """``n`` papers, generated and stored ``CHUNK`` at a time: memory stays flat at a million."""
    for start in range(0, n, CHUNK):
        store.upsert_many(synthetic_papers(min(CHUNK, n - start), words, p, seed=start, first=start))


def embed_range(store: Store, hashed: HashedEmbedder, after_rowid: int) -> dict[int, np.ndarray]:
    """Hashed vectors of every paper past ``after_rowid``, saved a chunk per transaction."""
    written: dict[int, np.ndarray] = {}
    last = after_rowid
    while True:
        rows = store.conn.execute(
            "SELECT rowid, id, title, json_extract(data, '$.abstract'), json_extract(data, '$.keywords') FROM papers"
            " WHERE rowid > ? ORDER BY rowid LIMIT 5000",
            (last,),
        ).fetchall()
        if not rows:
            return written
        vectors = hashed.embed([f"{r[2]} {r[4]} {r[3]}" for r in rows])
        save_vectors(store, hashed.name, [(r[1], "bench", v) for r, v in zip(rows, vectors)])
        if len(written) < 20_000:
            written.update((r[0], v) for r, v in zip(rows, vectors))
        last = rows[-1][0]


def exact_top(store: Store, model: str, queries: np.ndarray, k: int = 10) -> list[set[int]]:
    """The true top ``k`` rowids of each query, scanning the stored vectors a chunk at a time."""
    best = [np.zeros(0, dtype=np.int64)] * len(queries)
    scores = [np.zeros(0, dtype=np.float32)] * len(queries)
    for rowids, blobs in store.vector_chunks(model, 50_000):
        matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
        chunk = queries @ matrix.T
        for i in range(len(queries)):
            s = np.concatenate([scores[i], chunk[i]])
            r = np.concatenate([best[i], np.asarray(rowids, dtype=np.int64)])
            top = np.argsort(-s, kind="stable")[:k]
            best[i], scores[i] = r[top], s[top]
    return [set(b.tolist()) for b in best]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_now() -> dict[str, float]:
    """The peak so far, and the resident memory now split as Linux counts it: anonymous (the
    process's own: arrays, heaps, SQLite's cache) and file-backed (mapped files, such as the lexical
    index and the float16 vectors, which the kernel can drop and read again)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024
    return {"peak": peak_rss_mib(), "anon": fields.get("RssAnon", 0.0), "file": fields.get("RssFile", 0.0)}


def latencies(store: Store, queries: list[str], hashed, use_priced, filters: Filters, exact: bool | None) -> dict:
    return {
        "vector": timed(lambda q: search(store, q, limit=10, mode="vector", embedder=hashed, exact=exact), queries),
        "hybrid": timed(lambda q: search(store, q, limit=10, embedder=hashed, exact=exact), queries),
        "hybrid_filtered": timed(
            lambda q: search(store, q, limit=10, filters=filters, embedder=hashed, exact=exact), queries
        ),
        "hybrid_use": timed(lambda q: search(store, q, limit=10, embedder=use_priced, exact=exact), queries),
    }


def run(n: int, n_queries: int, directory: Path, with_exact: bool) -> dict:
    rng = random.Random(0)
    words, p = vocabulary(20_000, rng)
    hashed = HashedEmbedder(words)
    path = directory / "bench.db"
    store = Store(path)
    result: dict = {"papers": n}

    t = time.perf_counter()
    fill(store, n, words, p)
    result["ingest_s"] = time.perf_counter() - t  # papers, their records and keys, the FTS5 index
    memory = result["memory_mib"] = {"ingest": memory_now()}  # where the peak is reached, phase by phase
    t = time.perf_counter()
    embed_range(store, hashed, 0)
    result["vectors_s"] = time.perf_counter() - t
    memory["vectors"] = memory_now()
    t = time.perf_counter()
    index = ensure_index(store, hashed.name, force=True)
    result["index_s"] = time.perf_counter() - t
    memory["vector index"] = memory_now()
    t = time.perf_counter()
    lexical_index(store)  # from INDEX_FROM papers; a search would otherwise build it first
    result["lexical_index_s"] = time.perf_counter() - t
    result["lexical_engine"] = lexical_summary(store)["engine"]
    memory["lexical index"] = memory_now()
    result["build_s"] = result["ingest_s"] + result["vectors_s"] + result["index_s"] + result["lexical_index_s"]

    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    result["size_mb"] = db_size(path) / 1e6
    result["vector_index_mib"] = index.memory_bytes / 2**20
    result["index_file_mib"] = sum(f.stat().st_size for f in index.folder.iterdir()) / 2**20

    # queries: 2-4 words from the common half of the real terms and the mid-frequency made-up words
    pool = TERMS[:120] + words[len(TERMS) + 200 : len(TERMS) + 2200]
    queries = [" ".join(rng.sample(pool, rng.randint(2, 4))) for _ in range(n_queries)]
    filters = Filters(subarea="reasoning-cot", date_from=date(2024, 6, 1), date_to=date(2025, 3, 31))
    use = USEEmbedder.shared()
    use.embed(["warm up"])
    use_priced = UsePricedEmbedder(use, hashed)
    result["lexical"] = timed(lambda q: search(store, q, limit=10, mode="lexical"), queries)
    result["use_query"] = timed(lambda q: use.embed([q]), queries)
    result["index"] = latencies(store, queries, hashed, use_priced, filters, exact=False)
    memory["queries"] = memory_now()

    qv = hashed.embed(queries)
    truth = exact_top(store, hashed.name, qv)
    found = [{r for r, _ in index.nearest(q, 10)} for q in qv]
    result["vector_recall_at_10"] = sum(len(f & t) for f, t in zip(found, truth)) / (10 * len(queries))
    memory["exact top 10s for recall"] = memory_now()

    # a day's growth: 10,000 more papers with their vectors, and the index brought up to date
    extra = synthetic_papers(10_000, words, p, seed=n + 1, first=n)
    last = store.conn.execute("SELECT max(rowid) FROM papers").fetchone()[0]
    before = store.get_state(STATE_SOURCE, hashed.name)
    t = time.perf_counter()
    store.upsert_many(extra)
    written = embed_range(store, hashed, last)  # the hashed embedding is a sparse product: ~1 s of it
    update_index(store, hashed.name, before, written)
    result["add_10k_s"] = time.perf_counter() - t
    memory["10,000 added"] = memory_now()
    result["peak_rss_mib"] = peak_rss_mib()

    if with_exact:  # today's brute force, side by side: loads the float32 matrix, so last
        t = time.perf_counter()
        matrix = vector_searcher(store, hashed.name, exact=True)
        result["matrix_load_s"] = time.perf_counter() - t
        result["matrix_mib"] = matrix.memory_bytes / 2**20
        result["exact"] = latencies(store, queries, hashed, use_priced, filters, exact=True)
        result["peak_rss_with_exact_mib"] = peak_rss_mib()
    store.close()
    return result


def flat(r: dict) -> dict:
    """The figures issue 27 asks for, under its names."""
    return {
        "papers": r["papers"],
        "hybrid_p50_ms": r["index"]["hybrid_use"][0],
        "hybrid_p95_ms": r["index"]["hybrid_use"][1],
        "filtered_p95_ms": r["index"]["hybrid_filtered"][1],
        "vector_recall_at_10": r["vector_recall_at_10"],
        "vector_index_mib": r["vector_index_mib"],
        "peak_rss_mib": r["peak_rss_mib"],
        "build_s": r["build_s"],
        "add_10k_s": r["add_10k_s"],
    } | {k: v for k, v in r.items() if k not in ("index", "exact")}


def markdown(r: dict, n_queries: int) -> str:
    lat = lambda pair: f"{pair[0]:.1f} / {pair[1]:.1f}"  # noqa: E731
    exact = r.get("exact")
    both = lambda key: f"{lat(exact[key]) if exact else 'not run'} | {lat(r['index'][key])}"  # noqa: E731
    title = "Search" if r["papers"] == 100_000 else f"Search at {r['papers']:,} papers"
    return f"""## {title}

{run_line()}

A synthetic store of {r["papers"]:,} papers (generated text from a Zipf vocabulary of 200 ML terms
and 20,000 made-up words; hashed-vocabulary vectors of dimension {DIM}, the dimension of the default
USE model: see the script's docstring), {n_queries} queries of 2–4 words, limit 10. Latencies in
ms, p50 / p95, taken in the same run; "exact" is the float32 matrix scanned whole (papersift below
20,000 vectors, or `--exact`), "index" the bit-code index with exact rescoring (`search/index.py`);
the exact column is taken last, after the 10,000 papers of the growth row were added.

| | exact p50 / p95 ms | index p50 / p95 ms |
|---|---|---|
| lexical (BM25, {"the lexical index" if r["lexical_engine"] == "tantivy" else "FTS5"}) | {lat(r["lexical"])} | (the same) |
| vector (hashed query vector) | {both("vector")} |
| hybrid (both, weighted RRF) | {both("hybrid")} |
| hybrid with filters (sub-area + date range) | {both("hybrid_filtered")} |
| USE embedding of the query alone | {lat(r["use_query"])} | (the same) |
| hybrid, paying the real USE query embedding | {both("hybrid_use")} |

| measure | value |
|---|---|
| vector recall@10 of the index against exact search | {r["vector_recall_at_10"]:.3f} |
| vectors in memory: index (codes and rowids) | {r["vector_index_mib"]:.0f} MiB |
| vectors in memory: exact float32 matrix | {f"{r['matrix_mib']:.0f} MiB, loaded in {r['matrix_load_s']:.1f} s" if exact else "not run"} |
| index files beside the store (float16 rows, mapped, not read) | {r["index_file_mib"]:.0f} MiB |
| peak memory of the process, index only | {r["peak_rss_mib"]:.0f} MiB |
| build: papers, records, keys and FTS5 | {r["ingest_s"]:.0f} s |
| build: vectors into the `embeddings` table (hashed embedder) | {r["vectors_s"]:.0f} s |
| build: the index, read from the `embeddings` table | {r["index_s"]:.1f} s |
| build: the lexical index ({r["lexical_engine"]}), read from FTS5 | {r["lexical_index_s"]:.1f} s |
| 10,000 papers added with their vectors, index updated in place | {r["add_10k_s"]:.1f} s |
| store on disk | {r["size_mb"]:,.0f} MB |

Memory after each step, MiB: the process's peak so far, then what is resident at that moment,
anonymous (its own) and file-backed (mapped files the kernel can drop):

| after | peak | anonymous | file-backed |
|---|---|---|---|
{memory_rows(r)}
"""


def memory_rows(r: dict) -> str:
    return "\n".join(
        f"| {phase} | {m['peak']:.0f} | {m['anon']:.0f} | {m['file']:.0f} |" for phase, m in r["memory_mib"].items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000, help="size of the synthetic store")
    parser.add_argument("--queries", type=int, default=200, help="queries per mode")
    parser.add_argument("--no-exact", action="store_true", help="leave out the exact matrix (2 GB at a million)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--dir", type=Path, help="build the store here (default: a temporary folder)")
    parser.add_argument("--write", action="store_true", help="replace the section in bench/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        result = run(args.papers, args.queries, Path(tmp), with_exact=not args.no_exact)
    if args.json:
        args.json.write_text(json.dumps(flat(result), indent=1) + "\n", encoding="utf-8")
    text = markdown(result, args.queries)
    print(text)
    if args.write:
        write_section(text.splitlines()[0].removeprefix("## "), text)


if __name__ == "__main__":
    sys.exit(main())
