"""Thinking control for Qwen3-style hybrid models: off/on through chat_template_kwargs or the soft
switches, reasoning kept apart from the answer, and a thinking budget that cuts the reasoning at N
tokens, closes it, and lets the model answer from there."""

from __future__ import annotations

import pytest
from support.llm_server import REASONING_WORDS, ScriptedServer

from papersift.config import load_settings
from papersift.llm.client import LLMClient
from papersift.llm.reasoning import BUDGET_CLOSING, split_reasoning, with_soft_switch

MESSAGES = [
    {"role": "system", "content": "Answer in English."},
    {"role": "user", "content": "Summarise: GPT-4o scores 88.7 on MMLU."},
]


def client_for(server: ScriptedServer, **llm) -> LLMClient:
    options = {"backend": "openai", "base_url": server.base_url, "model": "qwen3", "max_retries": 0} | llm
    return LLMClient(load_settings(llm=options), backoff=0.01)


def words(text: str | None) -> list[str]:
    return (text or "").split()


@pytest.mark.parametrize("reasoning_format", ["field", "tags"])
async def test_thinking_off_and_on_go_through_chat_template_kwargs(reasoning_format):
    with ScriptedServer(reasoning_format=reasoning_format, reasoning_tokens=12) as server:
        async with client_for(server) as client:
            off = await client.chat(MESSAGES, thinking="off")
            on = await client.chat(MESSAGES, thinking="on")
        sent_off, sent_on = server.chat_requests
    assert sent_off.chat_template_kwargs == {"enable_thinking": False}
    assert sent_on.chat_template_kwargs == {"enable_thinking": True}
    assert sent_on.last_user == MESSAGES[-1]["content"]  # no soft switch needed
    assert off.reasoning is None and "<think>" not in off.text
    assert words(on.reasoning) == REASONING_WORDS[:12]  # the reasoning, kept apart...
    assert on.text == off.text and "<think>" not in on.text  # ...and out of the answer
    assert on.tokens_reasoning == 12


async def test_the_soft_switch_setting_appends_think_or_no_think_instead():
    with ScriptedServer(thinking_default=True) as server:
        async with client_for(server, thinking_switch="soft") as client:
            off = await client.chat(MESSAGES, thinking="off")
            on = await client.chat(MESSAGES, thinking="on")
    sent_off, sent_on = server.chat_requests
    assert sent_off.chat_template_kwargs is None and sent_off.last_user.endswith(" /no_think")
    assert sent_on.chat_template_kwargs is None and sent_on.last_user.endswith(" /think")
    assert off.reasoning is None and on.reasoning


async def test_a_server_that_rejects_chat_template_kwargs_gets_the_soft_switch_from_then_on():
    with ScriptedServer(accepts_template_kwargs=False) as server:
        async with client_for(server) as client:
            first = await client.chat(MESSAGES, thinking="on")
            await client.chat(MESSAGES, thinking="on", max_tokens=99)
    rejected, retried, later = server.chat_requests
    assert rejected.fault == "rejected"
    assert retried.chat_template_kwargs is None and retried.last_user.endswith("/think")
    assert later.chat_template_kwargs is None  # remembered: no second rejection
    assert first.reasoning


@pytest.mark.parametrize("reasoning_format", ["field", "tags"])
async def test_a_budget_cuts_the_reasoning_closes_it_and_lets_the_answer_follow(reasoning_format):
    with ScriptedServer(reasoning_format=reasoning_format, reasoning_tokens=60) as server:
        async with client_for(server) as client:
            result = await client.chat(MESSAGES, thinking="budget:10", max_tokens=200)
        streamed, continued = server.chat_requests
    assert streamed.stream and streamed.chat_template_kwargs == {"enable_thinking": True}
    # The reasoning stops at the budget and ends with the closing sentence.
    assert result.reasoning.startswith(" ".join(REASONING_WORDS[:10]))
    assert words(result.reasoning)[: -len(BUDGET_CLOSING.split())] == REASONING_WORDS[:10]
    assert result.reasoning.endswith(BUDGET_CLOSING)
    # The model is asked to continue an assistant message holding that reasoning and </think>.
    prefix = continued.messages[-1]
    assert prefix["role"] == "assistant"
    assert prefix["content"].startswith("<think>\n") and prefix["content"].endswith(f"{BUDGET_CLOSING}\n</think>\n\n")
    assert continued.body["continue_final_message"] is True and continued.body["add_generation_prompt"] is False
    assert continued.messages[:-1] == MESSAGES
    # The answer follows, free of reasoning.
    assert "GPT-4o" in result.text and "<think>" not in result.text and "step" not in result.text
    assert result.tokens_reasoning == 10


