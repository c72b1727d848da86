"""A card a field at a time: how the embedded engine writes it (``llm.card_mode``).

One short plain-text request a field, each the same system message and paper followed by that
field's task (so llama.cpp evaluates the paper once), and a field that fails a check asked again
on its own. The scripted server stands in for the model and answers each task with the field of a
good card, or with what the test wants it to get wrong.
"""

from __future__ import annotations

import re

import pytest
from examples import GOOD, THINKLESS
from support.llm_server import ScriptedServer

from papersift.config import LLMSettings, Settings
from papersift.enrich.fieldwise import FIELDS, cleaned, keywords_of
from papersift.enrich.pipeline import card_mode, enrich_papers
from papersift.models import READING_FIELDS
from papersift.store import Store

LABELS = {
    "translated title": "title",
    "TL;DR": "tldr",
    "keywords": "keywords",
    "digest paragraph": "digest",
    **{name: f"reading.{name}" for name in READING_FIELDS},
}
TASK = re.compile(r"^(?:Write the|Your) (translated title|TL;DR|keywords|digest paragraph|\w+)[: ]")


def field_asked(body: dict) -> str:
    return LABELS[TASK.match(body["messages"][-1]["content"])[1]]


def good_field(field: str) -> str:
    if field == "keywords":
        return ", ".join(GOOD.keywords)
    if field.startswith("reading."):
        return getattr(GOOD.reading, field.removeprefix("reading."))
    return getattr(GOOD, field)


def settings_for(server: ScriptedServer, db, **llm) -> Settings:
    options = {
        "backend": "openai",
        "base_url": server.base_url,
        "model": "scripted",
        "api_key": "test",
        "concurrency": 1,
        "timeout": 5.0,
        "max_retries": 1,
        "card_mode": "fields",
    } | llm
    return Settings(db=db, llm=LLMSettings(**options))


def stored(store: Store, paper_id: str) -> dict:
    import json

    return json.loads(store.conn.execute("SELECT data FROM enrichments WHERE paper_id = ?", (paper_id,)).fetchone()[0])


def test_each_field_is_one_plain_request_after_the_same_system_message_and_paper(store):
    paper_id = store.upsert(THINKLESS)[0]
    with ScriptedServer(responder=lambda body: good_field(field_asked(body))) as server:
        report = enrich_papers(store, settings_for(server, store.path))
        requests = server.chat_requests

    assert report.ok == 1 and [field_asked(r.body) for r in requests] == list(FIELDS)
    assert all("response_format" not in r.body for r in requests)  # plain text: no grammar to slow a CPU
    assert len({json_of(r.messages[:2]) for r in requests}) == 1  # the prefix llama.cpp evaluates once
    card = stored(store, paper_id)["card"]
    assert card["reading"]["method"] == GOOD.reading.method and card["keywords"] == GOOD.keywords


def json_of(messages: list[dict]) -> str:
    import json

    return json.dumps(messages, ensure_ascii=False, sort_keys=True)


def test_only_the_field_that_fails_a_check_is_asked_again_with_what_to_fix(store):
    paper_id = store.upsert(THINKLESS)[0]

    def repeat_once(body: dict) -> str:
        field = field_asked(body)
        first_ask = body["messages"][-1]["content"].startswith("Write")
        return good_field("reading.motivation") if field == "reading.problem" and first_ask else good_field(field)

    with ScriptedServer(responder=repeat_once) as server:
        report = enrich_papers(store, settings_for(server, store.path))
        again = server.chat_requests[len(FIELDS) :]

    assert report.ok == 1 and report.guard_reasks == 1
    [request] = again
    assert field_asked(request.body) == "reading.problem"
    assert GOOD.reading.motivation in request.messages[-1]["content"]  # its answer, quoted
    assert "repeats reading.motivation" in request.messages[-1]["content"]  # and what to fix
    assert stored(store, paper_id)["card"]["reading"]["problem"] == GOOD.reading.problem


