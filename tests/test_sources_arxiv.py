"""arXiv's export API (Atom): paging, field mapping, incremental runs, new versions, the CLI.

Fixtures in tests/fixtures/sources/arxiv_*.xml follow the API's documented Atom format and
are served from a loopback server.
"""

from __future__ import annotations

import json
from datetime import date
from xml.sax.saxutils import escape, quoteattr

import pytest
from fixtures.sources.loopback import Loopback, Reply, fixture
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from papersift.cli import app
from papersift.config import NetSettings
from papersift.sources import arxiv
from papersift.sources.base import HarvestInterrupted, SourceError
from papersift.sources.http import Fetched, HttpClient

PAGES = {"0": "arxiv_page1.xml", "2": "arxiv_page2.xml"}


@pytest.fixture
def server():
    with Loopback() as s:
        s.route("/api/query", lambda r: fixture(PAGES.get(r.query.get("start"), "arxiv_empty.xml")))
        yield s


@pytest.fixture
def client():
    with HttpClient(NetSettings(arxiv_delay=0)) as c:
        yield c


def fetch(client, server, query=None, **kwargs):
    return list(
        arxiv.search(
            client,
            query or arxiv.ArxivQuery(category="cs.CL"),
            base_url=server.url("/api/query"),
            page_size=2,
            **kwargs,
        )
    )


def test_pages_are_followed_until_total_results(client, server):
    papers = fetch(client, server)
    assert [p.arxiv_id for p in papers] == ["2501.00001", "2501.00002", "hep-th/9901001"]
    assert [r.query["start"] for r in server.requests] == ["0", "2"]  # 3 results: no third request
    assert server.requests[0].query["search_query"] == "cat:cs.CL"
    assert server.requests[0].query["max_results"] == "2"


def test_every_atom_field_is_mapped_and_latex_kept(client, server):
    paper = fetch(client, server)[0]
    assert paper.arxiv_id == "2501.00001" and paper.version == 1 and paper.source == "arxiv"
    assert paper.title == r"Sparse $\nabla$-Attention: Linear-Time Transformers with $O(n \log n)$ Memory"
    assert paper.abstract.startswith(r"We study attention whose cost grows as $O(n^2)$")
    assert r"\emph{Sparse $\nabla$-Attention}" in paper.abstract and "cost & keeps" in paper.abstract
    assert paper.abstract.endswith("accuracy on <b>LRA</b>.")
    assert paper.authors == ["José Ñúñez", "王小明"]
    assert paper.extra["affiliations"] == {"José Ñúñez": ["Universidad de Chile"]}
    assert paper.categories == ["cs.CL", "cs.LG"] and paper.extra["primary_category"] == "cs.CL"
    assert paper.extra["comment"].startswith("12 pages")
    assert paper.published == date(2025, 1, 6) and paper.extra["published_at"] == "2025-01-06T18:59:59Z"
    assert paper.url_abs == "https://arxiv.org/abs/2501.00001"
    assert paper.url_pdf == "http://arxiv.org/pdf/2501.00001v1"
    assert not paper.withdrawn


def test_withdrawn_papers_doi_and_journal_ref(client, server):
    paper = fetch(client, server)[1]
    assert paper.withdrawn and paper.version == 2
    assert paper.doi == "10.1234/example.5678"
    assert paper.venue == "Proc. ACL 2025, pp. 1-10"
    assert paper.extra["links"] == [
        {"title": "doi", "href": "http://dx.doi.org/10.1234/Example.5678", "rel": "related"}
    ]


def test_missing_fields_and_old_style_ids(client, server):
    paper = fetch(client, server)[2]
    assert paper.arxiv_id == "hep-th/9901001" and paper.authors == []
    assert paper.url_pdf == "https://arxiv.org/pdf/hep-th/9901001v1"  # no pdf link given: built from the id


