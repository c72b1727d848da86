"""``papersift daily`` end to end: a JSONL source, the scripted LLM server, an SMTP server
(aiosmtpd) and a webhook receiver (pytest-httpserver), all on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from conftest import free_port
from support.llm_server import ScriptedServer
from typer.testing import CliRunner

from papersift.cli import app
from papersift.config import load_settings
from papersift.daily import run_daily
from papersift.daily.run import stale_cards
from papersift.store import JobRunning, Store

ROOT = Path(__file__).resolve().parent.parent

PAPERS = {
    "kv": (
        "2601.00001",
        "Compressing the KV cache for long-context LLM inference",
        "We compress the KV cache of long-context LLM inference by quantising keys and values, cutting memory 4x on LongBench.",
    ),
    "evict": (
        "2601.00002",
        "KV cache eviction guided by attention scores",
        "We evict tokens from the KV cache using accumulated attention scores, keeping long-context accuracy with 20% of the cache.",
    ),
    "sparse": (
        "2601.00003",
        "Sparse attention kernels for efficient long-context inference",
        "Sparse attention kernels make long-context inference of large language models faster with block-sparse memory access.",
    ),
    "agents": (
        "2601.00004",
        "Web agents that plan tool calls",
        "A web agent plans sequences of tool calls and browser actions to complete shopping tasks on WebShop.",
    ),
    "clinical": (
        "2601.00005",
        "Clinical question answering with retrieval",
        "A clinical assistant answers medical questions with retrieval over guidelines and long-context inference.",
    ),
}
LATER = {
    "offload": (
        "2601.00006",
        "Offloading the KV cache to CPU memory",
        "We offload the KV cache to CPU memory and prefetch blocks, serving long-context inference on one GPU.",
    ),
    "robots": (
        "2601.00007",
        "Robot manipulation from language instructions",
        "A robot policy follows language instructions to manipulate household objects.",
    ),
}
LIBRARY = [
    {
        "title": "Efficient memory management for long-context LLM inference with paged attention",
        "abstract": "Paged attention manages the KV cache memory of long-context inference in blocks.",
        "arxiv_id": "2309.06180",
    },
    {
        "title": "Quantising the key value cache of large language models",
        "abstract": "Low-bit quantisation of the key value cache reduces inference memory for long-context inference.",
        "arxiv_id": "2401.18079",
    },
]


def record(arxiv_id: str, title: str, abstract: str, **extra) -> dict:
    return {
        "arxiv_id": arxiv_id,
        "title": title,
        "abstract": abstract,
        "authors": ["Ada Lovelace"],
        "published": "2026-11-28",
        "url": f"https://arxiv.org/abs/{arxiv_id}",
        **extra,
    }


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


class Mailbox:
    """An aiosmtpd handler that keeps every message and can refuse the next ``refuse`` ones."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def llm():
    with ScriptedServer(embedding_dim=256) as server:
        yield server


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def hook(httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    return httpserver


def webhook_calls(httpserver) -> list[dict]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log if request.path == "/hook"]


@pytest.fixture
def daily_env(tmp_path, monkeypatch, llm, mailbox, hook):
    """A config with one file source, a library, alerts, an email and a webhook channel."""
    write_jsonl(tmp_path / "inbox.jsonl", [record(*PAPERS[k]) for k in PAPERS])
    write_jsonl(tmp_path / "library.jsonl", LIBRARY)
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
db = "{tmp_path / "papers.db"}"

[llm]
backend = "openai"
base_url = "{llm.base_url}"
model = "scripted-qwen3"
lang = "zh"
max_retries = 1

[embedding]
backend = "openai"
base_url = "{llm.base_url}"
model = "hashed"

[[daily.sources]]
type = "file"
path = "inbox.jsonl"

[daily.interests]
library = ["library.jsonl"]
keywords = ["KV cache"]
exclude = ["clinical"]
top = 3

