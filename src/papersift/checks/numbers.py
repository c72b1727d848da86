"""Numbers in running text, English or Chinese, read as values so that unit conversions compare equal.

``1.01M`` and ``101万``, ``900B`` and ``9000亿``, ``eleven`` and ``11``, ``53%`` and ``53 %`` all give the
same value. Two readings of a text exist:

* ``role="source"`` (the abstract or full text): liberal. Every plausible value is kept — the bare
  number and the number times its multiplier, a range's lower bound with and without the upper
  bound's multiplier, words such as "twice" or "half". A claim is grounded when any of them matches.
* ``role="claim"`` (the model's output): strict. ``235 亿`` is 2.35e10 and nothing else, and a range's
  lower bound without a multiplier takes the upper bound's (``0.6 到 235 亿`` is 6e7 to 2.35e10, which
  is how a Chinese reader reads it). Some numbers need no grounding; each carries the reason, see
  ``EXEMPTIONS``.

Numbers inside names (``GPT-4``, ``Qwen2.5-14B``, ``GSM8K``) are not numbers here: ``latin_tokens``
classifies those tokens as names, masked before numbers are read, and the name check owns them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from ..text import has_cjk

Role = Literal["source", "claim"]

# Why a number in a claim needs no grounding. Each is a kind of number that states no fact of the paper.
EXEMPTIONS = {
    "ordinal": "an ordinal or list marker (第3, 第一, 1st, '1.' or '(2)' opening an item)",
    "small-word": "one, two or three written as a word (一种, 两阶段, 三个方面, two-stage): ordinary phrasing, or a count"
    " of things the source enumerates ('first … second …', '(i) … (iii)') rather than states",
    "reciprocal": "the 1 of a fraction 1/N, which restates N (降至原来的 1/14.5 for a 14.5× reduction)",
    "enumerated": "a count of the items listed right before it (MTIL、X-TAIL、VLCL和ConStruct-VL四个基准): the"
    " items themselves are checked",
    "vague": "a vague quantity (数十亿, 几百, 上千, 成千): it asserts no exact number",
    "dimension": "a dimensionality term (2D, 3D, 4D): a name of a kind of data, not a quantity",
}
# Where they are decided: "dimension" and the "1st" kind of "ordinal" by ``latin_tokens`` (such a token
# is never read as a number at all), the rest by ``_exemption``.

# --- normalisation ----------------------------------------------------------------------------------

_SUPERSCRIPTS = str.maketrans(
    {
        "⁰": "^0",
        "¹": "^1",
        "²": "^2",
        "³": "^3",
        "⁴": "^4",
        "⁵": "^5",
        "⁶": "^6",
        "⁷": "^7",
        "⁸": "^8",
        "⁹": "^9",
        "⁻": "^-",
    }
)
_LATEX_SYMBOLS = {
    "times": "×",
    "%": "%",
    "sim": "~",
    "approx": "≈",
    "cdot": "·",
    "geq": "≥",
    "leq": "≤",
    "ge": "≥",
    "le": "≤",
    "_": "_",
    "&": "&",
    ",": "",
    "!": "",
    ";": " ",
    ":": " ",
    " ": " ",
}
# Font and wrapper commands vanish with their braces; other commands keep their word (\pi -> pi).
_LATEX_DROPPED = frozenset(
    "mathrm mathbf mathcal mathit mathsf mathbb mathtt boldsymbol operatorname text textbf textit "
    "texttt textsc textrm textsf textord emph url href left right".split()
)
_LATEX_COMMAND = re.compile(r"\\([A-Za-z]+|[%_&,!;: ])")
# JSON read "\texttt" as a tab and "exttt", "\frac" as a form feed and "rac": put the backslash back.
_LOST_BACKSLASH = re.compile(
    r"\t(?=ext|imes|heta|ilde|au\b)|\f(?=rac|orall)|\x08(?=eta|oldsymbol|ar\b)|\r(?=ho\b|ight|angle)|\n(?=abla|eq\b)"
)
# The same commands with the backslash lost altogether ("$mathrm{AnsF1}$", " exttt{Sonata}").
_BARE_FONT_COMMAND = re.compile(
    r"(?:\\|(?<![A-Za-z]))(?:t?ext(?:tt|bf|it|sc|rm|sf|ord|up)?|math(?:rm|bf|cal|it|sf|bb|tt)|boldsymbol|operatorname|emph)"
    r"(?=\{)"
)
_CONTROL_LETTER = {"\t": "t", "\f": "f", "\x08": "b", "\r": "r", "\n": "n"}
_CJK_COMMA = re.compile(r"[，、；]")


def _latex(match: re.Match) -> str:
    name = match[1]
    if name in _LATEX_DROPPED:
        return ""
    return _LATEX_SYMBOLS.get(name, f" {name} ")


def normalise(text: str) -> str:
    """Comparable text: full-width forms folded, superscripts spelt ``^2``, LaTeX markup reduced.

    The Chinese comma keeps a space after it, so ``100，200`` stays two numbers and never becomes
    the thousands-grouped ``100,200``.
    """
    text = _LOST_BACKSLASH.sub(lambda m: "\\" + _CONTROL_LETTER[m[0]], text)
    text = _CJK_COMMA.sub(lambda m: m[0] + " ", text.translate(_SUPERSCRIPTS))
    text = unicodedata.normalize("NFKC", text)
    text = _BARE_FONT_COMMAND.sub("", text)
    text = _LATEX_COMMAND.sub(_latex, text)
    return text.replace("$", "").replace("{", "").replace("}", "")


# --- Latin tokens: names versus numbers with units ------------------------------------------------

_ALNUM = "A-Za-z0-9\u00c0-\u024f"  # Latin letters with accents: Nyström is one word
TOKEN = re.compile(rf"[{_ALNUM}]+(?:[-_.'][{_ALNUM}]+)*")
# The same tokens, mostly only those with a digit: the lookahead scans the token's characters (and
# past a "---" joiner, so a match is checked once more).
TOKEN_WITH_DIGIT = re.compile(rf"(?<![{_ALNUM}])(?=[{_ALNUM}\-_.']*\d)[{_ALNUM}]+(?:[-_.'][{_ALNUM}]+)*")
_LETTER = re.compile("[A-Za-z\u00c0-\u024f]")
_ONE_DIGIT = re.compile(r"\d")
_NUM = r"\d+(?:\.\d+)?"
_SCI = re.compile(rf"{_NUM}[eE][-+]?\d+")
# 7B, 1.3K, 49kB, 2x, 19pp, 8-shot, 1B-parameter, 4-way, 3B-32B: numbers with units, not a name.
_NUMBER_WITH_UNIT = rf"{_NUM}(?:[kKMBGT]B?|bn|[xX]|pp|-?fold)?"
_NUMBER_TOKEN = re.compile(rf"{_NUMBER_WITH_UNIT}(?:-{_NUMBER_WITH_UNIT})*(?:-[a-z]+)*")
# top-5, best-of-16, rank-1: a generic word with a number, whose number is a number like any other.
_GENERIC_WITH_NUMBER = re.compile(r"(?:top|best-of|pass|rank|maj|avg|mean|round|step|layer|stage|level)-\d+", re.I)
_DIMENSION_TOKEN = re.compile(r"\d[dD]")
_ORDINAL_TOKEN = re.compile(r"\d+(?:st|nd|rd|th)")

TokenKind = Literal["number", "name", "dimension", "ordinal"]


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int
    end: int
    kind: TokenKind


def latin_tokens(text: str, *, with_digits: bool = False) -> Iterator[Token]:
    """Latin-script tokens of normalised text, each classified; plain digit runs are left out.

    ``with_digits``: only tokens with a digit (the only ones that can hide a number), found faster.
    """
    for m in (TOKEN_WITH_DIGIT if with_digits else TOKEN).finditer(text):
        word = m[0]
        if not _LETTER.search(word) or (with_digits and not _ONE_DIGIT.search(word)):
            continue
        if _DIMENSION_TOKEN.fullmatch(word):
            kind: TokenKind = "dimension"
        elif _ORDINAL_TOKEN.fullmatch(word):
            kind = "ordinal"
        elif _NUMBER_TOKEN.fullmatch(word) or _SCI.fullmatch(word) or _GENERIC_WITH_NUMBER.fullmatch(word):
            kind = "number"
        else:
            kind = "name"
        yield Token(word, m.start(), m.start() + len(word), kind)


# --- number words --------------------------------------------------------------------------------

_EN_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_EN_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
EN_WORDS = {w: i for i, w in enumerate(_EN_UNITS)} | _EN_TENS | {"hundred": 100, "dozen": 12}
# Words a source uses for a quantity without a numeral; only ever read in the source, never demanded.
_SOURCE_ONLY_WORDS = {
    "thousand": 1e3,
    "million": 1e6,
    "billion": 1e9,
    "trillion": 1e12,
    "twice": 2,
    "double": 2,
    "doubles": 2,
    "doubled": 2,
    "doubling": 2,
    "dual": 2,
    "both": 2,
    "pair": 2,
    "pairs": 2,
    "half": 0.5,
    "halves": 0.5,
    "halved": 0.5,
    "halving": 0.5,
    "triple": 3,
    "tripled": 3,
    "triples": 3,
    "quadruple": 4,
    "quarter": 0.25,
    "hundreds": 100,
    "thousands": 1e3,
    "millions": 1e6,
    "billions": 1e9,
    "trillions": 1e12,
}

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG_UNITS = {"万": 10**4, "亿": 10**8}
_CN_CHARS = "".join(_CN_DIGITS) + "".join(_CN_SMALL_UNITS) + "".join(_CN_BIG_UNITS)


def parse_chinese_numeral(text: str) -> int | None:
    """``十一`` -> 11, ``两千三百`` -> 2300, ``十亿`` -> 10**9; None for what is no single number (``三四``)."""
    total, section, digit, seen_digit = 0, 0, None, False
    for ch in text:
        if ch in "零〇":  # a gap, as in 一千零五; only between a unit and a digit
            if digit is not None:
                return None
        elif ch in _CN_DIGITS:
            if digit is not None:  # two digits in a row: 三四 "three or four", 一一 "one by one"
                return None
            digit, seen_digit = _CN_DIGITS[ch], True
        elif ch in _CN_SMALL_UNITS:
            section += (1 if digit is None else digit) * _CN_SMALL_UNITS[ch]
            digit = None
        elif ch in _CN_BIG_UNITS:
            section += digit or 0
            big = _CN_BIG_UNITS[ch]
            if big > 10**4:  # 亿 multiplies all before it: 两万亿 is 2 * 10**4 * 10**8
                total = ((total + section) or 1) * big
            else:
                total += (section or 1) * big
            section, digit = 0, None
        else:
            return None
    value = total + section + (digit or 0)
    return value if (seen_digit or value) else None


# --- the quantity grammar -----------------------------------------------------------------------

_CN_MULTIPLIERS = {
    "万亿": 1e12,
    "千亿": 1e11,
    "百亿": 1e10,
    "十亿": 1e9,
    "亿": 1e8,
    "千万": 1e7,
    "百万": 1e6,
    "十万": 1e5,
    "万": 1e4,
    "千": 1e3,
    "百": 1e2,
}
_EN_MULTIPLIERS = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "hundred": 1e2}
_LETTER_MULTIPLIERS = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "bn": 1e9}
# Classifiers after a Chinese numeral: only with one is 三 a count (三个, 三种) rather than part of a word (三维, 统一).
_CN_CLASSIFIERS = (
    "个",
    "种",
    "项",
    "类",
    "倍",
    "步",
    "层",
    "阶段",
    "轮",
    "次",
    "组",
    "部分",
    "位",
    "名",
    "款",
    "大",
    "条",
    "篇",
    "份",
    "套",
    "家",
    "所",
    "张",
    "节",
    "章",
    "小时",
    "天",
    "周",
    "月",
    "年",
    "秒",
    "分钟",
    "点",
    "路",
    "级",
    "块",
    "维度",
    "样本",
    "模型",
    "数据集",
    "基准",
    "任务",
    "语言",
    "领域",
    "方面",
)

_DIGITS = r"(?<![\d.])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
# Every alternative starts with a plain character class, which lets the regex engine skip ahead fast;
# the look-behinds come after the first character for that reason. A letter run is a number word
# only if the dictionaries say so (``_word_value``).
_CORE = re.compile(
    rf"(?P<sci>\d(?<![\d.]\d)\d*(?:\.\d+)?[eE][-+]?\d+)"
    rf"|(?P<digits>\d(?<![\d.]\d)(?:\d{{0,2}}(?:,\d{{3}})+(?:\.\d+)?|\d*(?:\.\d+)?))"
    rf"|(?P<cn>[{_CN_CHARS}]+)"
    r"|(?P<word>[A-Za-z](?<![A-Za-z][A-Za-z])[a-zA-Z]*)"
)
_HYPHENATED_UNIT = re.compile(r"-([A-Za-z]+)")
_CN_MULT_RE = "|".join(sorted(_CN_MULTIPLIERS, key=len, reverse=True))
_TAIL = re.compile(
    rf"(?:(?P<letter>bn|[kKMBGT])(?:B)?(?![A-Za-z])"
    rf"|\s*(?P<cnmult>{_CN_MULT_RE})(?!分)"
    rf"|\s*(?P<enmult>thousand|million|billion|trillion|hundred)s?(?![A-Za-z]))?"
    r"(?P<plus>\+)?"
    r"\s*(?P<unit>%|percent(?:age points?)?|个百分点|百分点|pp(?![A-Za-z])|×|倍|[xX](?![A-Za-z])|-?fold)?"
)
_PERCENT_OF = re.compile(rf"百分之(?P<n>{_DIGITS}|[{_CN_CHARS}]+)")
_RANGE_SEP = re.compile(r"\s*(?:-|–|—|~|〜|to|至|到|through)\s*", re.IGNORECASE)
_LIST_SEP = re.compile(r"\s*(?:,|、|and|or|和|与|及|或)\s*", re.IGNORECASE)
_ITEM_OPENERS = ":：;；。,，(（\n"  # what comes before a list marker: "方法:1. A; 2. B"
_ITEM_MARKER_AFTER = re.compile(r"[.、)）](?!\d)")
_FRACTION_BAR = re.compile(r"/\d")
_VAGUE_BEFORE = ("数", "几", "上", "成", "好几", "若干")
_COUNT_WORDS = ("个", "种", "项", "类", "款", "位", "名", "条", "篇", "套", "家", "大", "组")  # 三个, not 三倍
_CLAUSE_START = re.compile(r"[。；;:：!！?？\n,，(（]")
_ITEM_SEP = re.compile(r"\s*(?:、|以及|和|与|及|,?\s*and\s+)\s*")
# "About" rounds a value either way; "more than" (超过, over) only rounds it down.
_APPROX_BEFORE = re.compile(r"(?:约|近|接近|大约|将近|~|≈|about|around|approximately|nearly|roughly|almost)\s*$", re.I)
_AT_LEAST_BEFORE = re.compile(r"(?:超过|超|逾|高于|>|≥|over|more than|above|at least)\s*$", re.I)
_ROUNDING_TOLERANCE = 0.1  # a rounding moves a value by less than this share of it: 2.8 -> 3, not 14 -> 10


@dataclass(slots=True)
class Quantity:
    """One number in a text, with every value it may stand for."""

    text: str
    start: int
    end: int
    base: float
    core_end: int = 0
    multiplier: float | None = None
    percent: bool = False
    points: bool = False  # percentage points: a difference, never written as a fraction
    approx: Literal["about", "at least"] | None = None  # 约3倍 may round 2.8×; 超过4倍 may round 4.3× down
    written: Literal["digits", "word", "chinese"] = "digits"
    values: set[float] = field(default_factory=set)
    exempt: str | None = None

    def value(self) -> float:
        return self.base * (self.multiplier or 1)


def value_key(value: float) -> float:
    """Values compared at nine significant digits, so 1.01 * 1e6 equals 101 * 1e4."""
    return float(f"{abs(value):.9g}")


def _chinese_is_count(text: str, end: int, run: str) -> bool:
    """A run of Chinese numeral characters is a number only where a classifier follows (三个, 十一种)
    or where it is a magnitude with 万 or 亿 (十亿参数) — never inside an ordinary word (统一, 十分,
    三维, 万一, 千万)."""
    if not (set(run) & set(_CN_DIGITS) or run[0] == "十"):
        return False
    if run in ("万一", "一一"):
        return False
    if text.startswith(_CN_CLASSIFIERS, end):
        return True
    return len(run) >= 2 and bool(set(run) & set(_CN_BIG_UNITS))  # 十亿参数, 三千万


def _core_quantity(text: str, m: re.Match, role: Role) -> Quantity | None:
    if m["sci"]:
        return Quantity(m[0], m.start(), m.end(), float(m["sci"]))
    if m["digits"]:
        raw = m["digits"]
        return Quantity(raw, m.start(), m.end(), float(raw.replace(",", "")))
    if m["cn"]:
        run = m["cn"]
        if not _chinese_is_count(text, m.end(), run):
            return None
        value = parse_chinese_numeral(run)
        return None if value is None else Quantity(run, m.start(), m.end(), float(value), written="chinese")
    word = m["word"].lower()
    unit = _HYPHENATED_UNIT.match(text, m.end())
    if word in _EN_TENS and unit and unit[1].lower() in _EN_UNITS[1:10]:  # twenty-five
        return Quantity(
            text[m.start() : unit.end()],
            m.start(),
            unit.end(),
            float(_EN_TENS[word] + EN_WORDS[unit[1].lower()]),
            written="word",
        )
    value = _word_value(word, role)
    return None if value is None else Quantity(m[0], m.start(), m.end(), value, written="word")


def _word_value(word: str, role: Role) -> float | None:
    """The value of a number word ("eleven", "threefold"); words like "twice" count only in a source."""
    if word.endswith("fold") and word != "fold":
        word = word.removesuffix("fold")
    if word in EN_WORDS:
        value = float(EN_WORDS[word])
        return None if value == 0 and role == "claim" else value  # zero-shot: a term, never a count
    if word in _SOURCE_ONLY_WORDS and role == "source":
        return float(_SOURCE_ONLY_WORDS[word])
    return None


def _apply_tail(text: str, q: Quantity) -> None:
    tail = _TAIL.match(text, q.end)
    if not any(tail.group(g) for g in ("letter", "cnmult", "enmult", "plus", "unit")):
        return
    if tail["letter"] and q.written == "digits":
        q.multiplier = _LETTER_MULTIPLIERS[tail["letter"]]
    elif tail["cnmult"]:
        q.multiplier = _CN_MULTIPLIERS[tail["cnmult"]]
    elif tail["enmult"]:
        q.multiplier = _EN_MULTIPLIERS[tail["enmult"]]
    unit = (tail["unit"] or "").lower()
    q.percent = unit.startswith(("%", "percent", "个百分点", "百分点", "pp"))
    q.points = unit.startswith(("percentage point", "个百分点", "百分点", "pp"))
    q.end = tail.end()
    q.text = text[q.start : q.end].strip()


def _exemption(text: str, q: Quantity) -> str | None:
    before = text[max(0, q.start - 2) : q.start]
    if before.endswith("第"):
        return "ordinal"
    if q.written == "chinese" and before.endswith(_VAGUE_BEFORE):
        return "vague"
    if q.written != "digits" and not q.percent and q.value() in (1, 2, 3):
        return "small-word"
    if q.written == "digits" and q.base == 1 and _FRACTION_BAR.match(text, q.core_end):
        return "reciprocal"
    if (
        q.multiplier is None
        and not q.percent
        and 2 <= q.base <= 20
        and text.startswith(_COUNT_WORDS, q.end)
        and q.base == _items_before(text, q.start)
    ):
        return "enumerated"
    if q.written == "digits" and q.multiplier is None and not q.percent and q.base <= 20 and q.base == int(q.base):
        preceding = text[: q.start].rstrip()
        # Chinese ends sentences with 。, so "数据 2. 模型" is a list, while English "by 5. Then" is not.
        opener = not preceding or preceding[-1] in _ITEM_OPENERS or has_cjk(preceding[-1])
        if opener and _ITEM_MARKER_AFTER.match(text, q.core_end):
            return "ordinal"
        if before.endswith(("(", "（", "[")) and text.startswith((")", "）", "]"), q.core_end):
            return "ordinal"
    return None


def _approximation(text: str, start: int) -> Literal["about", "at least"] | None:
    window = max(0, start - 14)
    if _APPROX_BEFORE.search(text, window, start):
        return "about"
    if _AT_LEAST_BEFORE.search(text, window, start):
        return "at least"
    return None


def _items_before(text: str, start: int) -> int:
    """How many items the clause lists right before this point: 3 for "在A、B和C" (0 for no list)."""
    clause = text[:start].rstrip()
    cut = max((m.end() for m in _CLAUSE_START.finditer(clause)), default=0)
    items = [item for item in _ITEM_SEP.split(clause[cut:]) if item.strip()]
    return len(items) if len(items) >= 2 else 0


def _link_ranges(text: str, quantities: list[Quantity], role: Role) -> None:
    """A multiplier written once covers the numbers before it: ``0.6 to 235 billion``, ``1、2和3亿``.

    In a claim a range's bound takes it for sure (``0.6到235亿`` reads as 0.6亿 to 235亿); a list
    item may or may not, so both readings are accepted. In the source both readings always are.
    """
    for left, right in zip(reversed(quantities[:-1]), reversed(quantities[1:])):
        if left.multiplier is not None or right.multiplier is None or left.written == "chinese":
            continue
        gap = text[left.end : right.start]
        if _RANGE_SEP.fullmatch(gap):
            strict = True
        elif _LIST_SEP.fullmatch(gap):
            strict = False
        else:
            continue
        left.multiplier = right.multiplier
        left.percent = left.percent or right.percent
        both = {value_key(left.base), value_key(left.value())}
        left.values = {value_key(left.value())} if strict and role == "claim" else both
    for left, right in zip(quantities, quantities[1:]):  # 10-20%: the lower bound is a percentage too
        if (
            right.percent
            and not left.percent
            and left.multiplier is None
            and _RANGE_SEP.fullmatch(text[left.end : right.start])
        ):
            left.percent, left.points = True, right.points


def mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """The text with the given spans blanked out, every other offset unchanged."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def quantities(text: str, role: Role, *, normalised: bool = False) -> list[Quantity]:
    """Every number in ``text`` with the values it may stand for (see the module's doc)."""
    norm = text if normalised else normalise(text)
    # Only tokens with a digit can hide a number; "two-stage" keeps its word number readable.
    masked = mask(norm, ((t.start, t.end) for t in latin_tokens(norm, with_digits=True) if t.kind != "number"))
    found: list[Quantity] = []
    for m in _PERCENT_OF.finditer(masked):
        raw = m["n"]
        value = parse_chinese_numeral(raw) if raw[0] in _CN_CHARS else float(raw.replace(",", ""))
        if value is not None:
            written = "chinese" if raw[0] in _CN_CHARS else "digits"
            found.append(
                Quantity(m[0], m.start(), m.end(), float(value), core_end=m.end(), percent=True, written=written)
            )
    masked = mask(masked, ((q.start, q.end) for q in found))
    last_end = 0
    for m in _CORE.finditer(masked):
        if m.start() < last_end:  # inside the previous number's unit: the 亿 of 10亿三元组
            continue
        q = _core_quantity(masked, m, role)
        if q is None:
            continue
        q.core_end = q.end
        if not (m["word"] and q.text.lower() in _SOURCE_ONLY_WORDS):  # "billion" alone takes no unit
            _apply_tail(masked, q)
        found.append(q)
        last_end = q.end
    found.sort(key=lambda q: q.start)
    for q in found:
        q.values = {value_key(q.value())} | ({value_key(q.base)} if role == "source" else set())
    _link_ranges(masked, found, role)
    if role == "claim":
        for q in found:
            q.exempt = _exemption(masked, q)
            q.approx = _approximation(masked, q.start)
    return found