def test_an_empty_page_ends_the_harvest_even_without_a_total(client):
    with Loopback() as s:
        s.route(
            "/api/query",
            lambda r: (
                fixture("arxiv_page1.xml" if r.query["start"] == "0" else "arxiv_empty.xml")
                if r.query["start"] in ("0", "2")
                else Reply(b"never asked", 500)
            ),
        )
        # page 1 claims 3 results, the next page is empty: stop there
        assert len(fetch(client, s)) == 2
        assert len(s.requests) == 2


def test_max_limits_the_number_of_papers_and_the_page_size(client, server):
    assert len(fetch(client, server, limit=1)) == 1
    assert server.requests[0].query["max_results"] == "1"


def test_query_building():
    q = arxiv.ArxivQuery(
        category="cs.CL", search="large language models", date_from=date(2025, 1, 1), date_until=date(2025, 1, 31)
    )
    assert (
        q.search_query() == 'cat:cs.CL AND all:"large language models" AND submittedDate:[202501010000 TO 202501312359]'
    )
    assert arxiv.ArxivQuery(search="ti:transformer AND au:vaswani").search_query() == "ti:transformer AND au:vaswani"
    assert arxiv.ArxivQuery(ids=("2501.00001", "2501.00002v2")).params() == {"id_list": "2501.00001,2501.00002v2"}
    with pytest.raises(ValueError):
        arxiv.ArxivQuery()


def test_an_api_error_feed_is_a_clear_error(client):
    with Loopback() as s:
        s.route("/api/query", fixture("arxiv_error.xml", status=400))
        with pytest.raises(SourceError, match="arXiv API error: incorrect id format for 1234.1234v1"):
            list(arxiv.search(client, arxiv.ArxivQuery(ids=("1234.1234v1",)), base_url=s.url("/api/query")))


def test_a_truncated_page_mid_harvest_keeps_the_pages_before_it(client, store):
    with Loopback() as s:
        cut = fixture("arxiv_page2.xml").body[:700]
        s.route("/api/query", lambda r: fixture("arxiv_page1.xml") if r.query["start"] == "0" else Reply(cut))
        with pytest.raises(HarvestInterrupted) as err:
            arxiv.sync(store, client, arxiv.ArxivQuery(category="cs.CL"), base_url=s.url("/api/query"))
    assert "malformed or truncated XML" in str(err.value) and "start=2" in str(err.value)
    assert err.value.report.new == 2 and store.count() == 2  # page 1 is stored, whole
    assert store.get_state("arxiv", arxiv.ArxivQuery(category="cs.CL").state_key()) is None  # cursor not moved


def test_incremental_runs_ask_only_for_newer_submissions(client, server, store):
    query = arxiv.ArxivQuery(category="cs.CL")
    first = arxiv.sync(store, client, query, base_url=server.url("/api/query"))
    assert first.new == 3
    assert store.get_state("arxiv", query.state_key()) == "2025-01-06"
    server.requests.clear()
    again = arxiv.sync(store, client, query, base_url=server.url("/api/query"))
    assert again.new == 0 and again.unchanged == 3
    assert "submittedDate:[202501060000 TO " in server.requests[0].query["search_query"]
    server.requests.clear()
    arxiv.sync(store, client, query, base_url=server.url("/api/query"), full=True)
    assert server.requests[0].query["search_query"] == "cat:cs.CL"


def test_a_new_version_updates_the_paper_and_keeps_the_old_one(client, server, store):
    arxiv.sync(store, client, arxiv.ArxivQuery(category="cs.CL"), base_url=server.url("/api/query"))
    paper_id = store.resolve("2501.00001")
    with Loopback() as s:
        s.route("/api/query", fixture("arxiv_v2.xml"))
        report = arxiv.sync(store, client, arxiv.ArxivQuery(ids=("2501.00001",)), base_url=s.url("/api/query"))
    assert report.updated == 1
    paper = store.get(paper_id)
    assert paper.version == 2 and paper.authors[-1] == "Grace Hopper" and "48%" in paper.abstract
    assert [old.version for old in store.versions_of(paper_id)] == [1]
    assert "53%" in store.versions_of(paper_id)[0].abstract


