"""The grounded card: every field written from the abstract's own sentences, never from the whole.

The packaged 1.5B model translates a sentence or two well and keeps its numbers; asked to compose
"the motivation" from a whole abstract, it copies, cuts off and slips on units. So here the model
is never shown the whole abstract:

- the abstract is cut into sentences (:mod:`.sentences`) and each reading field is given its own
  one or two (:mod:`.roles`);
- each sentence's quantities are put into the target language's units by code first
  (:mod:`.units`: "235 billion" → 2350亿), and a reply that drops or changes one is asked again;
- each reading field is one short request over its sentences; the digest paragraph is the
  abstract translated sentence by sentence and joined; the TL;DR condenses the problem and the
  headline result; the title is translated with the paper's own name kept (a "Name:" lead by code);
- the keywords are the source's: the author keywords, else the abstract's defined terms and names.

Every request is the same short system message and a few sentences, so it stays small and fast
on a CPU. The card then meets the same guard, gate and glossary as any other
(:class:`~papersift.enrich.pipeline.Enricher`); what they object to is asked again here, field by
field, with the objection. Servers keep the one-call card.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ..checks.glossary import ACRONYM, Glossary, Term
from ..checks.guard import check, has_name_shape, is_generic, is_plural_acronym
from ..checks.language import SPECIAL_TOKEN, Language, language
from ..checks.quality import (
    ABOUT_THE_TEXT,
    STUTTER,
    foreign_words,
    is_truncated,
    length,
    length_band,
    lost_measures,
    renders_too_little,
    title_names,
    title_shape_problems,
)
from ..llm.templates import environment
from ..models import READING_FIELDS, Paper
from .fieldwise import cleaned, keywords_of
from .roles import LEFTOVER_MIN, Plan, assign
from .sentences import split_sentences
from .units import missing, numbers_in, rewrite_quantities
from .words import WordTranslator

SYSTEM_TEMPLATE = "card_grounded_system.jinja"
TASK_TEMPLATE = "card_grounded_task.jinja"
MAX_TOKENS = {"title": 100, "sentence": 300, "tldr": 160, "field": 180}
MAX_KEYWORDS = 6
MAX_KEPT_NAMES = 3  # a field of ~65 characters keeps this many of its sentences' names, not a list of ten
MIN_KEYWORDS = 3
CHUNK_WORDS = 60  # the digest is translated two sentences a request while they stay under this
_LEAD = re.compile(r"^\s*([^:：\s]{1,40})\s*[:：]\s*(\S.*)$")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_DEFINED = re.compile(r"((?:[A-Za-z][\w\-]*\s+){0,4}[A-Za-z][\w\-]*)\s+\(([A-Z][A-Za-z0-9\-]*[A-Z0-9][A-Za-z0-9\-]*)\)")
_NAME = re.compile(r"(?<![\w\-/.])[A-Za-z][\w\-.]*[A-Za-z0-9](?![\w/])")
_URL = re.compile(r"https?://\S+|www\.\S+")
_BRACKETED = re.compile(r"</?[^<>\s，。、；：]{1,20}>")  # a token as a reply writes it, translated or not
_QUOTED = re.compile(r'"([^"]+)"')
# Where an abstract names its method: "we propose CoMAS", "a framework called CoMAS".
_NAMING = re.compile(
    r"\b(?:propose|introduce|present|develop|design|call(?:ed)?|name[ds]?|dub(?:bed)?|term(?:ed)?)\b", re.I
)
_APPOSED = re.compile(r"\s+([A-Z][\w\-]*\w)\s*(?:,|:|\()")  # "we propose Thinkless, a framework…"
_IN_LATEX = set("$^_{")  # a name that runs on into LaTeX (TS$^2$) is not written whole
_SPACES = re.compile(r"\s+")
_BACKWARD = re.compile(
    r"^(?:to (?:this|that) end|to (?:address|tackle|overcome|solve|achieve|bridge) (?:this|these|that|those|it)(?: \w+)?"
    r"|to do (?:so|this)|in this (?:work|paper)|therefore|thus|hence|consequently|however|moreover|furthermore"
    r"|additionally|specifically|as a result|in addition|in response|motivated by (?:this|these)(?: \w+)?)\s*,\s*",
    re.I,
)
DROPPED = "it dropped or changed {quantities}: write each exactly as given"
CUT_OFF = "it ran past the length limit: write it shorter"
TOO_LITTLE = "it is far shorter than the text: translate every sentence of it; answer no question it asks"
TOO_LONG = "it is too long: write one sentence of at most {limit} characters"
# Fields whose subject is the paper itself, which a sentence led by its name says: not the
# motivation or an observation ("Thinkless：具备推理能力的语言模型…" reads as if Thinkless were the model).
SUBJECT_FIELDS = ("problem", "method", "experiments", "contribution")
MAX_CHARACTERS = {"tldr": 100, "name": 30}  # past these a TL;DR or a made-up title is asked again, shorter
FEEDBACK = re.compile(r"没有通过|你上次写的是|请改正|not accepted|your answer was", re.I)  # the re-ask's own words
REPEATS = re.compile(r"\brepeats\b")  # the gate's words for a field that says what another says
INVENTED = "it says {terms}, which the text does not say: say only what the text says"
LEFT_OUT = 'it leaves out "{words}", which changes what the text says: translate every word'
# English words whose loss turns a translation into another claim ("LLM Learns When to Think" as
# LLM学会思考), each with the Chinese that renders it: a translation (title, sentence) keeps them.
MEANING_WORDS = {
    "zh": {
        re.compile(r"\bwhen\b", re.I): re.compile("何时|什么时候|时机|当|时"),
        re.compile(r"\bwhether\b", re.I): re.compile("是否|能否|可否|会否|有没有|能不能"),
        re.compile(r"\b(?:not|cannot)\b|n't\b", re.I): re.compile("不|没|未|无|非|否|难以|缺|忽"),
        re.compile(r"\bwithout\b", re.I): re.compile("无|不|没|未|免|脱离"),
    }
}
# "Better than" where the text compares nothing: AdaptThink's "NoThinking … is a better choice for
# relatively simple tasks" came back as NoThinking …优于不思考 ("better than not thinking"), a claim
# with every number and name kept. A reply that compares, where its text has no word that compares,
# is asked again, and a field that still does is its sentences translated.
COMPARES = re.compile(
    r"\b(?:than|outperform\w*|surpass\w*|exceed\w*|beat\w*|superior|inferior|compar\w+|relative to|versus|vs\.?|"
    r"over|against|improv\w*|gain\w*|advantage\w*)\b",
    re.I,
)
COMPARISONS = {"zh": re.compile("优于|胜过|好于|强于|劣于|不如|超过|超越|高于|低于")}
COMPARED = "it compares with something the text does not compare with: say only what the text says"
GLOSSED = "it renders the name {names} as words beside it: write {names} as it is, with no translation"
ABOUT_TEXT_FIX = "it talks about the text instead of saying what the paper says: write the content itself"


def with_glossary(text: str, glossary: Glossary | None) -> str:
    """The text with each glossary term already in its translation, longest terms first: a model
    told "write large language model as 大语言模型" still writes 大型语言模型; one that reads 大语言模型
    copies it. A term that opens a capitalised name is left to the model ("Reasoning Language Models"
    became "推理 Language Models", which the model copied into the card)."""
    for term in sorted(glossary.used_terms(text) if glossary else (), key=lambda t: -len(t.english)):
        text = term.pattern.sub(lambda m, t=term: m[0] if _in_a_name(m) else t.translation, text)
    return text


def _in_a_name(match: re.Match[str]) -> bool:
    """Whether a capitalised match runs on into another capitalised word: the start of a name
    (Reasoning Language Models), not its head (Group Relative Policy Optimization)."""
    after = re.match(r"[ \-]+[A-Z]", match.string[match.end() :])
    return match[0][:1].isupper() and bool(after)


def keywords(paper: Paper) -> list[str]:
    """The author keywords; else the paper's own names (the title's), the terms the abstract
    defines ("Support Retention Ratio (SRR)") and the names it uses most (GRPO, MMaDA)."""
    if paper.keywords:
        return paper.keywords[:MAX_KEYWORDS]
    title, abstract = paper.title or "", _URL.sub(" ", paper.abstract or "")
    defined = [d for long_form, short in _DEFINED.findall(abstract) if (d := definition(long_form, short))]
    shorts = {d.rsplit("(", 1)[1].rstrip(")") for d in defined}
    counts = Counter(m[0] for m in _NAME.finditer(abstract) if is_name(m[0]) and m[0] not in shorts)
    frequent = [name for name, n in counts.most_common() if n >= 2]
    found = list(dict.fromkeys([*title_names(title), *defined, *frequent]))
    if len(found) < MIN_KEYWORDS:
        found = list(dict.fromkeys([*found, *counts]))
    return found[:MAX_KEYWORDS] or [title.split(":")[0].strip()[:60] or "paper"]


def is_name(word: str) -> bool:
    return has_name_shape(word) and not is_generic(word) and not is_plural_acronym(word)


def restore_tokens(text: str, reply: str) -> str:
    """The reply with the text's special tokens written back where it translated them: asked again,
    the 1.5B model still wrote <short> and <think> as <简短> and <思考>. Only when the reply has as
    many bracketed words as the text has tokens, so each takes the token in its place."""
    tokens = SPECIAL_TOKEN.findall(text)
    written = list(_BRACKETED.finditer(reply))
    if not tokens or len(written) != len(tokens):
        return reply
    for match, token in zip(reversed(written), reversed(tokens)):
        reply = reply[: match.start()] + token + reply[match.end() :]
    return reply


def glossed_names(text: str, reply: str, names: list[str] = ()) -> list[str]:
    """The coined names of the text (the given names, the paper's own, and its name-shaped words:
    Thinkless, NoThinking; not acronyms, which a gloss may expand) that the reply writes in brackets
    after words of its own, as if translating them: 无思考能力（Thinkless）."""
    shaped = [m[0] for m in _NAME.finditer(text) if is_name(m[0])]
    coined = {n for n in [*names, *shaped] if any(c.islower() for c in n) and not ACRONYM.fullmatch(n)}
    return [
        name
        for name in sorted(coined)
        if re.search(rf"[\u4e00-\u9fff]\s*[（(]{re.escape(name)}[)）]", reply)
        and not re.search(rf"\({re.escape(name)}\)", text)
    ]


def definition(long_form: str, short: str) -> str | None:
    """ "Chain-of-Representation (CoR)" from "the concept of Chain-of-Representation" and "CoR": the
    fewest last words whose initials spell the acronym, else those from the first word that starts
    as the acronym does; None for a generic or plural acronym (LLMs) or no such word."""
    if is_generic(short) or is_plural_acronym(short):
        return None
    if spelled := spelled_out(long_form, short):
        return f"{spelled} ({short})"
    words = long_form.split()
    while words and words[0][0].upper() != short[:1].upper():
        words = words[1:]
    return f"{' '.join(words)} ({short})" if words else None


def spelled_out(long_form: str, short: str) -> str | None:
    """The fewest last words of ``long_form`` whose initials spell the acronym, a plural's "s" aside:
    "Diffusion Language Models" for DLMs; None where no such words end it."""
    words = long_form.split()
    letters = "".join(c for c in (short[:-1] if is_plural_acronym(short) else short).upper() if c.isalpha())
    for k in range(1, len(words) + 1):
        initials = "".join(part[0].upper() for w in words[-k:] for part in re.split(r"-", w) if part)
        if initials == letters:
            return " ".join(words[-k:])
    return None


def long_forms(text: str) -> list[tuple[str, str]]:
    """(long form, acronym) of each acronym the text defines by the words that spell it."""
    return [(long_form, m[2]) for m in _DEFINED.finditer(text) if (long_form := spelled_out(m[1], m[2]))]


def with_definitions(text: str, abstract: str, glossary: Glossary | None) -> str:
    """The text with each acronym that the abstract defines elsewhere spelled out at its first use
    ("deployment of DLMs" as "deployment of Diffusion Language Models (DLMs)"): given DreamOn's last
    sentence alone, the 1.5B model glossed DLMs as 深度学习模型 (deep learning models). Acronyms of
    glossary terms are the glossary's to gloss (:meth:`GroundedWriter.with_terms`)."""
    terms = glossary.terms if glossary else ()
    for long_form, short in long_forms(abstract):
        if long_form.casefold() in text.casefold() or any(t.abbreviates(short) for t in terms):
            continue
        spelled = f"{long_form} ({short})"
        text = re.sub(rf"(?<![\w\-]){re.escape(short)}(?![\w\-])", lambda _, s=spelled: s, text, count=1)
    return text


