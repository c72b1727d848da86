"""How many tokens a text is, before it is sent: so that no request is made that cannot fit.

The embedded engine's model is a GGUF file that holds its own tokenizer and the context it was
trained for; its vocabulary loads in about a second without the weights, and counts exactly. A
server's tokenizer is not known here, so its texts are estimated: a character count made to
over-count. On the Qwen3 technical report's sections, 200 abstracts of catalog-dev.jsonl, their
Chinese readings and the digest examples, the Qwen2.5 tokenizer gave between 0.58 and 1.40 times
:func:`rough_tokens` (median 0.97; tables of numbers and lists of author names are the dense end),
so :func:`estimate_tokens` adds half again.
"""

from __future__ import annotations

import atexit
import math
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CAUTION = 1.5
MESSAGE_OVERHEAD = 8  # the chat template's tokens around each message (<|im_start|>role … <|im_end|>)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_DIGIT = re.compile(r"\d")
_PUNCT = re.compile(r"[!-/:-@\[-`{-~]")
_WORD = re.compile(r"[A-Za-z]+")
_OTHER = re.compile(r"[^\x00-\x7f\u3400-\u9fff\uf900-\ufaff]")

TokenCount = Callable[[str], int]


def rough_tokens(text: str) -> int:
    """About one token a Chinese character, digit, punctuation mark, Latin word or line; two for
    any other non-ASCII character (a byte-level tokenizer spends several on a symbol)."""
    return (
        len(_CJK.findall(text))
        + len(_DIGIT.findall(text))
        + len(_PUNCT.findall(text))
        + len(_WORD.findall(text))
        + 2 * len(_OTHER.findall(text))
        + text.count("\n")
        + 1
    )


def estimate_tokens(text: str) -> int:
    """A count that a real tokenizer's stays under (see the module)."""
    return math.ceil(CAUTION * rough_tokens(text))


@dataclass(frozen=True)
class Tokenizer:
    """A model's token count, the context it was trained for (None where unknown), and whether it
    has a thinking mode (a server's model is taken to have one: its thinking switch is asked)."""

    count: TokenCount = estimate_tokens
    window: int | None = None
    thinks: bool = True
    caution: float = CAUTION  # how much more ``count`` may say of a text than the model's tokens: 1 when exact

    def messages(self, messages: list[dict[str, str]]) -> int:
        return sum(self.count(m.get("content") or "") + MESSAGE_OVERHEAD for m in messages)


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@lru_cache(maxsize=4)
def gguf_tokenizer(path: Path) -> Tokenizer:
    """The exact tokenizer of a GGUF model, its trained context (``<arch>.context_length``), and
    whether its chat template has a thinking mode (Qwen3's mentions ``<think>`` / enable_thinking)."""
    from llama_cpp import Llama

    with _quiet_stderr():  # llama.cpp warns on stderr that a vocabulary has no trained window
        vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)
    atexit.register(vocab.close)  # freed while llama.cpp is still loaded, not by a late __del__ at exit
    meta = vocab.metadata
    window = meta.get(f"{meta.get('general.architecture', '')}.context_length")

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    thinks = "think" in meta.get("tokenizer.chat_template", "")
    return Tokenizer(count, int(window) if window and str(window).isdigit() else None, thinks, caution=1.0)
