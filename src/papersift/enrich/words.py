"""English words a small model leaves inside a sentence of the target language, translated one
by one in the context of their source sentence: asked again for the whole sentence, the 1.5B model
keeps "proprietary模型" as it was, yet asked for the one word it answers 专有的. Cards and answers
to questions both mend their replies this way.

A word the model answers with itself however it is asked ("rollout", "desirable", "oracle" from
the 1.5B model, in its sentence, alone, and in the sentence translated whole) can be asked once
more with its answer held to the target's own letters (a JSON schema whose pattern the engine's
grammar, or a server's structured output, enforces). Such a rendering is the model's best guess:
it gave 可取的 for desirable, but 数据库 (database) for oracle and 部署 (deployment) for rollout, which
a reader refuses. So it stands only where the model, asked to translate it back, answers with the
English word, and then with the word beside it in parentheses: 可取的（desirable）.
"""

from __future__ import annotations

import re
from typing import Any

from ..checks.language import Language
from ..checks.quality import foreign_words
from ..llm.client import parse_json
from ..llm.templates import environment
from .fieldwise import cleaned
from .sentences import split_sentences

SYSTEM_TEMPLATE = "card_grounded_system.jinja"
WORD_TEMPLATE = "card_grounded_word.jinja"
BACK_TEMPLATE = "card_grounded_word_back.jinja"
MAX_TOKENS = 16
MAX_TRANSLATION = 10  # characters: longer is an explanation, not a word
# "长度-aware": half of a compound translated, the rest left in English, which the gate's word count
# does not see (it skips words joined to others); the English half is translated like any word left.
HALF_TRANSLATED = re.compile(r"(?<=[\u4e00-\u9fff])-([a-z]{3,})(?![A-Za-z])")
# "允许_agents自主": an underscore the model glued before an English word (no identifier there), which
# hid the word from the checks; taken off, the word is translated like any other.
GLUED_UNDERSCORE = re.compile(r"(?<=[\u4e00-\u9fff，。、；：])_(?=[A-Za-z])")
HAN_HYPHEN = re.compile(r"(?<=[\u4e00-\u9fffA-Za-z0-9])-(?=[\u4e00-\u9fff])")  # 长度-感知, LLM-驱动: one word
# "用于教 推理模型": a space the model copied from its source, where a glossary term stood in an
# English sentence ("teach 推理 models"); between two Han characters no language writes one.
HAN_SPACE = re.compile(r"(?<=[\u4e00-\u9fff]) +(?=[\u4e00-\u9fff])")
# Words that only join others ("shares across all chains") are not held: held to ten characters,
# "across" came back as 在所有链之间, which says the sentence's next words again; held to two, as
# 在本 ("共享在本所有链"), a phrase no reader accepts. Left in English, the gate holds the card back.
JOINING_WORDS = frozenset(
    "across along among around between beyond for from into onto over through throughout toward towards "
    "under upon via versus with within".split()
)


