"""Enrich papers: one LLM call per paper for the whole card, checked, guarded and stored.

A run streams the papers that still need a card through a bounded queue to a fixed pool of
workers, so that memory stays flat however many papers wait, while the LLM client keeps its own
bound on requests in flight. Every finished paper is saved together with its run-item state in
one transaction: a run killed at any point resumes where it stopped, and the LLM cache makes the
work that had reached the server free.

Per paper: the card (schema from :class:`papersift.models.Card`) → the language check (a failure
is a validation error: the client re-asks once) → the faithfulness guard and the quality gate
(:mod:`.quality`, with the glossary): any violation gets one more ask listing what to fix; still
failing, the card is stored ``flagged`` (the guard's violations, which weigh more) or ``poor``
(only the gate's), with the reasons → stored. A call that fails for good (timeouts, 5xx, invalid
JSON twice) stores the paper ``failed`` with the reason, and the run goes on.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ..checks import guard, quality
from ..checks.glossary import Glossary, load_glossary
from ..checks.language import check_card_language, language
from ..config import Settings
from ..llm.base import BackendUnavailable, LLMError
from ..llm.client import LLMClient  # the engine is only loaded for an actual run
from ..llm.templates import environment
from ..models import Card, Enrichment, EnrichmentStatus, Paper
from ..store import Store
from ..text import segment
from .card_prompt import card_messages, prompt_version, source_hash, source_text
from .fieldwise import FIELDS, FieldWriter, as_card, field_of, malformed, texts_of
from .grounded import GroundedWriter

log = logging.getLogger(__name__)

RUN_KIND = "enrich"
MAX_TOKENS = 2048  # a full Chinese card is ~700-1,000 tokens
KEPT_FAILURES = 50  # failure reasons kept in the run report
WORKERS_PER_SLOT = 2
NO_ABSTRACT = "no abstract: nothing to read"


class LanguageMismatch(ValueError):
    """The card is valid JSON but not written in the target language."""


@dataclass
class Selection:
    """Which papers a run works on. Empty: every paper."""

    paper_ids: list[str] | None = None
    subarea: str | None = None
    source: str | None = None
    limit: int | None = None

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v}


@dataclass
class RunReport:
    run_id: int
    lang: str
    model: str
    total: int = 0  # papers this run set out to enrich (after a resume: those still left)
    ok: int = 0
    flagged: int = 0
    poor: int = 0
    failed: int = 0
    guard_reasks: int = 0  # papers asked a second time, by the guard or the quality gate
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_reasoning: int = 0
    tokens_cached: int = 0
    cost: float = 0.0
    calls: int = 0  # requests that reached the LLM (cache hits excluded)
    cache_hits: int = 0
    elapsed: float = 0.0
    status: str = "running"
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.ok + self.flagged + self.poor + self.failed

    def add(self, enrichment: Enrichment, reasked: bool) -> None:
        """Count one finished paper (keeping the first failures' reasons)."""
        setattr(self, enrichment.status, getattr(self, enrichment.status) + 1)
        self.guard_reasks += reasked
        if enrichment.status == "failed" and len(self.failures) < KEPT_FAILURES:
            self.failures.append({"paper_id": enrichment.paper_id, "reason": "; ".join(enrichment.reasons)})

    @property
    def papers_per_s(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            done=self.done,
            papers_per_s=round(self.papers_per_s, 3),
            cost=round(self.cost, 6),
            elapsed=round(self.elapsed, 3),
        )
        return data


ProgressCallback = Callable[[RunReport], None]


def pending_papers(
    store: Store, lang: str, selection: Selection, force: bool, run_id: int
) -> tuple[Iterator[Paper], int]:
    """The papers run ``run_id`` still has to do, streamed, and how many they are."""
    limit = selection.limit
    if limit is not None:  # a resumed run counts what it did before its restart
        limit = max(0, limit - store.item_count(run_id))
    return store.papers_to_enrich(
        lang,
        run_id,
        force=force,
        paper_ids=selection.paper_ids,
        subarea=selection.subarea,
        source=selection.source,
        limit=limit,
    )


class Enricher:
    """Turns one paper into an :class:`Enrichment` with an LLM client; stores nothing itself.

    The card is written whole, in one structured call (``mode="whole"``: servers), from the
    abstract's own sentences (``"grounded"``: the embedded engine, see :mod:`.grounded`), or a field
    at a time from the whole abstract (``"fields"``, see :mod:`.fieldwise`); either way it is then
    checked by the guard and the gate, and what they object to is asked again once.
    """

    def __init__(
        self,
        client: Any,
        lang: str,
        *,
        model: str,
        keep_reasoning: bool = True,
        glossary: Glossary | None = None,
        mode: str = "whole",
    ):
        self.client = client
        self.lang = lang
        self.model = model
        self.keep_reasoning = keep_reasoning
        self.glossary = glossary
        writers = {"fields": FieldWriter, "grounded": GroundedWriter}
        self.fields = (
            writers[mode](client, lang, glossary, f"card-{mode}@{prompt_version()}") if mode in writers else None
        )

    def _check_language(self, card: Card) -> Card:
        verdict = check_card_language(card, self.lang)
        if not verdict.ok:
            raise LanguageMismatch(verdict.message)
        return card

    async def _ask(self, paper: Paper, messages: list[dict[str, str]]) -> tuple[Card, str | None]:
        """A card in the right language (the client re-asks once), and the model's reasoning."""
        card, result = await self.client.structured(
            messages,
            Card,
            validate=self._check_language,
            max_tokens=MAX_TOKENS,
            paper_id=paper.id,
            template=f"card@{prompt_version()}",
        )
        return card, result.reasoning if self.keep_reasoning else None

    async def _write(self, paper: Paper) -> tuple[Card, str | None]:
        if self.fields is None:
            return await self._ask(paper, card_messages(paper, self.lang, self.glossary))
        values, cut = await self.fields.write(paper, dict.fromkeys(FIELDS))
        problems = malformed(values, cut, self.lang)
        if problems:  # asked again once, as the one-call card is by the client
            values |= (await self.fields.write(paper, {f: (values[f], fix) for f, fix in problems.items()}))[0]
        return self._check_language(self._as_card(values)), None

    async def _rewrite(
        self, paper: Paper, card: Card, faithful: guard.GuardResult, good: quality.QualityResult
    ) -> tuple[Card, str | None]:
        """The card again, with what the checks objected to fixed."""
        if self.fields is None:
            fix = "\n\n".join(v.message for v in (faithful, good) if not v.ok)
            messages = card_messages(paper, self.lang, self.glossary)
            reask = environment().get_template("card_reask.jinja").render(fix=fix)
            return await self._ask(
                paper,
                [
                    *messages,
                    {"role": "assistant", "content": card.model_dump_json()},
                    {"role": "user", "content": reask},
                ],
            )
        values = texts_of(card)
        fixes: dict[str, list[str]] = {}
        for name, line in [
            *((v.field, v.describe()) for v in faithful.violations),
            *((i.field, i.detail) for i in good.issues),
        ]:
            # A problem of the whole card (a glossary term) is fixed where the abstract is rendered.
            fixes.setdefault("digest" if name == "card" else field_of(name), []).append(line)
        again, _ = await self.fields.write(paper, {f: (values[f], "; ".join(lines)) for f, lines in fixes.items()})
        card = self._as_card(values | again)
        return self._check_language(card), None

    @staticmethod
    def _as_card(values: dict[str, str]) -> Card:
        try:
            return as_card(values)
        except ValueError as exc:  # an empty field, or one past its bound
            raise LLMError(f"the fields do not make a card: {exc}") from exc

    def _verdicts(self, card: Card, paper: Paper, source: str) -> tuple[guard.GuardResult, quality.QualityResult]:
        return guard.check_card(card, source), quality.check_card(
            card, paper, self.lang, source=source, glossary=self.glossary
        )

    async def _check(self, card: Card, paper: Paper, source: str) -> tuple[guard.GuardResult, quality.QualityResult]:
        # The guard is the heaviest CPU step; in a thread it leaves the event loop free to send the
        # next requests and read replies, instead of holding them up behind a burst of checks.
        return await asyncio.to_thread(self._verdicts, card, paper, source)

    @staticmethod
    def _status(faithful: guard.GuardResult, good: quality.QualityResult) -> EnrichmentStatus:
        return "flagged" if not faithful.ok else "poor" if not good.ok else "ok"

    async def enrich(self, paper: Paper) -> tuple[Enrichment, bool]:
        """The paper's enrichment, and whether the checks asked a second time."""
        source = source_text(paper)
        result = {
            "paper_id": paper.id,
            "lang": self.lang,
            "model": self.model,
            "tldr_generated": not paper.tldr,
            "keywords_generated": not paper.keywords,
            "prompt_version": prompt_version(),
            "paper_version": paper.version,
            "source_hash": source_hash(source),
        }
        if not paper.abstract:
            return Enrichment(**result, status="failed", reasons=[NO_ABSTRACT]), False
        try:
            card, reasoning = await self._write(paper)
        except BackendUnavailable:
            raise  # not this paper's fault: the run stops
        except (LLMError, LanguageMismatch) as exc:
            return Enrichment(**result, status="failed", reasons=[str(exc) or type(exc).__name__]), False
        faithful, good = await self._check(card, paper, source)
        if faithful.ok and good.ok:
            return Enrichment(**result, status="ok", card=card, reasoning=reasoning), False
        try:
            second, reasoning = await self._rewrite(paper, card, faithful, good)
        except (LLMError, LanguageMismatch) as exc:  # the first card stands, flagged or poor
            return Enrichment(
                **result,
                status=self._status(faithful, good),
                card=card,
                reasoning=reasoning,
                reasons=[*faithful.reasons, *good.reasons, f"asking again failed: {exc}"],
                problems=problems(faithful, good),
            ), True
        faithful, good = await self._check(second, paper, source)
        return Enrichment(
            **result,
            status=self._status(faithful, good),
            card=second,
            reasoning=reasoning,
            reasons=[*faithful.reasons, *good.reasons],
            problems=problems(faithful, good),
        ), True


def problems(faithful: guard.GuardResult, good: quality.QualityResult) -> list[str]:
    """The kinds of what the checks found, each once: what a reader's note names."""
    return list(dict.fromkeys([*([] if faithful.ok else ["unfaithful"]), *(issue.rule for issue in good.issues)]))


def save_result(store: Store, run_id: int, enrichment: Enrichment) -> None:
    """Store a paper's enrichment and its state in the run, in one transaction."""
    error = "; ".join(enrichment.reasons) if enrichment.status == "failed" else None
    with store.transaction():
        store.save_enrichment(enrichment)
        store.mark_item(run_id, enrichment.paper_id, "failed" if error else "done", error)


def _account(report: RunReport, client: Any) -> None:
    usage = client.usage
    for name in ("tokens_in", "tokens_out", "tokens_reasoning", "tokens_cached", "cost", "calls", "cache_hits"):
        setattr(report, name, getattr(usage, name))


CARD_MODES = ("auto", "whole", "grounded", "fields")


def card_mode(settings: Settings) -> str:
    """``llm.card_mode``: ``auto`` is the grounded card for the embedded engine and the one-call
    card for a server; otherwise as set."""
    mode = settings.llm.card_mode
    if mode not in CARD_MODES:
        raise ValueError(f"llm.card_mode must be one of {', '.join(CARD_MODES)}, not {mode!r}")
    if mode == "auto":
        return "grounded" if settings.llm.backend == "embedded" else "whole"
    return mode


def run_params(settings: Settings, selection: Selection, force: bool) -> dict[str, Any]:
    """What identifies a run for resuming: the same parameters reopen an unfinished run."""
    llm = settings.llm
    model = llm.model or (llm.embedded_model if llm.backend == "embedded" else None)
    return {
        "lang": llm.lang,
        "backend": llm.backend,
        "model": model,
        "base_url": llm.base_url,
        "thinking": llm.thinking,
        "prompt": prompt_version(),
        "card": card_mode(settings),
        "force": force,
        **selection.params(),
    }


class RunAborted(RuntimeError):
    """The LLM is down, misconfigured or unusable (so many papers failed in a row, or its engine
    keeps crashing): the run stopped."""


class EnrichRun:
    """One run: a bounded queue from the store to the workers, and the bookkeeping of results."""

    def __init__(
        self, store: Store, enricher: Enricher, report: RunReport, *, workers: int, progress: ProgressCallback | None
    ):
        self.store = store
        self.client = enricher.client
        self.report = report
        self.workers = workers
        self.progress = progress
        self.enricher = enricher
        self.queue: asyncio.Queue[Paper | None] = asyncio.Queue(maxsize=workers)
        # A dead or misconfigured server fails every paper: stop after this many in a row.
        self.abort_after = max(20, 2 * workers)
        self.failures_in_a_row = 0
        self.started = time.monotonic()

    async def produce(self, papers: Iterator[Paper]) -> None:
        for paper in papers:
            await self.queue.put(paper)  # waits while the workers are busy: back-pressure
        for _ in range(self.workers):
            await self.queue.put(None)

    async def work(self) -> None:
        while (paper := await self.queue.get()) is not None:
            try:
                enrichment, reasked = await self.enricher.enrich(paper)
            except BackendUnavailable as exc:
                # The paper stays pending (no result saved): a later run, once the backend is
                # fixed, takes it up like any paper not yet done.
                raise RunAborted(str(exc)) from exc
            except sqlite3.Error:
                raise  # the store cannot be written (full, read-only, locked): not this paper's fault
            except Exception as exc:  # one paper's surprise never sinks the run
                log.exception("enriching %s", paper.id)
                enrichment, reasked = (
                    Enrichment(
                        paper_id=paper.id,
                        lang=self.report.lang,
                        model=self.report.model,
                        status="failed",
                        reasons=[f"internal error: {type(exc).__name__}: {exc}"],
                    ),
                    False,
                )
            save_result(self.store, self.report.run_id, enrichment)
            self.record(enrichment, reasked)

    def record(self, enrichment: Enrichment, reasked: bool) -> None:
        report = self.report
        report.add(enrichment, reasked)
        reason = "; ".join(enrichment.reasons)
        if enrichment.status != "failed":
            self.failures_in_a_row = 0
        elif enrichment.reasons != [NO_ABSTRACT]:
            self.failures_in_a_row += 1
        self.update()
        if self.progress:
            self.progress(report)
        if self.failures_in_a_row >= self.abort_after:
            raise RunAborted(f"{self.failures_in_a_row} papers failed in a row, the last with: {reason}")

    def update(self) -> None:
        _account(self.report, self.client)
        self.report.elapsed = time.monotonic() - self.started


async def enrich_papers_async(
    store: Store,
    settings: Settings,
    *,
    selection: Selection | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
    client: Any = None,
) -> RunReport:
    """Enrich what still needs it in ``settings.llm.lang``; see :func:`enrich_papers`."""
    with store.job(RUN_KIND):  # a second enrich on this store would resume this same run and pay twice
        return await _enrich(store, settings, selection or Selection(), force, progress, client)


async def _enrich(
    store: Store,
    settings: Settings,
    selection: Selection,
    force: bool,
    progress: ProgressCallback | None,
    client: Any,
) -> RunReport:
    lang = settings.llm.lang
    glossary = load_glossary(settings)  # a bad glossary file stops the run before it starts
    own_client = client is None
    if own_client:  # made first: a backend that cannot start leaves no run behind
        client = LLMClient.from_settings(settings, store=store)
    params = run_params(settings, selection, force)
    run_id = store.start_run(RUN_KIND, params)
    client.run_id = run_id  # its call log names the run
    papers, total = pending_papers(store, lang, selection, force, run_id)
    report = RunReport(run_id=run_id, lang=lang, model=client.model or params["model"] or "", total=total)
    if language(lang).counts_characters:
        segment("预热")  # load the segmenter's dictionary now, not while requests are in flight
    # Twice as many workers as requests in flight (the client holds that bound): while some check
    # and store a card, the others keep the server busy. An engine with one prompt cache gets one
    # paper at a time: interleaved, the papers' requests would evict each other's prompts.
    one_at_a_time = getattr(getattr(client, "backend", None), "one_at_a_time", False)
    workers = 1 if one_at_a_time else WORKERS_PER_SLOT * max(1, settings.llm.concurrency)
    enricher = Enricher(
        client,
        lang,
        model=report.model,
        keep_reasoning=settings.llm.keep_reasoning,
        glossary=glossary,
        mode=card_mode(settings),
    )
    run = EnrichRun(store, enricher, report, workers=workers, progress=progress)
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(run.produce(papers))
            for _ in range(run.workers):
                tasks.create_task(run.work())
        report.status = "done"
    except BaseException as exc:
        cause = exc.exceptions[0] if isinstance(exc, BaseExceptionGroup) else exc  # the task group's first
        report.status = "aborted" if isinstance(cause, RunAborted) else "interrupted"
        if cause is exc:
            raise
        raise cause from None  # the one error inside the task group, not the group
    finally:
        run.update()
        store.finish_run(run_id, report.as_dict(), status=report.status)
        if own_client:
            await client.aclose()
    return report


def enrich_papers(
    store: Store,
    settings: Settings,
    *,
    paper_ids: list[str] | None = None,
    subarea: str | None = None,
    source: str | None = None,
    limit: int | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> RunReport:
    """Enrich the papers that have no card yet in ``settings.llm.lang`` (all selected ones with
    ``force``), resuming an unfinished run with the same parameters. Returns the run's report,
    which is also stored with the run (``store.runs("enrich")``)."""
    selection = Selection(paper_ids=paper_ids, subarea=subarea, source=source, limit=limit)
    return asyncio.run(enrich_papers_async(store, settings, selection=selection, force=force, progress=progress))