def test_a_field_still_wrong_after_its_second_ask_leaves_the_card_poor_with_the_reason(store):
    paper_id = store.upsert(THINKLESS)[0]
    cut = GOOD.reading.method.rstrip("。")[:-6]  # stops mid-sentence every time
    with ScriptedServer(
        responder=lambda body: cut if field_asked(body) == "reading.method" else good_field(field_asked(body))
    ) as server:
        report = enrich_papers(store, settings_for(server, store.path))

    enrichment = stored(store, paper_id)
    assert report.poor == 1 and enrichment["status"] == "poor"
    assert any("reading.method" in r and "mid-sentence" in r for r in enrichment["reasons"])


def test_an_english_field_is_asked_again_in_the_target_language(store):
    store.upsert(THINKLESS)
    english = "Thinkless trains a model to choose between short and long reasoning with two control tokens."
    with ScriptedServer(
        responder=lambda body: (
            english
            if field_asked(body) == "tldr" and body["messages"][-1]["content"].startswith("Write")
            else good_field(field_asked(body))
        )
    ) as server:
        report = enrich_papers(store, settings_for(server, store.path))
        again = server.chat_requests[len(FIELDS) :]

    assert report.ok == 1 and [field_asked(r.body) for r in again] == ["tldr"]
    assert "is not written in Simplified Chinese" in again[0].messages[-1]["content"]


@pytest.mark.parametrize(
    "mode, backend, used",
    [
        ("auto", "embedded", "grounded"),
        ("auto", "openai", "whole"),
        ("whole", "embedded", "whole"),
        ("fields", "openai", "fields"),
        ("grounded", "openai", "grounded"),
    ],
)
def test_auto_is_grounded_for_the_embedded_engine_and_whole_for_a_server(mode, backend, used):
    assert card_mode(Settings(llm=LLMSettings(backend=backend, card_mode=mode))) == used


def test_an_unknown_card_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="llm.card_mode must be one of auto, whole, grounded, fields, not 'json'"):
        card_mode(Settings(llm=LLMSettings(card_mode="json")))


def test_labels_and_quotes_a_small_model_adds_are_taken_off_and_keywords_split():
    assert (
        cleaned("研究动机：推理模型对所有问题都进行冗长的思维链推理。") == "推理模型对所有问题都进行冗长的思维链推理。"
    )
    assert (
        cleaned("**Motivation:** 推理模型对所有问题都进行冗长的思维链推理。")
        == "推理模型对所有问题都进行冗长的思维链推理。"
    )
    assert cleaned("“Thinkless：大语言模型学习何时思考”") == "Thinkless：大语言模型学习何时思考"
    assert cleaned("**CGPO：基于曲率的多域推理优化框架**") == "CGPO：基于曲率的多域推理优化框架"
    assert cleaned("我们引入了 **时间注意力模式预测分析 (TAPPA)**，一个统一的框架。") == (
        "我们引入了 时间注意力模式预测分析 (TAPPA)，一个统一的框架。"
    )
    assert cleaned("Thinkless: LLM 学习何时思考") == "Thinkless: LLM 学习何时思考"  # the paper's name is no label
    assert keywords_of("1. Thinkless\n2. DeGRPO、adaptive reasoning；RL.") == [
        "Thinkless",
        "DeGRPO",
        "adaptive reasoning",
        "RL",
    ]


@pytest.mark.parametrize(
    "name, times, fix",
    [
        ("method", 12, "at most 400 characters: write it shorter"),  # far over the field's 400 characters
        ("motivation", 30, "was cut off: write it much shorter"),  # far past its token bound: the server cuts it
    ],
)
def test_a_rambling_field_is_asked_again_shorter_alone_before_the_card_is_checked(store, name, times, fix):
    paper_id = store.upsert(THINKLESS)[0]
    field, good = f"reading.{name}", getattr(GOOD.reading, name)

    def ramble_once(body: dict) -> str:
        first_ask = body["messages"][-1]["content"].startswith("Write")
        return good * times if field_asked(body) == field and first_ask else good_field(field_asked(body))

    with ScriptedServer(responder=ramble_once) as server:
        report = enrich_papers(store, settings_for(server, store.path))
        [again] = server.chat_requests[len(FIELDS) :]

    assert report.ok == 1 and field_asked(again.body) == field
    assert fix in again.messages[-1]["content"]
    assert stored(store, paper_id)["card"]["reading"][name] == good
