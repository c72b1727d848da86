"""RSS/Atom feeds: arXiv's listing feeds yield arXiv ids, any other feed its entries;
conditional GETs make an unchanged feed cheap; hostile feeds are refused."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fixtures.sources.loopback import Loopback, Reply, fixture
from typer.testing import CliRunner

from papersift.cli import app
from papersift.config import NetSettings
from papersift.sources import rss
from papersift.sources.base import RecordError, SourceError
from papersift.sources.http import HttpClient


@pytest.fixture
def client():
    with HttpClient(NetSettings()) as c:
        yield c


def read(client, name, **reply):
    with Loopback() as s:
        s.route("/feed", fixture(name, **reply))
        return list(rss.parse_feed(client.get(s.url("/feed"))))


def test_arxiv_listing_feeds_give_ids_versions_and_clean_abstracts(client):
    first, second = read(client, "arxiv_rss_cs.CL.xml")
    assert (first.arxiv_id, first.version) == ("2501.00001", 1)
    assert (second.arxiv_id, second.version) == ("2501.00003", 2)
    assert first.abstract.startswith(
        r"We study attention whose cost grows as $O(n^2)$"
    )  # "arXiv:... Announce Type" removed
    assert first.extra["announce_type"] == "new" and second.extra["announce_type"] == "replace-cross"
    assert first.authors == ["José Ñúñez", "王小明"]
    assert first.categories == ["cs.CL", "cs.LG"] and first.published == date(2025, 1, 7)
    assert first.url_abs == "https://arxiv.org/abs/2501.00001" and first.url_pdf == "https://arxiv.org/pdf/2501.00001v1"
    assert first.extra["feed_title"] == "cs.CL updates on arXiv.org"
    assert first.extra["rights"] == "http://creativecommons.org/licenses/by/4.0/"


def test_any_atom_feed(client):
    entry, empty = read(client, "blog_atom.xml")
    assert entry.arxiv_id is None and entry.source_id == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert entry.title == "Why Ränking Matters: A Note on $k$-NN Retrieval"
    assert entry.abstract == "We revisit $k$-NN retrieval and find recall@10 of 0.93."  # HTML stripped, LaTeX kept
    assert entry.authors == ["Marie Curie", "Pierre Curie"] and entry.categories == ["retrieval"]
    assert (
        entry.url_abs == "https://lab.example.org/posts/ranking"
        and entry.url_pdf == "https://lab.example.org/papers/ranking.pdf"
    )
    assert entry.published == date(2025, 1, 4) and entry.updated == date(2025, 1, 5)
    assert isinstance(empty, RecordError) and "entry 2" in empty.where


def test_an_entity_bomb_is_refused(client):
    with pytest.raises(SourceError, match="refused hostile XML"):
        read(client, "bomb.xml")


def test_an_html_page_is_not_a_feed(client):
    with pytest.raises(SourceError, match="expected XML, got an HTML page"):
        read(client, "error.html", content_type="text/html")


def test_something_that_is_not_a_feed_at_all(client):
    with pytest.raises(SourceError, match="not a readable RSS/Atom feed"):
        read(client, "oai_bad_token.xml", content_type="text/plain")


def test_an_unchanged_feed_costs_one_304(client, store):
    def conditional(request):
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(b"", 304)
        return fixture(
            "arxiv_rss_cs.CL.xml", headers={"ETag": '"v1"', "Last-Modified": "Tue, 07 Jan 2025 05:30:00 GMT"}
        )

    with Loopback() as s:
        s.route("/feed", conditional)
        assert rss.sync(store, client, s.url("/feed")).new == 2
        again = rss.sync(store, client, s.url("/feed"))
        assert (again.new, again.unchanged) == (0, 0)
        assert s.requests[1].headers["if-modified-since"] == "Tue, 07 Jan 2025 05:30:00 GMT"
        assert rss.sync(store, client, s.url("/feed"), full=True).unchanged == 2
        assert "if-none-match" not in s.requests[2].headers


def test_cli_ingest_rss(tmp_path):
    with Loopback() as s:
        s.route("/feed", fixture("blog_atom.xml"))
        result = CliRunner().invoke(app, ["--db", str(tmp_path / "r.db"), "ingest", "rss", s.url("/feed"), "--json"])
    assert result.exit_code == 1, result.output  # one entry is not a paper: named, and the rest imported
    report = json.loads(result.stdout)
    assert report["new"] == 1 and report["invalid"] == 1


def test_a_body_that_names_a_local_file_is_not_read_as_that_file(tmp_path):
    from papersift.sources.http import Fetched

    local = tmp_path / "secret.xml"
    local.write_text("<rss><channel><item><title>Private notes</title></item></channel></rss>", encoding="utf-8")
    body = Fetched("http://127.0.0.1:9/feed", 200, {"content-type": "application/rss+xml"}, str(local).encode())
    with pytest.raises(SourceError, match="not a readable RSS/Atom feed"):
        list(rss.parse_feed(body))
