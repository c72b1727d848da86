"""`papersift demo`: the whole pipeline on one bundled day of arXiv papers, here against the scripted LLM server."""

import json
import re

import feedparser
from scripted import card_reply  # a faithful scripted model
from support.llm_server import ScriptedServer
from typer.testing import CliRunner

from papersift.cli import app
from papersift.config import Settings
from papersift.demo import PAPERS, run_demo
from papersift.store import Store

BUNDLED = [json.loads(line) for line in PAPERS.read_text(encoding="utf-8").splitlines()]
QWEN3 = next(p for p in BUNDLED if p["arxiv_id"] == "2505.09388")


def test_the_demo_runs_every_stage_and_a_rerun_asks_the_llm_nothing(tmp_path):
    lines = []
    with ScriptedServer(responder=card_reply) as server:
        settings = Settings(llm={"backend": "openai", "base_url": server.base_url, "model": "scripted", "api_key": "x"})
        report = run_demo(tmp_path, settings, enrich=2, say=lines.append)
        assert report.ingested["new"] == len(BUNDLED) == 19
        assert report.classified["papers"] == 19 and report.classified["trained_on"] == 35
        assert (report.enrichment["ok"], report.enrichment["failed"]) == (2, 0)
        assert all(len(ids) == 3 for ids in report.searches.values())
        for path in report.outputs.values():
            assert path.exists() and path.stat().st_size > 0
        # the cards were written from the bundled abstracts
        asked = [json.dumps(r.body, ensure_ascii=False) for r in server.chat_requests]
        assert len(asked) == 2 and all(any(p["abstract"][:200] in a for p in BUNDLED) for a in asked)

        again = run_demo(tmp_path, settings, enrich=2, say=lines.append)
        assert again.ingested["new"] == 0 and len(server.chat_requests) == len(asked)
    assert [line[:4] for line in lines if re.match(r"\d/5 ", line)][:5] == ["1/5 ", "2/5 ", "3/5 ", "4/5 ", "5/5 "]
    # one finished card, as a newcomer sees it: title, TL;DR, the six fields and the status
    card = lines[lines.index("", lines.index(next(l for l in lines if l.startswith("3/5 ")))) :]
    assert any(l.startswith("    TL;DR: ") for l in card) and "    status: ok" in card
    assert all(
        any(l.startswith(f"    {label}: ") for l in card)
        for label in ("研究动机", "解决问题", "现象分析", "主要方法", "数据与实验", "主要贡献")
    )


def test_the_demos_publications_show_real_titles_dates_authors_and_arxiv_links(tmp_path):
    with ScriptedServer(responder=card_reply) as server:
        settings = Settings(llm={"backend": "openai", "base_url": server.base_url, "model": "scripted", "api_key": "x"})
        report = run_demo(tmp_path, settings, enrich=1, say=lambda _: None)

    catalog = (tmp_path / "catalog.md").read_text(encoding="utf-8")
    digest = (tmp_path / "digest.md").read_text(encoding="utf-8")
    assert "🎯" in catalog  # an enriched card's reading
    for text in (catalog, digest):
        for paper in BUNDLED:
            assert paper["title"] in text and paper["url"] in text
    for day in {p["published"] for p in BUNDLED}:  # the digest has a page of each first-posting day
        assert f"每日速递 · {day}" in digest
    feed = feedparser.parse((tmp_path / "digest.xml").read_bytes())
    assert sorted(e.link for e in feed.entries) == sorted(p["url"] for p in BUNDLED)

    site = tmp_path / "site"
    pages = {path: path.read_text(encoding="utf-8") for path in site.rglob("*.html")}
    assert f'href="digest/{QWEN3["published"]}.html"' in pages[site / "index.html"]  # the home page lists the days
    assert QWEN3["title"] in pages[site / "digest" / f"{QWEN3['published']}.html"]
    (qwen_page,) = [html for path, html in pages.items() if path.parent.name == "papers" and QWEN3["title"] in html]
    assert QWEN3["authors"][0] in qwen_page and QWEN3["published"] in qwen_page and QWEN3["url"] in qwen_page

    for text in (catalog, digest, *pages.values()):
        assert "（无标题）" not in text and "(untitled)" not in text
    with Store(report.outputs["database"]) as store:  # every paper is filed under a topic
        assert store.count("subarea IS NULL") == 0


def test_the_demo_command_ends_by_saying_where_its_outputs_are(tmp_path):
    with ScriptedServer(responder=card_reply) as server:
        settings = {
            "PAPERSIFT_LLM_BACKEND": "openai",
            "PAPERSIFT_LLM_BASE_URL": server.base_url,
            "PAPERSIFT_LLM_MODEL": "scripted",
            "PAPERSIFT_LLM_API_KEY": "x",
        }
        result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--enrich", "0"], env=settings)
    assert result.exit_code == 0, result.output
    tail = result.output[result.output.index("Done.") :]
    for name in ("catalog (HTML)", "digest (Markdown)", "static site"):
        assert name in tail
    assert str((tmp_path / "demo" / "site" / "index.html").resolve()) in tail.replace("\n", "")
