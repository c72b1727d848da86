"""Keywords as facets: one value for the spellings of one keyword.

Authors write "Large Language Models", "large language model", "LLM" and "LLMs" for one thing; as
a facet they are one value, counted once a paper and shown in the spelling most papers use. A
keyword's key is its words casefolded, the last one singular, with an acronym of a starter-glossary
term (LLM) or the term's translation (大语言模型) read as the term. Papers keep their keywords as
written; only the facets and the keyword filter read the keys.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from ..checks.glossary import STARTER_GLOSSARY, read_glossary

GLOSSARY_LANG = "zh"  # the starter glossary's table; its English terms and acronyms serve every language
NOT_ACRONYMS = {"me", "as", "at", "in", "it", "on", "to"}  # the initials of a term that read as a word


def _words(keyword: str) -> str:
    words = [w for w in re.split(r"[\s\-_]+", keyword.strip().casefold()) if w]
    if words:
        words[-1] = _singular(words[-1])
    return " ".join(words)


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 2 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@lru_cache(maxsize=4)
def _aliases(lang: str) -> dict[str, str]:
    """Acronym or translation -> the term's key."""
    aliases: dict[str, str] = {}
    for term in read_glossary(GLOSSARY_LANG, [STARTER_GLOSSARY]).terms:
        key = _words(term.english)
        aliases |= {acronym: key for acronym in term.acronyms if acronym not in NOT_ACRONYMS}
        if lang.split("-")[0] == GLOSSARY_LANG:
            aliases[_words(term.translation)] = key
    return aliases


@lru_cache(maxsize=65_536)
def keyword_key(keyword: str, lang: str) -> str:
    """The key the spellings of one keyword share: "LLMs", "Large Language Models" -> "large language model"."""
    words = _words(keyword)
    return _aliases(lang).get(words, words)


def facet_labels(papers_with: dict[str, int], lang: str) -> dict[str, str]:
    """Each keyword's facet value, from how many papers give each spelling: the spelling its key's
    papers use most (the first seen on a tie)."""
    spellings: dict[str, Counter[str]] = {}
    for keyword, n in papers_with.items():
        spellings.setdefault(keyword_key(keyword, lang), Counter())[keyword] += n
    label = {key: counts.most_common(1)[0][0] for key, counts in spellings.items()}
    return {keyword: label[keyword_key(keyword, lang)] for keyword in papers_with}