class WordTranslator:
    """Translates the words an LLM ``client`` left in English, into ``lang``; its calls are logged
    under ``template`` (the task they mend)."""

    def __init__(self, client: Any, lang: Language, template: str):
        self.client = client
        self.language = lang
        self.template = template
        self.system = environment().get_template(SYSTEM_TEMPLATE).render(lang=lang)

    async def mend(self, reply: str, source: str, paper_id: str | None = None, *, held: bool = False) -> str:
        """The reply with each English word it left inside its sentences translated alone, in the
        context of the source sentence that holds it; ``held``: a word still answered with itself
        is asked once more, held to the target's letters (see the module)."""
        reply = GLUED_UNDERSCORE.sub("", reply)
        for word in dict.fromkeys([*foreign_words(reply, self.language), *HALF_TRANSLATED.findall(reply)]):
            pattern = re.compile(rf"(?<![A-Za-z</]){re.escape(word)}(?![A-Za-z>])", re.I)  # not inside <think>
            # the source's sentence with the word, or with its stem: the model wrote "admits" for "admit"
            stem = re.compile(rf"(?<![A-Za-z]){re.escape(word[: max(4, len(word) - 2)])}", re.I)
            sentences = split_sentences(source)
            context = next((s for s in sentences if pattern.search(s)), None) or next(
                (s for s in sentences if stem.search(s)), reply
            )
            translation = await self.word(word, context, paper_id)
            if translation is None:  # "impressive" answered with "impressive": asked alone, it is translated
                translation = await self.word(word, None, paper_id)
            if translation is None and held:
                translation = await self.held_word(word, context, paper_id)
            if translation is not None:
                reply = re.sub(rf" ?{pattern.pattern} ?", translation, reply, flags=re.I)
        return HAN_SPACE.sub("", HAN_HYPHEN.sub("", reply))

    async def phrase(self, words: str, paper_id: str | None) -> str | None:
        """A name's words (an acronym's long form: "Diffusion Language Models") translated alone,
        where the model translates its rendering back to them; None otherwise."""
        translation = await self.word(words, None, paper_id)
        if translation is None or not await self.means(translation, words, paper_id):
            return None
        return translation

    async def word(self, word: str, context: str | None, paper_id: str | None) -> str | None:
        """The word's translation, in the context of its sentence where one is given; None when the
        answer is not a short text in the target's script."""
        reply = await self._ask(WORD_TEMPLATE, paper_id, word=word, context=context)
        translation = cleaned(reply).rstrip("。.")
        ok = 0 < len(translation) <= MAX_TRANSLATION and not re.search(r"[A-Za-z]", translation)
        return translation if ok else None

    async def held_word(self, word: str, context: str | None, paper_id: str | None) -> str | None:
        """The word rendered in the target's own letters, where the engine or server holds the
        answer to them, with the word after it: "可取的（desirable）"; None where no such answer came."""
        letters = self.language.own_letters
        if letters is None or word.lower() in JOINING_WORDS:
            return None
        pattern = f"^[{letters}]{{1,{MAX_TRANSLATION}}}$"
        schema = {
            "type": "object",
            "properties": {"translation": {"type": "string", "pattern": pattern}},
            "required": ["translation"],
            "additionalProperties": False,
        }
        reply = await self._ask(WORD_TEMPLATE, paper_id, schema=schema, word=word, context=context)
        try:
            translation = str(parse_json(reply).get("translation", "")).strip()
        except (ValueError, AttributeError):
            return None
        if not re.fullmatch(pattern, translation):
            return None  # a server that does not hold its answer to the pattern
        if not await self.means(translation, word, paper_id):
            return None
        return f"{translation}{self.language.parenthesised(word)}"

    async def means(self, translation: str, word: str, paper_id: str | None) -> bool:
        """Whether the model, asked to translate ``translation`` back into English, answers with
        the word (its stem: "desirability" for desirable will do), or with each word of a phrase in
        any order (扩散语言模型 came back "Language diffusion model")."""
        reply = (await self._ask(BACK_TEMPLATE, paper_id, word=translation)).lower()
        return all(part[: max(4, len(part) - 3)] in reply for part in re.findall(r"[a-z]+", word.lower()))

    async def _ask(self, template: str, paper_id: str | None, schema: dict | None = None, **values) -> str:
        """One short request of ``template`` rendered with ``values``; ``schema``: the JSON the
        answer is held to (the JSON around a word takes twice the tokens)."""
        prompt = environment().get_template(template).render(lang=self.language, **values)
        result = await self.client.chat(
            [{"role": "system", "content": self.system}, {"role": "user", "content": prompt.strip()}],
            max_tokens=MAX_TOKENS * (2 if schema else 1),
            **({"schema": schema, "schema_name": "translation"} if schema else {}),
            paper_id=paper_id,
            template=self.template,
        )
        return result.text
