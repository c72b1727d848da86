"""Publishing: the catalog (format A), the daily digest (format B) and the static site.

Everything runs on a small fixed store built here: hand-written cards for an enriched paper,
plus one whose enrichment failed, one flagged by the guard, one never enriched, one with LaTeX,
a titleless one, and one whose title, abstract and link try to inject HTML and script.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import feedparser
import html5lib
import pytest
from publications import LATEX, PAPERS, TODAY, build_store, card
from typer.testing import CliRunner

from papersift.cli import app
from papersift.models import Enrichment, Paper
from papersift.publish import catalog, digest, site
from papersift.publish.render import environment, inline_assets
from papersift.publish.view import view_of
from papersift.store import Store


@pytest.fixture
def fixed(tmp_path):
    store, ids = build_store(tmp_path / "fixed.db")
    yield store, ids
    store.close()


def positions(text: str, *needles: str) -> list[int]:
    """Where each needle first occurs after the previous one; fails naming a missing one."""
    found, start = [], 0
    for needle in needles:
        at = text.find(needle, start)
        assert at >= 0, f"{needle!r} missing (or out of order) after position {start}"
        found.append(at)
        start = at + len(needle)
    return found


def card_block(markdown: str, heading_text: str) -> str:
    """The Markdown of the card whose title heading contains ``heading_text`` (breadcrumb included)."""
    cards = re.split(r"\n(?=[^\n]+ › [^\n]+\n\n#### )", markdown)
    matches = [c for c in cards if re.search(r"^#### .*" + re.escape(heading_text), c, re.M)]
    assert len(matches) == 1, f"expected one card for {heading_text!r}, found {len(matches)}"
    return matches[0]


# --- catalog (format A) ---------------------------------------------------------------------


def test_catalog_groups_by_area_and_subarea_with_counts_largest_first(fixed):
    store, _ = fixed
    text = catalog.to_markdown(catalog.build_catalog(store, "zh"))
    # the area given by its label (the shared data's way) and by its key are one area
    assert text.count("## 基础/前沿模型 (含LLM) · 7 篇") == 1
    positions(text, "### 推理与思维链 · 4 篇", "### Agent 与工具使用 · 2 篇", "### 效率与压缩 · 1 篇")
    assert text.count("\n#### ") == len(PAPERS)  # nothing dropped


def test_catalog_follows_a_user_order_of_subareas(fixed):
    store, _ = fixed
    text = catalog.to_markdown(catalog.build_catalog(store, "zh", order=["efficiency-compression"]))
    positions(text, "### 效率与压缩 · 1 篇", "### 推理与思维链 · 4 篇", "### Agent 与工具使用 · 2 篇")


def test_a_catalog_card_has_every_element_in_the_documented_order(fixed):
    store, _ = fixed
    block = card_block(catalog.to_markdown(catalog.build_catalog(store, "zh")), "Scaling Reasoning Models")
    positions(
        block,
        "基础/前沿模型 (含LLM) › 推理与思维链",
        "#### [Scaling Reasoning Models](https://arxiv.org/abs/2505.00001)",
        "[ok的中文标题](https://arxiv.org/abs/2505.00001)",
        "`#reasoning` `#scaling`",  # the author's keywords, not the generated ones
        "**TL;DR**：ok一句话总结",  # the author's TL;DR (translated): not marked generated
        "- 🎯 **研究动机**：ok的动机",
        "- ❓ **解决问题**：ok的问题",
        "- 🔍 **现象分析**：ok的现象",
        "- 🛠️ **主要方法**：ok的方法",
        "- 📊 **数据与实验**：ok的实验",
        "- ⭐ **主要贡献**：ok的贡献",
        "<details>",
        "<summary>查看完整摘要</summary>",
        "We scale reasoning to 42% better accuracy.",
        "</details>",
    )
    assert "ok关键词" not in block and "（生成）" not in block


def test_a_generated_tldr_and_generated_keywords_are_used_when_the_source_has_none(fixed):
    store, _ = fixed
    block = card_block(catalog.to_markdown(catalog.build_catalog(store, "zh")), "Gradients in")
    positions(block, "`#latex关键词`", "**TL;DR**（生成）：latex一句话总结")


@pytest.mark.parametrize(
    ("heading", "note", "reason"),
    [
        ("A Paper Whose Reading Failed", "解读生成失败，下面是原文摘要。", "the server timed out"),
        ("A Flagged Paper", "忠实性检查未通过", "number 99% not in the abstract"),
        ("A Paper Not Enriched Yet", "尚未解读，下面是原文摘要。", None),
    ],
)
def test_failed_flagged_and_unenriched_papers_show_a_calm_note_and_their_original_abstract(
    fixed, heading, note, reason
):
    store, _ = fixed
    block = card_block(catalog.to_markdown(catalog.build_catalog(store, "zh")), heading)
    abstract = next(p.abstract for p in PAPERS.values() if p.title == heading)
    positions(block, f"> {note}\n", abstract)
    assert reason is None or reason not in block  # the checks' messages are for the model and `papers show`
    assert "🎯" not in block and "的动机" not in block and "的中文标题" not in block  # a refused card lends nothing


def test_a_refused_card_names_what_the_checks_found_in_the_readers_words(tmp_path):
    paper = PAPERS["flagged"]
    with Store(tmp_path / "r.db") as store:
        pid = store.upsert(paper)[0]
        store.save_enrichment(
            Enrichment(
                paper_id=pid,
                lang="zh",
                status="poor",
                card=card("poor"),
                reasons=[
                    "quality: reading.method: repeats tldr (100% of ...); make each field say something of its own"
                ],
                problems=["repeated", "length"],
            )
        )
        text = catalog.to_markdown(catalog.build_catalog(store, "zh"))
    assert "> 质量检查未通过：字段重复、篇幅失当\n" in text and "repeats tldr" not in text
    assert "poor关键词" not in text and "poor一句话总结" not in text and paper.abstract in text


def test_latex_stays_as_written_in_markdown(fixed):
    store, _ = fixed
    text = catalog.to_markdown(catalog.build_catalog(store, "zh"))
    assert LATEX in text
    assert "#### [Gradients in $O(n^2)$](https://arxiv.org/abs/2505.00005)" in text


def test_a_titleless_paper_shows_its_translated_title(fixed):
    store, ids = fixed
    built = catalog.build_catalog(store, "zh")
    view = next(p for a in built.areas for s in a.subareas for p in s.papers if p.id == ids["titleless"])
    assert view.untitled and view.title == "titleless的中文标题"
    assert "#### titleless的中文标题\n" in catalog.to_markdown(built)  # no link: the source gave none


def test_a_titleless_unenriched_paper_shows_the_start_of_its_abstract(tmp_path):
    with Store(tmp_path / "t.db") as store:
        store.upsert(Paper(source="file", abstract="Only an abstract here, nothing else."))
        text = catalog.to_markdown(catalog.build_catalog(store, "zh"))
    assert "#### （无标题） Only an abstract here, nothing else." in text
    assert "### 未分类 · 1 篇" in text


def test_english_labels(fixed):
    store, ids = fixed
    store.save_enrichment(Enrichment(paper_id=ids["ok"], lang="en", status="ok", card=card("en"), tldr_generated=False))
    text = catalog.to_markdown(catalog.build_catalog(store, "en"))
    for label in (
        "### Reasoning & chain-of-thought · 4 papers",
        "### Efficiency & compression · 1 paper\n",
        "🎯 **Motivation**: ",
        "📊 **Data & experiments**: ",
        "<summary>Show abstract</summary>",
        "Not read yet; the original abstract follows.",
    ):
        assert label in text


def test_catalog_json_has_the_same_content_as_the_markdown(fixed):
    store, _ = fixed
    built = catalog.build_catalog(store, "zh")
    doc = json.loads(catalog.to_json(built))
    cards = [p for a in doc["areas"] for s in a["subareas"] for p in s["papers"]]
    text = catalog.to_markdown(built)
    assert len(cards) == len(PAPERS)
    for c in cards:
        assert c["title"].split("…")[0].replace("<", "&lt;") in text
        assert c["refused"] or all(item["text"] in text for item in c["reading"])  # a refused reading is folded away
        assert c["status"] in ("ok", "flagged", "failed", "pending")
    assert [s["label"] for s in doc["areas"][0]["subareas"]] == ["推理与思维链", "Agent 与工具使用", "效率与压缩"]


def test_catalog_html_parses_cleanly_and_uses_only_local_assets(fixed):
    store, _ = fixed
    built = catalog.build_catalog(store, "zh")
    for html in (catalog.to_html(built), catalog.to_html(built, inline=inline_assets())):
        assert_clean_html(html)
        assert not re.search(r"""(src|href)=["']?(https?:)?//(?!arxiv\.org)""", html)  # no CDN
    page = catalog.to_html(built, static_url="../static")
    assert 'href="../static/katex/katex.min.css"' in page and "<details" in page and "查看完整摘要" in page


