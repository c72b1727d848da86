"""Enrich a whole venue, or years of arXiv, on a Ray cluster.

Ray Data streams the papers that still need a card through a pool of actors; each actor runs
the same :class:`papersift.enrich.pipeline.Enricher` as a laptop run, and its
:class:`~papersift.scale.servers.ServerPool` hands each paper to whichever of the given
OpenAI-compatible servers (vLLM or SGLang replicas) is free, moving the papers of a server that
dies to the others. The driver is the only process that writes the SQLite store: it feeds the
papers in bounded chunks and saves each finished card with its run-item state, so a killed
driver resumes like a local run (a paper whose card was stored is never asked again). A Ray
worker that dies is restarted by Ray, which retries its batches. Nothing here schedules,
retries tasks or moves data by itself: that is Ray's job (and the LLM client's, for requests).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections.abc import Iterator
from itertools import islice
from typing import Any

from ..checks.glossary import load_glossary
from ..checks.language import language
from ..config import Settings
from ..enrich.pipeline import (
    RUN_KIND,
    Enricher,
    ProgressCallback,
    RunReport,
    Selection,
    pending_papers,
    run_params,
    save_result,
)
from ..llm.client import LLMClient
from ..models import Enrichment, Paper
from ..store import Store
from ..text import segment
from .servers import ServerPool, servers_down_in

CHUNK = 10_000  # papers handed to Ray at a time: bounds the driver's memory


class CardActor:
    """A Ray Data actor: turns batches of papers into enrichments on whichever server is free.

    Ray runs several of its calls at once (threads); they all feed one :class:`ServerPool` on the
    actor's own event loop, so that the servers stay busy while a batch waits for its last paper.
    """

    def __init__(self, settings: dict[str, Any], base_urls: list[str]):
        self.name = uuid.uuid4().hex  # ids of objects may repeat across worker processes
        # One loop for the actor's life, in its own thread: clients keep their connections, and
        # Ray's call threads hand it their batches.
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.pool = asyncio.run_coroutine_threadsafe(self._pool(settings, base_urls), self.loop).result()

    @staticmethod
    async def _pool(settings: dict[str, Any], base_urls: list[str]) -> ServerPool:

        enrichers = {}
        for url in base_urls:
            server = Settings.model_validate(
                {**settings, "llm": {**settings["llm"], "backend": "openai", "base_url": url}}
            )
            client = LLMClient(server)  # no store here: the driver writes, the actor only talks to servers
            enrichers[url] = Enricher(client, server.llm.lang, model=client.model, glossary=load_glossary(server))
        if language(settings["llm"]["lang"]).counts_characters:
            segment("预热")  # load the segmenter's dictionary now, not while the first papers wait (as a local run)
        return ServerPool(enrichers, workers_per_server=settings["llm"]["concurrency"])

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        papers = [Paper.model_validate_json(p) for p in batch["paper"]]
        results = asyncio.run_coroutine_threadsafe(self.pool.enrich_all(papers), self.loop).result()
        usage = [e.client.usage for e in self.pool.enrichers.values()]
        return {
            "paper_id": [p.id for p in papers],
            "enrichment": [enrichment.model_dump_json() for enrichment, _ in results],
            "reasked": [reasked for _, reasked in results],
            # cumulative per actor: the driver keeps the latest figure of each actor
            "actor": [self.name] * len(results),
            "tokens_in": [sum(u.tokens_in for u in usage)] * len(results),
            "tokens_out": [sum(u.tokens_out for u in usage)] * len(results),
            "calls": [sum(u.calls for u in usage)] * len(results),
        }


def card_stage(dataset: Any, settings: Settings, base_urls: list[str], *, actors: int, batch_size: int) -> Any:
    """``dataset`` (a ``paper`` column of Paper JSON) mapped to enrichments by a pool of :class:`CardActor`.

    Each actor runs enough calls at once to keep every server's workers fed twice over. Ray
    restarts an actor that dies and retries its calls: Ray Data's defaults for actor pools
    (``max_restarts=-1``, ``max_task_retries=-1``).
    """
    from ray.data import ActorPoolStrategy  # deferred, optional: the scale extra

    in_flight = len(base_urls) * max(1, settings.llm.concurrency)
    calls = max(2, math.ceil(2 * in_flight / batch_size))
    return dataset.map_batches(
        CardActor,
        fn_constructor_kwargs={"settings": settings.model_dump(mode="json"), "base_urls": base_urls},
        batch_size=batch_size,
        compute=ActorPoolStrategy(size=actors, max_concurrent_calls_per_actor=calls, enable_true_multi_threading=True),
    )


def _chunks(papers: Iterator[Paper], size: int) -> Iterator[list[dict[str, str]]]:
    while chunk := [{"paper": p.model_dump_json()} for p in islice(papers, size)]:
        yield chunk


def enrich_on_ray(
    store: Store,
    settings: Settings,
    *,
    base_urls: list[str],
    actors: int = 2,
    batch_size: int = 16,
    selection: Selection | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> RunReport:
    """Enrich the selected papers on the Ray cluster this process is connected to
    (``ray.init(address=...)`` first; a local one is started when none is)."""
    import ray  # deferred, optional: the scale extra

    if not base_urls:
        raise ValueError("give at least one OpenAI-compatible server URL (--server)")
    if not ray.is_initialized():
        ray.init()
    with store.job(RUN_KIND):  # the lock of `papersift enrich` too: never both on one store, paying twice
        return _enrich(store, settings, base_urls, actors, batch_size, selection or Selection(), force, progress)


def _enrich(
    store: Store,
    settings: Settings,
    base_urls: list[str],
    actors: int,
    batch_size: int,
    selection: Selection,
    force: bool,
    progress: ProgressCallback | None,
) -> RunReport:
    import ray  # deferred, optional: the scale extra

    params = {**run_params(settings, selection, force), "backend": "openai", "base_url": sorted(base_urls)}
    run_id = store.start_run(RUN_KIND, params)
    report = RunReport(run_id=run_id, lang=settings.llm.lang, model=params["model"])
    papers, report.total = pending_papers(store, settings.llm.lang, selection, force, run_id)
    actor_usage: dict[str, tuple[int, int, int]] = {}
    started = time.monotonic()
    try:
        for chunk in _chunks(papers, CHUNK):
            dataset = card_stage(ray.data.from_items(chunk), settings, base_urls, actors=actors, batch_size=batch_size)
            for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
                for row in batch.itertuples(index=False):
                    enrichment = Enrichment.model_validate_json(row.enrichment)
                    save_result(store, run_id, enrichment)
                    report.add(enrichment, bool(row.reasked))
                    actor_usage[row.actor] = (row.tokens_in, row.tokens_out, row.calls)
                report.tokens_in, report.tokens_out, report.calls = (
                    sum(u[i] for u in actor_usage.values()) for i in range(3)
                )
                report.elapsed = time.monotonic() - started
                if progress:
                    progress(report)
        report.status = "done"
    except BaseException as exc:
        report.status = "interrupted"
        down = servers_down_in(exc)
        if down is None:
            raise
        raise down from exc
    finally:
        report.elapsed = time.monotonic() - started
        store.finish_run(run_id, report.as_dict(), status=report.status)
    return report
