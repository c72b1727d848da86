"""The web app in a real browser: Debian's Chromium driven by Playwright against uvicorn on loopback.

A reader loads the catalog, filters it, searches in English and Chinese, opens a paper, stars
it from the keyboard, reloads and finds it starred, exports the selection; a paper whose title
carries a script runs nothing. Screenshots of the main pages go to test-artifacts/web/.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright import sync_api
from publications import build_store
from serving import served
from web_papers import fill

from papersift.config import load_settings
from papersift.publish import catalog, digest, site
from papersift.publish.render import inline_assets
from papersift.store import Store
from papersift.web import create_app

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "web"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """uvicorn serving a small store on a free loopback port, in a thread."""
    path = tmp_path_factory.mktemp("web") / "browser.db"
    with Store(path) as store:
        ids = fill(store)
    with served(create_app(load_settings(db=path))) as url:
        yield url, ids


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("no /usr/bin/chromium: apt-get install -y chromium fonts-wqy-microhei (make test does)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server[0], accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.set_default_timeout(10_000)
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def card_titles(page) -> list[str]:
    return page.locator(".item .card .title").all_inner_texts()


def test_load_and_filter_the_catalog(page):
    page.goto("/")
    assert "Sparse attention for long-context reasoning" in card_titles(page)
    assert len(card_titles(page)) == 12
    shot(page, "catalog")
    page.click('[data-facet="subarea"] a[data-value="agents-tools"]')
    page.wait_for_url("**/?subarea=agents-tools")
    assert sorted(card_titles(page)) != [] and len(card_titles(page)) == 2
    assert "Tool-using agents that plan with memory" in card_titles(page)
    page.click('a.chip[data-filter="subarea"]')  # remove the filter again
    page.wait_for_url(lambda url: "subarea" not in url)
    assert len(card_titles(page)) == 12


def test_search_in_english_and_chinese(page):
    page.goto("/")
    page.fill('nav.web input[name="q"]', "sparse attention")
    page.press('nav.web input[name="q"]', "Enter")
    page.wait_for_url("**/search?q=sparse+attention")
    assert card_titles(page)[0] == "Sparse attention for long-context reasoning"
    page.fill('nav.web input[name="q"]', "稀疏注意力")
    page.press('nav.web input[name="q"]', "Enter")
    page.wait_for_url("**/search?q=*")
    first = page.locator(".item").first
    assert first.locator(".translated-title").inner_text() == "面向长上下文推理的稀疏注意力"
    shot(page, "search-zh")


def test_open_a_paper_star_it_from_the_keyboard_and_find_it_starred_after_reload(page, server):
    page.goto("/?subarea=efficiency-compression")
    page.keyboard.press("j")
    assert page.locator(".item.is-current").count() == 1
    page.keyboard.press("o")
    page.wait_for_url(f"**/papers/{server[1]['quant']}")
    star = page.locator('.paper-page form.curation button[data-flag="starred"]')
    assert star.get_attribute("aria-pressed") == "false"
    with page.expect_response(lambda r: r.url.endswith("/curation") and r.request.method == "POST") as answer:
        page.keyboard.press("s")
    assert answer.value.status == 200
    page.reload()
    assert page.locator('.paper-page form.curation button[data-flag="starred"]').get_attribute("aria-pressed") == "true"
    assert page.locator(".paper-page.is-starred").count() == 1
    shot(page, "paper")
    page.goto("/?starred=true")
    assert card_titles(page) == ["Two-bit quantization of large language models"]


def test_star_and_hide_with_the_buttons(page, server):
    page.goto("/?source=hf")
    first = page.locator(".item").first
    paper_id = first.get_attribute("data-id")
    with page.expect_response(lambda r: r.url.endswith("/curation")):
        first.locator('button[data-flag="hidden"]').click()
    # the page's script marks the card once the answer is in: wait for it, don't race it
    page.wait_for_function(
        "id => document.querySelector(`.item[data-id='${id}']`).classList.contains('is-hidden')", arg=paper_id
    )
    page.reload()
    assert paper_id not in page.locator(".item").evaluate_all("els => els.map(e => e.dataset.id)")


def test_star_a_paper_on_a_day_s_digest_and_find_it_starred_after_reload(page, server):
    page.goto("/digests/2025-05-02")
    first = page.locator(".item").first
    with page.expect_response(lambda r: r.url.endswith("/curation")):
        first.locator('button[data-flag="starred"]').click()
    page.wait_for_function("() => document.querySelector('.item').classList.contains('is-starred')")
    page.reload()
    assert page.locator(".item").first.locator('button[data-flag="starred"]').get_attribute("aria-pressed") == "true"
    with page.expect_response(lambda r: r.url.endswith("/curation")):  # and off again, for the tests after it
        first.locator('button[data-flag="starred"]').click()


def test_export_the_selection(page):
    page.goto("/?subarea=agents-tools")
    with page.expect_download() as download:
        page.click(".summary .export a:text('BibTeX')")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.count("@") == 2 and "Tool-using agents that plan with memory" in text


def test_a_script_in_a_paper_title_runs_nothing(page, server):
    for url in ("/", f"/papers/{server[1]['evil']}", "/search?q=evil", "/digests/2025-04-20"):
        page.goto(url)
        page.wait_for_load_state("load")
        assert page.evaluate("window.__xss") is None, url
    assert page.dialogs == []
    # the title is shown as the text it is
    page.goto(f"/papers/{server[1]['evil']}")
    assert page.locator(".card .title").first.inner_text().startswith("<script>window.__xss = 1</script>")


def test_stats_charts_and_the_phone_layout(page, browser, server):
    page.goto("/stats")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-subarea'))")
    shot(page, "stats")
    page.goto("/about")
    shot(page, "about")
    page.goto("/digests/2025-05-02")
    shot(page, "digest")
    phone = browser.new_context(base_url=server[0], viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        small = phone.new_page()
        small.goto("/")
        facets, results = small.locator(".facets").bounding_box(), small.locator(".results").bounding_box()
        assert results["y"] > facets["y"]  # stacked, not side by side
        assert results["y"] < 844  # the filters fold away: the papers start on the first screen
        assert small.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
        small.screenshot(path=str(ARTIFACTS / "catalog-phone.png"))
    finally:
        phone.close()


# --- the static publications, opened from files -------------------------------------------------


def test_injected_html_shows_as_text_and_math_renders_in_the_static_pages(browser, tmp_path):
    store, ids = build_store(tmp_path / "fixed.db")
    site.build_site(store, tmp_path / "site", "zh")
    single = tmp_path / "catalog-single.html"
    single.write_text(catalog.to_html(catalog.build_catalog(store, "zh"), inline=inline_assets()), encoding="utf-8")
    day = tmp_path / "digest-all.html"
    day.write_text(
        digest.to_html(digest.build_digest(store, "zh", everything=True), inline=inline_assets()), encoding="utf-8"
    )
    out = tmp_path / "site"
    pages = [
        single,
        day,
        out / "index.html",
        out / "catalog.html",
        out / "topics/reasoning-cot.html",
        out / "topics/efficiency-compression.html",
        out / "digest/2025-05-21.html",
        out / f"papers/{ids['xss']}.html",
    ]
    page = browser.new_page()
    try:
        for path in pages:
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            assert page.evaluate("window.__xss") is None, f"{path.name}: injected script ran"
            assert page.locator("img").count() == 0, f"{path.name}: injected <img> became an element"
            assert page.locator("a[href^='javascript:']").count() == 0, f"{path.name}: a javascript: link"
            if path.name not in ("index.html", "catalog.html", "efficiency-compression.html"):
                page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
                text = page.inner_text("main")
                assert "<script>window.__xss" in text, f"{path.name}: the title is not shown as text"
            if path.name in ("catalog-single.html", "efficiency-compression.html", "digest-all.html"):
                # LaTeX typeset by the vendored KaTeX: no network, no CDN
                expected = 1 if "digest" in path.name else 2  # a digest shows the title, not the abstract
                assert page.locator(".katex").count() >= expected, f"{path.name}: math not rendered"
    finally:
        page.close()


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_the_site_search_finds_a_paper_by_a_chinese_word_filters_and_sorts(browser, tmp_path, width):
    store, ids = build_store(tmp_path / "fixed.db")
    site.build_site(store, tmp_path / "site", "zh")
    page = browser.new_page(viewport={"width": width, "height": 900})
    results = page.locator("#search-results li")
    try:
        page.goto((tmp_path / "site" / "search.html").as_uri() + "?q=" + quote("latex的中文"))
        assert results.count() == 1 and "latex的中文标题" in results.first.inner_text()
        page.fill("input[name=q]", "中文标题")  # the translations of the three cards that passed
        assert results.count() == 3 and page.locator("#search-count").inner_text() == "找到 3 篇"
        page.fill("input[name=q]", "")
        page.select_option("select[name=topic]", "agents-tools")
        assert results.count() == 2
        page.select_option("select[name=topic]", "")
        page.select_option("select[name=sort]", "rank")  # the source's popularity: 9, then 3
        assert [results.nth(i).locator("a").inner_text() for i in range(2)] == [
            "A Paper Whose Reading Failed",
            "ok的中文标题",
        ]
        shot(page, f"site-search-{width}")
        results.first.locator("a").click()
        page.wait_for_url(f"**/papers/{ids['failed']}.html")  # the result leads to the paper's page
    finally:
        page.close()


@contextmanager
def site_paper_page(browser, tmp_path, key: str, width: int, height: int):
    """The static site's page of one paper of the fixed store, open at this size."""
    store, ids = build_store(tmp_path / "fixed.db")
    site.build_site(store, tmp_path / "site", "zh")
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto((tmp_path / "site" / "papers" / f"{ids[key]}.html").as_uri())
        yield page
    finally:
        page.close()


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_a_refused_card_reads_calmly_with_its_details_folded(browser, tmp_path, width):
    with site_paper_page(browser, tmp_path, "flagged", width, 900) as page:
        note = page.locator(".note")
        assert note.locator("p").inner_text().startswith("忠实性检查未通过")
        assert not page.get_by_text("number 99% not in the abstract").is_visible()  # the checks' words, folded
        assert not page.get_by_text("flagged的动机").is_visible()  # the refused reading, folded
        assert page.get_by_text("The original abstract of the flagged paper").is_visible()  # in its place
        shot(page, f"refused-card-{width}")
        page.get_by_text("检查详情").click()
        assert page.get_by_text("number 99% not in the abstract").is_visible()


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_the_paper_page_leads_with_its_links_in_the_first_screen(browser, tmp_path, width):
    with site_paper_page(browser, tmp_path, "ok", width, 700) as page:
        pdf = page.locator(".meta-line a.pdf")
        assert pdf.get_attribute("href") == "https://arxiv.org/pdf/2505.00001"
        box = pdf.bounding_box()
        assert box and box["y"] + box["height"] <= 700  # seen without scrolling
        shot(page, f"paper-{width}")


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_the_layout_holds_in_dark_mode(browser, server, width):
    context = browser.new_context(base_url=server[0], color_scheme="dark", viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        for path in ("/", "/picks", f"/papers/{server[1]['sparse']}"):
            page.goto(path)
            colours = page.evaluate(
                """() => [document.body, document.querySelector('main')].map(e => getComputedStyle(e))
                     .map(s => [s.backgroundColor, s.color])"""
            )
            background, text = colours[0]
            assert luminance(background) < 0.1 and luminance(text) > 0.6, (path, colours)  # light text on dark
            assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing runs off the side
            shot(page, f"dark{path.replace('/', '-').rstrip('-') or '-home'}-{width}")
    finally:
        context.close()


def luminance(css_colour: str) -> float:
    r, g, b = (int(v) / 255 for v in css_colour[css_colour.index("(") + 1 : css_colour.index(")")].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_a_hostile_passage_runs_nothing_on_the_ask_page(browser, tmp_path):
    from scripted import settings_for
    from support.llm_server import ScriptedServer

    from papersift.models import Paper

    path = tmp_path / "ask.db"
    with Store(path) as store:
        store.upsert(
            Paper(
                source="file",
                title="<img src=x onerror=\"window.__xss='title'\">Attention",
                abstract="Attention <script>window.__xss='abstract'</script> helps by 12% on tasks.",
            )
        )
    with ScriptedServer(responder=lambda body: "Attention helps by 12% [1].") as llm:
        with served(create_app(settings_for(llm, path))) as url:
            page = browser.new_page()
            try:
                page.goto(f"{url}/ask?q=How+much+does+attention+help+on+tasks%3F")
                page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
                assert page.evaluate("window.__xss") is None and page.locator("main img").count() == 0
                assert "<script>window.__xss='abstract'</script>" in page.inner_text("main")  # shown as text
            finally:
                page.close()
