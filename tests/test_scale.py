"""Scale-out: the enrichment run spread by Ray Data over actors and several OpenAI-compatible servers.

A local Ray (2 CPUs, a small object store) and two scripted servers on 127.0.0.1 stand in for a
cluster with vLLM replicas; the store stays with the driver, the only writer.
"""

import pytest

ray = pytest.importorskip("ray")

from scripted import card_reply  # noqa: E402  (a faithful scripted model)

from papersift.config import Settings  # noqa: E402
from papersift.testing.llm_server import ScriptedServer  # noqa: E402
from papersift.scale.ray_enrich import enrich_on_ray  # noqa: E402
from papersift.sources.files import paper_from_mapping  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    import os

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, object_store_memory=80 * 1024**2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_every_pending_paper_is_enriched_once_across_the_servers(local_ray, store, sample_records):
    for record in sample_records[:8]:
        store.upsert(paper_from_mapping(record))
    settings = Settings(llm={"backend": "openai", "model": "scripted", "api_key": "x", "lang": "zh", "concurrency": 4})
    with ScriptedServer(responder=card_reply) as first, ScriptedServer(responder=card_reply) as second:
        report = enrich_on_ray(store, settings, base_urls=[first.base_url, second.base_url], actors=1, batch_size=4)
        assert (report.ok, report.flagged, report.failed) == (8, 0, 0)
        assert first.chat_requests and second.chat_requests  # both replicas did work
        statuses = store.conn.execute("SELECT status, count(*) FROM enrichments GROUP BY status").fetchall()
        assert statuses == [("ok", 8)]
        served = len(first.chat_requests) + len(second.chat_requests)

        again = enrich_on_ray(store, settings, base_urls=[first.base_url, second.base_url], actors=1)
        assert again.total == 0 and again.done == 0
        assert len(first.chat_requests) + len(second.chat_requests) == served  # done work is never asked again


def test_no_server_is_a_clear_error(store):
    with pytest.raises(ValueError, match="--server"):
        enrich_on_ray(store, Settings(), base_urls=[])