_ANY_DIGITS = re.compile(r"(?<!\d,)(?<!\d)\d+(?:\.\d+)?")  # not the 050 of 1,050
# A size closing a part of a name: the 72B of PRM-72B, the 235B of Qwen3-235B-A22B.
_SIZE_IN_NAME = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)([kKMBGT])B?(?![A-Za-z0-9])")
_YEAR = re.compile(r"(?<!\d)(20\d\d)(?!\d)|'(\d\d)(?!\d)")
_ROMAN_ITEM = re.compile(r"\((i{1,3}|iv|v|vi{1,3}|ix|x)\)", re.I)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "x": 10}
_ORDINAL_WORDS = re.compile(r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)\b", re.I)
_ORDINALS = {w: i for i, w in enumerate("first second third fourth fifth sixth seventh eighth ninth tenth".split(), 1)}


@dataclass(frozen=True, slots=True)
class SourceNumbers:
    """What a source text can ground: every value it gives, which of them it gives as percentages, and
    which as decimal fractions (0.53), the two that may stand for each other."""

    values: frozenset[float]
    percents: frozenset[float]
    fractions: frozenset[float]


def source_numbers(text: str, *, normalised: bool = False) -> SourceNumbers:
    """The source's values, read liberally: its quantities, every digit run even inside a name
    (FP8 grounds 8位; PRM-72B grounds 72B), and the length of an enumeration ('(i) … (iv)',
    'first … fourth') for a claim that counts its items."""
    norm = text if normalised else normalise(text)
    found = quantities(norm, "source", normalised=True)
    values = {v for q in found for v in q.values}
    values |= {value_key(float(m[0])) for m in _ANY_DIGITS.finditer(norm)}
    for m in _SIZE_IN_NAME.finditer(norm):
        values.add(value_key(float(m[1]) * _LETTER_MULTIPLIERS[m[2]]))
    for m in _YEAR.finditer(norm):  # AIME 2024 and AIME'24 name one year
        values |= {float(m[1] or m[2]) % 100 + 2000, float(m[1] or m[2]) % 100}
    values |= {float(_ROMAN[m[1].lower()]) for m in _ROMAN_ITEM.finditer(norm)}
    values |= {float(_ORDINALS[m[1].lower()]) for m in _ORDINAL_WORDS.finditer(norm)}
    percents = frozenset(v for q in found if q.percent for v in q.values)
    fractions = frozenset(q.base for q in found if 0 < q.base < 1 and q.multiplier is None and not q.percent)
    return SourceNumbers(frozenset(values), percents, fractions)


