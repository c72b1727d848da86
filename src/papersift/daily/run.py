"""``papersift daily``: the whole chain, one run a day, safe to repeat and to kill.

fetch every source → embed → classify → rank the papers new since the last digest → enrich the
new and the stale → write the synthesis → compose and store the digest → deliver it on every
channel. A lock file beside the database keeps two runs from overlapping. Each stage reports
its own failure and the run goes on; the report says whether anything failed.

Why it delivers exactly once: the digest, its pending deliveries and the cursor past its papers
are written in one transaction. A run killed before that point composes the same digest again
(the LLM cache makes the repeated calls free); killed after it, the next run finds no new
papers and sends only the deliveries still pending. A delivery is marked sent right after the
channel accepts it; a kill between a server's acceptance and that mark (milliseconds) is the one
case that sends again, and then with the same Message-ID / Idempotency-Key, so that the receiver
can tell.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from ..classify.pipeline import classify_store
from ..classify.supervised import TrainingError
from ..config import Settings, config_relative
from ..deliver import ChannelConfig, DeliveryContext, make_channels
from ..enrich.card_prompt import source_hash, source_text
from ..enrich.pipeline import Selection, enrich_papers_async
from ..llm.client import LLMClient
from ..models import Paper
from ..publish.view import iter_views
from ..search.embeddings import (
    Embedder,
    EmbeddingError,
    content_hash,
    embed_store,
    get_embedder,
    paper_text,
    to_blob,
    vectors_for,
)
from ..store import Store
from ..taxonomy import Labeller, load_taxonomy
from . import picks_digest as digests
from .fetch import check_sources, run_source, source_name
from .library import Library, read_library
from .rank import Interests, Pick, excluded, label_of, rank
from .reader import ReaderModel
from .synthesis import Synthesis, write_synthesis

RUN_KIND = "daily"
COLD_START = (
    "cold start: no library and no starred paper to learn what you read, so keyword and author alerts and"
    " recency order the picks; to leave it, list a BibTeX, RIS or Zotero export in daily.interests.library,"
    " or star 5 papers (papersift feedback REF up, or the star in the web app)"
)
BACKGROUND = 5_000  # the newest papers of the store a reader model learns "not chosen" from
DISMISS_WINDOW = 14  # the latest digests whose picks, passed over, the reader model learns from
LIBRARY_PREFIX = "library:"  # embeddings rows of library papers, keyed by their text's hash

Progress = Callable[[str], None]


@dataclass
class DailyReport:
    dry_run: bool = False
    sources: list[dict[str, Any]] = field(default_factory=list)
    embedded: int = 0
    classified: int = 0
    enriched: dict[str, int] = field(
        default_factory=lambda: {"ok": 0, "poor": 0, "flagged": 0, "failed": 0, "stale": 0}
    )
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    considered: int = 0  # new papers ranked
    digest_id: int | None = None
    picks: list[dict[str, Any]] = field(default_factory=list)
    synthesis: str = "off"
    synthesis_note: str | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def failed(self) -> bool:
        return (
            bool(self.errors)
            or any(s.get("error") for s in self.sources)
            or any(d["status"] == "failed" for d in self.deliveries)
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failed": self.failed, "elapsed": round(self.elapsed, 2), "cost": round(self.cost, 6)}


def prepare(settings: Settings) -> tuple[list[ChannelConfig], Library]:
    """Check the whole ``[daily]`` configuration before anything runs; a ``ValueError`` names the bad entry."""
    check_sources(settings.daily.sources)
    channels = make_channels(settings.daily.deliver)
    library = read_library([config_relative(p) for p in settings.daily.interests.library])
    return channels, library


# --- interests: library, stars, hides --------------------------------------------------------


def _library_vectors(
    store: Store, embedder: Embedder, library: Library, report: DailyReport
) -> tuple[list[np.ndarray], list[str], list[str]]:
    """The library's vectors and labels (files first, then its papers found in the store), and the
    ids of those stored papers."""
    texts = {content_hash(paper_text(p)): (paper_text(p), label_of(p)) for p in library.papers}
    keys = [LIBRARY_PREFIX + h for h in texts]
    known = vectors_for(store, keys, embedder.name)
    missing = [h for h in texts if LIBRARY_PREFIX + h not in known]
    if missing:
        fresh = embedder.embed([texts[h][0] for h in missing])
        store.save_vectors(embedder.name, [(LIBRARY_PREFIX + h, h, to_blob(v)) for h, v in zip(missing, fresh)])
        known.update({LIBRARY_PREFIX + h: v for h, v in zip(missing, fresh)})
    vectors, labels = [known[LIBRARY_PREFIX + h] for h in texts], [label for _, label in texts.values()]
    stored, absent = [], []
    for arxiv_id in library.arxiv_ids:
        try:
            stored.append(store.resolve(f"arxiv:{arxiv_id}"))
        except KeyError:
            absent.append(arxiv_id)
    if absent:
        report.notes.append(
            f"{len(absent)} library arXiv id(s) not in the store, left out of the likeness "
            f"(fetch them with: papersift ingest arxiv --ids {','.join(absent[:20])})"
        )
    found = vectors_for(store, stored, embedder.name)
    for paper_id in stored:
        if paper_id in found:
            vectors.append(found[paper_id])
            labels.append(label_of(store.get(paper_id)))
    return vectors, labels, stored


def reader_model(
    store: Store,
    embedder: Embedder,
    library: Library,
    interests: Interests,
    papers: list[Paper],
    vectors: dict[str, np.ndarray],
) -> ReaderModel | None:
    """This run's model of the reader (:mod:`.reader`): the library (files and stored papers), the
    stars and the papers read as positives, the hides and the earlier picks passed over as
    negatives, and the newest ``BACKGROUND`` papers of the store with today's as the papers not
    chosen. None while there is nothing to learn from."""
    from_files = {LIBRARY_PREFIX + content_hash(paper_text(p)): p for p in library.papers}
    kept, hidden = [*interests.kept_ids, *store.read_papers()], interests.hidden_ids
    today = {p.id for p in papers}
    dismissed = [pid for pid in dismissed_picks(store) if pid not in today]
    corpus = {p.id: p for p in store.iter_papers(order="rowid DESC", limit=BACKGROUND)}
    corpus.update({p.id: p for p in papers})
    for paper_id in [*kept, *hidden, *dismissed]:
        if paper_id not in corpus and store.has_paper(paper_id):
            corpus[paper_id] = store.get(paper_id)
    corpus.update({key: p.model_copy(update={"id": key}) for key, p in from_files.items()})
    known = vectors_for(store, [i for i in corpus if i not in vectors], embedder.name)
    return ReaderModel.train(list(corpus.values()), {**known, **vectors}, [*from_files, *kept], hidden, dismissed)


def dismissed_picks(store: Store) -> list[str]:
    """The picks of the latest ``DISMISS_WINDOW`` digests that the reader neither starred, read nor
    hid: shown, and passed over."""
    shown = list(dict.fromkeys(p.view.id for d in digests.recent_digests(store, DISMISS_WINDOW) for p in d.papers))
    marks = store.marks_of(shown)
    return [pid for pid in shown if not any(marks.get(pid, {}).get(k) for k in ("starred", "read", "hidden"))]


def interests_for(
    store: Store, embedder: Embedder, library: Library, settings: Settings, report: DailyReport
) -> Interests:
    """The reader's interests as vectors: library files, plus starred papers; hidden papers count against."""
    vectors, labels, stored = _library_vectors(store, embedder, library, report)
    starred, hidden = store.starred_papers(), store.hidden_papers()
    found = vectors_for(store, starred + hidden, embedder.name)
    for paper_id in starred:
        if paper_id in found:
            vectors.append(found[paper_id])
            labels.append(f"{label_of(store.get(paper_id))} (starred)")
    hidden_vectors = [found[p] for p in hidden if p in found]
    config = settings.daily.interests
    return Interests(
        vectors=np.stack(vectors) if vectors else np.zeros((0, 1), dtype=np.float32),
        labels=labels,
        hidden=np.stack(hidden_vectors) if hidden_vectors else None,
        kept_ids=[*stored, *starred],
        hidden_ids=hidden,
        keywords=config.keywords,
        authors=config.authors,
        exclude=config.exclude,
    )


