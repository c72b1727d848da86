"""Enrich a whole venue, or years of arXiv, on a Ray cluster.

Ray Data streams the papers that still need a card through a pool of actors; each actor runs
the same :class:`papersift.enrich.pipeline.Enricher` as a laptop run, spreading its papers over
the given OpenAI-compatible servers (vLLM or SGLang replicas). The driver is the only process
that writes the SQLite store: it feeds the papers in bounded chunks and saves each finished
card with its run-item state, so a killed run resumes like a local one. Nothing here schedules,
retries or moves data by itself: that is Ray's job (and the LLM client's, for requests).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from itertools import islice
from typing import Any

from ..config import Settings
from ..enrich.pipeline import RUN_KIND, ProgressCallback, RunReport, Selection, pending_papers, run_params, save_result
from ..models import Enrichment, Paper
from ..store import Store

CHUNK = 10_000  # papers handed to Ray at a time: bounds the driver's memory


class CardActor:
    """A Ray Data actor: turns a batch of papers into enrichments, using every server in turn."""

    def __init__(self, settings: dict[str, Any], base_urls: list[str]):
        from ..enrich.glossary import load_glossary
        from ..enrich.pipeline import Enricher
        from ..llm.client import LLMClient

        self.name = uuid.uuid4().hex  # ids of objects may repeat across worker processes
        self.loop = asyncio.new_event_loop()  # one loop for the actor's life: clients keep their connections
        self.enrichers = []
        for url in base_urls:
            server = Settings.model_validate({**settings, "llm": {**settings["llm"], "backend": "openai", "base_url": url}})
            client = LLMClient(server)  # no store here: the driver writes, the actor only talks to servers
            self.enrichers.append(Enricher(client, server.llm.lang, model=client.model, glossary=load_glossary(server)))

    async def _enrich_all(self, papers: list[Paper]) -> list[tuple[Enrichment, bool]]:
        return await asyncio.gather(*(self.enrichers[i % len(self.enrichers)].enrich(p) for i, p in enumerate(papers)))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        papers = [Paper.model_validate_json(p) for p in batch["paper"]]
        results = self.loop.run_until_complete(self._enrich_all(papers))
        usage = [e.client.usage for e in self.enrichers]
        return {
            "enrichment": [enrichment.model_dump_json() for enrichment, _ in results],
            "reasked": [reasked for _, reasked in results],
            # cumulative per actor: the driver keeps the latest figure of each actor
            "actor": [self.name] * len(results),
            "tokens_in": [sum(u.tokens_in for u in usage)] * len(results),
            "tokens_out": [sum(u.tokens_out for u in usage)] * len(results),
            "calls": [sum(u.calls for u in usage)] * len(results),
        }


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
    import ray

    if not base_urls:
        raise ValueError("give at least one OpenAI-compatible server URL (--server)")
    if not ray.is_initialized():
        ray.init()
    selection = selection or Selection()
    params = {**run_params(settings, selection, force), "backend": "openai", "base_url": sorted(base_urls)}
    run_id = store.start_run(RUN_KIND, params)
    report = RunReport(run_id=run_id, lang=settings.llm.lang, model=params["model"])
    papers, report.total = pending_papers(store, settings.llm.lang, selection, force, run_id)
    actor_usage: dict[str, tuple[int, int, int]] = {}
    started = time.monotonic()
    try:
        for chunk in _chunks(papers, CHUNK):
            dataset = ray.data.from_items(chunk).map_batches(
                CardActor,
                fn_constructor_kwargs={"settings": settings.model_dump(mode="json"), "base_urls": base_urls},
                concurrency=actors,
                batch_size=batch_size,
            )
            for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
                for row in batch.itertuples(index=False):
                    enrichment = Enrichment.model_validate_json(row.enrichment)
                    save_result(store, run_id, enrichment)
                    report.add(enrichment, bool(row.reasked))
                    actor_usage[row.actor] = (row.tokens_in, row.tokens_out, row.calls)
                report.tokens_in, report.tokens_out, report.calls = (sum(u[i] for u in actor_usage.values()) for i in range(3))
                report.elapsed = time.monotonic() - started
                if progress:
                    progress(report)
        report.status = "done"
    except BaseException:
        report.status = "interrupted"
        raise
    finally:
        report.elapsed = time.monotonic() - started
        store.finish_run(run_id, report.as_dict(), status=report.status)
    return report