def assert_clean_html(html: str) -> None:
    parser = html5lib.HTMLParser(strict=True)
    parser.parse(html)  # raises on any parse error
    assert '<meta charset="utf-8">' in html and 'name="viewport"' in html


def test_markdown_neutralises_tags_but_keeps_latex(fixed):
    store, _ = fixed
    texts = [
        catalog.to_markdown(catalog.build_catalog(store, "zh")),
        digest.to_markdown(digest.build_digest(store, "zh", everything=True)),
    ]
    for text in texts:
        prose = re.sub(r"`[^`]*`", "", text)  # code spans (keyword tags) show their content literally
        assert not re.search(r"<(script|img|a|b)\b", prose), "raw HTML from the store in Markdown"
        assert "&lt;script>window.__xss = 'title'&lt;/script>Evil &lt;b>bold&lt;/b> paper" in text
    assert LATEX in texts[0]


def test_templates_escape_everything_from_the_store(fixed):
    store, _ = fixed
    html = catalog.to_html(catalog.build_catalog(store, "zh"))
    assert "<script>window.__xss" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__xss = &#39;title&#39;&lt;/script&gt;" in html
    assert "javascript:" not in html.replace("&lt;a href=&#34;javascript:", "")  # only as escaped text


# --- digest (format B) ----------------------------------------------------------------------


