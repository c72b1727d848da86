"""Spreading papers over several OpenAI-compatible servers of unequal speed, some of which may die.

Every server gets as many workers as it may have requests in flight (``llm.concurrency``), and
all workers pull from one queue: a server takes a new paper when it has finished one, so a fast
replica does more and a slow one never holds papers the others could do (round robin by index
would give each the same share and make the run wait on the slowest). A paper whose call failed
while its server no longer answers goes back on the queue for the others; that server's workers
wait, probing it, until it answers again. When no server answers, every paper waiting fails with
:class:`ServersDown` and the run stops (its papers stay pending for the next run).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import httpx

from ..enrich.pipeline import Enricher
from ..llm.base import BackendUnavailable
from ..models import Enrichment, Paper

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 5.0  # seconds for GET /models: a live server answers it at once, even when busy
ASKING_AGAIN_FAILED = "asking again failed"  # the Enricher's reason when the re-ask's call failed


class ServersDown(RuntimeError):
    """No server answers: the papers still waiting cannot be done by anyone."""


def servers_down_in(exc: BaseException) -> ServersDown | None:
    """The :class:`ServersDown` a Ray task raised, from the failed task's error (Ray passes the
    task's exception on as the text of its traceback), or None for any other failure."""
    marker = f"{ServersDown.__module__}.{ServersDown.__name__}: "
    message = next((line.split(marker, 1)[1] for line in str(exc).splitlines() if marker in line), None)
    return ServersDown(message) if message is not None else None


def call_failed(enrichment: Enrichment) -> bool:
    """Whether a call to the server failed for this paper (then the server may be the cause)."""
    return enrichment.status == "failed" or any(r.startswith(ASKING_AGAIN_FAILED) for r in enrichment.reasons)


class ServerPool:
    """Enriches papers on whichever server is free; see the module docstring.

    ``enrichers`` maps each server's base URL to an :class:`Enricher` whose client talks to it.
    Create it inside a running event loop (its workers are tasks of that loop).
    """

    def __init__(self, enrichers: Mapping[str, Enricher], workers_per_server: int, *, probe_every: float = 1.0):
        self.enrichers = dict(enrichers)
        self.probe_every = probe_every
        self.queue: asyncio.Queue[tuple[Paper, asyncio.Future]] = asyncio.Queue()
        self.down: set[str] = set()
        self._http = httpx.AsyncClient(timeout=PROBE_TIMEOUT)
        # The workers live as long as the actor's loop (the actor's process): nothing closes them.
        self._workers = [
            asyncio.create_task(self._work(url)) for url in self.enrichers for _ in range(max(1, workers_per_server))
        ]

    async def enrich(self, paper: Paper) -> tuple[Enrichment, bool]:
        """The paper's enrichment and whether it was asked again, from the first server free."""
        if len(self.down) == len(self.enrichers):
            raise ServersDown(self._down_message())
        done = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((paper, done))
        return await done

    async def enrich_all(self, papers: list[Paper]) -> list[tuple[Enrichment, bool]]:
        return await asyncio.gather(*(self.enrich(p) for p in papers))

    async def _work(self, url: str) -> None:
        enricher = self.enrichers[url]
        while True:
            paper, done = await self.queue.get()
            if done.done():  # its batch failed meanwhile
                continue
            try:
                result: tuple[Enrichment, bool] | None = await enricher.enrich(paper)
            except BackendUnavailable:
                result = None
            except Exception as exc:  # one paper's surprise never sinks the run (as in a local run)
                log.exception("enriching %s", paper.id)
                result = (
                    Enrichment(
                        paper_id=paper.id,
                        lang=enricher.lang,
                        model=enricher.model,
                        status="failed",
                        reasons=[f"internal error: {type(exc).__name__}: {exc}"],
                    ),
                    False,
                )
            if result is None or (call_failed(result[0]) and not await self._answers(url)):
                self.queue.put_nowait((paper, done))  # another server takes it
                await self._wait_until_up(url)
                continue
            if not done.done():  # its batch may have failed while this paper was out
                done.set_result(result)

    async def _answers(self, url: str) -> bool:
        try:
            response = await self._http.get(url.rstrip("/") + "/models")
        except httpx.HTTPError:
            return False
        return response.status_code < 500

    async def _wait_until_up(self, url: str) -> None:
        self.down.add(url)
        if len(self.down) == len(self.enrichers):
            self._fail_waiting()
        while not await self._answers(url):
            await asyncio.sleep(self.probe_every)
        self.down.discard(url)

    def _fail_waiting(self) -> None:
        error = ServersDown(self._down_message())
        while not self.queue.empty():
            _, done = self.queue.get_nowait()
            if not done.done():
                done.set_exception(error)

    def _down_message(self) -> str:
        return f"no server answers: {', '.join(sorted(self.down))}"
