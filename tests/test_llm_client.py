"""The LLM client against the project's scripted OpenAI-compatible server: structured output,
repair and one re-ask, retries on 429/500/hangs, the concurrency bound, the cache, accounting."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from openai import AsyncOpenAI
from pydantic import BaseModel, Field
from support.llm_server import ScriptedServer

from papersift.config import load_settings
from papersift.llm.base import LLMError
from papersift.llm.client import LLMClient, make_backend, strict_schema
from papersift.llm.openai_backend import OpenAIBackend

PAPER = (
    "Title: Sparse Mixers for Long Context\n"
    "Abstract: We present SparseMix-7B, trained on 2.5 trillion tokens. It improves LongBench by 4.2% "
    "and runs 3× faster than Llama-3-8B."
)


class TitleCard(BaseModel):
    title: str = Field(max_length=200)
    tldr: str = Field(max_length=300)
    keywords: list[str] = Field(min_length=1, max_length=5)


def ask(lang: str = "Simplified Chinese", paper: str = PAPER) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": f"Write a card in {lang} as one JSON object."},
        {"role": "user", "content": paper},
    ]


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


def client_for(server: ScriptedServer, store=None, **llm) -> LLMClient:
    options = {
        "backend": "openai",
        "base_url": server.base_url,
        "model": "scripted-qwen3",
        "timeout": 5.0,
        "max_retries": 2,
        "concurrency": 4,
    } | llm
    settings = load_settings(llm=options)
    return LLMClient(settings, store=store, backoff=0.01)


async def test_structured_output_sends_the_schema_and_returns_a_validated_instance(server):
    async with client_for(server) as client:
        card, result = await client.structured(ask(), TitleCard, max_tokens=400)
    assert isinstance(card, TitleCard)
    assert "SparseMix-7B" in card.tldr and "2.5" in card.tldr  # facts echoed from the prompt
    assert any("\u4e00" <= ch <= "\u9fff" for ch in card.tldr)  # in the language asked
    sent = server.chat_requests[0].body
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == strict_schema(TitleCard.model_json_schema())
    assert sent["max_tokens"] == 400
    assert result.tokens_in > 0 and result.tokens_out > 0


def test_strict_schema_closes_objects_and_requires_every_property():
    class Inner(BaseModel):
        a: int
        b: str | None = None

    class Outer(BaseModel):
        inner: Inner
        tags: list[str] = []

    schema = strict_schema(Outer.model_json_schema())
    assert schema["additionalProperties"] is False and schema["required"] == ["inner", "tags"]
    inner = schema["$defs"]["Inner"]
    assert inner["additionalProperties"] is False and inner["required"] == ["a", "b"]


async def test_near_json_is_repaired_without_asking_again(server):
    server.responder = lambda body: "```json\n{'title': 'T', 'tldr': 'x', 'keywords': ['a', 'b',],}\n```"
    async with client_for(server) as client:
        card, _ = await client.structured(ask(), TitleCard)
    assert card.keywords == ["a", "b"]
    assert len(server.chat_requests) == 1


async def test_an_invalid_reply_is_asked_once_more_with_the_validation_error(server):
    replies = iter(['{"title": "T", "tldr": "x"}', '{"title": "T", "tldr": "x", "keywords": ["k"]}'])
    server.responder = lambda body: next(replies)
    async with client_for(server) as client:
        card, _ = await client.structured(ask(), TitleCard)
    assert card.keywords == ["k"]
    second = server.chat_requests[1].messages
    assert second[-2] == {"role": "assistant", "content": '{"title": "T", "tldr": "x"}'}
    assert "keywords" in second[-1]["content"] and second[-1]["role"] == "user"


async def test_a_second_invalid_reply_is_a_clear_error(server):
    server.responder = lambda body: '{"title": "T", "tldr": "x", "keywords": []}'
    async with client_for(server) as client:
        with pytest.raises(LLMError, match="invalid TitleCard twice.*keywords") as failure:
            await client.structured(ask(), TitleCard)
    assert len(server.chat_requests) == 2
    assert "then:" not in str(failure.value)  # the same error twice is said once


async def test_two_different_invalid_replies_are_both_named(server):
    replies = iter(['{"title": "T", "tldr": "x", "keywords": []}', "not JSON at all"])
    server.responder = lambda body: next(replies)
    async with client_for(server) as client:
        with pytest.raises(LLMError, match="invalid TitleCard twice: .*keywords.*; then: ") as failure:
            await client.structured(ask(), TitleCard)
    assert str(failure.value).count("keywords") == 1


async def test_prose_instead_of_json_is_asked_again(server):
    server.fail_next("prose")
    async with client_for(server) as client:
        card, _ = await client.structured(ask(), TitleCard)
    assert card.keywords
    assert "not JSON" in server.chat_requests[1].messages[-1]["content"]


async def test_a_truncated_reply_is_not_taken_for_a_whole_one(server):
    server.fail_next("truncated")
    async with client_for(server) as client:
        await client.structured(ask(), TitleCard)
    assert [r.fault for r in server.chat_requests] == ["truncated", None]
    assert "cut off" in server.chat_requests[1].messages[-1]["content"]


async def test_the_extra_validator_catches_the_wrong_language_and_triggers_the_re_ask(server):
    def chinese(card: TitleCard) -> TitleCard:
        if not any("\u4e00" <= ch <= "\u9fff" for ch in card.tldr):
            raise ValueError("tldr is not in Chinese")
        return card

    server.fail_next("wrong_language")
    async with client_for(server) as client:
        card, _ = await client.structured(ask(), TitleCard, validate=chinese)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in card.tldr)
    assert "not in Chinese" in server.chat_requests[1].messages[-1]["content"]


async def test_429_is_retried_after_the_servers_retry_after(server):
    server.retry_after = 0.3
    server.fail_next("429")
    async with client_for(server) as client:
        await client.chat(ask(), max_tokens=50)
    first, second = server.chat_requests
    assert first.fault == "429" and second.fault is None
    assert second.received_at - first.received_at >= 0.3


async def test_500_is_retried_and_gives_up_after_max_retries(server):
    server.fail_next("500")
    async with client_for(server) as client:
        result = await client.chat(ask(), max_tokens=50)
        assert result.text
        server.fail_next("500", "500", "500")
        with pytest.raises(LLMError, match="HTTP 500.*after 3 attempts"):
            await client.chat(ask("English"), max_tokens=50)
    assert len(server.chat_requests) == 1 + 1 + 3


async def test_a_hanging_server_times_out_and_the_call_is_retried(server):
    server.fail_next("hang")
    async with client_for(server, timeout=0.5) as client:
        result = await client.chat(ask(), max_tokens=50)
        assert result.text
        server.fail_next("hang", "hang", "hang")
        with pytest.raises(LLMError, match="timed out|no reply"):
            await client.chat(ask("English"), max_tokens=50)
    assert [r.fault for r in server.chat_requests] == ["hang", None, "hang", "hang", "hang"]


async def test_a_client_error_is_not_retried():
    with ScriptedServer(accepts_template_kwargs=False) as server:
        async with client_for(server, thinking_switch="kwargs") as client:
            with pytest.raises(LLMError, match="HTTP 400.*chat_template_kwargs"):
                await client.chat(ask(), max_tokens=50)
        assert len(server.chat_requests) == 1


async def test_requests_in_flight_never_exceed_the_concurrency_setting():
    with ScriptedServer(latency=0.05) as server:
        async with client_for(server, concurrency=3) as client:
            await asyncio.gather(*(client.chat(ask(paper=f"paper {i}"), max_tokens=20) for i in range(12)))
        assert len(server.chat_requests) == 12
        assert 1 < server.max_in_flight <= 3


async def test_a_server_at_its_limit_answers_429_and_every_call_still_succeeds():
    with ScriptedServer(latency=0.05, concurrency_limit=2, over_limit="429", retry_after=0.05) as server:
        async with client_for(server, concurrency=4, max_retries=8) as client:
            results = await asyncio.gather(*(client.chat(ask(paper=f"paper {i}"), max_tokens=20) for i in range(8)))
        assert all(r.text for r in results)
        faults = [r.fault for r in server.chat_requests]
        assert "over_limit" in faults and faults.count(None) == 8


async def test_an_identical_call_is_served_from_the_cache_even_by_a_new_client(server, store):
    async with client_for(server, store) as client:
        first, _ = await client.structured(ask(), TitleCard, paper_id="p1")
        again, _ = await client.structured(ask(), TitleCard, paper_id="p1")
        assert (client.usage.calls, client.usage.cache_hits) == (1, 1)
    async with client_for(server, store) as resumed:  # a run restarted after a crash
        third, _ = await resumed.structured(ask(), TitleCard, paper_id="p1")
    assert first == again == third
    assert len(server.chat_requests) == 1
    assert store.conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 1


async def test_the_cache_key_covers_the_settings_of_the_call(server, store):
    async with client_for(server, store) as client:
        await client.chat(ask(), max_tokens=50)
        await client.chat(ask(), max_tokens=60)
        await client.chat(ask(), max_tokens=50, thinking="on")
        await client.chat(ask(), max_tokens=50, template="card@2")
    assert len(server.chat_requests) == 4


async def test_failed_calls_are_logged_and_never_served_from_the_cache(server, store):
    server.fail_next("500", "500", "500")
    async with client_for(server, store) as client:
        with pytest.raises(LLMError):
            await client.chat(ask(), max_tokens=50)
        await client.chat(ask(), max_tokens=50)
    errors = [c["error"] for c in store.recent_calls()]
    assert errors[0] is None and "HTTP 500" in errors[1]
    assert len(server.chat_requests) == 4


async def test_tokens_cached_prefix_and_cost_are_accounted_per_call_and_per_run(server, store):
    prices = {"scripted-qwen3": {"input": 1.0, "output": 4.0}}
    async with client_for(server, store, prices=prices) as client:
        client.run_id = 7
        await client.structured(ask(), TitleCard, paper_id="p1")
        await client.structured(ask(paper=PAPER.replace("Sparse", "Dense")), TitleCard, paper_id="p2")
        usage = client.usage
    rows = store.conn.execute(
        "SELECT paper_id, tokens_in, tokens_out, tokens_cached, cost, run_id FROM llm_calls ORDER BY id"
    ).fetchall()
    assert [r[0] for r in rows] == ["p1", "p2"] and {r[5] for r in rows} == {7}
    assert rows[0][3] == 0 and rows[1][3] > 0  # the shared system prompt is a cached prefix the second time
    for _, tokens_in, tokens_out, _, cost, _ in rows:
        assert cost == pytest.approx((tokens_in * 1.0 + tokens_out * 4.0) / 1e6)
    totals = store.run_totals(7)
    assert totals["calls"] == usage.calls == 2
    assert totals["tokens_in"] == usage.tokens_in == rows[0][1] + rows[1][1]
    assert totals["cost"] == pytest.approx(usage.cost)


def test_make_backend_chooses_by_setting():
    assert isinstance(
        make_backend(load_settings(llm={"backend": "openai", "base_url": "http://127.0.0.1:9/v1"})), OpenAIBackend
    )
    with pytest.raises(LLMError, match="unknown LLM backend 'nope'"):
        make_backend(load_settings(llm={"backend": "nope"}))


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PAPERSIFT_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PAPERSIFT_LLM_MODEL", "qwen3-8b")
    monkeypatch.setenv("PAPERSIFT_LLM_API_KEY", "sk-test")
    backend = OpenAIBackend(load_settings().llm)
    assert (backend.where, backend.model, backend.client.api_key) == ("http://127.0.0.1:9/v1", "qwen3-8b", "sk-test")


async def test_without_a_model_setting_the_servers_model_is_used(server):
    async with client_for(server, model=None) as client:
        result = await client.chat(ask(), max_tokens=20)
    assert result.model == "scripted-qwen3"
    assert server.chat_requests[0].body["model"] == "scripted-qwen3"


def test_the_scripted_server_serves_deterministic_embeddings(server):
    from openai import OpenAI

    sdk = OpenAI(base_url=server.base_url, api_key="x")
    a, b, c = (
        d.embedding for d in sdk.embeddings.create(model="m", input=["sparse mixers", "sparse mixers", "cats"]).data
    )
    assert a == b and a != c and abs(sum(v * v for v in a) - 1) < 1e-9
    assert json.loads(sdk.models.list().model_dump_json())["data"][0]["id"] == "scripted-qwen3"


def test_the_cli_chats_with_a_server_and_lists_the_logged_calls(server, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from papersift.cli import app
    from papersift.store import Store

    runner = CliRunner()
    reply = runner.invoke(
        app,
        [
            "llm",
            "chat",
            "Summarise: SparseMix-7B gains 4.2%.",
            "--backend",
            "openai",
            "--base-url",
            server.base_url,
            "--json",
        ],
    )
    assert reply.exit_code == 0, reply.output
    assert "SparseMix-7B" in json.loads(reply.stdout)["text"]

    db = tmp_path / "calls.db"
    with Store(db) as store:
        client = client_for(server, store, prices={"scripted-qwen3": {"input": 1.0, "output": 1.0}})
        client.run_id = 3

        async def two_calls():
            async with client:
                await client.chat(ask(), max_tokens=30, paper_id="p1")
                await client.chat(ask("English"), max_tokens=30, paper_id="p2")

        asyncio.run(two_calls())
    listed = runner.invoke(app, ["--db", str(db), "llm", "calls", "--json", "--run", "3"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert [c["paper_id"] for c in data["calls"]] == ["p2", "p1"]
    assert data["totals"]["calls"] == 2 and data["totals"]["cost"] > 0

    monkeypatch.setenv("PAPERSIFT_LLM_BACKEND", "openai")
    monkeypatch.setenv("PAPERSIFT_LLM_BASE_URL", server.base_url)
    listing = json.loads(runner.invoke(app, ["llm", "models", "--json"]).stdout)
    assert listing["server_models"] == ["scripted-qwen3"]
    assert {m["name"] for m in listing["packaged"]} == {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"}

    monkeypatch.setenv("PAPERSIFT_LLM_MAX_RETRIES", "0")
    down = runner.invoke(
        app, ["llm", "chat", "hi", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]
    )
    assert down.exit_code == 3 and "connection failed" in down.output


async def test_a_server_that_takes_another_response_format_shape_gets_its_own_and_is_remembered():
    """llama-cpp-python's server answers the OpenAI shape (``json_schema``) with a 500 and a pydantic
    literal_error (tests/test_llm_server_real.py found it); it takes ``json_object`` with ``schema``,
    from which it builds a grammar that refuses the digest's 1,500-character bound."""
    sent: list[dict] = []

    def reply(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        if body["response_format"]["type"] == "json_schema":
            error = "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', 'type')}"
            return httpx.Response(500, json={"error": {"message": error}})
        message = {"role": "assistant", "content": json.dumps({"answer": "好"})}
        return httpx.Response(
            200,
            json={
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            },
        )

    sdk = AsyncOpenAI(
        base_url="http://127.0.0.1:1/v1",
        api_key="x",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(reply)),
    )
    settings = load_settings(llm={"backend": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"})
    client = LLMClient(settings, backend=OpenAIBackend(settings.llm, client=sdk))

    class Answer(BaseModel):
        answer: str = Field(max_length=1500)

    for _ in range(2):
        result, _ = await client.structured([{"role": "user", "content": "hi"}], Answer)
        assert result.answer == "好"
    assert [b["response_format"]["type"] for b in sent] == ["json_schema", "json_object", "json_object"]
    assert "maxLength" not in sent[1]["response_format"]["schema"]["properties"]["answer"]