def test_digest_entries_have_title_translated_link_and_paragraph(fixed):
    store, _ = fixed
    text = digest.to_markdown(digest.build_digest(store, "zh", on=date(2025, 5, 20)))
    positions(
        text,
        "# 每日速递 · 2025-05-20 · 2 篇",
        "## Scaling Reasoning Models\n[ok的中文标题](https://arxiv.org/abs/2505.00001)\n\nok的速递段落，含 42% 的提升。\n",
        "## A Paper Whose Reading Failed\n[原文页面](https://arxiv.org/abs/2505.00002)\n\n> 解读生成失败",
        "The original abstract of the failed paper.",
    )
    assert "2505.00003" not in text  # another day


def test_digest_orders_by_score_or_category(fixed):
    store, _ = fixed
    by_score = digest.to_markdown(digest.build_digest(store, "zh", on=date(2025, 5, 20), order="score"))
    positions(by_score, "## A Paper Whose Reading Failed", "## Scaling Reasoning Models")
    by_category = digest.to_markdown(digest.build_digest(store, "zh", on=date(2025, 5, 21), order="category"))
    positions(
        by_category,
        "**基础/前沿模型 (含LLM) › Agent 与工具使用 · 2 篇**",
        "## A Flagged Paper",
        "## titleless的中文标题",
        "**基础/前沿模型 (含LLM) › 推理与思维链 · 1 篇**",
        "## &lt;script>window.__xss",
        "**基础/前沿模型 (含LLM) › 效率与压缩 · 1 篇**",
        "## Gradients in $O(n^2)$",
    )


def test_digest_days_since_and_all(fixed):
    store, _ = fixed
    days = lambda d: [str(day.day) for day in d.days]  # noqa: E731
    assert days(digest.build_digest(store, "zh", since=date(2025, 5, 21))) == [str(TODAY), "2025-05-21"]
    # a paper without a published date belongs to the day it was stored
    assert days(digest.build_digest(store, "zh", everything=True)) == [str(TODAY), "2025-05-21", "2025-05-20"]
    with pytest.raises(ValueError):
        digest.build_digest(store, "zh", on=date(2025, 5, 20), everything=True)


def test_the_default_digest_is_everything_since_the_last_digest(fixed):
    store, ids = fixed
    first = digest.build_digest(store, "zh")  # never published: the newest day
    assert [d.day for d in first.days] == [TODAY]
    digest.mark_published(store, digest.build_digest(store, "zh", on=date(2025, 5, 20)))
    assert [d.day for d in digest.build_digest(store, "zh").days] == [TODAY, date(2025, 5, 21)]
    digest.mark_published(store, first)
    assert digest.build_digest(store, "zh").days == []
    store.upsert(Paper(source="file", title="Tomorrow's paper", abstract="New.", published=date(2999, 1, 1)))
    assert [p.title for p in digest.build_digest(store, "zh").papers] == ["Tomorrow's paper"]


def test_a_second_default_digest_says_there_is_nothing_new_and_writes_nothing(fixed, tmp_path):
    store, _ = fixed
    out = tmp_path / "digest.md"
    first = CliRunner().invoke(app, ["--db", str(store.path), "publish", "digest", "-o", str(out)])
    assert first.exit_code == 0 and out.exists()
    out.unlink()
    second = CliRunner().invoke(app, ["--db", str(store.path), "publish", "digest", "-o", str(out)])
    assert second.exit_code == 0 and not out.exists()
    assert f"no papers after {TODAY}, the newest day of the last digest: nothing written" in second.output


def test_rss_feed_validates_with_stable_guids(fixed):
    store, ids = fixed
    feeds = [digest.to_feed(digest.build_digest(store, "zh", everything=True)) for _ in range(2)]
    assert feeds[0] == feeds[1]
    parsed = feedparser.parse(feeds[0])
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    guids = [e.id for e in parsed.entries]
    assert len(guids) == len(PAPERS) == len(set(guids))
    assert {"arxiv:2505.00001", "arxiv:2505.00002", f"papersift:{ids['titleless']}"} <= set(guids)
    ok = next(e for e in parsed.entries if e.id == "arxiv:2505.00001")
    assert ok.title == "ok的中文标题" and ok.link == "https://arxiv.org/abs/2505.00001"
    assert "ok的速递段落" in ok.summary
    atom = feedparser.parse(digest.to_feed(digest.build_digest(store, "zh", everything=True), kind="atom"))
    assert not atom.bozo and atom.version == "atom10" and [e.id for e in atom.entries] == guids


def test_digest_html_and_json(fixed):
    store, _ = fixed
    built = digest.build_digest(store, "zh", everything=True)
    assert_clean_html(digest.to_html(built))
    one_day = digest.build_digest(store, "zh", on=date(2025, 5, 20))
    page = digest.to_html(one_day)
    assert_clean_html(page)
    assert "<h1>每日速递 · 2025-05-20 · 2 篇</h1>" in page
    doc = json.loads(digest.to_json(built))
    assert sum(len(g["papers"]) for d in doc["days"] for g in d["groups"]) == len(PAPERS)


# --- the static site ------------------------------------------------------------------------


def test_site_links_resolve_on_a_plain_file_server(fixed, tmp_path):
    store, ids = fixed
    report = site.build_site(store, tmp_path / "site", "zh")
    out = tmp_path / "site"
    assert report.papers == len(PAPERS) and report.days == 2  # the undated paper is under its own heading
    for name in (
        "index.html",
        "catalog.html",
        "catalog.md",
        "catalog.json",
        "feed.xml",
        "atom.xml",
        "digest/index.html",
        "digest/2025-05-20.html",
        "digest/2025-05-20.md",
        "digest/undated.html",
        "search.html",
        "search-index.js",
        "static/search.js",
        f"papers/{ids['ok']}.html",
        "static/katex/katex.min.js",
        "static/katex/fonts/KaTeX_Main-Regular.woff2",
    ):
        assert (out / name).is_file(), name
    assert not list(out.rglob("*.part"))
    pages = list(out.rglob("*.html"))
    topics = list((out / "topics").glob("*.html"))
    assert topics  # one page a sub-area: fewer than a page of cards each
    # index, catalog, search; digest index, days and undated; topics; papers
    assert len(pages) == 3 + 1 + 2 + 1 + len(topics) + len(PAPERS)
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert_clean_html(html)
        for link in re.findall(r'(?:href|src)="([^"]+)"', html):
            if link.startswith(("https://", "#")):
                continue
            assert not link.startswith("/"), f"{page}: absolute link {link}"
            assert (page.parent / link.split("#")[0]).resolve().is_file(), f"{page}: broken link {link}"
    assert not feedparser.parse((out / "feed.xml").read_bytes()).bozo


def test_the_site_feed_carries_only_the_newest_papers(fixed, tmp_path):
    store, _ = fixed
    everything, undated = site.dated(digest.build_digest(store, "zh", everything=True))
    site.build_site(store, tmp_path / "site", "zh", feed_items=2)
    entries = feedparser.parse((tmp_path / "site" / "feed.xml").read_bytes()).entries
    assert [e.id for e in entries] == [p.guid for p in everything.papers[:2]]
    assert len(everything.papers) > 2 and undated and all(p.published for p in everything.papers)
    pages = list((tmp_path / "site" / "digest").glob("*.html"))
    assert len(pages) == 1 + len(everything.days) + 1  # the index, every day kept, the undated papers


# --- command line ---------------------------------------------------------------------------


def test_cli_writes_each_publication_atomically(fixed, tmp_path, monkeypatch):
    store, _ = fixed
    monkeypatch.setenv("PAPERSIFT_DB", str(store.path))
    runner = CliRunner()
    for args, name in (
        (["publish", "catalog", "--format", "md"], "c.md"),
        (["publish", "catalog", "--format", "html", "--lang", "en"], "c.html"),
        (["publish", "digest", "--all", "--format", "rss"], "d.xml"),
        (["publish", "digest", "--date", "2025-05-20", "--format", "json"], "d.json"),
    ):
        result = runner.invoke(app, [*args, "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).stat().st_size > 0 and not (tmp_path / f"{name}.part").exists()
    assert "Show abstract" in (tmp_path / "c.html").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))["days"][0]["day"] == "2025-05-20"
    result = runner.invoke(app, ["publish", "site", "--out", str(tmp_path / "site"), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["papers"] == len(PAPERS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["publish", "catalog", "--format", "pdf"], "unknown format 'pdf'"),
        (["publish", "digest", "--date", "yesterday"], "'yesterday' is not a date"),
        (["publish", "digest", "--date", "2025-05-20", "--all"], "choose one of"),
        (["publish", "digest", "--order", "random"], "unknown order 'random'"),
    ],
)
def test_cli_rejects_bad_options_clearly(fixed, monkeypatch, args, message):
    monkeypatch.setenv("PAPERSIFT_DB", str(fixed[0].path))
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and message in " ".join(result.output.split())