def without_echo(reply: str, prompt: str) -> str:
    """The reply without the lines that repeat the request (a small model sometimes writes its
    instruction back before the answer)."""
    asked = _SPACES.sub("", prompt)
    kept = [line for line in reply.splitlines() if not line.strip() or _SPACES.sub("", line) not in asked]
    text = "\n".join(kept) if any(line.strip() for line in kept) else reply
    for line in prompt.splitlines():  # the instruction written back inside the answer's own lines
        if len(line.strip()) >= 10 and line.strip() in text:
            text = text.replace(line.strip(), "")
    return text.strip()


def headed(tldr: str, title: str, lang: Language) -> str:
    """ "Qwen3 技术报告。实验表明…" reads as a headline and its result: "Qwen3 技术报告：实验表明…";
    not after a title with a colon of its own ("AdaptThink：推理模型…：为了…" read as two heads)."""
    if (
        title
        and not re.search("[:：]", title)
        and tldr.startswith(title)
        and tldr[len(title) : len(title) + 1] in ("。", ".")
    ):
        return f"{title}{'：' if lang.counts_characters else ': '}{tldr[len(title) + 1 :].lstrip()}"
    return tldr


def standalone(sentence: str) -> str:
    """The sentence without the words that tie it to the one before ("To this end, we propose…"):
    a TL;DR's result sentence follows the title alone, where they point at nothing (AdaptThink's
    read "为了实现这一目标，我们提出了…", to this end, with no end before it)."""
    rest = _BACKWARD.sub("", sentence, count=1)
    return rest[:1].upper() + rest[1:] if rest != sentence else sentence


