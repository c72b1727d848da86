"""Qwen3-style reasoning: soft switches, ``<think>`` blocks, and the closing of a cut-off budget.

Shared by every backend: a hybrid model's reasoning arrives either in a separate field
(vLLM/SGLang with a reasoning parser) or inline as ``<think>…</think>`` at the start of the
content; either way it is taken out of the answer and returned apart.
"""

from __future__ import annotations

import re

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
SOFT_ON = "/think"
SOFT_OFF = "/no_think"
# What the Qwen3 report appends when the thinking budget runs out, before the answer.
BUDGET_CLOSING = "Considering the limited time, I have to give the solution based on the thinking directly now."

_THINK_BLOCK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.S)


def split_reasoning(text: str) -> tuple[str, str | None]:
    """``(answer, reasoning)`` from a reply that may start with a ``<think>`` block.

    A reply can also lack the opening tag (the chat template put ``<think>`` in the prompt) and
    then holds reasoning up to the first ``</think>``. An empty block (thinking off) gives None.
    """
    match = _THINK_BLOCK.match(text)
    if match:
        reasoning, answer = match[1], text[match.end() :]
    elif THINK_CLOSE in text and THINK_OPEN not in text:
        reasoning, _, answer = text.partition(THINK_CLOSE)
        answer = answer.lstrip()
    else:
        return text, None
    reasoning = reasoning.strip()
    return answer, reasoning or None


def with_soft_switch(messages: list[dict[str, str]], enabled: bool) -> list[dict[str, str]]:
    """The messages with ``/think`` or ``/no_think`` appended to the last user message."""
    switch = SOFT_ON if enabled else SOFT_OFF
    out = [dict(m) for m in messages]
    for message in reversed(out):
        if message.get("role") == "user":
            message["content"] = f"{message.get('content', '')} {switch}"
            break
    return out


def budget_prefix(reasoning: str) -> str:
    """The assistant prefix that closes a reasoning cut at its budget, for the answer to follow."""
    return f"{THINK_OPEN}\n{reasoning.rstrip()}\n\n{BUDGET_CLOSING}\n{THINK_CLOSE}\n\n"


def closed_reasoning(reasoning: str) -> str:
    """The reasoning as kept for a budget-cut call: what was thought, then the closing sentence."""
    return f"{reasoning.rstrip()}\n\n{BUDGET_CLOSING}"
