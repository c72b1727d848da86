"""The glossary: how an English term is written in each target language, the same in every card.

A TOML file of tables keyed by language code, English term → translation::

    [zh]
    "chain-of-thought" = "思维链"
    "mixture of experts" = "混合专家"

papersift ships a starter glossary (``checks/glossary.toml``, the ML terms of the reference
readings); the file named by ``glossary`` in the config (``PAPERSIFT_GLOSSARY``) extends it and
overrides its entries, and an empty translation removes one. The glossary for the target language
goes into the static system prompt (so a server's prefix cache still holds across papers), and
the quality gate checks it: a card whose source uses a term but which never writes the term's
translation is asked again, naming the term.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..config import Settings

STARTER_GLOSSARY = Path(__file__).with_name("glossary.toml")
NEAR_VARIANT_EXTRA = 2  # characters a variant may add to a translation and still be taken for it
LINKING_WORDS = {"of", "from", "with", "for", "to", "in", "on", "and"}  # RLHF, MoE: acronyms skip them or not


class GlossaryError(ValueError):
    """A glossary file that cannot be used, naming the file and the entry at fault."""


@dataclass(frozen=True)
class Term:
    english: str
    translation: str

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """The term as whole words of a source, ignoring case, spaces or hyphens between its words
        and a plural s: "Chain of Thought", "chain-of-thought", "mixtures-of-experts"."""
        words = [re.escape(w) for w in re.split(r"[\s\-]+", self.english.strip()) if w]
        body = r"[\s\-]+".join(f"{w}s?" for w in words)
        return re.compile(rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])", re.IGNORECASE)

    def used_in(self, source: str) -> bool:
        return bool(self.pattern.search(source))

    @cached_property
    def words(self) -> tuple[str, ...]:
        """The term's words, casefolded: "chain-of-thought" is chain, of, thought."""
        return tuple(w for w in re.split(r"[\s\-]+", self.english.strip().casefold()) if w)

    @cached_property
    def acronyms(self) -> frozenset[str]:
        """The acronyms that spell the term's initials, with or without its linking words:
        SFT for supervised fine-tuning, RLHF for reinforcement learning from human feedback, MoE."""
        spelled = {"".join(w[0] for w in self.words), "".join(w[0] for w in self.words if w not in LINKING_WORDS)}
        return frozenset(a for a in spelled if len(a) >= 2)

    def abbreviates(self, word: str) -> bool:
        """Whether the word is the term's acronym, in any case, plural or not (SFT, LLMs, MoE)."""
        return word.strip().casefold().removesuffix("s") in self.acronyms

    def abbreviated_in(self, source: str) -> bool:
        """Whether the source writes the term as its acronym (SFT, LLMs)."""
        return any(self.abbreviates(word) for word in ACRONYM.findall(source))

    def glossed(self, text: str) -> str:
        """The text with the model's gloss of the term's acronym written as the glossary writes the
        term: "SFT（序列到序列）" (a wrong guess at supervised fine-tuning) becomes "SFT（监督微调）"."""

        def gloss(m: re.Match[str]) -> str:
            if not self.abbreviates(m[1]):
                return m[0]
            return f"{m[1]}{m[2]}{self.translation}{m[4]}"

        return re.sub(r"(?<![A-Za-z0-9\-])([A-Za-z]{2,8}\s*)([（(])([^（）()]{1,30})([)）])", gloss, text)

    def rendered_in(self, text: str) -> bool:
        """Whether the translation is in the text, spaces ignored ("KV 缓存" = "KV缓存")."""
        return _squeeze(self.translation) in _squeeze(text)

    def restored(self, text: str) -> str:
        """The text with a near variant of the translation written as the glossary writes it: a span
        that starts and ends as the translation does and holds its characters in order with at most
        ``NEAR_VARIANT_EXTRA`` more (大型语言模型 for 大语言模型), or the English term left as it was.
        A small model asked again keeps its own variant; the glossary's word is a fact, so code writes it."""
        if self.rendered_in(text):
            return text
        text = self.pattern.sub(self.translation, text)
        chars = [re.escape(c) for c in self.translation if not c.isspace()]
        if len(chars) < 3 or self.rendered_in(text):
            return text
        gaps = "".join(f"{c}[^\\s，。,.;；]{{0,{NEAR_VARIANT_EXTRA}}}?" for c in chars[:-1]) + chars[-1]
        match = min(re.finditer(gaps, text), key=lambda m: len(m[0]), default=None)
        if match and len(match[0]) <= len(chars) + NEAR_VARIANT_EXTRA:
            text = text[: match.start()] + self.translation + text[match.end() :]
        return text