def ended(reply: str, task: str, cut: bool, lang: Language) -> str:
    """A complete sentence the model ended without its full stop gets one (a reply cut at its token
    bound does not: it is asked again); a title never does."""
    if cut or task in ("title", "name") or not is_truncated(reply):
        return reply
    return reply + ("。" if lang.counts_characters else ".")


def method_name(abstract: str) -> str | None:
    """The name an abstract gives what it proposes, in the sentence after "we propose", "called" and
    their like: a capitalised word set off at once ("we propose Thinkless, a framework"), the name it
    defines in parentheses ("Contraction-Aware PPO (CaPPO)"), else its first name-shaped word
    (CoMAS, not LLMs); None if it names none."""
    for cue in _NAMING.finditer(abstract):
        following = re.split(r"\.\s", abstract[cue.end() :])[0]
        if apposed := _APPOSED.match(following):
            return apposed[1]
        defined = [m[2] for m in _DEFINED.finditer(following)]
        plain = [m[0] for m in _NAME.finditer(following) if following[m.end() : m.end() + 1] not in _IN_LATEX]
        for word in [*defined, *plain]:
            if is_name(word) and (word[0].isupper() or has_name_shape(re.split(r"[-_]", word)[0])):
                return word  # not "forward-KL" (a word before a name) nor "TS" of TS$^2$
    return None