[[daily.deliver]]
type = "email"
host = "127.0.0.1"
port = {mailbox.port}
security = "none"
from = "papersift@localhost"
to = ["reader@localhost"]
retry_delay = 0

[[daily.deliver]]
type = "webhook"
url = "{hook.url_for("/hook")}"
retry_delay = 0
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("PAPERSIFT_CONFIG", str(config))
    monkeypatch.delenv("PAPERSIFT_DB", raising=False)
    return tmp_path


def text_of(message: Message, kind: str) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == kind)
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def titles(call: dict) -> list[str]:
    return [p["title"] for p in call["papers"]]


def test_first_run_delivers_one_email_and_one_webhook_call_with_the_ranked_picks(daily_env, mailbox, hook):
    report = run_daily(load_settings())

    assert not report.failed, report.as_dict()
    assert report.sources == [{"name": "file#1", "new": 5, "updated": 0, "unchanged": 0, "invalid": 0, "error": None}]
    assert len(mailbox.messages) == 1 and len(hook.log) == 1
    call = webhook_calls(hook)[0]
    # the keyword alert lifts the two KV-cache papers; the sparse-attention paper is closest to the
    # library of the rest; "clinical" is excluded; top = 3
    assert set(titles(call)[:2]) == {PAPERS["kv"][1], PAPERS["evict"][1]}
    assert titles(call)[2] == PAPERS["sparse"][1]
    assert titles(call) == [p["title"] for p in report.picks]
    first = call["papers"][0]
    assert set(first) >= {"id", "title", "url", "score", "why"}
    assert first["url"].startswith("https://arxiv.org/abs/2601.0000")
    assert "matches keyword KV cache" in first["why"] and "close to" in first["why"]
    assert call["date"] and isinstance(call["synthesis"], str) and call["synthesis"]
    assert hook.log[0][0].headers["Idempotency-Key"] == f"papersift-daily-{report.digest_id}.{call['date']}"
    # the email's plain-text part lists the same papers in the same order, each with its title
    plain = text_of(mailbox.messages[0], "text/plain")
    positions = [plain.index(title) for title in titles(call)]
    assert positions == sorted(positions)
    assert PAPERS["clinical"][1] not in plain
    assert "命中关注词 KV cache" in plain and "matches keyword" not in plain  # the reasons in the reader's language
    assert "left out by daily.interests.exclude: 'clinical' (1)" in report.notes  # which rule fired
    evidence = report.picks[0]["evidence"]  # the numbers behind the first pick's reasons
    assert evidence["alerts"] > 0 and evidence["closest"]["cosine"] > 0 and evidence["likeness_from"]
    html = text_of(mailbox.messages[0], "text/html")
    assert "https://arxiv.org/abs/" in html and "<h1>" in html


def test_second_run_delivers_nothing_and_new_papers_bring_a_digest_of_only_them(daily_env, mailbox, hook):
    run_daily(load_settings())
    again = run_daily(load_settings())
    assert again.digest_id is None and again.deliveries == [] and not again.failed
    assert len(mailbox.messages) == 1 and len(hook.log) == 1

    write_jsonl(daily_env / "inbox.jsonl", [record(*PAPERS[k]) for k in PAPERS] + [record(*LATER[k]) for k in LATER])
    third = run_daily(load_settings())
    assert third.sources[0]["new"] == 2
    assert len(mailbox.messages) == 2 and len(hook.log) == 2
    assert titles(webhook_calls(hook)[1]) == [LATER["offload"][1], LATER["robots"][1]]