_CAPITALISED_RUN = re.compile(
    r"[A-Z][\w]*(?:-[\w]+)*(?:[ \t]+[A-Z][\w]*(?:-[\w]+)*)+"
)  # Co-Evolving Multi-Agent Systems
ACRONYM = re.compile(r"(?<![\w\-])(?:[A-Z][a-z]?){1,5}[A-Z]s?(?![\w\-])")  # SFT, RL, MoE, LLMs, RLHF, CoT


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


@dataclass(frozen=True)
class Glossary:
    """The terms of one target language, in file order (longest term first when checking)."""

    lang: str
    terms: tuple[Term, ...] = ()

    def used_terms(self, source: str) -> list[Term]:
        """The terms the source uses; a term inside a longer one that is used counts once
        ("language model" inside "large language model")."""
        found: list[Term] = []
        taken: list[tuple[int, int]] = []
        for term in sorted(self.terms, key=lambda t: -len(t.english)):
            spans = [m.span() for m in term.pattern.finditer(source)]
            free = [s for s in spans if not any(a <= s[0] and s[1] <= b for a, b in taken)]
            if free:
                found.append(term)
            taken += spans
        return found

    def invented(self, source: str, text: str) -> list[Term]:
        """The terms of two words or more that the text writes in translation and the source holds
        in no form (neither the English, nor the translation, nor the acronym): 强化学习 for a
        sentence about "reinforced reasoning". One-word terms (推理, 基准) are the words of any
        paraphrase. A term inside a longer one the source holds counts as held."""
        held = [t for t in self.terms if t.used_in(source) or t.rendered_in(source) or t.abbreviated_in(source)]
        for term in sorted(held, key=lambda t: -len(t.translation)):
            text = re.sub(r"\s*".join(map(re.escape, term.translation.replace(" ", ""))), "", text)
        compound = [t for t in self.terms if len(t.words) > 1]
        invented = [t for t in compound if t not in held and t.rendered_in(text)]
        return [t for t in invented if not any(t.translation in o.translation for o in invented if o is not t)]

    def missing(self, source: str, text: str) -> list[Term]:
        """The terms the source uses whose translation the text never writes, but for a term used
        only inside names the text keeps as written (see :func:`kept_in_names`)."""
        return [t for t in self.used_terms(source) if not t.rendered_in(text) and not kept_in_names(t, source, text)]


def kept_in_names(term: Term, source: str, text: str) -> bool:
    """Whether every use of the term in the source is inside a longer capitalised name that the text
    writes as the source does: "Co-Evolving Multi-Agent Systems (CoMAS)" kept in English holds
    "multi-agent" as the name's, not as a term left untranslated."""
    names = list(_CAPITALISED_RUN.finditer(source))
    uses = list(term.pattern.finditer(source))

    def kept(use: re.Match[str]) -> bool:
        return any(
            n.start() <= use.start() and use.end() <= n.end() and n[0] != use[0] and _squeeze(n[0]) in _squeeze(text)
            for n in names
        )

    return bool(uses) and all(kept(use) for use in uses)


def _read(path: Path) -> dict[str, dict[str, str]]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise GlossaryError(f"{path}: cannot read the glossary: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise GlossaryError(f"{path}: invalid TOML: {exc}") from exc
    for lang, table in data.items():
        if not isinstance(table, dict):
            raise GlossaryError(f'{path}: [{lang}] must be a table of "English term" = "translation"')
        for english, translation in table.items():
            if not isinstance(translation, str):
                raise GlossaryError(f"{path}: [{lang}] {english!r}: the translation must be a string")
    return data


def read_glossary(lang: str, paths: list[Path]) -> Glossary:
    """The glossary for ``lang`` from these files, later ones overriding earlier ones."""
    merged: dict[str, tuple[str, str]] = {}  # casefolded term -> (term as written, translation)
    code = lang.strip().lower()
    for path in paths:
        data = _read(path)
        table = data.get(code) or data.get(code.split("-")[0]) or {}
        for english, translation in table.items():
            key = " ".join(re.split(r"[\s\-]+", english.strip().casefold()))
            if translation.strip():
                merged[key] = (english.strip(), translation.strip())
            else:
                merged.pop(key, None)  # an empty translation removes a starter entry
    return Glossary(lang, tuple(Term(e, t) for e, t in merged.values()))


def load_glossary(settings: Settings) -> Glossary:
    """The starter glossary extended by the user's (``glossary`` in the config), for the target language."""
    paths = [STARTER_GLOSSARY]
    if settings.glossary:
        user = Path(settings.glossary).expanduser()
        if not user.is_file():
            raise GlossaryError(f"{user}: no such glossary file (the config's 'glossary' / PAPERSIFT_GLOSSARY)")
        paths.append(user)
    return read_glossary(settings.llm.lang, paths)
