"""The web app stays up while other processes write: clients reading and starring papers through
``papersift serve`` while ``papersift enrich`` and ``papersift ingest`` write to the same database
get no 5xx and never see a locked database. A short run of bench/load.py (which measures the
same with 50 clients for 60 s)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import load  # noqa: E402  bench/load.py


def test_serving_while_enrich_and_ingest_write_gives_no_5xx_and_no_lock_error(tmp_path):
    db = tmp_path / "load.db"
    load.build_store(db, 500)
    samples, writers = load.run(db, clients=10, seconds=4, batch=300)

    assert load.errors(samples) == {"5xx": 0, "connection failed": 0, "locked": 0}
    assert {s.status for s in samples} == {200}
    assert {s.kind for s in samples} == set(load.MIX)  # reads, stars (writes) and the static file all ran
    assert writers.enriched_after > writers.enriched_before and writers.enrich_errors == ""
    assert writers.ingest_batches >= 1 and writers.ingest_failures == []