_DIGIT_RUN = re.compile(r"[\d,.]*\d")


def _significant_digits(digits: str) -> int:
    """1 for "3" and "50" and "1000", 2 for "1300", 3 for "96.6"."""
    plain = digits.replace(",", "")
    core = plain.replace(".", "").lstrip("0")
    return max(1, len(core if "." in plain else core.rstrip("0")))


def _rounds_a_source_value(q: Quantity, source: SourceNumbers) -> bool:
    """约3倍 for 2.8×, 近50% for 49.7%, 超过4倍 for 4.3×: the claim is the source's value rounded to the
    claim's precision (and not up, after "more than")."""
    digits = _DIGIT_RUN.search(q.text)
    if digits is None:
        return False
    sig = _significant_digits(digits[0])
    return any(
        value_key(float(f"{s:.{sig}g}")) == v
        and abs(s - v) <= _ROUNDING_TOLERANCE * s
        and (q.approx == "about" or s >= v)
        for s in source.values
        for v in q.values
    )


def is_grounded(q: Quantity, source: SourceNumbers) -> bool:
    """Whether a claimed number is one of the source's values, allowing 53% for 0.53, and 0.53 for
    a source's 53% (but not for a bare 53, nor 20 percentage points for 0.2)."""
    if q.values & source.values:
        return True
    if q.approx and q.written == "digits" and _rounds_a_source_value(q, source):
        return True
    if q.points:
        return False
    if q.percent:
        return any(value_key(v / 100) in source.fractions for v in q.values)
    return any(v < 1 and value_key(v * 100) in source.percents for v in q.values)
