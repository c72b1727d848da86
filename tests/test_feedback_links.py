"""Signed "more / less like this" links: the daily email carries them, the web app of the same store
acts on them after one confirming click, and a link that was changed, made elsewhere or is too old
acts on nothing."""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from web_papers import fill

from papersift import curation
from papersift.config import load_settings
from papersift.daily.picks_digest import DailyDigest, DigestPaper
from papersift.daily.synthesis import Synthesis
from papersift.deliver import DeliveryContext, make_channels
from papersift.deliver.email import feedback_links
from papersift.publish.view import PaperView
from papersift.store import Store
from papersift.web import create_app

WEB_URL = "http://127.0.0.1:8000"
TOKEN = "feedback-links-token-0123456789"


@pytest.fixture
def papers(tmp_path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "papers.db"
    with Store(path) as store:
        ids = fill(store)
    return path, ids


def digest_of(paper_id: str) -> DailyDigest:
    view = PaperView(
        id=paper_id,
        source="arxiv",
        title="Sparse attention",
        area_label="LLM",
        subarea_label="Reasoning",
        status="pending",
    )
    return DailyDigest(
        id=1,
        day=date(2026, 12, 7),
        lang="zh",
        considered=1,
        synthesis=Synthesis(status="off", text=""),
        papers=[DigestPaper(rank=1, score=0.5, why=["new since the last run"], view=view)],
    )


def email_links(path: Path, paper_id: str, web_url: str | None = WEB_URL) -> list[str]:
    """The links of the HTML part of the daily email, as the email channel writes it."""
    settings = load_settings(db=path, web_url=web_url)
    (channel,) = make_channels([{"type": "email", "from": "papersift@localhost", "to": ["reader@localhost"]}])
    with Store(path) as store:
        message = channel.message(digest_of(paper_id), feedback_links(DeliveryContext(store=store, settings=settings)))
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    links = [unescape(href) for href in re.findall(r'href="([^"]+/feedback/[^"]+)"', html)]
    assert all(link in text for link in links)  # the plain-text part carries the same links
    return links


def split(link: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(link)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def marks(path: Path, paper_id: str) -> curation.Curation:
    with Store(path) as store:
        return curation.get(store, paper_id)


def test_the_email_has_a_more_and_a_less_link_for_each_pick_pointing_at_the_web_app(papers):
    path, ids = papers
    up, down = email_links(path, ids["sparse"])
    assert up.startswith(f"{WEB_URL}/feedback/up?") and down.startswith(f"{WEB_URL}/feedback/down?")
    assert split(up)[1]["paper"] == ids["sparse"]


def test_without_web_url_the_email_has_no_feedback_links(papers):
    path, ids = papers
    assert email_links(path, ids["sparse"], web_url=None) == []


def test_opening_a_link_changes_nothing_and_the_confirming_click_records_it(papers):
    path, ids = papers
    _, down = email_links(path, ids["sparse"])
    route, query = split(down)
    with TestClient(create_app(load_settings(db=path)), base_url="http://127.0.0.1") as client:
        page = client.get(route, params=query)
        assert page.status_code == 200 and "少推荐这类" in page.text
        assert not marks(path, ids["sparse"]).hidden  # a mail scanner that opens every link does nothing
        done = client.post(route, data=query)
    assert done.status_code == 200 and "已隐藏" in done.text
    after = marks(path, ids["sparse"])
    assert after.hidden and not after.starred and after.updated_at  # what the next ranking learns from


def test_a_link_answers_without_the_app_s_token_on_a_phone_while_other_pages_still_need_it(papers):
    path, ids = papers
    up, _ = email_links(path, ids["sparse"])
    route, query = split(up)
    app = create_app(load_settings(db=path, web_token=TOKEN))
    with TestClient(app, base_url="http://papers.example.org", client=("203.0.113.7", 40000)) as phone:
        assert phone.post(route, data=query).status_code == 200
        assert phone.get(f"/papers/{ids['sparse']}").status_code == 401
    assert marks(path, ids["sparse"]).starred


FORGERIES = {
    "another paper": lambda q, ids: {**q, "paper": ids["agents"]},
    "the other verdict": lambda q, ids: q,  # the up link's signature sent to /feedback/down
    "a later expiry": lambda q, ids: {**q, "until": str(int(q["until"]) + 86400)},
    "a made-up signature": lambda q, ids: {**q, "sig": "A" * len(q["sig"])},
    "no signature": lambda q, ids: {**q, "sig": ""},
    "a signature of other characters": lambda q, ids: {**q, "sig": "签名" + q["sig"][2:]},
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_changed_link_is_refused_and_marks_nothing(papers, forgery):
    path, ids = papers
    up, _ = email_links(path, ids["sparse"])
    _, query = split(up)
    route = "/feedback/down" if forgery == "the other verdict" else "/feedback/up"
    forged = FORGERIES[forgery](query, ids)
    with TestClient(create_app(load_settings(db=path)), base_url="http://127.0.0.1") as client:
        for response in (client.get(route, params=forged), client.post(route, data=forged)):
            assert response.status_code == 403 and "无效" in response.text, (forgery, response.status_code)
    for paper_id in ids.values():
        assert marks(path, paper_id) == curation.Curation(paper_id=paper_id)


def test_a_link_of_another_store_is_refused(papers, tmp_path):
    path, ids = papers
    other = tmp_path / "other.db"
    with Store(other) as store:
        fill(store)
    route, query = split(email_links(other, ids["sparse"])[0])
    with TestClient(create_app(load_settings(db=path)), base_url="http://127.0.0.1") as client:
        assert client.post(route, data=query).status_code == 403
    assert not marks(path, ids["sparse"]).starred


def test_an_expired_link_is_refused_and_says_so(papers):
    path, ids = papers
    with Store(path) as store:
        month_ago = curation.FeedbackLinks.of(store, WEB_URL, clock=lambda: 1_000_000_000.0)
        route, query = split(month_ago.url(ids["sparse"], "up"))
    with TestClient(create_app(load_settings(db=path)), base_url="http://127.0.0.1") as client:
        response = client.post(route, data=query)
    assert response.status_code == 403 and "已过期" in response.text
    assert not marks(path, ids["sparse"]).starred


def test_the_store_keeps_its_key_so_a_link_outlives_the_run_that_made_it(papers):
    path, _ = papers
    with Store(path) as store:
        first = store.signing_key(curation.LINK_KEY)
    with Store(path) as store:
        assert store.signing_key(curation.LINK_KEY) == first and len(first) == 32


def test_the_links_of_one_message_expire_together_however_long_it_takes_to_write(papers):
    path, ids = papers
    ticks = iter(range(1_000_000_000, 1_000_000_100))
    with Store(path) as store:
        links = curation.FeedbackLinks.of(store, WEB_URL, clock=lambda: float(next(ticks)))
        assert links.url(ids["sparse"], "up") == links.url(ids["sparse"], "up")
