"""OpenReview API v2: a venue's notes page by page, ``{"value": ...}`` unwrapping, withdrawn
submissions, errors, incremental runs. Fixtures follow the v2 ``/notes`` response format."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fixtures.sources.loopback import FIXTURES, Loopback, Reply, fixture
from typer.testing import CliRunner

from papersift.cli import app
from papersift.config import NetSettings
from papersift.sources import openreview
from papersift.sources.base import SourceError
from papersift.sources.http import HttpClient

VENUE = "ICLR.cc/2025/Conference"


def by_offset(request):
    return fixture(
        {"0": "openreview_page1.json", "2": "openreview_page2.json"}.get(
            request.query["offset"], "openreview_page2.json"
        )
    )


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


class Venue:
    """A venue's notes served like API v2: paged by offset, newest edit first when asked."""

    def __init__(self, honour_sort: bool = True):
        pages = [
            json.loads((FIXTURES / name).read_text())["notes"]
            for name in ("openreview_page1.json", "openreview_page2.json")
        ]
        self.notes = [note for page in pages for note in page]
        for n, note in enumerate(self.notes):
            note["tmdate"] = 1_740_000_000_000 + n  # every v2 note has one; the fixtures lack some
        self.honour_sort = honour_sort

    def __call__(self, request):
        notes = self.notes
        if request.query.get("sort") == "tmdate:desc" and self.honour_sort:
            notes = sorted(notes, key=lambda note: -note["tmdate"])
        offset, limit = int(request.query["offset"]), int(request.query["limit"])
        return Reply(
            json.dumps({"notes": notes[offset : offset + limit], "count": len(notes)}).encode(),
            content_type="application/json",
        )

    def edit(self, note_id, **content):
        note = next(note for note in self.notes if note["id"] == note_id)
        note["content"].update({name: {"value": value} for name, value in content.items()})
        note["tmdate"] = max(note["tmdate"] for note in self.notes) + 1


def sync(client, venue, **kwargs):
    with Loopback() as s:
        s.route("/notes", venue)
        report = openreview.sync(client=client, venue_id=VENUE, base_url=s.url(""), **kwargs)
        return report, s.requests


def test_an_incremental_run_fetches_only_notes_edited_since_the_last_one(client, store):
    venue = Venue()
    report, requests = sync(client, venue, store=store)
    assert report.new == 3 and "sort" not in requests[0].query

    report, requests = sync(client, venue, store=store)
    assert (report.new, report.updated) == (0, 0)
    assert len(requests) == 1 and requests[0].query["sort"] == "tmdate:desc"  # stopped at the first old note

    venue.edit("nOkEyWoRd5", venue="ICLR 2025 Poster", venueid=VENUE)  # the decision is posted
    report, _ = sync(client, venue, store=store)
    assert (report.new, report.updated, report.unchanged) == (0, 1, 0)
    assert store.get(store.resolve("openreview:nOkEyWoRd5")).venue == "ICLR 2025 Poster"

    report, requests = sync(client, venue, store=store, full=True)
    assert report.unchanged == 3 and "sort" not in requests[0].query


def test_a_server_that_ignores_the_sort_order_is_a_clear_error(client, store):
    venue = Venue(honour_sort=False)
    sync(client, venue, store=store)
    venue.edit("wItHdRaWn1", venue="Withdrawn Submission")
    with pytest.raises(SourceError, match=r"not newest-edit first .* --full"):
        sync(client, venue, store=store)


def test_cli_ingest_openreview(server, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERSIFT_NET_OPENREVIEW_API_URL", server.url(""))
    result = CliRunner().invoke(
        app, ["--db", str(tmp_path / "or.db"), "ingest", "openreview", VENUE, "--max", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new"] == 1
    assert server.requests[0].query["limit"] == "1"
