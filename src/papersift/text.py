"""Text helpers shared across stages: indexing and querying must segment the same way, and
every one-line rendering squashes whitespace the same way."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def one_line(text: str) -> str:
    """``text`` on one line: every run of whitespace (newlines included) one space, none at the ends."""
    return " ".join(text.split())


def has_cjk(text: str) -> bool:
    return not text.isascii() and bool(_CJK.search(text))  # isascii: a C scan, far cheaper than the regex


def segment(text: str) -> str:
    """Space-separate Chinese words so FTS5's unicode61 tokenizer can index them.

    unicode61 treats a run of Han characters as one token and trigram misses two-character
    words, so Chinese is cut with jieba first; text without CJK passes through untouched
    (and jieba, slow to import, is never loaded for it).
    """
    if not text or not has_cjk(text):
        return text or ""
    import jieba  # deferred, slow to import: only for Chinese text

    jieba.setLogLevel(60)
    return " ".join(tok for tok in jieba.cut_for_search(text) if tok.strip())
