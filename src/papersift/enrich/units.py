"""Quantities rewritten into the target language's units by code, before a sentence reaches the model.

A small model translates "235 billion" as "235 亿" (23.5 billion): the Chinese units (万, 亿,
万亿) group by ten thousand, the English ones by a thousand, and converting is arithmetic,
which a model does badly and code does exactly. So the sentence the model sees already says
"2350亿"; its job is only to keep it, which :func:`missing` checks afterwards.

    rewrite_quantities("from 0.6 to 235 billion parameters", "zh")
    -> Rewritten(text="from 6亿 to 2350亿 parameters", quantities=["6亿", "2350亿"])

A range's lower bound takes the upper bound's multiplier ("0.6 to 235 billion"), as the source
means it. Sizes written with a letter other than M (7B, 32K, 36T) are left alone: the field writes
them that way in Chinese too. Languages without such units (English, French, ...) keep the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

# The target's units, largest first: (value, word).
UNITS = {"zh": ((Decimal(10) ** 12, "万亿"), (Decimal(10) ** 8, "亿"), (Decimal(10) ** 4, "万"))}
MULTIPLIERS = {"thousand": 3, "million": 6, "billion": 9, "trillion": 12, "M": 6}
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_QUANTITY = re.compile(
    rf"(?<![\w.])(?:(?P<low>{_NUMBER})(?P<sep>\s*(?:to|–|-|~)\s*))?(?P<number>{_NUMBER})"
    r"(?:\s*(?P<word>thousand|million|billion|trillion)s?\b|(?P<letter>M)(?![A-Za-z0-9]))"
)
_SPACE = re.compile(r"\s+")
# A number as a translation must give it back: digits, with a Chinese unit where the source has one.
_NUMBER_TOKEN = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?:万亿|亿|万)?")


@dataclass
class Rewritten:
    """A sentence with its quantities in the target's units, and those quantities as written there."""

    text: str
    quantities: list[str] = field(default_factory=list)


def in_units(value: Decimal, lang: str) -> str:
    """``Decimal(235e9)`` -> ``2350亿``; a value below the smallest unit is written in digits."""
    for size, word in UNITS[lang]:
        if value >= size:
            return f"{_plain(value / size)}{word}"
    return _plain(value)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def rewrite_quantities(text: str, lang: str) -> Rewritten:
    """``text`` with every "N thousand/million/billion/trillion" and "N M" in ``lang``'s units."""
    if lang not in UNITS:
        return Rewritten(text)
    written: list[str] = []

    def replace(m: re.Match) -> str:
        exponent = MULTIPLIERS[m["word"] or m["letter"]]
        high = in_units(Decimal(m["number"].replace(",", "")).scaleb(exponent), lang)
        if not m["low"]:
            written.append(high)
            return high
        low = in_units(Decimal(m["low"].replace(",", "")).scaleb(exponent), lang)
        written.extend([low, high])
        return f"{low}{m['sep']}{high}"

    return Rewritten(_QUANTITY.sub(replace, text), written)


def numbers_in(text: str) -> list[str]:
    """The numbers of a text as a translation must keep them: ``6亿 to 2350亿, 29 languages`` ->
    ``["6亿", "2350亿", "29"]`` (a number inside a name, 2.5 of Qwen2.5, too)."""
    return _NUMBER_TOKEN.findall(_SPACE.sub("", text.replace(",", "")))


def missing(numbers: list[str], reply: str) -> list[str]:
    """The numbers the reply does not write as given (spaces and thousands commas aside): dropped,
    or converted again (235 亿 for 2350亿); a number is matched whole, never inside another (6 in 0.6)."""
    written = set(numbers_in(reply))
    return [n for n in dict.fromkeys(numbers) if n not in written]