def chunks(sentences: list[str]) -> list[str]:
    """The sentences two by two while a pair stays under ``CHUNK_WORDS`` words, else one by one."""
    groups: list[list[str]] = []
    for sentence in sentences:
        last = groups[-1] if groups else None
        if last and len(last) < 2 and len(" ".join([*last, sentence]).split()) <= CHUNK_WORDS:
            last.append(sentence)
        else:
            groups.append([sentence])
    return [" ".join(group) for group in groups]


class GroundedWriter:
    """Writes a card's fields from its sentences, one short call each (see the module); the same
    ``write`` as :class:`~papersift.enrich.fieldwise.FieldWriter`, so the Enricher uses either."""

    def __init__(self, client: Any, lang: str, glossary: Glossary | None, template: str):
        self.client = client
        self.lang = lang
        self.language: Language = language(lang)
        self.glossary = glossary
        self.template = template
        self.words = WordTranslator(client, self.language, template)
        # Each paper's title as last written: a TL;DR asked again alone is headed by it, not by the
        # English title (CoM's read "Chain-of-Model Learning for Language Model：…", held back).
        self.titles: dict[str, str] = {}

    async def write(self, paper: Paper, fields: dict[str, tuple[str, str] | None]) -> tuple[dict[str, str], set[str]]:
        """The text of each field asked, and those still cut off; ``(previous, fix)`` asks again."""
        plan = assign(split_sentences(paper.abstract or ""))
        values: dict[str, str] = {}
        cut: set[str] = set()
        later = [f for f in fields if f == "tldr" or f.startswith("reading.") and plan.fields[f[8:]].shared]
        for field in [*(f for f in fields if f not in later), *later]:  # written last, avoiding what the others say
            previous, fix = fields[field] or (None, None)
            if field == "keywords":
                values[field] = ", ".join(self.keyword(k) for k in keywords_of(", ".join(keywords(paper))))
                continue
            if field == "digest":
                values[field], was_cut = await self.digest(paper, previous, fix)
            elif field == "title":
                values[field], was_cut = await self.title(paper, plan, previous, fix)
                self.titles[paper.id] = values[field]
            elif field == "tldr":
                title = values.get("title") or self.titles.get(paper.id) or paper.title or ""
                values[field], was_cut = await self.tldr(paper, plan, title, previous, fix)
            else:
                name = field.removeprefix("reading.")
                avoid = values.get(f"reading.{plan.neighbour(name)}") if plan.fields[name].shared else None
                if fix and previous and REPEATS.search(fix):
                    avoid = previous  # it said what another field says: that is what to avoid now
                text = self.field_text(paper, plan, name)
                if previous is not None and length(previous, self.language) < length_band(self.language)[0]:
                    # Its sentence says too little for a field ("Extensive experiments demonstrate the
                    # superiority of our model."), and asked to say more the model condenses it again:
                    # the sentence translated, which a translation of a sentence or two keeps at a
                    # field's length; after the paper's name (its title where it has none) where the
                    # paper is the field's subject.
                    if name in SUBJECT_FIELDS and paper.title:
                        text = f"{(title_names(paper.title) or [paper.title.rstrip('.')])[0]}: {text}"
                    name, previous, fix = "sentence", None, None
                source = self.source(text, paper)
                values[field], was_cut = await self.ask(
                    paper, name, source, previous, fix, names=self.kept_names(paper, source), avoid=avoid
                )
            if was_cut:
                cut.add(field)
        return values, cut

    def kept_names(self, paper: Paper, text: str) -> list[str]:
        """The names a field written from the text must keep: the paper's own (Thinkless, which the
        1.5B model rendered 无思考), its literal tokens (<short>, which it wrote <简短>) and its
        acronyms (SFT, which it glossed 序列到序列)."""
        own = [n for n in title_names(paper.title or "") if n in text]
        found = [*own, *SPECIAL_TOKEN.findall(text), *ACRONYM.findall(_URL.sub(" ", text))]
        return list(dict.fromkeys(found))[:MAX_KEPT_NAMES]

    def keeps(self, name: str, reply: str) -> bool:
        """The name is in the reply, or, for an acronym of a glossary term, the term's translation
        (LLMs as 大语言模型)."""
        terms = self.glossary.terms if self.glossary else ()
        return name in reply or any(t.abbreviates(name) and t.rendered_in(reply) for t in terms)

    def lost_names(self, reply: str, names: list[str]) -> list[str]:
        return [n for n in names if not self.keeps(n, reply)]

    def invented(self, text: str, reply: str) -> list[Term]:
        """The glossary terms the reply writes that its text holds in no form (see Glossary.invented)."""
        return self.glossary.invented(text, reply) if self.glossary else []

    def keyword(self, word: str) -> str:
        """An author keyword that is a glossary term in the glossary's words, the author's after it:
        "大语言模型 (Large Language Models)"."""
        term = next((t for t in self.glossary.terms if t.pattern.fullmatch(word)), None) if self.glossary else None
        return f"{term.translation} ({word})" if term else word

    def source(self, text: str, paper: Paper) -> str:
        """Sentences as the model sees them: acronyms defined elsewhere in the abstract spelled out,
        glossary terms and quantities already in the target language."""
        spelled = with_definitions(text, paper.abstract or "", self.glossary)
        return rewrite_quantities(with_glossary(spelled, self.glossary), self.lang).text

    async def ask(
        self,
        paper: Paper,
        task: str,
        text: str,
        previous: str | None = None,
        fix: str | None = None,
        *,
        names: list[str] = (),
        avoid: str | None = None,
    ) -> tuple[str, bool]:
        """One request and its cleaned reply, asked once more at once if the reply left English
        words, lost a number of a sentence it translates, or ran past its bound; and whether the
        reply that stands was cut at its bound."""
        reply, was_cut = await self._request(paper, task, text, previous, fix, names, avoid)
        if previous is None and (problems := self.problems(task, text, reply, was_cut, names)):
            reply, was_cut = await self._request(paper, task, text, reply, "; ".join(problems), names, avoid)
        if task in READING_FIELDS and (ABOUT_THE_TEXT.search(reply) or self.unfaithful(text, reply, names)):
            # Still talking about its text, or still writing a term its sentences do not hold or
            # losing one of their names ("无监督学习方法“无思考”" for Thinkless, trained with RL):
            # the field's own sentences translated say what they say, asked again once like any
            # translation ("in 10 less cost" came back as 性能降低了 10 分 from the translation too).
            # A translation that is no rendering ("Can LLMs learn when to think?" answered 可以吗？,
            # asked again and answered again) does not replace the field: the checks judge that.
            translated, cut_too = await self._request(paper, "sentence", text, None, None, names, None)
            if problems := self.problems("sentence", text, translated, cut_too, names):
                translated, cut_too = await self._request(
                    paper, "sentence", text, translated, "; ".join(problems), names, None
                )
            if not renders_too_little(text, translated, self.language):
                reply, was_cut = translated, cut_too
        reply = await self.finished(paper, text, reply)
        if (task in READING_FIELDS or task == "tldr") and foreign_words(reply, self.language):
            # "取得了 impressive性能": the word asked alone came back as itself, in its sentence and
            # without; the sentences translated whole wrote it (令人瞩目的), as the digest does.
            translated, cut_too = await self._request(paper, "sentence", text, None, None, names, None)
            translated = await self.finished(paper, text, translated)
            if self.fits(task, translated) and not self.unfaithful(text, translated, names):
                reply, was_cut = translated, cut_too
        if foreign_words(reply, self.language):
            # Answered with itself in its sentence, alone, and in the sentence translated whole
            # ("rollout", "desirable"): rendered in the target's letters, the word beside it.
            reply = await self.words.mend(reply, text, paper.id, held=True)
        return reply, was_cut

    def fits(self, task: str, translation: str) -> bool:
        """Whether a translation can stand for the field: no English word left, and as long as a
        field must be (a question of four words translated is too short), a TL;DR no longer than one."""
        n = length(translation, self.language)
        low = length_band(self.language)[0]
        high = MAX_CHARACTERS["tldr"] if task == "tldr" else length_band(self.language)[1]
        return not foreign_words(translation, self.language) and low <= n <= high

    async def finished(self, paper: Paper, text: str, reply: str) -> str:
        """The reply with what code can mend mended: tokens and glossary terms written back, English
        words left inside it translated one by one, a word written twice in a row ("进行思考思考", the
        model's slip or a word translated next to its own translation) written once."""
        reply = await self.words.mend(self.with_terms(restore_tokens(text, reply), text), text, paper.id)
        return STUTTER.sub(r"\1", await self.long_forms_translated(paper, text, reply))

    async def long_forms_translated(self, paper: Paper, text: str, reply: str) -> str:
        """The reply with the long form of each acronym its text defines, where the reply copies it
        in English ("解决了 Diffusion Language Models（DLMs）在实际部署中的…", from the definition
        :func:`with_definitions` gave it), in the target's words where the model translates them there
        and back (扩散语言模型); a name's words are not "foreign words", so the gate lets them stand."""
        for long_form, _ in long_forms(text):
            if long_form in reply and (translation := await self.words.phrase(long_form, paper.id)):
                # with the spaces beside it, which Chinese does not write
                reply = re.sub(rf" ?{re.escape(long_form)} ?", lambda _, t=translation: t, reply)
        return reply

    def with_terms(self, reply: str, source: str) -> str:
        """The reply with each glossary term its source holds written as the glossary writes it, and
        each gloss of an acronym of one."""
        for term in sorted(self.glossary.terms if self.glossary else (), key=lambda t: -len(t.translation)):
            if term.rendered_in(source):
                reply = term.restored(reply)
            if term.abbreviated_in(source):
                reply = term.glossed(reply)
        return reply

    async def _request(
        self,
        paper: Paper,
        task: str,
        text: str,
        previous: str | None,
        fix: str | None,
        names: list[str],
        avoid: str | None,
    ) -> tuple[str, bool]:
        env = environment()
        system = env.get_template(SYSTEM_TEMPLATE).render(lang=self.language)
        request = dict(lang=self.language, task=task, text=text, names=list(names), avoid=avoid)
        prompt = env.get_template(TASK_TEMPLATE).render(**request, previous=previous, fix=fix)
        # What an echo repeats is the request, not the answer it quotes back: a re-ask answered with
        # the line of its previous answer that was right lost that line (DreamOn's observation: '').
        asked = env.get_template(TASK_TEMPLATE).render(**request, previous=None, fix=None)
        result = await self.client.chat(
            [{"role": "system", "content": system}, {"role": "user", "content": prompt.strip()}],
            max_tokens=MAX_TOKENS.get(task, MAX_TOKENS["field"]),
            paper_id=paper.id,
            template=self.template,
        )
        cut = result.finish_reason == "length"
        reply = ended(cleaned(without_echo(result.text, asked)), task, cut, self.language)
        if previous is not None and FEEDBACK.search(reply):
            # It translated the objection ("没有通过，因为：它丢失了 2024.10…") instead of fixing the
            # answer: the answer it was asked to fix stands, and the checks judge that.
            return previous, False
        return reply, cut

    def unfaithful(self, text: str, reply: str, names: list[str]) -> bool:
        """Whether the reply writes a glossary term its text holds in no form, a number or name the
        guard finds nowhere in it, lost one of its names, glossed one, compares where its text does
        not, or kept a number but not what it measures (asked again, the 1.5B model still wrote "in 10 less cost" as 性能降低了 10 分)."""
        return bool(
            self.invented(text, reply)
            or self.unsupported(text, reply)
            or self.lost_names(reply, names)
            or glossed_names(text, reply, names)
            or lost_measures(reply, text, self.language.code)
            or self.compares(text, reply)
        )

    @staticmethod
    def unsupported(text: str, reply: str) -> list[str]:
        """The numbers and names of the reply that the card's guard would refuse against its own
        sentences: a 1.5B model copied a prompt's example figure (2350亿) into a paper without it."""
        return [v.value for v in check(reply, text).violations]

    def problems(self, task: str, text: str, reply: str, was_cut: bool, names: list[str]) -> list[str]:
        problems = []
        if was_cut:
            problems.append(CUT_OFF)
        lost = self.lost_names(reply, names)
        if task == "sentence":
            lost = list(dict.fromkeys([*self.dropped(text, reply), *lost]))
            if renders_too_little(text, reply, self.language):
                problems.append(TOO_LITTLE)
        if task in ("tldr", "name") and len(reply) > MAX_CHARACTERS[task]:
            problems.append(TOO_LONG.format(limit=MAX_CHARACTERS[task] * 2 // 3))
        if task == "name":
            problems.extend(f"it {problem}" for problem in title_shape_problems(reply, self.language))
        if lost:
            problems.append(DROPPED.format(quantities=", ".join(lost)))
        invented = [t.translation for t in self.invented(text, reply)] + self.unsupported(text, reply)
        if invented:
            problems.append(INVENTED.format(terms="、".join(dict.fromkeys(invented))))
        if ABOUT_THE_TEXT.search(reply) and not (task == "sentence" and ABOUT_THE_TEXT.search(text)):
            # A translation too: a field too short, asked as its sentence translated, came back as
            # "这段原文讲的是…" (DreamOn's observation), unless its sentence itself speaks of a text.
            problems.append(ABOUT_TEXT_FIX)
        if task in ("title", "sentence") and (left_out := self.left_out(text, reply)):
            problems.append(LEFT_OUT.format(words=", ".join(left_out)))
        if lost := lost_measures(reply, text, self.language.code):
            problems.append(LEFT_OUT.format(words=", ".join(lost)))
        if self.compares(text, reply):
            problems.append(COMPARED)
        if glossed := glossed_names(text, reply, names):
            problems.append(GLOSSED.format(names=", ".join(glossed)))
        return problems

    def dropped(self, text: str, reply: str) -> list[str]:
        """What a translation of the text must write as the text gives it and the reply does not:
        its quantities (in the target's units) and the glossary terms already in the target's words."""
        terms = [t.translation for t in (self.glossary.terms if self.glossary else ()) if t.translation in text]
        return list(dict.fromkeys([*missing(numbers_in(text), reply), *(t for t in terms if t not in reply)]))

    def compares(self, text: str, reply: str) -> bool:
        """Whether the reply says "better than" where its text compares nothing (see COMPARISONS)."""
        comparison = COMPARISONS.get(self.language.code)
        return bool(comparison and comparison.search(reply) and not COMPARES.search(text))

    def left_out(self, text: str, reply: str) -> list[str]:
        """The meaning words of the text (when, whether, not, without) that the reply renders nowhere."""
        return [
            found[0].lower()
            for english, rendered in MEANING_WORDS.get(self.language.code, {}).items()
            if (found := english.search(text)) and not rendered.search(reply)
        ]

    async def title(self, paper: Paper, plan: Plan, previous: str | None, fix: str | None) -> tuple[str, bool]:
        """The title translated; a one-word lead before a colon ("Thinkless: …") is the paper's name,
        kept by code while the rest is translated."""
        if not paper.title:  # a record with an abstract only: a short title named from what it proposes
            text = self.field_text(paper, plan, "method")
            source = self.source(text, paper)
            made_up, was_cut = await self.ask(paper, "name", source, previous, fix)
            wrong = title_shape_problems(made_up, self.language) or self.unfaithful(source, made_up, [])
            if wrong and (name := method_name(paper.abstract or "")):
                # Asked twice and still a sentence ("基于吸收离散扩散…我们的方法…"), sixty characters,
                # or a term its sentences never use (CLUE's "混合专家框架", no mixture of experts in
                # it): the name the abstract gives its method is a title a reader accepts.
                return name, False
            return made_up, was_cut
        title = paper.title
        lead = _LEAD.match(title)
        if not lead:
            return await self.ask(paper, "title", title, previous, fix, names=title_names(title))
        if previous:
            previous = previous.removeprefix(lead[1]).lstrip(":： ")
        rest, was_cut = await self.ask(paper, "title", lead[2], previous, fix, names=title_names(lead[2]))
        return f"{lead[1]}{'：' if self.language.counts_characters else ': '}{rest}", was_cut

    @staticmethod
    def tldr_unit(paper: Paper, plan: Plan) -> int | None:
        """The sentence the TL;DR takes its result from, chosen so that no reading field is left
        saying the same (the gate would hold the card back): the headline result (the most result-like
        experiments sentence with a number) where the experiments field keeps another experiments
        sentence; else a result-like sentence no field is written from, or the second sentence of a
        two-sentence field, from the paper's problem on; else the headline all the same. None where
        the author wrote a TL;DR."""
        results = plan.fields["experiments"].units
        if paper.tldr or not plan.units:
            return None
        headline = max(results, key=lambda u: (bool(_DIGITS.search(plan.units[u])), plan.result_score(u)), default=None)
        if headline is not None and plan.experiment_like(tuple(u for u in results if u != headline)):
            return headline
        used = {u for source in plan.fields.values() for u in source.units}
        spare = [u for u in range(len(plan.units)) if u not in used and plan.scores[u].max() >= LEFTOVER_MIN]
        spare += [u for source in plan.fields.values() if len(source.units) > 1 for u in source.units]
        # What comes before the paper's own problem and method is the field's background ("Reasoning
        # models have demonstrated remarkable performance"), however result-like it reads.
        proposal = min((u for f in ("problem", "method") for u in plan.fields[f].units), default=0)
        spare = [u for u in spare if u >= proposal]
        if spare:
            return max(spare, key=plan.result_score)
        return headline

    def field_units(self, paper: Paper, plan: Plan, name: str) -> tuple[int, ...]:
        """A reading field's sentences, less the one the TL;DR takes where the field has another."""
        units = plan.fields[name].units
        taken = self.tldr_unit(paper, plan)
        return tuple(u for u in units if u != taken) if len(units) > 1 and taken in units else units

    def field_text(self, paper: Paper, plan: Plan, name: str) -> str:
        return " ".join(plan.units[u] for u in self.field_units(paper, plan, name))

    async def tldr(
        self, paper: Paper, plan: Plan, title: str, previous: str | None, fix: str | None
    ) -> tuple[str, bool]:
        """The translated title, then its headline result sentence translated, not retold (the result
        alone for a record without a title of its own): asked to
        say "what the paper does and its main result", the 1.5B model added claims the paper does not
        make ("并且能够进行复杂的逻辑推理" for Thinkless) or wrote the title alone. An author's TL;DR,
        or an abstract with no result sentence, is still condensed by the model."""
        unit = self.tldr_unit(paper, plan)
        if unit is None:
            source = self.tldr_source(paper, title)
            tldr, was_cut = await self.ask(paper, "tldr", source, previous, fix, names=self.kept_names(paper, source))
            return headed(tldr, title, self.language), was_cut
        source = self.source(standalone(plan.units[unit]), paper)
        # A title made up for a record without one is named from the method's sentences: before the
        # result it would only say again what the method field says (the gate held such cards back).
        lead = title if paper.title else ""
        if previous and lead:
            previous = previous.removeprefix(lead).lstrip(":： ")
        result, was_cut = await self.ask(paper, "sentence", source, previous, fix, names=self.kept_names(paper, source))
        return headed(f"{lead}。{result}" if lead else result, lead, self.language), was_cut

    def tldr_source(self, paper: Paper, title: str) -> str:
        """What the model condenses into a TL;DR where no result sentence is taken: the author's
        TL;DR, else the translated title."""
        if paper.tldr:
            return self.source(paper.tldr, paper)
        return title.rstrip("。.") + "。"

    async def rendered(
        self, paper: Paper, source: str, names: list[str], previous: str | None = None, fix: str | None = None
    ) -> tuple[str, bool]:
        """Two sentences of the digest translated in one request; where the reply still loses a
        number or a glossary term after it was asked again ("扩展了 29 个语言" for "from 29 to 119
        languages"; CoMAS's "improve their capabilities after 预训练" as 不断改进其能力后), each
        sentence alone, as a reading field's is, if that loses fewer."""
        reply, was_cut = await self.ask(paper, "sentence", source, previous, fix, names=names)
        parts = split_sentences(source)
        lost = self.dropped(source, reply)
        if len(parts) < 2 or not lost:
            return reply, was_cut
        alone = [await self.ask(paper, "sentence", part, names=[n for n in names if n in part]) for part in parts]
        joined = ("" if self.language.counts_characters else " ").join(text for text, _ in alone)
        if len(self.dropped(source, joined)) < len(lost):
            return joined, any(cut for _, cut in alone)
        return reply, was_cut

    async def digest(self, paper: Paper, previous: str | None, fix: str | None) -> tuple[str, bool]:
        """The abstract translated a sentence or two at a time, joined. Asked again, only the parts
        whose translation holds what the fix quotes are redone (all if it quotes none of them)."""
        sources = [self.source(chunk, paper) for chunk in chunks(split_sentences(paper.abstract or ""))]
        own_names = title_names(paper.title or "")
        names = [[*(n for n in own_names if n in source), *SPECIAL_TOKEN.findall(source)] for source in sources]
        rendered = [await self.rendered(paper, source, kept) for source, kept in zip(sources, names)]
        if previous is not None and fix:
            quoted = [q for q in _QUOTED.findall(fix) if q.strip()]
            redo = [i for i, (text, _) in enumerate(rendered) if any(q in text for q in quoted)] or range(len(rendered))
            for i in redo:
                rendered[i] = await self.rendered(paper, sources[i], names[i], rendered[i][0], fix)
        joiner = "" if self.language.counts_characters else " "
        return joiner.join(text for text, _ in rendered), any(was_cut for _, was_cut in rendered)
