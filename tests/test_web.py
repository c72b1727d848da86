"""The web app, driven through FastAPI's TestClient on a small store.

What a reader does in a browser, minus the browser (tests/test_web_browser.py drives a real
one): browse with facets and pages, search in English and Chinese, open a paper, curate it,
export a selection; and what an attacker would try: cross-site posts, hostile paper text,
a server on a public address.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web_papers import AREA, fill

from papersift.config import load_settings
from papersift.models import Enrichment, Paper, Topic
from papersift.store import Store
from papersift.web import create_app

BASE = "http://127.0.0.1"

# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "web.db"
    with Store(path) as store:
        ids = fill(store)
    return path, ids


@pytest.fixture
def ids(db):
    return db[1]


@pytest.fixture
def client(db):
    with TestClient(create_app(load_settings(db=db[0])), base_url=BASE) as c:
        c.get("/")  # a first page sets the CSRF cookie, as a browser's first visit does
        yield c


def csrf(client: TestClient) -> dict[str, str]:
    """What the page's JavaScript sends with a change: the token, from a same-origin page."""
    return {"X-CSRF-Token": client.cookies["papersift_csrf"], "Origin": BASE}


def api(client: TestClient, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def titles(payload: dict) -> list[str]:
    return [p["view"]["title"] for p in payload["papers"]]


def facet(payload: dict, name: str) -> dict[str, int]:
    return {v["value"]: v["count"] for v in payload["facets"][name]}


# --- browsing ---------------------------------------------------------------------------------------


def test_catalog_page_shows_cards_with_the_publications_templates(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert '<meta name="viewport"' in html and '<meta charset="utf-8">' in html
    assert "Sparse attention for long-context reasoning" in html
    assert "面向长上下文推理的稀疏注意力" in html  # the translated title from the enrichment
    assert 'class="card status-ok"' in html and 'class="card status-flagged"' in html  # publish's _card.html
    assert "/static/publish/papersift.css" in html and "/static/web/app.js" in html
    assert "built-in method" not in html  # every label is a label
    assert client.get("/static/web/app.js").status_code == 200
    assert client.get("/static/web/vendor/chart.umd.min.js").status_code == 200


def test_facets_count_the_matching_papers(client):
    everything = api(client, "/api/papers")
    assert everything["total"] == 12
    assert facet(everything, "subarea") == {
        "multimodal-foundation": 8,
        "agents-tools": 2,
        "reasoning-cot": 1,
        "efficiency-compression": 1,
    }
    assert facet(everything, "source") == {"hf": 8, "arxiv": 2, "openreview": 1, "rss": 1}
    assert facet(everything, "venue") == {"ICLR 2025": 1}
    assert facet(everything, "month") == {"2025-05": 2, "2025-04": 2, "2025-03": 8}
    assert facet(everything, "status") == {"pending": 10, "ok": 1, "flagged": 1}
    assert facet(everything, "keyword")["diffusion"] == 8
    # generated keywords count only where the source gave none; this paper has its own
    assert "稀疏注意力" not in facet(everything, "keyword")

    narrowed = api(client, "/api/papers?subarea=agents-tools")
    assert narrowed["total"] == 2
    assert facet(narrowed, "source") == {"openreview": 1, "rss": 1}
    html = client.get("/?subarea=agents-tools").text
    assert 'data-filter="subarea"' in html  # the active filter, removable
    assert re.search(r'data-facet="source".*?openreview</a> <span class="count">1</span>', html, re.S)


def test_an_area_given_by_its_label_or_its_key_is_one_facet_value(db):
    path, _ = db
    with Store(path) as store:  # the shared catalog's form: the area's label, not its key
        store.upsert(
            Paper(
                source="file",
                source_id="labelled",
                abstract="Chain-of-thought distillation.",
                topic=Topic(area="基础/前沿模型 (含LLM)", subarea="reasoning-cot"),
            )
        )
    with TestClient(create_app(load_settings(db=path)), base_url=BASE) as client:
        assert facet(api(client, "/api/papers"), "area") == {AREA: 13}


def test_the_spellings_of_one_keyword_are_one_facet_value_and_one_filter(db):
    path, _ = db
    spellings = ["Large Language Models", "LLM", "large language model", "LLMs", "Large Language Models"]
    with Store(path) as store:
        ids = [
            store.upsert(Paper(source="file", source_id=f"kw{i}", abstract=f"Paper {i}.", keywords=[k, "Agents"]))[0]
            for i, k in enumerate(spellings)
        ]
        kept = store.get(ids[3]).keywords  # the paper keeps its own spelling
    assert kept == ["LLMs", "Agents"]
    with TestClient(create_app(load_settings(db=path)), base_url=BASE) as client:
        keywords = facet(api(client, "/api/papers"), "keyword")
        assert keywords["Large Language Models"] == 5  # in the spelling most papers use
        assert keywords["Agents"] == 5 + 1 and "agents" not in keywords  # and "agents" of the fixture: one value
        assert not {"LLM", "LLMs", "large language model"} & set(keywords)
        assert api(client, "/api/papers?keyword=llms")["total"] == 5


def test_filters_combine(client, ids):
    assert titles(api(client, "/api/papers?source=arxiv&month=2025-05")) == [
        "Sparse attention for long-context reasoning"
    ]
    assert titles(api(client, "/api/papers?keyword=quantization")) == ["Two-bit quantization of large language models"]
    assert titles(api(client, "/api/papers?venue=ICLR%202025")) == ["Tool-using agents that plan with memory"]
    assert titles(api(client, "/api/papers?status=flagged")) == ["Tool-using agents that plan with memory"]
    assert api(client, "/api/papers?status=pending")["total"] == 10
    assert api(client, "/api/papers?day=2025-05-02")["total"] == 2
    # a form's empty fields mean "no filter"
    assert api(client, "/api/papers?subarea=&source=&keyword=")["total"] == 12
    assert client.get("/api/papers?month=May").status_code == 422


def test_the_catalog_follows_changes_made_elsewhere(client, db, ids):
    """Another process (ingest, enrich, a classifier) writes to the same file while the app runs."""
    assert api(client, "/api/papers")["total"] == 12
    with Store(db[0]) as store:
        store.upsert(
            Paper(
                source="arxiv",
                source_id="2506.00003",
                title="A brand new paper on agents",
                abstract="Fresh.",
                keywords=["agents"],
                published=date(2025, 6, 1),
                topic=Topic(area=AREA, subarea="agents-tools"),
            )
        )
        store.set_topic(ids["quant"], Topic(area=AREA, subarea="llm-pretraining", origin="model"))
        store.save_enrichment(Enrichment(paper_id=ids["quant"], lang="zh", status="failed", reasons=["timeout"]))
    after = api(client, "/api/papers")
    assert after["total"] == 13 and after["papers"][0]["view"]["title"] == "A brand new paper on agents"
    assert facet(after, "subarea")["agents-tools"] == 3 and facet(after, "subarea")["llm-pretraining"] == 1
    assert "efficiency-compression" not in facet(after, "subarea")
    assert facet(after, "status")["failed"] == 1 and facet(after, "keyword")["agents"] == 2
    assert facet(after, "month")["2025-06"] == 1


def test_a_large_catalog_reloads_in_the_background(db, ids):
    """Above ``sync_below`` papers, new papers show up after a reload that no request waits for."""
    from papersift import curation
    from papersift.search import Filters
    from papersift.search.selection import Catalog

    catalog = Catalog("zh", sync_below=0)
    with Store(db[0]) as store:
        assert catalog.page(store, Filters()).total == 12
        store.upsert(Paper(source="rss", source_id="late", title="A late paper", abstract="Arrived while serving."))
        curation.star(store, ids["sparse"])
        assert catalog.page(store, Filters()).total == 12  # answered from the snapshot it had...
        assert catalog.page(store, Filters(starred=True)).ids == [ids["sparse"]]  # ...with the flags fresh
        catalog.wait_for_refresh()
        assert catalog.page(store, Filters()).total == 13


def test_pages_split_the_selection_newest_first(client):
    pages = [api(client, f"/api/papers?per_page=5&page={n}") for n in (1, 2, 3)]
    assert [p["pages"] for p in pages] == [3, 3, 3]
    seen = [p["view"]["id"] for page in pages for p in page["papers"]]
    assert len(seen) == len(set(seen)) == 12
    dates = [p["view"]["published"] for page in pages for p in page["papers"]]
    assert dates == sorted(dates, reverse=True)
    html = client.get("/?per_page=5&page=2").text
    assert 'rel="prev"' in html and 'rel="next"' in html


def test_search_finds_papers_in_english_and_chinese(client, ids):
    english = api(client, "/api/search?q=sparse+attention")
    assert english["papers"][0]["view"]["id"] == ids["sparse"]
    chinese = api(client, "/api/search?q=稀疏注意力")  # matches the Chinese reading only
    assert chinese["papers"][0]["view"]["id"] == ids["sparse"]
    assert api(client, "/api/search?q=智能体")["total"] == 0  # only in a flagged card, which is not searched
    # filters apply to search too
    assert api(client, "/api/search?q=diffusion&subarea=agents-tools")["total"] == 0
    assert api(client, "/api/search?q=diffusion")["total"] == 8
    page = client.get("/search", params={"q": "长上下文"})
    assert page.status_code == 200 and "面向长上下文推理的稀疏注意力" in page.text
    assert "长上下文" in page.text.split("<h1>", 1)[1]  # the query is echoed (escaped) in the heading


def test_search_is_hybrid_once_the_store_has_vectors(db, ids):
    from papersift.search import embed_store, get_embedder

    settings = load_settings(db=db[0])
    with Store(db[0]) as store:
        embed_store(store, get_embedder(settings))
    with TestClient(create_app(settings), base_url=BASE) as client:
        found = api(client, "/api/search?q=稀疏注意力")
        assert found["mode"] == "hybrid" and found["papers"][0]["view"]["id"] == ids["sparse"]
        assert api(client, "/api/search?q=sparse+attention&mode=lexical")["mode"] == "lexical"
        page = client.get("/search", params={"q": "稀疏注意力"}).text
        assert "检索方式：字词与语义结合" in page and "hybrid" not in page.split("<main", 1)[1]  # in the reader's words
        similar = api(client, f"/api/papers/{ids['filler3']}/similar?limit=3")
        assert {p["view"]["subarea"] for p in similar} == {"multimodal-foundation"}


def test_search_says_how_many_papers_it_finds_by_words_only_and_what_to_run(db, ids):
    from papersift.search import embed_store, get_embedder

    settings = load_settings(db=db[0])
    with TestClient(create_app(settings), base_url=BASE) as client:
        # ingested, never embedded: the page and the API say so
        found = api(client, "/api/search?q=sparse+attention")
        assert found["mode"] == "lexical" and found["papers"][0]["view"]["id"] == ids["sparse"]
        assert found["vectors"]["without_vectors"] == found["vectors"]["papers"] == len(ids)
        assert "papersift embed" in found["vectors"]["notice"]
        page = client.get("/search", params={"q": "稀疏注意力"}).text
        assert f"{len(ids)} / {len(ids)} 篇论文还没有 use-m3 向量" in page and "papersift embed" in page
        # a user who asks for words only is not told about vectors
        assert api(client, "/api/search?q=sparse&mode=lexical")["vectors"] is None
        assert "papersift embed" not in client.get("/search", params={"q": "sparse", "mode": "lexical"}).text

        with Store(db[0]) as store:
            embed_store(store, get_embedder(settings))
            store.upsert(
                Paper(source="rss", source_id="late", title="A paper that arrived after embed", abstract="Late.")
            )
        late = api(client, "/api/search?q=sparse+attention")
        assert late["mode"] == "hybrid" and late["vectors"]["without_vectors"] == 1
        assert f"1 / {len(ids) + 1} 篇论文还没有" in client.get("/search", params={"q": "sparse"}).text

        with Store(db[0]) as store:
            embed_store(store, get_embedder(settings))
        assert api(client, "/api/search?q=sparse+attention")["vectors"] == {
            "model": "use-m3",
            "papers": len(ids) + 1,
            "without_vectors": 0,
            "notice": None,
        }
        assert "papersift embed" not in client.get("/search", params={"q": "sparse"}).text


def test_paper_page_shows_card_abstract_links_and_similar_papers(client, ids):
    page = client.get(f"/papers/{ids['sparse']}")
    assert page.status_code == 200
    html = page.text
    assert "We propose a sparse attention kernel" in html
    assert 'href="https://arxiv.org/abs/2505.00001"' in html
    assert "Ada Lovelace, Alan Turing" in html
    assert 'class="similar"' in html
    # by any of its ids
    assert api(client, "/api/papers/2505.00001")["view"]["id"] == ids["sparse"]
    similar = api(client, f"/api/papers/{ids['filler0']}/similar")
    assert similar and all(p["view"]["subarea"] == "multimodal-foundation" for p in similar[:3])
    assert ids["filler0"] not in [p["view"]["id"] for p in similar]
    assert client.get("/papers/nope").status_code == 404


def test_a_papers_deepdive_is_linked_from_its_page_and_shown(client, db, ids):
    from papersift.enrich.article import DeepDive

    assert client.get(f"/papers/{ids['sparse']}/deepdive").status_code == 404
    assert "/deepdive" not in client.get(f"/papers/{ids['sparse']}").text
    section = {
        "number": 1,
        "title": "背景与目标",
        "subsections": [{"heading": "动机", "paragraphs": ["要点 <b>一</b>"], "bullets": []}],
    }
    dive = DeepDive(
        paper_id=ids["sparse"],
        lang="zh",
        title="Sparse attention for long-context reasoning",
        source_id="arXiv:2505.00001",
        link="https://arxiv.org/abs/2505.00001",
        headline="稀疏注意力 深度解析：长上下文推理",
        lead="一段导语。",
        sections=[section],
        closing={"title": "总结与展望", "paragraphs": ["总结。"], "future_directions": ["方向。"]},
        status="ok",
        length=1600,
        mode="whole",
        calls=1,
    )
    with Store(db[0]) as store:
        store.save_deepdive(ids["sparse"], "zh", dive.model_dump_json())
    assert f'href="/papers/{ids["sparse"]}/deepdive"' in client.get(f"/papers/{ids['sparse']}").text
    page = client.get("/papers/2505.00001/deepdive")  # by any of the paper's ids
    assert page.status_code == 200
    assert '<h1 class="tex">稀疏注意力 深度解析：长上下文推理</h1>' in page.text
    assert "要点 &lt;b&gt;一&lt;/b&gt;" in page.text  # the model's text stays text
    assert f'href="/papers/{ids["sparse"]}"' in page.text


def test_digests_stats_and_about_pages(client, ids):
    days = api(client, "/api/digests")
    assert days[0] == {"key": "2025-05-02", "label": None, "count": 2}
    day = client.get("/digests/2025-05-02").text
    assert "我们提出一种稀疏注意力内核" in day  # the digest paragraph
    assert "Tool-using agents that plan with memory" in day
    assert client.get("/digests/1999-01-01").status_code == 404
    assert client.get("/digests").status_code == 200

    stats = api(client, "/api/stats")
    assert {c["key"]: c["count"] for c in stats["by_subarea"]}["multimodal-foundation"] == 8
    page = client.get("/stats").text
    assert "/static/web/vendor/chart.umd.min.js" in page and 'id="stats-data"' in page
    assert client.get("/about").status_code == 200


def test_rising_keywords_compare_the_last_30_days_with_the_30_before(tmp_path):
    from papersift.web.insights import rising_keywords

    with Store(tmp_path / "rising.db") as store:
        for i, (day, keyword) in enumerate(
            [(date(2025, 6, 30), "agents")] * 4
            + [(date(2025, 5, 20), "agents")]
            + [(date(2025, 6, 10), "rlhf")] * 3
            + [(date(2025, 5, 15), "rlhf")] * 3
        ):
            store.upsert(Paper(source="rss", source_id=str(i), title=f"Paper {i}", keywords=[keyword], published=day))
        rising = rising_keywords(store, "zh", date(2025, 6, 30))
    assert [(k.keyword, k.recent, k.before) for k in rising] == [("agents", 4, 1), ("rlhf", 3, 3)]
    assert rising[0].ratio == 2.5


def test_about_shows_the_llm_without_its_secrets(db):
    settings = load_settings(db=db[0])
    settings.llm.backend = "openai"
    settings.llm.model = "qwen3-8b"
    settings.llm.base_url = "https://user:hunter2@llm.example.org/v1?key=sk-secret"
    settings.llm.api_key = "sk-secret"
    with Store(db[0]) as store:
        store.conn.execute(
            "INSERT INTO llm_calls (backend, model, tokens_in, tokens_out, cost, duration, created_at) VALUES "
            "('openai', 'qwen3-8b', 1000, 200, 0.0125, 1.5, '2025-05-02')"
        )
    with TestClient(create_app(settings), base_url=BASE) as client:
        about = api(client, "/api/about")
        html = client.get("/about").text
    assert about["llm"]["base_url"] == "https://llm.example.org/v1"
    assert about["by_model"][0]["tokens_in"] == 1000 and about["total_cost"] == 0.0125
    for text in (json.dumps(about), html):
        assert "hunter2" not in text and "sk-secret" not in text
    assert "qwen3-8b" in html


# --- curation ---------------------------------------------------------------------------------------


def test_curation_needs_a_same_origin_post_with_the_csrf_token(client, ids):
    url = f"/api/papers/{ids['quant']}/curation"
    assert client.post(url, json={"starred": True}).status_code == 403  # no token, no origin
    assert client.post(url, json={"starred": True}, headers={"Origin": BASE}).status_code == 403  # no token
    wrong = {**csrf(client), "Origin": "https://evil.example"}
    assert client.post(url, json={"starred": True}, headers=wrong).status_code == 403
    forged = {"X-CSRF-Token": "x" * 43, "Origin": BASE}
    assert client.post(url, json={"starred": True}, headers=forged).status_code == 403
    assert api(client, f"/api/papers/{ids['quant']}")["curation"]["starred"] is False

    response = client.post(url, json={"starred": True, "note": "  read this first "}, headers=csrf(client))
    assert response.status_code == 200
    assert response.json() | {"updated_at": None} == {
        "paper_id": ids["quant"],
        "starred": True,
        "hidden": False,
        "read": False,
        "note": "read this first",
        "updated_at": None,
    }
    assert client.post(url, json={"read": True}, headers=csrf(client)).json()["starred"] is True  # others kept
    assert titles(api(client, "/api/papers?starred=true")) == ["Two-bit quantization of large language models"]
    assert titles(api(client, "/api/papers?read=true")) == ["Two-bit quantization of large language models"]
    assert facet(api(client, "/api/papers"), "flags") == {"starred": 1, "read": 1, "hidden": 0}


def test_the_forms_work_without_javascript(client, ids):
    token = client.cookies["papersift_csrf"]
    url = f"/papers/{ids['agents']}/curation"
    refused = client.post(url, data={"hidden": "true", "next": "/"}, headers={"Origin": BASE})
    assert refused.status_code == 403
    done = client.post(
        url,
        data={"hidden": "true", "next": "/?page=1", "csrf_token": token},
        headers={"Referer": f"{BASE}/"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/?page=1"
    # a hidden paper leaves the catalog and its facet counts, and is found under "hidden"
    catalog = api(client, "/api/papers")
    assert catalog["total"] == 11 and ids["agents"] not in [p["view"]["id"] for p in catalog["papers"]]
    assert facet(catalog, "subarea")["agents-tools"] == 1
    assert titles(api(client, "/api/papers?hidden=true")) == ["Tool-using agents that plan with memory"]
    # the redirect target must be on this site
    away = client.post(
        url,
        data={"hidden": "false", "next": "//evil.example/", "csrf_token": token},
        headers={"Origin": BASE},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/"


def test_the_curation_library_keeps_what_it_is_not_told_to_change(db, ids):
    from papersift import curation

    with Store(db[0]) as store:
        assert curation.get(store, ids["sparse"]) == curation.Curation(paper_id=ids["sparse"])
        curation.star(store, ids["sparse"])
        curation.set_note(store, ids["sparse"], "compare with FlashAttention")
        curation.mark_read(store, ids["sparse"])
        curation.star(store, ids["sparse"], on=False)
        marks = curation.get(store, ids["sparse"])
        assert (marks.starred, marks.read, marks.hidden, marks.note) == (
            False,
            True,
            False,
            "compare with FlashAttention",
        )
        assert curation.set_note(store, ids["sparse"], "   ").note is None  # a blank note clears it
        assert set(curation.get_many(store, [ids["sparse"], ids["quant"]])) == {ids["sparse"]}
        with pytest.raises(KeyError):
            curation.star(store, "no-such-paper")
        out = io.StringIO()
        assert curation.export_selection(store, [store.get(ids["sparse"])], "json", out) == 1
        assert json.loads(out.getvalue())[0]["curation"]["read"] is True
        with pytest.raises(curation.CurationError, match="docx"):
            curation.export_selection(store, [], "docx", io.StringIO())


def test_a_class_correction_becomes_a_training_label(client, db, ids):
    url = f"/api/papers/{ids['quant']}/topic"
    response = client.post(url, json={"subarea": "llm-pretraining"}, headers=csrf(client))
    assert response.status_code == 200
    assert response.json()["origin"] == "user"
    with Store(db[0]) as store:
        assert store.get(ids["quant"]).topic.subarea == "llm-pretraining"
        labels = store.conn.execute("SELECT paper_id, subarea, origin FROM labels").fetchall()
    assert labels == [(ids["quant"], "llm-pretraining", "user")]
    bad = client.post(url, json={"subarea": "astrology"}, headers=csrf(client))
    assert bad.status_code == 422 and "astrology" in bad.json()["detail"]


def test_export_the_current_selection(client):
    bib = client.get("/api/export?format=bibtex&subarea=agents-tools")
    assert bib.status_code == 200 and "attachment" in bib.headers["content-disposition"]
    assert bib.text.count("@") == 2 and "Tool-using agents that plan with memory" in bib.text
    markdown = client.get("/api/export?format=markdown&source=arxiv").text
    assert markdown.count("\n## ") + markdown.startswith("## ") == 2
    docs = json.loads(client.get("/api/export?format=json&month=2025-03").text)
    assert len(docs) == 8 and {d["source"] for d in docs} == {"hf"}
    found = json.loads(client.get("/api/export", params={"format": "json", "q": "稀疏注意力"}).text)
    assert [d["title"] for d in found] == ["Sparse attention for long-context reasoning"]
    assert client.get("/api/export?format=docx").status_code == 422
    links = re.findall(r'href="(/api/export\?[^"]*)"', client.get("/?subarea=agents-tools").text)
    assert {link.replace("&amp;", "&") for link in links} == {
        f"/api/export?subarea=agents-tools&format={fmt}" for fmt in ("bibtex", "markdown", "json")
    }


def test_openapi_describes_the_json_api(client):
    schema = api(client, "/openapi.json")
    for path in (
        "/api/papers",
        "/api/papers/{paper_id}",
        "/api/search",
        "/api/papers/{paper_id}/similar",
        "/api/papers/{paper_id}/curation",
        "/api/papers/{paper_id}/topic",
        "/api/stats",
        "/api/export",
    ):
        assert path in schema["paths"], path
    params = {p["name"] for p in schema["paths"]["/api/papers"]["get"]["parameters"]}
    assert {"subarea", "keyword", "month", "starred", "page"} <= params
    assert "/" not in schema["paths"]  # pages are not part of the API


# --- security ---------------------------------------------------------------------------------------


def test_paper_text_is_escaped_everywhere(client, ids):
    for url in ("/", f"/papers/{ids['evil']}", "/search?q=evil", "/digests/2025-04-20", "/?subarea=agents-tools"):
        html = client.get(url).text
        assert "<script>window.__xss" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;window.__xss" in html, url
    paper = client.get(f"/papers/{ids['evil']}").text
    assert "<b>markup</b>" not in paper and "&lt;b&gt;markup&lt;/b&gt;" in paper
    assert "javascript:" not in paper  # a hostile link is not shown as a link
    query = client.get("/search", params={"q": "<script>alert(1)</script>"}).text
    assert "<script>alert(1)" not in query
    assert "script-src 'self'" in client.get("/").headers["content-security-policy"]


def test_only_loopback_names_are_served_without_a_token(db):
    with TestClient(create_app(load_settings(db=db[0])), base_url="http://rebound.example") as client:
        assert client.get("/").status_code == 421


def test_a_configured_token_is_required(db):
    app = create_app(load_settings(db=db[0], web_token="s3cret-token"))
    with TestClient(app, base_url="http://papers.example.org") as client:
        assert client.get("/").status_code == 401
        assert client.get("/api/papers").status_code == 401
        assert client.get("/?token=wrong").status_code == 401
        assert client.get("/static/web/app.css").status_code == 200  # static files are public
        entry = client.get("/?token=s3cret-token&subarea=agents-tools", follow_redirects=False)
        assert entry.status_code == 303 and entry.headers["location"] == "/?subarea=agents-tools"
        assert client.get("/").status_code == 200  # the cookie now carries it
    with TestClient(app, base_url="http://papers.example.org") as script:
        bearer = {"Authorization": "Bearer s3cret-token"}
        assert script.get("/api/papers", headers=bearer).status_code == 200
        # a script with the token in a header is no browser riding on cookies: no CSRF needed
        paper = script.get("/api/papers", headers=bearer).json()["papers"][0]["view"]["id"]
        done = script.post(f"/api/papers/{paper}/curation", json={"starred": True}, headers=bearer)
        assert done.status_code == 200 and done.json()["starred"] is True


def test_serve_refuses_a_public_address_without_a_token(monkeypatch, tmp_path):
    from papersift.cli import app

    monkeypatch.setenv("PAPERSIFT_DB", str(tmp_path / "serve.db"))
    Store(tmp_path / "serve.db").close()
    monkeypatch.delenv("PAPERSIFT_WEB_TOKEN", raising=False)
    runs = []

    def served(server, sockets):  # instead of serving: where it would have, then let go of the port
        runs.append(sockets[0].getsockname()[0])
        sockets[0].close()

    monkeypatch.setattr("uvicorn.Server.run", served)
    refused = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "PAPERSIFT_WEB_TOKEN" in refused.output
    assert runs == []
    assert CliRunner().invoke(app, ["serve", "--port", "0"]).exit_code == 0
    monkeypatch.setenv("PAPERSIFT_WEB_TOKEN", "short")
    assert "at least 16 characters" in CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"]).output
    monkeypatch.setenv("PAPERSIFT_WEB_TOKEN", "long-enough-token")
    assert CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "0"]).exit_code == 0
    assert runs == ["127.0.0.1", "0.0.0.0"]


def test_a_day_s_digest_has_star_and_hide_on_each_paper_and_they_stick(client, ids):
    day = client.get("/digests/2025-05-02").text
    assert day.count('class="curation"') == 2 and f'action="/papers/{ids["sparse"]}/curation"' in day
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', day)[1]
    starred = client.post(
        f"/papers/{ids['sparse']}/curation",
        data={"starred": "true", "csrf_token": csrf, "next": "/digests/2025-05-02"},
        headers={"Origin": "http://127.0.0.1"},
        follow_redirects=True,
    )
    assert starred.url.path == "/digests/2025-05-02" and 'aria-pressed="true"' in starred.text
