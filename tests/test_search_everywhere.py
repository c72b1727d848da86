"""One search everywhere: ``papersift search --json``, the web's search page and ``/api/search``
rank the same query, with the same filters and mode, into the same papers in the same order."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web_papers import AREA, fill

from papersift import curation
from papersift.cli import app as cli
from papersift.config import load_settings
from papersift.search import embed_store
from papersift.search.embeddings import USEEmbedder
from papersift.store import Store
from papersift.web import create_app

runner = CliRunner()
LIMIT = 50  # one page of the web's search: every ranked paper of these small stores fits in it
ITEM = re.compile(r'<div class="item[^"]*" data-id="([^"]+)"')

# the web's query parameter -> the CLI's option for it (a value of True: a flag without value)
CLI_OPTION = {
    "area": "--area",
    "subarea": "--subarea",
    "source": "--source",
    "venue": "--venue",
    "keyword": "--keyword",
    "date_from": "--from",
    "date_to": "--to",
    "status": "--flag",
    "starred": "--starred",
    "hidden": "--hidden",
}
QUERIES = [
    "sparse attention",
    "稀疏注意力",
    "diffusion video generation",
    "长上下文 推理",
    "long-context reasoning 量化",
]
MODES = ["auto", "hybrid", "lexical", "vector"]
FILTERED = [
    ("diffusion study", {"source": "hf", "date_from": "2025-03-03", "date_to": "2025-03-06"}),
    ("agents and tools", {"subarea": "agents-tools"}),
    ("language models", {"area": AREA}),
    ("models", {"keyword": "DIFFUSION"}),  # keywords match whatever their case
    ("memory", {"venue": "iclr"}),  # a part of the venue, any case
    ("reasoning", {"status": "flagged"}),
    ("reasoning", {"status": "pending"}),  # not enriched: the CLI says --flag none
    ("attention", {"starred": True}),
    ("diffusion", {"hidden": True}),  # only the hidden papers, which every other search leaves out
]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """The web tests' papers, embedded, one of them starred and one hidden."""
    path = tmp_path_factory.mktemp("everywhere") / "papers.db"
    with Store(path) as store:
        ids = fill(store)
        curation.update(store, ids["sparse"], curation.CurationChange(starred=True))
        curation.update(store, ids["filler2"], curation.CurationChange(hidden=True))
        embed_store(store, USEEmbedder.shared())
    return path, ids


@pytest.fixture
def web(db):
    with TestClient(create_app(load_settings(db=db[0])), base_url="http://127.0.0.1") as client:
        yield client


def from_cli(db, query: str, mode: str, filters: dict) -> list[str]:
    args = ["--db", str(db), "search", query, "--json", "--mode", mode, "--limit", str(LIMIT)]
    for name, value in filters.items():
        option = CLI_OPTION[name]
        args += [option] if value is True else [option, "none" if value == "pending" else value]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    return [hit["id"] for hit in json.loads(result.stdout)["hits"]]


def from_page(web: TestClient, query: str, mode: str, filters: dict) -> list[str]:
    page = web.get("/search", params={"q": query, "mode": mode, **filters})
    assert page.status_code == 200, page.text
    return ITEM.findall(page.text)


def from_api(web: TestClient, query: str, mode: str, filters: dict) -> list[str]:
    response = web.get("/api/search", params={"q": query, "mode": mode, "limit": LIMIT, **filters})
    assert response.status_code == 200, response.text
    return [p["view"]["id"] for p in response.json()["papers"]]


def ranked_everywhere(db, web, query: str, mode: str, filters: dict) -> list[str]:
    cli_ids = from_cli(db[0], query, mode, filters)
    assert from_page(web, query, mode, filters) == cli_ids
    assert from_api(web, query, mode, filters) == cli_ids
    return cli_ids


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("query", QUERIES)
def test_a_query_ranks_the_same_in_the_cli_the_page_and_the_api(db, web, query, mode):
    ranked = ranked_everywhere(db, web, query, mode, {})
    assert ranked and db[1]["filler2"] not in ranked  # hidden papers are left out everywhere
    if mode != "lexical":  # vectors rank every paper, so there is an order to agree on
        assert len(ranked) >= 5


@pytest.mark.parametrize(
    "query, filters", FILTERED, ids=[",".join(f"{k}={v}" for k, v in f.items()) for _, f in FILTERED]
)
def test_filters_narrow_the_same_papers_in_the_cli_the_page_and_the_api(db, web, query, filters):
    for mode in ("auto", "lexical"):
        ranked = ranked_everywhere(db, web, query, mode, filters)
        assert ranked or mode == "lexical"  # words may miss inside a filter; meaning finds every paper in it


def test_a_flagged_cards_words_find_nothing_by_words(db, web):
    assert ranked_everywhere(db, web, "智能体 工具", "lexical", {}) == []  # its text is not published, nor searched


def test_what_the_filters_let_through(db, web):
    ids = db[1]
    assert ranked_everywhere(db, web, "attention", "auto", {"starred": True}) == [ids["sparse"]]
    assert ranked_everywhere(db, web, "diffusion", "auto", {"hidden": True}) == [ids["filler2"]]
    assert ranked_everywhere(db, web, "memory", "auto", {"venue": "iclr"}) == [ids["agents"]]
    assert set(
        ranked_everywhere(
            db, web, "diffusion study", "lexical", {"source": "hf", "date_from": "2025-03-03", "date_to": "2025-03-06"}
        )
    ) == {ids["filler3"], ids["filler4"], ids["filler5"]}  # filler2 (2025-03-03) is hidden
    assert ranked_everywhere(db, web, "reasoning", "auto", {"status": "flagged"}) == [ids["agents"]]