def test_a_refused_email_is_retried_and_a_failed_one_is_sent_by_the_next_run(daily_env, mailbox, hook):
    mailbox.refuse = 1
    report = run_daily(load_settings())
    email = next(d for d in report.deliveries if d["channel"] == "email")
    assert email["status"] == "sent" and email["attempts"] == 2
    assert len(mailbox.messages) == 1

    write_jsonl(daily_env / "inbox.jsonl", [record(*LATER["offload"])])
    mailbox.refuse = 3  # every try of this run fails
    failed = run_daily(load_settings())
    assert failed.failed and [d["status"] for d in failed.deliveries if d["channel"] == "email"] == ["failed"]
    assert len(mailbox.messages) == 1 and len(hook.log) == 2  # the webhook got its digest all the same

    retried = run_daily(load_settings())
    assert [(d["channel"], d["status"]) for d in retried.deliveries] == [("email", "sent")]
    assert len(mailbox.messages) == 2 and len(hook.log) == 2  # the webhook is not sent twice
    assert LATER["offload"][1] in text_of(mailbox.messages[1], "text/plain")


def test_a_run_killed_in_the_middle_and_restarted_delivers_once(daily_env, llm, mailbox, hook):
    llm.latency = 5.0  # the killed run is caught mid-enrichment, requests in flight
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        [sys.executable, "-c", "from papersift.cli import main; main()", "daily"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not llm.chat_requests and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert llm.chat_requests, "the run never reached the LLM"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert mailbox.messages == [] and hook.log == []

    llm.latency = 0.0
    report = run_daily(load_settings())
    assert not report.failed
    assert len(mailbox.messages) == 1 and len(hook.log) == 1
    run_daily(load_settings())
    assert len(mailbox.messages) == 1 and len(hook.log) == 1


def test_a_second_run_while_one_holds_the_lock_says_so_and_exits_non_zero(daily_env, mailbox):
    settings = load_settings()
    with Store(settings.db) as store, store.job("daily"):
        with pytest.raises(JobRunning, match="another papersift daily is running"):
            run_daily(settings)
        result = CliRunner().invoke(app, ["daily"])
    assert result.exit_code == 3
    assert "another papersift daily is running" in " ".join(result.output.split())
    assert mailbox.messages == []


def test_a_synthesis_with_an_invented_number_is_flagged_and_left_out(daily_env, llm, hook):
    is_synthesis = lambda body: "daily reading list" in (body["messages"][0].get("content") or "")  # noqa: E731
    llm.fail_when(is_synthesis, "invented_number")
    report = run_daily(load_settings())

    assert report.synthesis == "left_out" and "not support" in report.synthesis_note
    synthesis_calls = [r for r in llm.chat_requests if is_synthesis(r.body)]
    assert len(synthesis_calls) == 2  # asked once more with the violation, then left out
    assert "917.3" in json.dumps(synthesis_calls[1].body["messages"], ensure_ascii=False)  # the reask names it
    call = webhook_calls(hook)[0]
    assert call["synthesis"] == "" and call["synthesis_note"] and len(call["papers"]) == 3


def test_a_synthesis_in_the_wrong_language_is_asked_again(daily_env, llm, hook):
    is_synthesis = lambda body: "daily reading list" in (body["messages"][0].get("content") or "")  # noqa: E731
    llm.fail_when(is_synthesis, "wrong_language", times=1)
    report = run_daily(load_settings())
    assert report.synthesis == "ok"
    second = [r for r in llm.chat_requests if is_synthesis(r.body)][1]
    assert "not written in Simplified Chinese" in second.body["messages"][-1]["content"]
    assert webhook_calls(hook)[0]["synthesis"]


def test_one_failing_source_is_reported_and_the_rest_goes_on(daily_env, mailbox):
    config = Path(os.environ["PAPERSIFT_CONFIG"])
    config.write_text(
        config.read_text().replace(
            '[[daily.sources]]\ntype = "file"\npath = "inbox.jsonl"',
            '[[daily.sources]]\ntype = "file"\npath = "missing.jsonl"\n\n'
            '[[daily.sources]]\ntype = "file"\npath = "inbox.jsonl"',
        )
    )
    result = CliRunner().invoke(app, ["daily", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert "missing.jsonl: no such file" in report["sources"][0]["error"]
    assert report["sources"][1]["new"] == 5 and report["failed"]
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize(
    "section, entry, message",
    [
        ("[[daily.sources]]", 'type = "file"\npath = "inbox.jsonl"\ncolour = "red"', "unknown key 'colour'"),
        ("[[daily.sources]]", 'type = "ftp"', "type 'ftp' is not a source"),
        (
            "[[daily.deliver]]",
            'type = "webhook"\nurl = "http://127.0.0.1:1/"\nmethod = "PUT"',
            "daily.deliver[2] (webhook): method",
        ),
        ("[[daily.deliver]]", 'type = "pigeon"', "type 'pigeon' is not a channel"),
    ],
)
def test_a_bad_entry_is_a_clear_error_naming_it_before_anything_runs(daily_env, mailbox, section, entry, message):
    config = Path(os.environ["PAPERSIFT_CONFIG"])
    config.write_text(config.read_text() + f"\n{section}\n{entry}\n")
    result = CliRunner().invoke(app, ["daily"])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not Store(daily_env / "papers.db").count()  # nothing was fetched


def test_dry_run_shows_the_picks_and_sends_nothing(daily_env, mailbox, hook):
    run_daily(load_settings())
    write_jsonl(daily_env / "inbox.jsonl", [record(*LATER["offload"])])
    CliRunner().invoke(app, ["ingest", "file", str(daily_env / "inbox.jsonl")])
    result = CliRunner().invoke(app, ["daily", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [p["title"] for p in report["picks"]] == [LATER["offload"][1]]
    assert len(mailbox.messages) == 1 and len(hook.log) == 1


def test_a_new_version_with_a_changed_abstract_marks_the_card_stale_and_the_next_run_rewrites_it(daily_env, mailbox):
    run_daily(load_settings())
    settings = load_settings()
    with Store(settings.db) as store:
        paper_id = store.resolve("2601.00001")
        assert store.enrichment(paper_id, "zh").paper_version is None
    revised = record(
        PAPERS["kv"][0], PAPERS["kv"][1], "A revised abstract: the KV cache is compressed 8x on LongBench.", version=2
    )
    write_jsonl(daily_env / "inbox.jsonl", [revised])
    CliRunner().invoke(app, ["ingest", "file", str(daily_env / "inbox.jsonl")])
    with Store(settings.db) as store:
        assert stale_cards(store, "zh") == [paper_id]

    report = run_daily(load_settings())
    assert report.enriched["stale"] == 1 and report.enriched["ok"] + report.enriched["flagged"] == 1
    assert len(mailbox.messages) == 1  # a new version is not a new paper
    with Store(settings.db) as store:
        assert stale_cards(store, "zh") == []
        card = store.enrichment(paper_id, "zh")
        assert card.paper_version == 2 and card.prompt_version and card.model == "scripted-qwen3"
    # the web app shows the card's provenance, in its JSON and on the paper's page
    from fastapi.testclient import TestClient

    from papersift.web.app import create_app

    with TestClient(create_app(load_settings()), base_url="http://127.0.0.1") as client:
        provenance = client.get(f"/api/papers/{paper_id}").json()["view"]["provenance"]
        page = client.get(f"/papers/{paper_id}").text
    assert provenance["paper_version"] == 2 and provenance["model"] == "scripted-qwen3" and not provenance["stale"]
    assert 'class="provenance"' in page and "scripted-qwen3" in page and "v2" in page


def test_a_paper_starred_in_the_web_app_joins_the_library_of_the_next_ranking(daily_env, hook):
    from papersift import curation

    run_daily(load_settings())
    with Store(load_settings().db) as store:
        curation.star(store, store.resolve("2601.00004"))  # the web agents paper, not picked on day one
    agents = record(
        "2601.00008",
        "Web agents that plan browser tool calls for shopping",
        "A web agent plans tool calls and browser actions for shopping tasks on WebShop.",
    )
    robots = record(*LATER["robots"])
    write_jsonl(daily_env / "inbox.jsonl", [agents, robots])
    run_daily(load_settings())
    call = webhook_calls(hook)[1]
    assert call["papers"][0]["title"] == agents["title"]
    assert f"close to {PAPERS['agents'][1]} (starred)" in call["papers"][0]["why"]


def test_library_arxiv_ids_the_store_lacks_are_fetched_and_never_delivered(daily_env, httpserver, hook):
    httpserver.expect_request("/api/query").respond_with_data(
        (ROOT / "tests" / "fixtures" / "sources" / "arxiv_v2.xml").read_bytes(), content_type="application/atom+xml"
    )
    (daily_env / "ids.txt").write_text("2501.00001\n", encoding="utf-8")
    config = Path(os.environ["PAPERSIFT_CONFIG"])
    text = config.read_text().replace('library = ["library.jsonl"]', 'library = ["library.jsonl", "ids.txt"]')
    config.write_text(text + f'\n[net]\narxiv_api_url = "{httpserver.url_for("/api/query")}"\narxiv_delay = 0\n')

    report = run_daily(load_settings())
    assert {"name": "library", "new": 1}.items() <= report.sources[-1].items()
    assert not report.failed and report.considered == 5  # the inbox papers: the library paper is the reader's already
    with Store(load_settings().db) as store:
        library_paper = store.resolve("2501.00001")
    assert library_paper not in [p["id"] for p in webhook_calls(hook)[0]["papers"]]


def test_a_paper_hidden_in_the_web_app_pulls_down_new_papers_like_it(daily_env):
    from papersift import curation

    run_daily(load_settings())
    agents = record(
        "2601.00011",
        "Web agents that plan tool calls for shopping",
        "A web agent plans tool calls and browser actions to complete shopping tasks on WebShop.",
    )
    write_jsonl(daily_env / "inbox.jsonl", [agents])
    CliRunner().invoke(app, ["ingest", "file", str(daily_env / "inbox.jsonl")])

    def score() -> float:
        (pick,) = run_daily(load_settings(), dry_run=True).picks
        return pick["score"]

    before = score()
    with Store(load_settings().db) as store:
        curation.hide(store, store.resolve(PAPERS["agents"][0]))  # day one's web-agents paper
    assert score() < before


def test_without_a_library_or_a_star_the_run_says_it_is_in_cold_start_and_how_to_leave_it(daily_env, hook):
    from papersift import curation

    config = Path(os.environ["PAPERSIFT_CONFIG"])
    config.write_text(config.read_text().replace('library = ["library.jsonl"]', "library = []"))
    report = run_daily(load_settings())
    assert any(n.startswith("cold start") and "star 5 papers" in n for n in report.notes), report.notes
    with Store(load_settings().db) as store:
        curation.star(store, next(store.iter_papers(limit=1)).id)
    write_jsonl(daily_env / "inbox.jsonl", [record(*LATER["robots"])])
    again = run_daily(load_settings())
    assert not any(n.startswith("cold start") for n in again.notes), again.notes


def test_the_picks_have_a_home_in_the_web_app_reachable_from_every_page(daily_env, mailbox, hook):
    from fastapi.testclient import TestClient

    from papersift.web import create_app

    with TestClient(create_app(load_settings()), base_url="http://127.0.0.1") as client:
        assert "还没有为你推荐的论文" in client.get("/picks").text  # before the first run: how picks come
        report = run_daily(load_settings())
        home = client.get("/").text
        assert '<a href="/picks">为你推荐</a>' in home
        page = client.get("/picks").text
    assert "<h1>为你推荐 · " in page
    positions = [page.index(p["title"]) for p in report.picks]
    assert positions == sorted(positions) and "命中关注词 KV cache" in page
    assert f'href="/papers/{report.picks[0]["id"]}"' in page  # a pick opens its page here, with star and notes
    assert page.count('class="mark star"') == len(report.picks)  # and is starred or hidden from the list
