"""arXiv OAI-PMH harvests: resumption tokens, deleted records, OAI errors, both formats,
and incremental runs. Fixtures follow arXiv's OAI-PMH templates (ListRecords, arXivRaw, arXiv)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fixtures.sources.loopback import Loopback, Reply, fixture
from typer.testing import CliRunner

from papersift.cli import app
from papersift.config import NetSettings
from papersift.models import Paper
from papersift.sources import oai
from papersift.sources.base import RecordError, SourceError
from papersift.sources.http import HttpClient


def two_pages(request):
    return fixture("oai_raw_page2.xml" if "resumptionToken" in request.query else "oai_raw_page1.xml")


@pytest.fixture
def server():
    with Loopback() as s:
        s.route("/oai", two_pages)
        yield s


@pytest.fixture
def client():
    with HttpClient(NetSettings(arxiv_delay=0)) as c:
        yield c


def harvest(client, server, **kwargs):
    return list(oai.list_records(client, base_url=server.url("/oai"), **kwargs))


def test_resumption_tokens_are_followed_to_the_empty_final_token(client, server):
    items = harvest(client, server, set_spec="cs", date_from="2025-01-01")
    assert len(server.requests) == 2
    assert server.requests[0].query == {
        "verb": "ListRecords",
        "metadataPrefix": "arXivRaw",
        "set": "cs",
        "from": "2025-01-01",
    }
    assert server.requests[1].query == {"verb": "ListRecords", "resumptionToken": "7072712|1001"}
    papers = [i for i in items if isinstance(i, Paper)]
    assert [p.arxiv_id for p in papers] == ["2501.00001", "2501.00003"]
    assert oai.Deleted("2501.00002", "2025-01-08") in items
    (bad,) = [i for i in items if isinstance(i, RecordError)]
    assert "oai:arXiv.org:2501.00004" in bad.where and "title or an abstract" in bad.reason


def test_arxivraw_fields_versions_and_latex(client, server):
    first, second = [i for i in harvest(client, server) if isinstance(i, Paper)]
    assert first.source == "arxiv-oai" and first.version == 1
    assert first.title == r"Sparse $\nabla$-Attention: Linear-Time Transformers with $O(n \log n)$ Memory"
    assert first.abstract.endswith("cost & keeps 99.1% of its accuracy on <b>LRA</b>.")
    assert first.authors == ["José Ñúñez", "王小明"]
    assert first.extra["affiliations"] == {"José Ñúñez": ["Universidad de Chile, Santiago"]}
    assert first.extra["submitter"] == "José Ñúñez" and first.extra["license"].startswith("http://creativecommons")
    assert first.extra["oai_sets"] == ["cs:cs:CL", "cs:cs:LG"] and first.extra["oai_datestamp"] == "2025-01-07"
    assert second.version == 2 and second.published == date(2025, 1, 2) and second.updated == date(2025, 1, 7)
    assert second.authors == ["Grace Hopper", "Alan Turing", "Edsger W. Dijkstra"]
    assert second.doi == "10.5555/agents.1" and second.extra["dois"] == ["10.5555/agents.1", "10.5555/agents.1b"]
    assert second.venue == "J. Agents 1 (2025) 1-20"
    assert second.extra["report-no"] == "TR-2025-01" and second.extra["msc-class"] == "68T05"
    assert [v["size"] for v in second.extra["versions"]] == ["300kb", "310kb"]
    assert second.url_pdf == "https://arxiv.org/pdf/2501.00003v2"


def test_the_arxiv_format_has_structured_authors(client):
    with Loopback() as s:
        s.route("/oai", fixture("oai_arxiv_format.xml"))
        (paper,) = list(oai.list_records(client, base_url=s.url("/oai"), metadata_prefix="arXiv"))
    assert s.requests[0].query["metadataPrefix"] == "arXiv"
    assert paper.authors == ["Grace Hopper", "Alan Turing", "Martin Luther King Jr"]
    assert paper.extra["affiliations"] == {"Grace Hopper": ["Yale"]}
    assert paper.published == date(2025, 1, 2) and paper.updated == date(2025, 1, 7)
    assert paper.extra["license"].startswith("http://arxiv.org/licenses")


def test_no_records_match_is_an_empty_harvest_not_an_error(client):
    with Loopback() as s:
        s.route("/oai", fixture("oai_no_records.xml"))
        assert list(oai.list_records(client, base_url=s.url("/oai"), date_from="2030-01-01")) == []


def test_a_bad_resumption_token_is_a_clear_error(client):
    with Loopback() as s:
        s.route(
            "/oai",
            lambda r: fixture("oai_bad_token.xml") if "resumptionToken" in r.query else fixture("oai_raw_page1.xml"),
        )
        with pytest.raises(SourceError, match=r"OAI-PMH error badResumptionToken: .*expired.*start the harvest again"):
            list(oai.list_records(client, base_url=s.url("/oai")))


def test_an_unknown_format_is_refused_before_asking(client, server):
    with pytest.raises(SourceError, match="unknown OAI metadata format 'oai_dc'"):
        harvest(client, server, metadata_prefix="oai_dc")
    assert server.requests == []


def test_a_deleted_record_marks_the_stored_paper_withdrawn(client, server, store):
    store.upsert(
        Paper(
            source="arxiv", source_id="2501.00002", arxiv_id="2501.00002", title="A Withdrawn Study of Token Dropping"
        )
    )
    report = oai.sync(store, client, base_url=server.url("/oai"))
    assert report.new == 2 and report.updated == 1 and len(report.errors) == 1
    paper = store.get(store.resolve("2501.00002"))
    assert paper.withdrawn and paper.title == "A Withdrawn Study of Token Dropping"
    assert [r.source for r in store.records_of(paper.id)] == ["arxiv", "arxiv-oai"]


def test_incremental_harvests_start_from_the_last_datestamp(client, server, store):
    oai.sync(store, client, base_url=server.url("/oai"), set_spec="cs")
    server.requests.clear()
    again = oai.sync(store, client, base_url=server.url("/oai"), set_spec="cs")
    assert server.requests[0].query["from"] == "2025-01-08"
    assert again.new == 0 and again.unchanged == 2
    server.requests.clear()
    oai.sync(store, client, base_url=server.url("/oai"), set_spec="cs", full=True)
    assert "from" not in server.requests[0].query


def test_an_html_page_instead_of_xml_stops_the_harvest_clearly(client):
    with Loopback() as s:
        s.route("/oai", fixture("error.html", content_type="text/html"))
        with pytest.raises(SourceError, match="expected XML, got an HTML page"):
            list(oai.list_records(client, base_url=s.url("/oai")))


def test_503_with_retry_after_then_success(store):
    pages = [Reply(b"", 503, "text/plain", {"Retry-After": "2"})]
    sleeps = []
    with Loopback() as s, HttpClient(NetSettings(arxiv_delay=0), sleep=sleeps.append) as client:
        s.route("/oai", lambda r: pages.pop() if pages else two_pages(r))
        report = oai.sync(store, client, base_url=s.url("/oai"))
    assert report.new == 2 and sleeps == [2.0]


def test_cli_ingest_oai(server, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERSIFT_NET_ARXIV_OAI_URL", server.url("/oai"))
    monkeypatch.setenv("PAPERSIFT_NET_ARXIV_DELAY", "0")
    result = CliRunner().invoke(
        app, ["--db", str(tmp_path / "o.db"), "ingest", "oai", "--set", "cs", "--from", "2025-01-01", "--json"]
    )
    assert result.exit_code == 1, result.output  # one record is not a paper: named, and the rest imported
    report = json.loads(result.stdout)
    assert report["new"] == 2 and report["invalid"] == 1 and "2501.00004" in report["errors"][0]
    bad = CliRunner().invoke(app, ["--db", str(tmp_path / "o.db"), "ingest", "oai", "--format", "marc"])
    assert bad.exit_code == 2 and "use one of arXivRaw, arXiv" in bad.output
