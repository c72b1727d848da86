"""Target languages: what the prompt says about each, and whether a reply is written in it.

A reply in the wrong language is a validation failure like a missing field. It is measured by
script, as the share of "units" written in the target's script: each Han, kana or Hangul
character is a unit, and so is each run of Latin or Cyrillic letters (an English word weighs
about as much as a Chinese word of one or two characters). URLs and LaTeX are left out; English
terms in parentheses, model and dataset names stay in and are why the bar is well below 1: the
reference Chinese readings score 0.68 at the lowest, an English reply about 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel

from ..llm.templates import environment
from ..models import READING_FIELDS, Card

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
KANA = "\u3040-\u30ff\u31f0-\u31ff"
HANGUL = "\uac00-\ud7af\u1100-\u11ff"
CYRILLIC = "\u0400-\u04ff"
SCRIPTS = {
    "han": re.compile(f"[{HAN}]"),
    "kana": re.compile(f"[{KANA}]"),
    "hangul": re.compile(f"[{HANGUL}]"),
    "latin": re.compile(r"[A-Za-zÀ-ÖØ-öø-ɏ]+"),
    "cyrillic": re.compile(f"[{CYRILLIC}]+"),
}
OWN_LETTERS = {"han": HAN, "kana": KANA, "hangul": HANGUL, "cyrillic": CYRILLIC}  # scripts no English word is in
SPECIAL_TOKEN = re.compile(r"</?[A-Za-z_|][\w|]*>")  # a model's special tokens, written as they are: <think>, </s>
# Links, LaTeX and special tokens: written as they are in any language.
NOT_PROSE = re.compile(rf"https?://\S+|\$\$.*?\$\$|\$[^$]*\$|\\[a-zA-Z]+(\{{[^}}]*\}})?|{SPECIAL_TOKEN.pattern}", re.S)

# A prose field must be at least this share in the target script; the card as a whole too.
MIN_SHARE = 0.4
# Fields shorter than this many units are judged only as part of the card, and so is the title,
# which may be mostly names ("Qwen2.5-VL and InternVL3 on MMMU" keeps every one of them).
MIN_UNITS = 12
CHARACTER_SCRIPTS = {"han", "kana", "hangul"}  # prose with no spaces between words: counted in characters
WHOLE_CARD_ONLY = {"title"}


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in English, for the prompt
    native: str
    scripts: tuple[str, ...]  # the scripts its prose is written in; empty: not checked
    field_length: tuple[int, int]  # how long one reading field should be, in length units
    term_example: str  # a technical term on first use
    title_example: str  # "Qwen3 Technical Report", translated
    needs_kana: bool = False

    @property
    def counts_characters(self) -> bool:
        """Whether length is counted in characters (Han, kana, Hangul prose) rather than words."""
        return bool(CHARACTER_SCRIPTS & set(self.scripts))

    @property
    def own_letters(self) -> str | None:
        """A character class of the letters only this language's prose uses (Han and kana for
        Japanese); None for a language written in Latin letters."""
        if "latin" in self.scripts or not self.scripts:
            return None
        return "".join(OWN_LETTERS[s] for s in self.scripts) + (" " if not self.counts_characters else "")

    def parenthesised(self, term: str) -> str:
        """A term in parentheses after a word, as this language writes them: "（oracle）", " (oracle)"."""
        return f"（{term}）" if self.counts_characters else f" ({term})"

    @property
    def length_hint(self) -> str:
        low, high = self.field_length
        return f"about {low}–{high} {'characters' if self.counts_characters else 'words'}"


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language(
            "zh",
            "Simplified Chinese",
            "简体中文",
            ("han",),
            (55, 70),
            "混合专家（Mixture-of-Experts, MoE）",
            "Qwen3 技术报告",
        ),
        Language(
            "en", "English", "English", ("latin",), (25, 40), "Mixture-of-Experts (MoE)", "Qwen3 Technical Report"
        ),
        Language(
            "ja",
            "Japanese",
            "日本語",
            ("han", "kana"),
            (60, 90),
            "混合エキスパート（Mixture-of-Experts, MoE）",
            "Qwen3 技術レポート",
            needs_kana=True,
        ),
        Language(
            "ko", "Korean", "한국어", ("hangul",), (60, 90), "전문가 혼합(Mixture-of-Experts, MoE)", "Qwen3 기술 보고서"
        ),
        Language(
            "fr",
            "French",
            "français",
            ("latin",),
            (25, 40),
            "mélange d'experts (Mixture-of-Experts, MoE)",
            "Rapport technique de Qwen3",
        ),
        Language(
            "de",
            "German",
            "Deutsch",
            ("latin",),
            (25, 40),
            "Expertenmischung (Mixture-of-Experts, MoE)",
            "Technischer Bericht zu Qwen3",
        ),
        Language(
            "es",
            "Spanish",
            "español",
            ("latin",),
            (25, 40),
            "mezcla de expertos (Mixture-of-Experts, MoE)",
            "Informe técnico de Qwen3",
        ),
        Language(
            "ru",
            "Russian",
            "русский",
            ("cyrillic",),
            (25, 40),
            "смесь экспертов (Mixture-of-Experts, MoE)",
            "Технический отчёт Qwen3",
        ),
    )
}


def language(code: str) -> Language:
    """The language for a code; an unknown code still works, named as given and not checked."""
    code = code.strip()
    known = LANGUAGES.get(code.lower()) or LANGUAGES.get(code.lower().split("-")[0])
    if known:
        return known
    return Language(
        code,
        code,
        code,
        (),
        (25, 40),
        "a translated term (Mixture-of-Experts, MoE)",
        "Qwen3 Technical Report, translated",
    )


def _units(text: str) -> dict[str, int]:
    text = NOT_PROSE.sub(" ", text)
    return {script: len(pattern.findall(text)) for script, pattern in SCRIPTS.items()}


def target_share(text: str, lang: Language) -> tuple[float, int]:
    """(share of units in the language's scripts, number of units) of a text."""
    units = _units(text)
    total = sum(units.values())
    if not total:
        return 1.0, 0
    return sum(units[s] for s in lang.scripts) / total, total


class LanguageCheck(BaseModel):
    ok: bool
    share: float
    wrong_fields: list[str]
    message: str = ""


def _prose_fields(card: Card) -> dict[str, str]:
    fields = {"title": card.title, "tldr": card.tldr, "digest": card.digest}
    fields.update({f"reading.{name}": getattr(card.reading, name) for name in READING_FIELDS})
    return fields


def _han_without_kana(texts: list[str]) -> bool:
    """Japanese prose mixes kana into its Han characters; Chinese has none."""
    units = _units(" ".join(texts))
    han_kana = units["han"] + units["kana"]
    return han_kana >= MIN_UNITS and units["kana"] < 0.1 * han_kana


def _reask(lang: Language, what: str) -> str:
    return environment().get_template("language_reask.jinja").render(lang=lang, what=what)


def check_card_language(card: Card, code: str) -> LanguageCheck:
    """Is the card written in the target language? The message tells the model what to fix."""
    lang = language(code)
    fields = _prose_fields(card)
    share, _ = target_share(" ".join(fields.values()), lang)
    share = round(share, 3)
    if not lang.scripts:
        return LanguageCheck(ok=True, share=share, wrong_fields=[])
    wrong: dict[str, float] = {}
    for name, text in fields.items():
        field_share, n = target_share(text, lang)
        if name not in WHOLE_CARD_ONLY and n >= MIN_UNITS and field_share < MIN_SHARE:
            wrong[name] = field_share
    if wrong:
        what = ", ".join(f"{name} ({field_share:.0%} {lang.name})" for name, field_share in wrong.items())
        return LanguageCheck(ok=False, share=share, wrong_fields=list(wrong), message=_reask(lang, what))
    if share < MIN_SHARE:
        return LanguageCheck(
            ok=False,
            share=share,
            wrong_fields=list(fields),
            message=_reask(lang, f"the card as a whole ({share:.0%} {lang.name})"),
        )
    if lang.needs_kana and _han_without_kana(list(fields.values())):
        return LanguageCheck(
            ok=False,
            share=share,
            wrong_fields=list(fields),
            message=_reask(lang, "Han characters without kana are Chinese, not Japanese"),
        )
    return LanguageCheck(ok=True, share=share, wrong_fields=[])


def wrong_language(text: str, lang_code: str, what: str = "The overview") -> str | None:
    """What to tell the model when ``what`` (a prose text: an overview, an answer) is not in the
    reader's language; None when it is."""
    lang = language(lang_code)
    share, units = target_share(text, lang)
    if not lang.scripts or units < MIN_UNITS or share >= MIN_SHARE:
        return None
    return (
        f"{what} is not written in {lang.name} ({lang.native}). Write it in {lang.name}; keep only names "
        "and English terms in parentheses as in the papers."
    )
