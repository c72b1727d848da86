"""Ask the library, measured: does the evidence hold the paper a question is about (beside plain
dense retrieval, the anchor), how long gathering it takes, and an answer from the embedded model.

    python bench/ask.py --questions 60 --answers 2 --write     # replaces "## Ask" in bench/RESULTS.md

The store is ../shared/data/catalog-dev.jsonl (803 papers), embedded with the packaged encoder.
Questions are known-item: for every ``STEP``-th paper, its reference reading's Chinese problem
statement, and its author TL;DR (English) where it has one; a question is answered when the
paper is among the passages the answer may cite, with a Chinese question also put into English by
the configured model as ``ask`` does (and, beside it, the question alone). The anchor ranks every
abstract by cosine with the question (exact, brute force) and keeps as many. Then ``--answers`` Chinese questions are
asked of the embedded model with four passages, timed and printed to be read. Speed: every question
through ``ask`` with the project's scripted server as the model (what papersift costs around the
model), and gathering the evidence in a synthetic store of ``--scale`` papers (bench/search.py's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import search as bench_search
from results import run_line, write_section

from papersift.ask import MAX_PASSAGES, ask, gather_evidence, in_english
from papersift.config import load_settings
from papersift.llm.client import LLMClient
from papersift.search.embeddings import USEEmbedder, embed_store, get_embedder
from papersift.search.index import ensure_index
from papersift.search.lexical import lexical_index
from papersift.sources.base import ingest
from papersift.sources.files import read_jsonl
from papersift.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.llm_server import ScriptedServer  # noqa: E402  the project's scripted model

ROOT = Path(__file__).resolve().parent.parent
CATALOG = Path(os.environ.get("PAPERSIFT_SHARED", ROOT.parent / "shared")) / "data" / "catalog-dev.jsonl"
STEP = 13  # fixed before any run
OFF_TOPIC = [  # about nothing in an ML library, written before any run
    "如何烤出松软的面包？",
    "2022年世界杯冠军是谁？",
    "怎样给猫剪指甲？",
    "推荐一款适合夏天的防晒霜",
    "What is the capital of France?",
    "How do I fix a flat bicycle tyre?",
    "Which wine goes with grilled salmon?",
    "When does the next solar eclipse happen in Europe?",
]


def questions(rows: list[dict], n: int) -> list[tuple[str, str, str]]:
    """(paper's catalog id, language, question) for every STEP-th paper."""
    asked = []
    for row in rows[::STEP][:n]:
        problem = (row.get("summary_zh") or {}).get("problem")
        if problem:
            asked.append((row["id"], "zh", problem))
        if row.get("tldr"):
            asked.append((row["id"], "en", row["tldr"]))
    return asked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=60, help="papers to ask about")
    parser.add_argument("--answers", type=int, default=2, help="questions asked of the embedded model")
    parser.add_argument("--scale", type=int, default=100_000, help="papers of the synthetic store timed (0: none)")
    parser.add_argument("--write", action="store_true", help="replace '## Ask' in bench/RESULTS.md")
    args = parser.parse_args()
    if not CATALOG.exists():
        print(f"{CATALOG} is missing (set PAPERSIFT_SHARED)", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in CATALOG.read_text(encoding="utf-8").splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(db=Path(tmp) / "ask.db")
        with Store(settings.db) as store:
            ingest(store, read_jsonl(CATALOG), where=str(CATALOG), skip_invalid=True)
            embed_store(store, get_embedder(settings))
            papers = list(store.iter_papers())
            by_abstract = {p.abstract: p.id for p in papers}
            ids = {row["id"]: by_abstract.get(row["abstract"]) for row in rows}
            embedder = get_embedder(settings)
            matrix = embedder.embed([p.abstract or "" for p in papers])
            found = {key: {"zh": [], "en": []} for key in ("papersift", "alone", "dense")}
            seconds = []
            known = questions(rows, args.questions)
            english, translating = asyncio.run(
                in_english_all(settings, store, [q for _, lang, q in known if lang != "en"])
            )
            for catalog_id, lang, question in known:
                started = time.perf_counter()
                passages = gather_evidence(
                    store, question, settings, lang=lang, limit=5, embedder=embedder, english=english.get(question)
                )
                seconds.append(time.perf_counter() - started)
                found["papersift"][lang].append(ids[catalog_id] in {p.paper_id for p in passages})
                alone = gather_evidence(store, question, settings, lang=lang, limit=5, embedder=embedder)
                found["alone"][lang].append(ids[catalog_id] in {p.paper_id for p in alone})
                top = np.argsort(-(matrix @ embedder.embed([question])[0]))[:MAX_PASSAGES]
                found["dense"][lang].append(ids[catalog_id] in {papers[i].id for i in top})
            off_topic = [
                not gather_evidence(store, q, settings, lang="zh" if q[0] > "~" else "en", limit=5, embedder=embedder)
                for q in OFF_TOPIC
            ]
            answers = []
            for catalog_id, _, question in [q for q in questions(rows, args.questions) if q[1] == "zh"][: args.answers]:
                asked = f"{question.rstrip('。')}，这是怎么做到的？"
                answer = ask(store, asked, settings, limit=4)
                answers.append((asked, answer, ids[catalog_id]))
            # with the model: every off-topic question, those with evidence near enough answered by it
            off_answers = [ask(store, q, settings, limit=4) for q in OFF_TOPIC] if args.answers else []
            scripted = scripted_seconds(store, settings, [q for _, _, q in known])
    text = markdown(found, seconds, translating, answers, off_topic) + with_the_model(answers, off_answers)
    text += speed(scripted, retrieval_at_scale(args.scale) if args.scale else None, args.scale)
    print(text)
    if args.write:
        write_section("Ask", text)
    return 0


def echo_first_passage(body: dict) -> str:
    """A scripted model that answers with the first sentence of the first passage it is shown, cited;
    asked for a question's English, a fixed one."""
    asked = body["messages"][-1]["content"]
    if asked.startswith("Translate this question"):
        return "How does the proposed method work, and what does it achieve?"
    passage = re.search(r"Text: (.+?[.!?])(?:\s|$)", asked, re.S)
    return f"{passage[1]} [1]" if passage else "NOT_FOUND"


def scripted_seconds(store: Store, settings, questions: list[str]) -> list[float]:
    """Seconds each question takes through `ask` with the project's scripted server as the model
    (no latency injected): what papersift itself costs around the model's answer."""
    with ScriptedServer(responder=echo_first_passage) as server:
        scripted = settings.model_copy(
            update={
                "llm": settings.llm.model_copy(
                    update={"backend": "openai", "base_url": server.base_url, "model": "scripted"}
                )
            }
        )
        return [ask(store, q, scripted, limit=4).seconds for q in questions]


def retrieval_at_scale(n: int) -> tuple[float, float]:
    """p50 / p95 ms of gathering the evidence in a synthetic store of ``n`` papers (bench/search.py's:
    hashed-vocabulary vectors, their index and the lexical index), paying the real USE embedding of
    each question; 100 questions of 2-4 of its words, after one that opens the indexes."""
    rng = random.Random(0)
    words, p = bench_search.vocabulary(20_000, rng)
    hashed = bench_search.HashedEmbedder(words)
    priced = bench_search.UsePricedEmbedder(USEEmbedder.shared(), hashed)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(db=Path(tmp) / "scale.db")
        with Store(settings.db) as store:
            bench_search.fill(store, n, words, p)
            bench_search.embed_range(store, hashed, 0)
            ensure_index(store, hashed.name, force=True)
            lexical_index(store)
            pool = words[200:2200]
            questions = [" ".join(rng.sample(pool, rng.randint(2, 4))) for _ in range(100)]
            gather_evidence(store, "warm up", settings, lang="en", limit=5, embedder=priced)  # opens the indexes
            samples = []
            for q in questions:
                started = time.perf_counter()
                gather_evidence(store, q, settings, lang="en", limit=5, embedder=priced)
                samples.append(time.perf_counter() - started)
    return float(np.percentile(samples, 50)) * 1000, float(np.percentile(samples, 95)) * 1000


def speed(scripted: list[float], at_scale: tuple[float, float] | None, n: int) -> str:
    lines = [
        "### Speed",
        "",
        "| measure | value |",
        "|---|---|",
        f"| seconds a question with the scripted model (evidence, one call, the checks; {len(scripted)} questions), "
        f"median / p95 | {statistics.median(scripted):.2f} / {np.percentile(scripted, 95):.2f} |",
    ]
    if at_scale:
        lines.append(
            f"| gathering the evidence at {n:,} papers (synthetic store, real query embedding), p50 / p95 ms "
            f"(goal < 200) | {at_scale[0]:.0f} / {at_scale[1]:.0f} |"
        )
    return "\n".join(lines) + "\n"


async def in_english_all(settings, store: Store, texts: list[str]) -> tuple[dict[str, str | None], list[float]]:
    """Each question in the configured model's English (as `ask` puts it), and the seconds each took."""
    english, seconds = {}, []
    async with LLMClient.from_settings(settings, store=store) as client:
        for text in texts:
            started = time.perf_counter()
            english[text] = await in_english(client, text)
            seconds.append(time.perf_counter() - started)
    return english, seconds


def with_the_model(answers: list, off_answers: list) -> str:
    """What the answers of the embedded model come to: how many cite the paper asked about, how
    many sentences the guard dropped, and whether off-topic questions end ``not_found``."""
    if not answers:
        return ""
    answered = [(a, pid) for _, a, pid in answers if a.citations]
    cites = [pid in {c.paper_id for c in a.citations} for a, pid in answered]
    statuses = " / ".join(f"{sum(a.status == s for _, a, _ in answers)} {s}" for s in ("ok", "partial", "not_found"))
    lines = [
        f"### With the embedded model ({answers[0][1].model}), {len(answers)} known-item questions in Chinese",
        "",
        "| measure | value |",
        "|---|---|",
        f"| status | {statuses} |",
        f"| answers with citations that cite the paper asked about (citation accuracy) | {rate(cites)} |",
        f"| sentences dropped by the guard (all answers) | {sum(len(a.dropped) for _, a, _ in answers)} |",
        f"| seconds a question, median | {statistics.median(a.seconds for _, a, _ in answers):.0f} |",
        f"| off-topic questions ending `not_found` (the model asked where evidence was near) | "
        f"{rate([a.status == 'not_found' for a in off_answers])} |",
        "",
    ]
    return "\n".join(lines) + "\n"


def rate(hits: list[bool]) -> str:
    return f"{sum(hits) / len(hits):.0%} ({sum(hits)}/{len(hits)})" if hits else "—"


def markdown(found: dict, seconds: list[float], translating: list[float], answers: list, off_topic: list[bool]) -> str:
    lines = [
        "## Ask",
        "",
        run_line() + ".",
        "",
        f"Known-item questions over catalog-dev.jsonl (803 papers): is the paper among the passages the answer may cite "
        f"(papersift: `gather_evidence`, 5 papers from the hybrid search for the question and 5 for its English "
        f"where it is not in English, passages ranked by meaning; anchor: the {MAX_PASSAGES} abstracts nearest the "
        "question by exact cosine)? The English is the configured model's, as `ask` asks for it.",
        "",
        "| questions | papersift | papersift, the question alone | dense anchor |",
        "|---|---|---|---|",
        *(
            f"| {lang} | {rate(found['papersift'][lang])} | {rate(found['alone'][lang])} | {rate(found['dense'][lang])} |"
            for lang in ("zh", "en")
        ),
        "",
        f"Gathering the evidence (search, then embedding the candidates' passages): median "
        f"{statistics.median(seconds) * 1000:.0f} ms, p95 {np.percentile(seconds, 95) * 1000:.0f} ms "
        f"over {len(seconds)} questions. Putting a question into English: median "
        f"{statistics.median(translating):.1f} s, p95 {np.percentile(translating, 95):.1f} s over {len(translating)}.",
        "",
        f"Off-topic questions (baking, football, a cat, sun cream, geography, a bicycle, wine, an eclipse) with no "
        f"passage near enough to go to the model, so `not_found` without asking it: {rate(off_topic)}. Those that "
        "reach the model depend on it saying NOT_FOUND (measured with the model below, where `--answers` asks it).",
    ]
    for question, answer, paper_id in answers[:3]:  # the first three in full, to be read
        cited = [c.paper_id for c in answer.citations]
        lines += [
            "",
            f"Embedded model ({answer.model}), {len(cited)} citations, {answer.seconds:.0f} s, status "
            f"`{answer.status}`{', cites the paper asked about' if paper_id in cited else ''}:",
            "",
            f"> Q: {question}",
            ">",
            f"> A: {answer.answer or answer.reason}",
            *([f">\n> Left out: {'; '.join(answer.dropped)}"] if answer.dropped else []),
        ]
    return "\n".join(lines) + "\n\n"


if __name__ == "__main__":
    sys.exit(main())