def test_cli_ingest_arxiv_through_the_loopback_server(server, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERSIFT_NET_ARXIV_API_URL", server.url("/api/query"))
    monkeypatch.setenv("PAPERSIFT_NET_ARXIV_DELAY", "0")
    db = tmp_path / "cli.db"
    result = CliRunner().invoke(
        app, ["--db", str(db), "ingest", "arxiv", "--category", "cs.CL", "--max", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new"] == 2
    shown = CliRunner().invoke(app, ["--db", str(db), "papers", "show", "2501.00001", "--json"])
    assert json.loads(shown.stdout)["title"].startswith(r"Sparse $\nabla$-Attention")


def test_cli_reports_a_server_error_without_a_traceback(tmp_path, monkeypatch):
    with Loopback() as s:
        s.route("/api/query", fixture("error.html", content_type="text/html"))
        monkeypatch.setenv("PAPERSIFT_NET_ARXIV_API_URL", s.url("/api/query"))
        result = CliRunner().invoke(app, ["--db", str(tmp_path / "x.db"), "ingest", "arxiv", "--query", "attention"])
    assert result.exit_code == 3  # the server's fault, not the query's
    assert "expected XML, got an HTML page" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_rejects_a_query_with_nothing_to_ask(tmp_path):
    result = CliRunner().invoke(app, ["--db", str(tmp_path / "x.db"), "ingest", "arxiv"])
    assert result.exit_code == 2 and "--category" in result.output


# --- the Atom entry parser, property-tested -----------------------------------------------

text = (
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60)
    .map(lambda s: " ".join(s.split()))
    .filter(bool)
)
latex = st.sampled_from(
    [r"$O(n^2)$", r"$\nabla_\theta \mathcal{L}$", r"\emph{x}", "&", "<b>", "a < b > c", "中文", "Ñúñez"]
)
new_ids = st.builds(
    lambda y, m, n: f"{y:02d}{m:02d}.{n:05d}", st.integers(7, 99), st.integers(1, 12), st.integers(0, 99999)
)
old_ids = st.builds(
    lambda a, n: f"{a}/{n:07d}", st.sampled_from(["hep-th", "math.AG", "cond-mat"]), st.integers(0, 9999999)
)


@settings(max_examples=60, deadline=None)
@given(
    arxiv_id=st.one_of(new_ids, old_ids),
    version=st.integers(1, 30),
    title=st.lists(st.one_of(text, latex), min_size=1, max_size=4).map(" ".join),
    abstract=st.lists(st.one_of(text, latex), min_size=1, max_size=8).map(" ".join),
    authors=st.lists(text, max_size=5),
    categories=st.lists(st.sampled_from(["cs.CL", "cs.LG", "stat.ML", "hep-th"]), min_size=1, max_size=3, unique=True),
)
def test_atom_entry_round_trip(arxiv_id, version, title, abstract, authors, categories):
    authors_xml = "".join(f"<author><name>{escape(a)}</name></author>" for a in authors)
    cats_xml = "".join(f"<category term={quoteattr(c)}/>" for c in categories)
    feed = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
<opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:totalResults>
<entry><id>http://arxiv.org/abs/{arxiv_id}v{version}</id><published>2025-01-06T18:59:59Z</published>
<title>{escape(title)}</title><summary>{escape(abstract)}</summary>{authors_xml}
<arxiv:primary_category term={quoteattr(categories[0])}/>{cats_xml}</entry></feed>"""
    total, (paper,) = arxiv.parse_feed(Fetched("http://t/api", 200, {}, feed.encode()))
    assert total == 1
    assert (paper.arxiv_id, paper.version) == (arxiv_id, version)
    assert paper.title == title and paper.abstract == abstract
    assert paper.authors == authors and paper.categories == categories
    assert arxiv.id_from_url(paper.url_pdf) == (arxiv_id, version)
