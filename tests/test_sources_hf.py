"""Hugging Face daily papers, and the same arXiv paper arriving from every source: the API,
OAI-PMH, HF daily and the arXiv RSS feed merge into one paper with every record kept."""

from __future__ import annotations

from datetime import date

import pytest
from fixtures.sources.loopback import Loopback, fixture

from papersift.config import NetSettings
from papersift.sources import arxiv, hf, oai, rss
from papersift.sources.base import RecordError, SourceError
from papersift.sources.http import HttpClient

DAY = date(2025, 1, 7)


@pytest.fixture
def server():
    with Loopback() as s:
        s.route("/api/daily_papers", fixture("hf_daily_2025-01-07.json"))
        s.route("/api/query", lambda r: fixture({"0": "arxiv_page1.xml", "2": "arxiv_page2.xml"}[r.query["start"]]))
        s.route("/oai", lambda r: fixture("oai_raw_page2.xml" if "resumptionToken" in r.query else "oai_raw_page1.xml"))
        s.route("/rss/cs.CL", fixture("arxiv_rss_cs.CL.xml"))
        yield s


@pytest.fixture
def client():
    with HttpClient(NetSettings(arxiv_delay=0)) as c:
        yield c


def test_a_day_of_papers_with_community_signals_kept(client, server):
    items = list(hf.daily(client, DAY, base_url=server.url("/api")))
    assert server.requests[0].query == {"date": "2025-01-07"}
    paper, untitled, missing = items
    assert paper.source == "hf" and paper.arxiv_id == "2501.00001"
    assert paper.title == r"Sparse $\nabla$-Attention: Linear-Time Transformers with $O(n \log n)$ Memory"
    assert paper.authors == ["José Ñúñez", "王小明"] and paper.published == date(2025, 1, 6)
    assert (
        paper.url_abs == "https://huggingface.co/papers/2501.00001"
        and paper.url_code == "https://github.com/example/nabla"
    )
    assert paper.keywords == []  # HF's ai_keywords are machine-made: kept in extra, not posing as the authors'
    extra = paper.extra
    assert extra["upvotes"] == 42 and extra["numComments"] == 3 and extra["githubStars"] == 310
    assert extra["ai_keywords"] == ["sparse attention", "linear-time transformers", "LRA"]
    assert extra["ai_summary"].startswith("Sparse nabla-attention") and extra["projectPage"].startswith("https://")
    assert extra["submittedOnDailyBy"]["user"] == "akhaliq" and extra["daily_date"] == "2025-01-07"
    assert untitled.abstract is None and untitled.authors == []
    assert isinstance(missing, RecordError) and "item 3" in missing.where and "no id" in missing.reason


def test_an_error_object_instead_of_a_list(client):
    with Loopback() as s:
        s.route("/api/daily_papers", fixture("openreview_error.json"))
        with pytest.raises(SourceError, match="expected a JSON list of papers"):
            list(hf.daily(client, DAY, base_url=s.url("/api")))


def test_a_finished_day_is_fetched_once_today_every_time(client, server, store):
    report = hf.sync(store, client, DAY, base_url=server.url("/api"), today=lambda: date(2025, 1, 8))
    assert report.new == 2 and len(report.errors) == 1
    assert hf.sync(store, client, DAY, base_url=server.url("/api"), today=lambda: date(2025, 1, 8)) is None
    assert len(server.requests) == 1
    assert hf.sync(store, client, DAY, base_url=server.url("/api"), full=True).unchanged == 2
    other = date(2025, 1, 9)  # "today": its list still grows, so no skipping
    hf.sync(store, client, other, base_url=server.url("/api"), today=lambda: other)
    assert hf.sync(store, client, other, base_url=server.url("/api"), today=lambda: other) is not None


def test_the_same_arxiv_paper_from_every_source_is_one_paper(client, server, store):
    arxiv.sync(store, client, arxiv.ArxivQuery(category="cs.CL"), base_url=server.url("/api/query"))
    oai.sync(store, client, base_url=server.url("/oai"))
    hf.sync(store, client, DAY, base_url=server.url("/api"))
    rss.sync(store, client, server.url("/rss/cs.CL"))
    paper_id = store.resolve("2501.00001")
    records = store.records_of(paper_id)
    assert sorted(r.source for r in records) == ["arxiv", "arxiv-oai", "hf", "rss"]
    paper = store.get(paper_id)
    assert paper.url_code == "https://github.com/example/nabla"  # only HF had it: the merge fills the gap
    assert paper.extra["upvotes"] == 42 and paper.extra["primary_category"] == "cs.CL"
    assert store.resolve("2501.00003") != paper_id
    # API: 2501.00001, 2501.00002, hep-th/9901001; OAI adds 2501.00003; HF adds 2501.00005; RSS nothing new
    assert store.count() == 5
    assert store.count("json_extract(data, '$.arxiv_id') = '2501.00001'") == 1
