"""OpenReview API v2: a venue's notes page by page, ``{"value": ...}`` unwrapping, withdrawn
submissions, errors, incremental runs. Fixtures follow the v2 ``/notes`` response format."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fixtures.sources.loopback import Loopback, fixture
from typer.testing import CliRunner

from papersift.cli import app
from papersift.config import NetSettings
from papersift.sources import openreview
from papersift.sources.base import SourceError
from papersift.sources.http import HttpClient

VENUE = "ICLR.cc/2025/Conference"


def by_offset(request):
    return fixture({"0": "openreview_page1.json", "2": "openreview_page2.json"}.get(request.query["offset"], "openreview_page2.json"))


@pytest.fixture
def server():
    with Loopback() as s:
        s.route("/notes", by_offset)
        yield s


@pytest.fixture
def client():
    with HttpClient(NetSettings()) as c:
        yield c


def fetch(client, server, **kwargs):
    return list(openreview.submissions(client, VENUE, base_url=server.url(""), page_size=2, **kwargs))


def test_pages_follow_offset_until_count(client, server):
    papers = fetch(client, server)
    assert [p.openreview_id for p in papers] == ["aBcD123xyz", "wItHdRaWn1", "nOkEyWoRd5"]
    assert [(r.query["offset"], r.query["limit"]) for r in server.requests] == [("0", "2"), ("2", "2")]
    assert server.requests[0].query["content.venueid"] == VENUE


def test_all_submissions_uses_the_submission_invitation(client, server):
    fetch(client, server, all_submissions=True)
    assert server.requests[0].query["invitation"] == f"{VENUE}/-/Submission"


def test_v2_content_is_unwrapped_and_every_field_kept(client, server):
    paper = fetch(client, server)[0]
    assert paper.source == "openreview" and paper.source_id == "aBcD123xyz"
    assert paper.title == r"Gradient Surgery for $\ell_1$-Regularised Mixture-of-Experts"
    assert r"$\{g : \|g\|_1 \le \tau\}$" in paper.abstract
    assert paper.authors == ["Zoë Ångström", "李雷"]
    assert paper.keywords == ["mixture of experts", "sparsity", "optimisation"]
    assert paper.tldr.startswith("Project conflicting expert gradients")
    assert paper.venue == "ICLR 2025 Poster" and paper.categories == ["foundation or frontier models, including LLMs"]
    assert paper.url_abs == "https://openreview.net/forum?id=aBcD123xyz"
    assert paper.url_pdf == "https://openreview.net/pdf/0123456789abcdef0123456789abcdef01234567.pdf"
    assert paper.published == date(2025, 1, 27) and paper.updated == date(2025, 2, 17)
    extra = paper.extra
    assert extra["venueid"] == VENUE and extra["primary_area"].startswith("foundation")
    assert extra["authorids"] == ["~Zoë_Ångström1", "~Lei_Li9"] and extra["_bibtex"].startswith("@inproceedings")
    assert extra["number"] == 4242 and extra["license"] == "CC BY 4.0" and extra["cdate"] == 1727452800000
    assert not paper.withdrawn


def test_withdrawn_and_minimal_submissions(client, server):
    _, withdrawn, minimal = fetch(client, server)
    assert withdrawn.withdrawn and withdrawn.url_pdf is None
    assert minimal.keywords == [] and minimal.tldr is None and minimal.venue is None


def test_an_api_error_message_is_shown(client):
    with Loopback() as s:
        s.route("/notes", fixture("openreview_error.json", status=400))
        with pytest.raises(SourceError, match=r"OpenReview error \(HTTP 400\): offset must be a number"):
            list(openreview.submissions(client, VENUE, base_url=s.url("")))


def test_an_html_page_instead_of_json_is_a_clear_error(client):
    with Loopback() as s:
        s.route("/notes", fixture("error.html", content_type="text/html"))
        with pytest.raises(SourceError, match="expected JSON, got an HTML page"):
            list(openreview.submissions(client, VENUE, base_url=s.url("")))


def test_incremental_runs_ask_for_notes_created_since_the_newest(client, server, store):
    first = openreview.sync(store, client, VENUE, base_url=server.url(""))
    assert first.new == 3
    server.requests.clear()
    openreview.sync(store, client, VENUE, base_url=server.url(""))
    assert server.requests[0].query["mintcdate"] == str(1727539200000 + 1)
    server.requests.clear()
    openreview.sync(store, client, VENUE, base_url=server.url(""), full=True)
    assert "mintcdate" not in server.requests[0].query


def test_cli_ingest_openreview(server, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERSIFT_NET_OPENREVIEW_API_URL", server.url(""))
    result = CliRunner().invoke(app, ["--db", str(tmp_path / "or.db"), "ingest", "openreview", VENUE, "--max", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new"] == 1
    assert server.requests[0].query["limit"] == "1"