# --- the stages ---------------------------------------------------------------------------------


def new_papers(store: Store, after_rowid: int, library: Library) -> tuple[list[Paper], int]:
    """Papers stored after ``after_rowid`` that the reader neither hid nor has; and the newest rowid seen."""
    hidden = set(store.hidden_papers())
    owned = library.keys()
    rows = store.papers_after(after_rowid)
    fresh = [p for _, p in rows if p.id not in hidden and not owned.intersection(p.dedup_keys()) and not p.withdrawn]
    return fresh, max((rowid for rowid, _ in rows), default=after_rowid)


def stale_cards(store: Store, lang: str) -> list[str]:
    """Papers whose card was written from another text than the paper has now (a new version changed it)."""
    return [
        paper_id
        for paper_id, recorded, paper in store.card_sources(lang)
        if recorded != source_hash(source_text(paper))
    ]


def _fetch(store: Store, settings: Settings, report: DailyReport, progress: Progress) -> None:
    for i, spec in enumerate(settings.daily.sources):
        progress(f"fetching {source_name(spec, i)}")
        report.sources.append(run_source(spec, i, settings, store).as_dict())


def _fetch_library(store: Store, settings: Settings, library: Library, report: DailyReport, progress: Progress) -> None:
    """Library arXiv ids the store lacks are fetched from arXiv (they are the reader's: never delivered)."""
    missing = []
    for arxiv_id in library.arxiv_ids:
        try:
            store.resolve(f"arxiv:{arxiv_id}")
        except KeyError:
            missing.append(arxiv_id)
    if missing:
        progress(f"fetching {len(missing)} library paper(s) from arXiv")
        spec = {"type": "arxiv", "name": "library", "ids": missing}
        report.sources.append(run_source(spec, len(settings.daily.sources), settings, store).as_dict())


