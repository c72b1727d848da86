"""The static site at scale: a contents page instead of one page of every card, topics paged,
papers without a date under their own heading, and an index that the site's search runs over
(the browser half of search is in test_web_browser.py)."""

from __future__ import annotations

import json
import re

import feedparser
import pytest
from publications import PAPERS, build_store
from typer.testing import CliRunner

from papersift.cli import app
from papersift.publish import site


@pytest.fixture
def built(tmp_path):
    store, ids = build_store(tmp_path / "site.db")
    yield store, ids, tmp_path / "site"
    store.close()


def links(page) -> list[str]:
    return re.findall(r'href="([^"]+)"', page.read_text(encoding="utf-8"))


def test_the_catalog_is_a_contents_page_linking_every_topic_with_its_count(built):
    store, _, out = built
    site.build_site(store, out, "zh")
    catalog = out / "catalog.html"
    html = catalog.read_text(encoding="utf-8")
    assert 'class="card' not in html  # 100,000 cards are never one page
    topics = [link for link in links(catalog) if link.startswith("topics/")]
    assert sorted(topics) == sorted(p.relative_to(out).as_posix() for p in (out / "topics").glob("*.html"))
    assert "推理与思维链</a> · 4 篇" in html  # ok, failed, pending and the hostile paper
    cards = sum(p.read_text(encoding="utf-8").count('<article class="card') for p in (out / "topics").glob("*.html"))
    assert cards == len(PAPERS)


def test_a_topic_larger_than_a_page_is_paged_each_page_linking_the_next(built, monkeypatch):
    store, _, out = built
    monkeypatch.setattr(site, "PAGE", 3)
    site.build_site(store, out, "zh")
    pages = sorted((out / "topics").glob("reasoning-cot*.html"))
    assert [p.name for p in pages] == ["reasoning-cot-2.html", "reasoning-cot.html"]
    first, second = (out / "topics" / "reasoning-cot.html"), (out / "topics" / "reasoning-cot-2.html")
    assert first.read_text(encoding="utf-8").count('<article class="card') == 3
    assert second.read_text(encoding="utf-8").count('<article class="card') == 1
    assert "第 1 / 2 页" in first.read_text(encoding="utf-8") and "reasoning-cot-2.html" in links(first)
    assert "reasoning-cot.html" in links(second)
    for page in pages:  # a card's title leads to its paper's page, from the topics folder
        for link in links(page):
            if not link.startswith(("https://", "#")):
                assert (page.parent / link).resolve().is_file(), (page, link)


def test_papers_without_a_date_are_under_their_own_heading_never_a_day(built):
    store, ids, out = built
    report = site.build_site(store, out, "zh")
    undated = (out / "digest" / "undated.html").read_text(encoding="utf-8")
    assert PAPERS["pending"].title in undated and "<h1>未注明日期 · 1 篇</h1>" in undated
    days = [p for p in (out / "digest").glob("2*.html")]
    assert len(days) == report.days and all(PAPERS["pending"].title not in p.read_text("utf-8") for p in days)
    assert "未注明日期</a> · 1 篇" in (out / "digest" / "index.html").read_text(encoding="utf-8")
    feed = (out / "feed.xml").read_text(encoding="utf-8")
    assert PAPERS["pending"].title not in feed and PAPERS["ok"].title in feed


def test_the_search_index_holds_what_a_reader_searches_and_no_refused_translation(built):
    store, ids, out = built
    site.build_site(store, out, "zh")
    script = (out / "search-index.js").read_text(encoding="utf-8")
    index = json.loads(script.removeprefix("window.PAPERSIFT_INDEX = ").rstrip().rstrip(";"))
    rows = {row["h"]: row for row in index["papers"]}
    assert set(rows) == {f"papers/{i}.html" for i in ids.values()}
    ok = rows[f"papers/{ids['ok']}.html"]
    assert (ok["t"], ok["z"], ok["d"], ok["r"], ok["s"]) == (
        PAPERS["ok"].title,
        "ok的中文标题",
        "2025-05-20",
        3,
        "reasoning-cot",
    )
    assert "scaling" in ok["k"] and index["topics"]["reasoning-cot"] == "推理与思维链"
    assert rows[f"papers/{ids['flagged']}.html"]["z"] is None  # a flagged card lends nothing, not its title


def test_publish_site_says_when_the_feeds_have_no_address_of_the_readers(built, monkeypatch):
    store, _, out = built
    run = lambda: CliRunner().invoke(app, ["--db", str(store.path), "publish", "site", "--out", str(out)])  # noqa: E731
    assert run().exit_code == 0 and "set --site-url" in run().output
    monkeypatch.setenv("PAPERSIFT_SITE_URL", "https://papers.example.org/")
    said = run()
    assert said.exit_code == 0 and "wrote" in said.output and "site-url" not in said.output
    for feed in ("feed.xml", "atom.xml"):  # the channel's link is the site, not the feed itself
        assert feedparser.parse((out / feed).read_bytes()).feed.link == "https://papers.example.org/", feed


def test_a_day_larger_than_a_page_is_paged_its_groups_cut_where_a_page_ends(built, monkeypatch):
    store, _, out = built
    monkeypatch.setattr(site, "PAGE", 3)
    site.build_site(store, out, "zh", digest_order="category")
    first, second = out / "digest" / "2025-05-21.html", out / "digest" / "2025-05-21-2.html"
    html = first.read_text(encoding="utf-8"), second.read_text(encoding="utf-8")
    assert [h.count('class="entry') for h in html] == [3, 1]  # the day's 4 dated papers
    assert all("<h1>每日速递 · 2025-05-21 · 4 篇</h1>" in h for h in html)  # the whole day's count
    assert "2025-05-21-2.html" in links(first) and "2025-05-21.html" in links(second)
    assert not (out / "digest" / "2025-05-20-2.html").exists()  # 2 papers: one page
    groups = [re.findall(r'<h2 class="group">([^<]+)</h2>', h) for h in html]
    assert sum(len(g) for g in groups) >= 2 and groups[1]  # a page opens with its group's heading


def test_paging_keeps_every_paper_once_in_order():
    from papersift.publish.digest import DigestDay, DigestGroup

    groups = [
        DigestGroup.model_construct(key=k, label=k, papers=[f"{k}{i}" for i in range(n)])
        for k, n in (("a", 5), ("b", 2))
    ]
    pages = site.paged(DigestDay.model_construct(day=None, count=7, groups=groups), 3)
    assert [[p for g in page.groups for p in g.papers] for page in pages] == [
        ["a0", "a1", "a2"],
        ["a3", "a4", "b0"],
        ["b1"],
    ]
    assert [[g.key for g in page.groups] for page in pages] == [["a"], ["a", "b"], ["b"]]
