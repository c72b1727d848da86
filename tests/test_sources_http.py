"""The HTTP layer under every network source: politeness, retries, and clear errors for
hostile or broken responses (served from a loopback server, never the network)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from fixtures.sources.loopback import Loopback, Reply, fixture, in_turn

from papersift.config import NetSettings
from papersift.sources.base import SourceError
from papersift.sources.http import HttpClient, RateLimiter, retry_after_seconds


class Sleeps(list):
    """A stand-in for time.sleep that records what it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server():
    with Loopback() as s:
        yield s


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def client(sleeps: Sleeps, **net) -> HttpClient:
    return HttpClient(NetSettings(arxiv_delay=0, max_retries=3, **net), sleep=sleeps)


def test_every_request_carries_the_descriptive_user_agent(server, sleeps):
    server.route("/x", Reply(b"<ok/>"))
    client(sleeps, user_agent="papersift-test/1.0 (mailto:me@example.org)").get(server.url("/x"))
    assert server.requests[0].headers["user-agent"] == "papersift-test/1.0 (mailto:me@example.org)"


def test_503_with_retry_after_is_retried_after_the_time_the_server_asked_for(server, sleeps):
    server.route(
        "/oai", in_turn(Reply(b"busy", 503, "text/plain", {"Retry-After": "7"}), fixture("oai_no_records.xml"))
    )
    page = client(sleeps).get(server.url("/oai"))
    assert page.status == 200 and b"noRecordsMatch" in page.content
    assert len(server.requests) == 2
    assert sleeps == [7.0]


def test_429_and_5xx_back_off_exponentially_then_give_up_naming_the_url(server, sleeps):
    server.route("/down", Reply(b"oops", 502, "text/plain"))
    with pytest.raises(SourceError) as err:
        client(sleeps).get(server.url("/down"), params={"q": "x"})
    assert "/down?q=x" in str(err.value) and "HTTP 502" in str(err.value) and "4 attempts" in str(err.value)
    assert len(server.requests) == 4
    assert len(sleeps) == 3 and sleeps[0] < sleeps[2]  # backoff grows (jitter is at most 1 s)


def test_a_client_error_is_not_retried(server, sleeps):
    server.route("/missing", Reply(b"not here", 404, "text/plain"))
    with pytest.raises(SourceError, match=r"/missing: HTTP 404 .*not here"):
        client(sleeps).get(server.url("/missing"))
    assert len(server.requests) == 1


def test_a_server_asking_for_an_absurd_wait_is_an_error_not_a_hang(server, sleeps):
    server.route("/slow", Reply(b"", 503, "text/plain", {"Retry-After": "86400"}))
    with pytest.raises(SourceError, match="retry after 86400 s"):
        client(sleeps).get(server.url("/slow"))
    assert sleeps == []


def test_retry_after_as_an_http_date():
    now = datetime(2025, 1, 7, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(later, now=now.timestamp) == pytest.approx(30)
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("soon") is None


def test_the_rate_limit_spaces_requests_to_one_host_only():
    sleeps = Sleeps()
    limiter = RateLimiter({"export.arxiv.org": 3.0}, sleeps)
    limiter.wait("export.arxiv.org")
    limiter.wait("export.arxiv.org")
    limiter.wait("api2.openreview.net")
    assert len(sleeps) == 1 and 2.5 < sleeps[0] <= 3.0


def test_arxiv_hosts_get_the_configured_delay():
    c = HttpClient(NetSettings(arxiv_api_url="http://127.0.0.1:9/api/query", arxiv_delay=3.0))
    assert c.limiter.delays["127.0.0.1:9"] == 3.0 and c.limiter.delays["export.arxiv.org"] == 3.0


def test_a_response_over_the_size_cap_is_refused(server, sleeps):
    server.route("/huge", Reply(b"<a>" + b"x" * 5000 + b"</a>"))
    c = HttpClient(NetSettings(), sleep=sleeps, max_bytes=1000)
    with pytest.raises(SourceError, match="too large"):
        c.get(server.url("/huge"))


def test_a_compression_bomb_is_caught_by_the_same_cap(server, sleeps):
    bomb = gzip.compress(b"<a>" + b" " * 200_000 + b"</a>")
    server.route("/gz", Reply(bomb, headers={"Content-Encoding": "gzip"}))
    c = HttpClient(NetSettings(), sleep=sleeps, max_bytes=50_000)
    assert len(bomb) < 50_000
    with pytest.raises(SourceError, match="too large"):
        c.get(server.url("/gz"))


def test_an_html_error_page_instead_of_xml_or_json_is_named_as_such(server, sleeps):
    server.route("/page", fixture("error.html", content_type="text/html"))
    page = client(sleeps).get(server.url("/page"))
    with pytest.raises(SourceError, match=r"expected XML, got an HTML page: .*Service temporarily unavailable"):
        page.xml()
    with pytest.raises(SourceError, match="expected JSON, got an HTML page"):
        page.json()


def test_truncated_xml_is_a_clear_error(server, sleeps):
    body = (fixture("arxiv_page1.xml").body)[:1500]
    server.route("/cut", Reply(body))
    with pytest.raises(SourceError, match="malformed or truncated XML"):
        client(sleeps).get(server.url("/cut")).xml()


def test_an_entity_bomb_is_refused_before_it_expands(server, sleeps):
    server.route("/bomb", fixture("bomb.xml"))
    page = client(sleeps).get(server.url("/bomb"))
    with pytest.raises(SourceError, match="refused hostile XML"):
        page.xml()
    with pytest.raises(SourceError, match="refused hostile XML"):
        list(page.iterxml({"item"}))


def test_a_connection_failure_is_retried_then_reported(sleeps):
    with Loopback() as gone:
        url = gone.url("/x")
    with pytest.raises(SourceError, match=r"connection failed.*gave up after 4 attempts"):
        client(sleeps).get(url)


def test_an_external_entity_is_never_resolved(server, sleeps):
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    server.route("/xxe", Reply(xxe))
    with pytest.raises(SourceError, match="refused hostile XML"):
        client(sleeps).get(server.url("/xxe")).xml()