def _embed_and_classify(
    store: Store, embedder: Embedder, settings: Settings, report: DailyReport, progress: Progress
) -> None:

    progress("embedding")
    embedded = embed_store(store, embedder)
    report.embedded = embedded.embedded
    report.errors += [f"embed: {e}" for e in embedded.errors]
    progress("classifying")
    try:
        report.classified = classify_store(store, load_taxonomy(settings), embedder).classified
    except TrainingError as exc:
        report.notes.append(f"classify skipped: {exc}")
    except Exception as exc:  # classification is an aid to reading, never a reason to stop the digest
        report.errors.append(f"classify: {type(exc).__name__}: {exc}")


def _enrich(
    store: Store, settings: Settings, paper_ids: list[str], stale: list[str], report: DailyReport, progress: Progress
) -> None:

    report.enriched["stale"] = len(stale)
    for ids, force in ((paper_ids, False), (stale, True)):
        if not ids:
            continue
        progress(f"enriching {len(ids)} {'stale' if force else 'new'} paper(s)")
        try:
            result = asyncio.run(
                enrich_papers_async(store, settings, selection=Selection(paper_ids=sorted(ids)), force=force)
            )
        except Exception as exc:
            report.errors.append(f"enrich: {type(exc).__name__}: {exc}")
            continue
        for status in ("ok", "poor", "flagged", "failed"):
            report.enriched[status] += getattr(result, status)
        report.tokens_in += result.tokens_in
        report.tokens_out += result.tokens_out
        report.cost += result.cost


def _synthesis(
    store: Store, settings: Settings, papers: list[Paper], report: DailyReport, progress: Progress
) -> Synthesis:
    if not settings.daily.synthesis or not papers:
        return Synthesis(status="off")

    progress("writing the synthesis")

    async def write() -> Synthesis:
        client = LLMClient.from_settings(settings, store=store)
        try:
            return await write_synthesis(client, papers, settings.llm.lang)
        finally:
            report.tokens_in += client.usage.tokens_in
            report.tokens_out += client.usage.tokens_out
            report.cost += client.usage.cost
            await client.aclose()

    try:
        return asyncio.run(write())
    except Exception as exc:  # e.g. the backend cannot start: the digest goes out without an overview
        return Synthesis(status="left_out", note=f"the overview could not be written: {type(exc).__name__}: {exc}")


def _views(store: Store, settings: Settings, picks: list[Pick]):
    ids = [p.paper_id for p in picks]
    if not ids:
        return {}
    labeller = Labeller(settings.llm.lang, settings)
    return {v.id: v for v in iter_views(store, settings.llm.lang, labeller, ids=ids)}