def test_environment_is_shared_with_the_web_ui():
    env = environment("en")
    assert env.autoescape  # callable that says yes for every template
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    for name in ("base.html", "_card.html", "_digest_entry.html", "catalog.html", "paper.html"):
        env.get_template(name)


def test_one_paper_as_the_web_ui_sees_it(fixed):
    store, ids = fixed
    view = view_of(store, ids["flagged"], "zh")
    assert view.status == "flagged" and view.reasons == ["number 99% not in the abstract"]
    assert view.breadcrumb == "基础/前沿模型 (含LLM) › Agent 与工具使用" and view.guid == "arxiv:2505.00003"
    html = environment("zh").get_template("_card.html").render(p=view)
    assert "note-flagged" in html and "flagged的动机" in html
    with pytest.raises(KeyError):
        view_of(store, "missing", "zh")


def test_a_hugging_face_paper_links_arxiv_first_keeps_the_authors_tldr_and_shows_its_provenance(tmp_path):
    with Store(tmp_path / "hf.db") as store:
        paper_id, _ = store.upsert(
            Paper(
                source="hf",
                source_id="2505.09388",
                arxiv_id="2505.09388",
                version=2,
                title="Qwen3 Technical Report",
                abstract="We present Qwen3.",
                tldr="Qwen3 unifies thinking and non-thinking modes.",
                url_abs="https://huggingface.co/papers/2505.09388",
                published=date(2025, 5, 20),
            )
        )
        long_digest = "第一段：Qwen3 的方法。\n\n第二段：Qwen3 的结果。"
        store.save_enrichment(
            Enrichment(
                paper_id=paper_id,
                lang="zh",
                status="ok",
                model="qwen3-8b",
                tldr_generated=False,
                prompt_version="abc123",
                paper_version=2,
                created_at=datetime(2025, 5, 21, tzinfo=UTC),
                card=card("ok").model_copy(update={"tldr": "Qwen3 统一了思考与非思考模式。", "digest": long_digest}),
            )
        )
        day = digest.build_digest(store, "zh", on=date(2025, 5, 20))
        text = digest.to_markdown(day)
        html = digest.to_html(day)
        view = day.papers[0]

    assert (
        view.link == "https://arxiv.org/abs/2505.09388" and view.alt_link == "https://huggingface.co/papers/2505.09388"
    )
    positions(
        text,
        "(https://arxiv.org/abs/2505.09388)",
        "(https://huggingface.co/papers/2505.09388)",
        "第一段：Qwen3 的方法。\n\n第二段：Qwen3 的结果。",
        "Qwen3 统一了思考与非思考模式。",
        "Qwen3 unifies thinking and non-thinking modes.",
        "qwen3-8b · prompt abc123 · 2025-05-21 · v2",
    )
    positions(
        html,
        'href="https://arxiv.org/abs/2505.09388"',
        'href="https://huggingface.co/papers/2505.09388"',
        '<p class="digest tex">第一段',
        '<p class="digest tex">第二段',
        'lang="en">(作者原文：Qwen3 unifies thinking',
        'data-model="qwen3-8b"',
    )
    assert json.loads(digest.to_json(day))["days"][0]["groups"][0]["papers"][0]["provenance"] == {
        "model": "qwen3-8b",
        "prompt_version": "abc123",
        "created": "2025-05-21",
        "paper_version": 2,
        "stale": False,
    }


def test_the_feeds_channel_link_is_the_site_url_the_user_configures(fixed, monkeypatch):
    store, _ = fixed
    monkeypatch.setenv("PAPERSIFT_SITE_URL", "https://papers.example.org/")
    result = CliRunner().invoke(app, ["--db", str(store.path), "publish", "digest", "--all", "--format", "rss"])
    channel = feedparser.parse(result.stdout.encode()).feed
    assert result.exit_code == 0 and channel.link == "https://papers.example.org/"
