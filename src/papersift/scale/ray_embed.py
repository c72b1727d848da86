"""Embed a large store on a Ray cluster: ``papersift embed``, its model run by Ray Data actors.

The driver finds the papers whose text changed (as ``papersift embed`` does), Ray Data maps their
texts over a pool of actors that each hold the configured embedder, and the driver stores the
vectors a batch at a time. With the packaged USE model this spreads the model's CPU work over the
cluster's cores (on one 2-core machine it gains little: see bench/RESULTS.md, "Scale-out"); with
an embeddings server it spreads the requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..config import Settings
from ..search.embeddings import (
    BATCH,
    EmbeddingError,
    EmbedReport,
    embedder_name,
    get_embedder,
    save_vectors,
    stale_papers,
)
from ..store import Store


class EmbedActor:
    """A Ray Data actor: the texts of a batch of papers to their vectors, with its own embedder."""

    def __init__(self, settings: dict[str, Any]):
        self.embedder = get_embedder(Settings.model_validate(settings))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        n = len(batch["paper_id"])
        try:
            vectors, error = list(self.embedder.embed(list(batch["text"]))), None
        except EmbeddingError as exc:  # reported for this batch, as a local run does; the others go on
            vectors, error = [np.zeros(0, dtype=np.float32)] * n, str(exc)
        return {
            "paper_id": list(batch["paper_id"]),
            "digest": list(batch["digest"]),
            "vector": [np.asarray(v, dtype=np.float32).tobytes() for v in vectors],
            "error": [error] * n,
        }


def embed_on_ray(
    store: Store,
    settings: Settings,
    *,
    actors: int = 2,
    batch_size: int = BATCH,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> EmbedReport:
    """Embed every new or changed paper on the Ray cluster this process is connected to (a local
    one is started when none is); the vectors are the same as :func:`~papersift.search.embed_store`'s."""
    import ray  # deferred, optional: the scale extra

    model = embedder_name(settings)  # the driver needs the name only: the actors load the model
    report = EmbedReport(model)
    stale = [{"paper_id": pid, "text": text, "digest": digest} for pid, text, digest in stale_papers(store, model)]
    report.unchanged = store.count() - len(stale)
    if on_total:
        on_total(len(stale))
    if not stale:
        return report
    if not ray.is_initialized():
        ray.init()
    vectors = ray.data.from_items(stale).map_batches(
        EmbedActor,
        fn_constructor_kwargs={"settings": settings.model_dump(mode="json")},
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=actors),
    )
    for batch in vectors.iter_batches(batch_size=batch_size, batch_format="pandas"):
        rows = list(batch.itertuples(index=False))
        failed = [r for r in rows if r.error]
        if failed:
            report.errors.append(
                f"{len(failed)} papers ({failed[0].paper_id}…{failed[-1].paper_id}): {failed[0].error}"
            )
        done = [(r.paper_id, r.digest, np.frombuffer(r.vector, dtype=np.float32)) for r in rows if not r.error]
        if done:
            save_vectors(store, model, done)
            report.embedded += len(done)
        if on_progress:
            on_progress(len(rows))
    return report