async def test_a_budget_not_reached_needs_no_second_request():
    with ScriptedServer(reasoning_tokens=5) as server:
        async with client_for(server) as client:
            result = await client.chat(MESSAGES, thinking="budget:50")
        assert len(server.chat_requests) == 1
    assert words(result.reasoning) == REASONING_WORDS[:5]
    assert "GPT-4o" in result.text and result.tokens_reasoning == 5


async def test_the_default_thinking_comes_from_the_settings():
    with ScriptedServer() as server:
        async with client_for(server, thinking="on") as client:
            result = await client.chat(MESSAGES)
        assert server.chat_requests[0].chat_template_kwargs == {"enable_thinking": True}
    assert result.reasoning


def test_split_reasoning_handles_blocks_a_missing_opening_tag_and_empty_blocks():
    assert split_reasoning("<think>\nhmm\n</think>\n\nanswer") == ("answer", "hmm")
    assert split_reasoning("hmm, let me see</think>\n\nanswer") == ("answer", "hmm, let me see")
    assert split_reasoning("<think>\n\n</think>\n\nanswer") == ("answer", None)
    assert split_reasoning("just an answer") == ("just an answer", None)


def test_soft_switch_goes_on_the_last_user_message_only():
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    switched = with_soft_switch(messages, False)
    assert [m["content"] for m in switched] == ["a", "b", "c /no_think"]
    assert messages[-1]["content"] == "c"  # the caller's list is not changed


class FakeHybridLlama:
    """Stands in for llama_cpp.Llama running a hybrid model: a ChatML template that knows
    enable_thinking, reasoning that never ends by itself, and an answer after the prefix."""

    metadata = {
        "tokenizer.chat_template": (
            "{# enable_thinking #}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        )
    }

    def __init__(self):
        self.prompts: list[str] = []
        self.chat_messages: list[list[dict]] = []

    def token_eos(self):
        return 1

    def token_bos(self):
        return -1

    def detokenize(self, tokens, special=False):
        return b"<|im_end|>"

    def create_completion(self, prompt, max_tokens=16, temperature=0.0, stream=False, grammar=None):
        self.prompts.append(prompt)
        if stream:
            return iter(
                [{"choices": [{"text": f"{REASONING_WORDS[i % len(REASONING_WORDS)]} "}]} for i in range(max_tokens)]
            )
        return {
            "choices": [{"text": "GPT-4o scores 88.7.", "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 6},
        }

    def create_chat_completion(self, messages, max_tokens=16, temperature=0.0, response_format=None):
        self.chat_messages.append(messages)
        return {
            "choices": [
                {"message": {"content": "<think>\n\n</think>\n\nGPT-4o scores 88.7."}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 40, "completion_tokens": 6},
        }


def test_the_embedded_engine_thinks_within_its_budget_then_answers():
    pytest.importorskip("llama_cpp", reason="the embedded engine's chat formatter comes with llama-cpp-python")
    from papersift.llm.base import ChatRequest, Thinking
    from papersift.llm.engine import LlamaEngine

    fake = FakeHybridLlama()
    engine = LlamaEngine(fake, model="hybrid")

    result = engine.chat(ChatRequest(messages=MESSAGES, thinking=Thinking(True, 6)))
    thinking_prompt, answer_prompt = fake.prompts
    assert thinking_prompt.endswith(
        "Summarise: GPT-4o scores 88.7 on MMLU. /think<|im_end|>\n<|im_start|>assistant\n<think>\n"
    )
    assert answer_prompt.endswith(f"{BUDGET_CLOSING}\n</think>\n\n")
    assert words(result.reasoning)[:6] == REASONING_WORDS[:6] and result.reasoning.endswith(BUDGET_CLOSING)
    assert result.text == "GPT-4o scores 88.7." and result.tokens_reasoning == 6

    off = engine.chat(ChatRequest(messages=MESSAGES, thinking=Thinking(False)))
    assert fake.chat_messages[-1][-1]["content"].endswith(" /no_think")
    assert (off.text, off.reasoning) == ("GPT-4o scores 88.7.", None)
