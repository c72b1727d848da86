"""`papersift demo`: the whole pipeline on the bundled sample, here against the scripted LLM server."""

import feedparser
from test_enrich import card_reply  # a faithful scripted model

from papersift.config import Settings
from papersift.demo import run_demo
from papersift.llm.testserver import ScriptedServer


def test_the_demo_runs_every_stage_and_a_rerun_asks_the_llm_nothing(tmp_path):
    lines = []
    with ScriptedServer(responder=card_reply) as server:
        settings = Settings(llm={"backend": "openai", "base_url": server.base_url, "model": "scripted", "api_key": "x"})
        report = run_demo(tmp_path, settings, enrich=2, say=lines.append)
        assert report.ingested["new"] == 35
        assert (report.enrichment["ok"], report.enrichment["failed"]) == (2, 0)
        assert all(len(ids) == 3 for ids in report.searches.values())
        for path in report.outputs.values():
            assert path.exists() and path.stat().st_size > 0
        assert "🎯" in (tmp_path / "catalog.md").read_text(encoding="utf-8")  # an enriched card's reading
        assert len(feedparser.parse((tmp_path / "digest.xml").read_bytes()).entries) == 35
        asked = len(server.chat_requests)

        again = run_demo(tmp_path, settings, enrich=2, say=lines.append)
        assert again.ingested["new"] == 0 and len(server.chat_requests) == asked
    assert [line[:4] for line in lines if line[1:4] == "/4 "][:4] == ["1/4 ", "2/4 ", "3/4 ", "4/4 "]