def deliver_pending(
    store: Store,
    settings: Settings,
    channels: list[ChannelConfig],
    report: DailyReport,
    progress: Progress,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Send every delivery not sent yet on the channels configured now, retrying each a few times."""
    by_name = {c.name: c for c in channels}
    context = DeliveryContext(
        store=store, settings=settings, recent_digests=lambda limit: digests.recent_digests(store, limit)
    )
    for digest_id, name, earlier in store.pending_deliveries():
        config = by_name.get(name)
        if config is None:
            report.notes.append(f"digest {digest_id}: channel {name!r} is no longer configured; not sent")
            continue
        digest = digests.digest_by_id(store, digest_id)
        progress(f"delivering digest {digest_id} by {name}")
        error, tries = None, 0
        for tries in range(1, config.attempts + 1):
            try:
                config.send(digest, context)
                error = None
                break
            except Exception as exc:
                error = str(exc) or type(exc).__name__
                if tries < config.attempts:
                    sleep(config.retry_delay * 2 ** (tries - 1))
        store.record_delivery(digest_id, name, error, tries)
        report.deliveries.append(
            {
                "digest_id": digest_id,
                "channel": name,
                "status": "failed" if error else "sent",
                "attempts": earlier + tries,
                "error": error,
            }
        )


def _picks(
    store: Store,
    embedder: Embedder,
    library: Library,
    settings: Settings,
    papers: list[Paper],
    report: DailyReport,
    today: date,
) -> list[Pick]:
    interests = interests_for(store, embedder, library, settings, report)
    config = settings.daily.interests
    vectors = vectors_for(store, [p.id for p in papers], embedder.name)
    unembedded = [p for p in papers if p.id not in vectors]  # a dry run stores nothing: embed them in memory
    if unembedded:
        try:
            vectors.update(zip([p.id for p in unembedded], embedder.embed([paper_text(p) for p in unembedded])))
        except EmbeddingError as exc:
            report.errors.append(f"embed: {exc}")
    model = reader_model(store, embedder, library, interests, papers, vectors)
    if model is None and not interests.has_library:
        report.notes.append(COLD_START)
    rules = Counter(term for p in papers for term in excluded(p, interests))
    if rules:
        fired = ", ".join(f"{term!r} ({n})" for term, n in rules.most_common())
        report.notes.append(f"left out by daily.interests.exclude: {fired}")
    return rank(
        papers,
        vectors,
        interests,
        top=config.top,
        today=today,
        diversity=config.diversity,
        recency_days=config.recency_days,
        model=model,
    )


def run_daily(
    settings: Settings,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    today: date | None = None,
    embedder: Embedder | None = None,
) -> DailyReport:
    """One daily run (see the module docstring). Raises ``ValueError`` for a bad configuration and
    :class:`~papersift.store.JobRunning` when another run holds the store's daily lock; every other failure is in the report."""

    progress = progress or (lambda message: None)
    today = today or datetime.now(UTC).date()
    started = time.monotonic()
    channels, library = prepare(settings)
    report = DailyReport(dry_run=dry_run)
    with Store(settings.db) as store, store.job("daily"):
        embedder = embedder or get_embedder(settings)
        if dry_run:
            after = digests.cursor(store)
            papers, _ = new_papers(store, after, library) if after is not None else ([], 0)
            _report_picks(
                report, _picks(store, embedder, library, settings, papers, report, today), papers, store, settings
            )
            report.deliveries = [
                {"digest_id": d, "channel": c, "status": "pending", "attempts": a, "error": None}
                for d, c, a in store.pending_deliveries()
            ]
            report.elapsed = time.monotonic() - started
            return report
        run_id = store.start_run(RUN_KIND, {})
        after = digests.start_cursor(store)
        _fetch(store, settings, report, progress)
        _fetch_library(store, settings, library, report, progress)
        _embed_and_classify(store, embedder, settings, report, progress)
        papers, through = new_papers(store, after, library)
        progress(f"ranking {len(papers)} new paper(s)")
        picks = _picks(store, embedder, library, settings, papers, report, today)
        to_enrich = [p.id for p in papers] if settings.daily.enrich == "new" else [p.paper_id for p in picks]
        _enrich(store, settings, to_enrich, stale_cards(store, settings.llm.lang), report, progress)
        by_id = {p.id: p for p in papers}
        synthesis = _synthesis(store, settings, [by_id[p.paper_id] for p in picks], report, progress)
        _report_picks(report, picks, papers, store, settings, synthesis)
        if through > after:
            digest = digests.picks_to_digest(
                picks,
                _views(store, settings, picks),
                day=today,
                lang=settings.llm.lang,
                considered=len(papers),
                synthesis=synthesis,
            )
            digest = digests.save_digest(store, digest, through, [c.name for c in channels] if picks else [])
            report.digest_id = digest.id
        deliver_pending(store, settings, channels, report, progress)
        report.elapsed = time.monotonic() - started
        store.finish_run(run_id, report.as_dict(), status="failed" if report.failed else "done")
    return report


def _report_picks(
    report: DailyReport,
    picks: list[Pick],
    papers: list[Paper],
    store: Store,
    settings: Settings,
    synthesis: Synthesis | None = None,
) -> None:
    titles = {p.id: label_of(p) for p in papers}
    report.considered = len(papers)
    report.picks = [
        {"id": p.paper_id, "title": titles.get(p.paper_id), "score": p.score, "why": p.why, "evidence": p.evidence}
        for p in picks
    ]
    if synthesis is not None:
        report.synthesis, report.synthesis_note = synthesis.status, synthesis.note
