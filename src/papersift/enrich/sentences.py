"""An abstract cut into its sentences, for the grounded card (:mod:`.grounded`).

A period ends a sentence only where a new one starts after it. Everything that holds a period
without ending anything is masked first: LaTeX (``$O(n \\log n)$``), links, decimals (``0.6``),
versions and dotted names (``Qwen2.5``, ``v1.2``), abbreviations (``e.g.``, ``i.e.``, ``et al.``,
``vs.``, ``Fig.``). The sentences are slices of the text: joined
with single spaces they give it back, LaTeX and links intact.
"""

from __future__ import annotations

import re

ABBREVIATIONS = (
    "e.g.",
    "i.e.",
    "et al.",
    "etc.",
    "vs.",
    "cf.",
    "approx.",
    "resp.",
    "w.r.t.",
    "a.k.a.",
    "viz.",
    "Fig.",
    "Figs.",
    "Eq.",
    "Eqs.",
    "Sec.",
    "Tab.",
    "No.",
    "Dr.",
    "Prof.",
    "Mr.",
    "Ms.",
    "St.",
    "Inc.",
    "Ltd.",
    "Jr.",
    "al.",
    "U.S.",
)
_PROTECTED = re.compile(
    "|".join(
        rf"(?<![A-Za-z]){re.escape(a)}" for a in sorted(ABBREVIATIONS, key=len, reverse=True)
    )  # first: e.g. is no name
    + r"|\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]"  # LaTeX
    r"|https?://\S+|www\.\S+"  # links (a sentence's own full stop after a link is taken back below)
    r"|\d\.\d|[A-Za-z0-9]\.(?=[A-Za-z0-9])"  # decimals, versions, dotted names
    r"|\.{3}|…",
    re.S,
)
# A sentence ends at . ! ? (closing quotes and brackets included) before the start of another: a capital,
# a digit, an opening quote or bracket, LaTeX, a CJK character, or a lower-case name (mPLUG, iGPT).
_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s+(?:[A-Z0-9_\"'“‘(\[$\\]|[a-z]+[A-Z]|[\u3400-\u9fff]))|[。！？]")
_LINK_END = re.compile(r"[.,;:]+$")


def _masked(text: str) -> str:
    """The text with every protected span turned into underscores, offsets unchanged."""
    chars = list(text)
    for m in _PROTECTED.finditer(text):
        start, end = m.span()
        if m[0].startswith(("http", "www")):  # "… at https://x.io." : the final period is the sentence's
            end -= len(_LINK_END.search(m[0])[0]) if _LINK_END.search(m[0]) else 0
        chars[start:end] = "_" * (end - start)
    return "".join(chars)


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` in order, whitespace inside each collapsed to single spaces."""
    text = " ".join(text.split())
    sentences, start = [], 0
    for m in _END.finditer(_masked(text)):
        sentence = text[start : m.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = m.end()
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences
