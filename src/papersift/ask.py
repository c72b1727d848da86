"""Ask the library: a question answered from the stored papers, every sentence citing the passages
it rests on and checked against them.

1. **Evidence.** The one search (:func:`~papersift.search.search_papers`, the same filters) finds
   the papers; their abstracts, and the full text of those whose PDF was read (cut into passages
   of about ``PASSAGE_WORDS`` words, each with its page and section), are ranked by meaning against
   the question with the multilingual embedder, so a Chinese question finds English passages. A
   passage must be close enough in meaning (``MIN_RELEVANCE``) or hold a name the question asks
   about (GRPO, KV); where none is, the passages above a lower ``FLOOR`` go to the model, which
   says whether they answer; below it everywhere, the answer is ``not_found`` and no model is asked.
   A question not in English is also put into English by the model and searched again, words and
   meaning: BM25 finds nothing of a Chinese question in English abstracts, and the encoder's
   nearness across languages is lower and looser than within one.
2. **Answer.** One call, the passages quoted as data: the model answers in the question's
   language (or ``lang``), ending each sentence with ``[n]``, or says NOT_FOUND.
3. **Check.** A sentence the model left uncited is given the passage nearest it in meaning, if one
   is near enough (the small embedded model answers from the passages but seldom writes [n]).
   Each sentence meets the faithfulness guard against the passages it cites: a number
   or name they do not hold, a sentence that cites nothing or cites no passage, and an answer in
   another language are asked about once; a sentence still failing is dropped, and the answer
   says so (``partial``). English words left inside a sentence of another language are
   translated one by one, as in cards.

Calls are logged and cached like every other (the prompt holds the passages and their papers'
ids), so an answer can be traced and replayed.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from .checks import guard
from .checks.guard import CITATION
from .checks.language import language, wrong_language
from .checks.quality import foreign_words
from .config import Settings
from .enrich.sections import APPENDIX, fitting_prefix, is_heading
from .enrich.sentences import split_sentences
from .enrich.words import WordTranslator
from .llm.base import LLMError
from .llm.client import LLMClient
from .llm.templates import as_data, environment
from .llm.tokens import estimate_tokens
from .search import Filters, search_papers
from .search.embeddings import Embedder, get_embedder, vector_coverage, vectors_for
from .sources.pdf import PAGE_BREAK
from .store import Store

SYSTEM_TEMPLATE = "ask_system.jinja"
QUESTION_TEMPLATE = "ask_question.jinja"
REASK_TEMPLATE = "ask_reask.jinja"
TRANSLATE_TEMPLATE = "ask_translate.jinja"
MAX_ENGLISH = 120  # tokens: a question, not an essay
PASSAGE_WORDS = 120
MAX_PASSAGES = 6
MAX_TOKENS = 512
# Cosine of the packaged multilingual encoder between a question and a passage, below which the
# passage is taken not to bear on it: over 300 papers of catalog-dev.jsonl, questions about
# nothing there (baking, football, sun cream) reach at most 0.19 with any abstract; questions
# about their subjects, English or Chinese, 0.23-0.39.
MIN_RELEVANCE = 0.22
# A sentence the model left uncited is given the passage nearest it in meaning at or above this
# cosine (a translation of a passage's sentence reaches 0.83-0.88, unrelated text stays under 0.36).
ATTRIBUTION_MIN = 0.45
MIN_BEARING = 0.15  # an uncited sentence less near its question than this in meaning is off the point
FLOOR = 0.12  # below it in every passage (a bread recipe asked of ML papers: 0.11), the model is not asked
NOT_FOUND = re.compile(r"^\W*NOT[_ ]FOUND\W*$", re.I)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")  # kana, Han, Hangul
_LEADING_CITATIONS = re.compile(r"^((?:\s*\[\d{1,3}\])+)\s*")
_ENDS_REFERENCES = re.compile(r"^(?:\d+\.?\s*)?(?:references|bibliography)$", re.I)
_QUESTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9\-.]*[A-Z0-9][A-Za-z0-9\-]*")  # GRPO, KV, Qwen3 (ASCII: not "GRPO的")
Status = Literal["ok", "partial", "not_found"]


class Passage(BaseModel):
    n: int = 0
    paper_id: str
    title: str
    text: str
    section: str | None = None  # None for the abstract
    page: int | None = None
    relevance: float = 0.0

    @property
    def quoted(self) -> str:
        return as_data(self.text) or ""


class Citation(BaseModel):
    n: int
    paper_id: str
    title: str
    passage: str
    section: str | None = None
    page: int | None = None


class Answer(BaseModel):
    question: str
    lang: str
    status: Status
    answer: str = ""
    citations: list[Citation] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list, description="sentences left out, each with why")
    reason: str | None = Field(default=None, description="why there is no answer (not_found)")
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0


# --- evidence ----------------------------------------------------------------------------------


def question_language(question: str) -> str:
    """The language to answer in: the question's script (Chinese, Japanese, Korean), else English."""
    if re.search(r"[\u3040-\u30ff]", question):
        return "ja"
    if re.search(r"[\uac00-\ud7af]", question):
        return "ko"
    return "zh" if re.search(r"[\u4e00-\u9fff]", question) else "en"


def fulltext_passages(paper_id: str, title: str, text: str) -> list[Passage]:
    """The full text in passages of about ``PASSAGE_WORDS`` words, whole sentences each, with the
    page and the section they are on; nothing from the references or the appendix on."""
    passages: list[Passage] = []
    section = None
    for page_number, page in enumerate(text.split(PAGE_BREAK.strip("\n")), start=1):
        prose: list[str] = []
        for line in page.splitlines():
            if is_heading(line):
                if _ENDS_REFERENCES.match(line.strip()) or APPENDIX.match(line.strip()):
                    passages += _pieces(paper_id, title, " ".join(prose), section, page_number)
                    return passages
                passages += _pieces(paper_id, title, " ".join(prose), section, page_number)
                prose, section = [], line.strip()
            else:
                prose.append(line)
        passages += _pieces(paper_id, title, " ".join(prose), section, page_number)
    return passages


def _pieces(paper_id: str, title: str, text: str, section: str | None, page: int) -> list[Passage]:
    pieces, current = [], []
    for sentence in split_sentences(text):
        if current and len(" ".join([*current, sentence]).split()) > PASSAGE_WORDS:
            pieces.append(" ".join(current))
            current = []
        current.append(sentence)
    if current:
        pieces.append(" ".join(current))
    return [
        Passage(paper_id=paper_id, title=title, text=piece, section=section or "", page=page)
        for piece in pieces
        if len(piece.split()) >= 8  # a caption or a running header is no evidence
    ]


def gather_evidence(
    store: Store,
    question: str,
    settings: Settings,
    *,
    lang: str,
    paper: str | None = None,
    limit: int = 5,
    filters: Filters | None = None,
    embedder: Embedder | None = None,
    english: str | None = None,
) -> list[Passage]:
    """The passages that bear on the question, most relevant first, numbered from 1.

    An abstract's relevance is also read from the paper's card in the question's language, where
    one passed its checks: a Chinese question is nearer a Chinese card (same language) than an
    English abstract (0.18-0.27 for questions about short abstracts it answers). ``english``: the
    question in English (:func:`in_english`), whose own search adds its papers and whose nearness
    to a passage counts where it is the greater. Passages close enough (``MIN_RELEVANCE``) or
    holding a name the question asks about bear on it; where none does, those above ``FLOOR`` go
    to the model, which says NOT_FOUND if they do not answer.
    """
    embedder = embedder or get_embedder(settings)
    if paper:
        papers = [store.get(store.resolve(paper))]
    else:
        found = {
            hit.paper.id: hit.paper
            for query in filter(None, (question, english))
            for hit in search_papers(
                store, query, filters=filters, limit=limit, embedder=embedder, settings=settings
            ).hits
        }
        papers = list(found.values())
    candidates: list[Passage] = []
    cards: list[str] = []  # for each candidate, the text of its paper's card (abstracts only)
    for p in papers:
        title = p.title or (p.abstract or "")[:80]
        if p.abstract:
            candidates.append(Passage(paper_id=p.id, title=title, text=p.abstract))  # section None: the abstract
            enrichment = store.enrichment(p.id, lang)
            card = enrichment.card if enrichment and enrichment.status == "ok" else None
            cards.append(" ".join([card.title, card.tldr, card.digest]) if card else "")
        if full := store.fulltext(p.id):
            passages = fulltext_passages(p.id, title, full)
            candidates += passages
            cards += [""] * len(passages)
    if not candidates:
        return []
    # An abstract's stored vector (title, keywords, abstract and the card's translated title and
    # TL;DR, made by `papersift embed`) stands for it; the rest are embedded now, with the question.
    stored = vectors_for(store, [c.paper_id for c in candidates if c.section is None], embedder.name)
    kept = {i: stored[c.paper_id] for i, c in enumerate(candidates) if c.section is None and c.paper_id in stored}
    fresh = [i for i in range(len(candidates)) if i not in kept]
    by_card = [i for i in fresh if cards[i]]
    queries = [question, english] if english else [question]
    vectors = embedder.embed([*queries, *(candidates[i].text for i in fresh), *(cards[i] for i in by_card)])
    asked, vectors = vectors[: len(queries)], vectors[len(queries) :]
    relevance = np.zeros(len(candidates))
    for i, vector in kept.items():
        relevance[i] = float((asked @ vector).max())
    relevance[fresh] = (vectors[: len(fresh)] @ asked.T).max(axis=1)
    if by_card:  # the card is in the question's language: its nearness is the question's own
        relevance[by_card] = np.maximum(relevance[by_card], vectors[len(fresh) :] @ asked[0])
    for candidate, score in zip(candidates, relevance, strict=True):
        candidate.relevance = float(score)
    names = {n for n in _QUESTION_NAME.findall(question) if len(n) >= 2}
    bearing = [c for c in candidates if c.relevance >= MIN_RELEVANCE or any(n in c.text for n in names)]
    bearing = bearing or [c for c in candidates if c.relevance >= FLOOR]
    chosen = sorted(bearing, key=lambda c: -c.relevance)[:MAX_PASSAGES]
    return [c.model_copy(update={"n": i}) for i, c in enumerate(chosen, start=1)]


async def in_english(client: Any, question: str) -> str | None:
    """The question in English, from the model, for the search by words (the papers are English:
    BM25 finds nothing of a Chinese question in them) and for nearness in one language; None where
    the reply is no English sentence."""
    prompt = environment().get_template(TRANSLATE_TEMPLATE).render(question=question)
    reply = (await client.chat([{"role": "user", "content": prompt}], max_tokens=MAX_ENGLISH, template="ask")).text
    english = " ".join(reply.strip().strip("\"'“”").split())
    if len(english.split()) < 3 or _CJK.search(english):
        return None  # a reply in the question's script, or none
    return english


def fitted(passages: list[Passage], budget: int) -> list[Passage]:
    """The passages cut to ``budget`` tokens in all: the last one that does not fit is shortened to
    what room is left (whole words), the rest left out. The question is never cut."""
    kept, used = [], 0
    for passage in passages:
        cost = estimate_tokens(passage.text)
        if used + cost <= budget:
            kept.append(passage)
            used += cost
            continue
        room = budget - used
        head = passage.text[: fitting_prefix(passage.text, room, estimate_tokens)].split() if room > 0 else []
        if len(head) >= 20:
            kept.append(passage.model_copy(update={"text": " ".join(head) + " …"}))
        break
    return kept


def context_budget(settings: Settings, question: str, lang: str) -> int | None:
    """Tokens the passages may take: the embedded engine's window less the instructions, the
    question and the answer; None for a server (its window is its own, and large)."""
    if settings.llm.backend != "embedded":
        return None
    fixed = environment().get_template(SYSTEM_TEMPLATE).render(lang=language(lang))
    return settings.llm.n_ctx - MAX_TOKENS - estimate_tokens(fixed) - estimate_tokens(question) - 200


# --- answer and check --------------------------------------------------------------------------


def sentences_of(answer: str) -> list[str]:
    """The answer's sentences, a citation written after a full stop ("…。[1]") kept with its sentence."""
    sentences: list[str] = []
    for sentence in split_sentences(answer):
        lead = _LEADING_CITATIONS.match(sentence)
        if lead and sentences:
            sentences[-1] += lead[1].strip()
            sentence = sentence[lead.end() :]
        if sentence.strip():
            sentences.append(sentence.strip())
    return sentences


def sentence_problem(sentence: str, passages: list[Passage]) -> str | None:
    """Why the sentence is not supported by the passages it cites, or None."""
    cited = [int(n) for n in CITATION.findall(sentence)]
    if not cited:
        return "it cites no passage"
    if unknown := sorted({n for n in cited if not 1 <= n <= len(passages)}):
        return f"it cites {', '.join(f'[{n}]' for n in unknown)}, which is not a passage"
    source = "\n\n".join(passages[n - 1].text for n in dict.fromkeys(cited))
    verdict = guard.check(CITATION.sub(" ", sentence), source, field="answer")
    return None if verdict.ok else "; ".join(v.describe() for v in verdict.violations)


def cited(sentence: str, n: int) -> str:
    """The sentence with ``[n]`` before its full stop."""
    body = sentence.rstrip()
    end = body[-1] if body and body[-1] in "。．.!?！？" else ""
    head = body[: len(body) - len(end)].rstrip()
    space = "" if end and end in "。．！？" else " "  # no space inside Chinese
    return f"{head}{space}[{n}]{end}"


class Judge:
    """For a sentence the model left uncited: whether it bears on the question at all (an obeyed
    "reply PWNED" from a passage does not: cosine under 0.0, where answers reach 0.3-0.45), and the
    passage nearest it (the small embedded model answers from the passages yet seldom writes [n];
    the guard still checks the sentence against that passage). Only such sentences get a citation
    by code."""

    def __init__(self, embedder: Embedder, question: str, passages: list[Passage]):
        self.embedder = embedder
        self.passages = passages
        vectors = embedder.embed([question, *(p.text for p in passages)])
        self.question, self.vectors = vectors[0], vectors[1:]

    def bears(self, sentence: str) -> bool:
        return float(self.embedder.embed([CITATION.sub(" ", sentence)])[0] @ self.question) >= MIN_BEARING

    def attribute(self, sentence: str) -> int | None:
        similarity = self.vectors @ self.embedder.embed([sentence])[0]
        best = int(np.argmax(similarity))
        return self.passages[best].n if similarity[best] >= ATTRIBUTION_MIN else None


def review(
    answer: str, passages: list[Passage], lang: str, judge: Judge | None = None
) -> tuple[list[str], list[tuple[str, str]], str | None]:
    """(supported sentences, (sentence, why) for the others, the language problem or None); with a
    ``judge``, a sentence without a citation that bears on the question is given one where it can
    be (the model's own citations stand: "41% [1]" is a terse answer, not an evasion)."""
    kept, failing = [], []
    for sentence in sentences_of(answer):
        if judge and not CITATION.search(sentence) and judge.bears(sentence) and (n := judge.attribute(sentence)):
            sentence = cited(sentence, n)
        problem = sentence_problem(sentence, passages)
        if problem:
            failing.append((sentence, problem))
        else:
            kept.append(sentence)
    return kept, failing, wrong_language(answer, lang, "The answer")


async def in_reader_words(sentence: str, passages: list[Passage], words: WordTranslator) -> str:
    """The sentence with the English words the model left inside it translated one by one, in the
    context of the passages it cites (the 1.5B model answered a Chinese question with "principled",
    "parity" and "extensive evaluation" inside its sentences); as it was where the mended sentence
    would no longer pass the guard."""
    if not foreign_words(CITATION.sub(" ", sentence), words.language):
        return sentence
    cited_passages = dict.fromkeys(int(n) for n in CITATION.findall(sentence))
    source = "\n\n".join(passages[n - 1].text for n in cited_passages if 1 <= n <= len(passages))
    mended = await words.mend(sentence, source)
    return sentence if sentence_problem(mended, passages) else mended


def messages_for(question: str, passages: list[Passage], lang: str) -> list[dict[str, str]]:
    env, target = environment(), language(lang)
    return [
        {"role": "system", "content": env.get_template(SYSTEM_TEMPLATE).render(lang=target)},
        {
            "role": "user",
            "content": env.get_template(QUESTION_TEMPLATE).render(passages=passages, question=question, lang=target),
        },
    ]


async def answer_question(
    client: Any, question: str, passages: list[Passage], lang: str, judge: Judge | None = None
) -> tuple[Status, str, list[str], str | None]:
    """(status, answer, dropped sentences with why, why not found) from one call, and one re-ask
    about the sentences the passages do not support."""
    messages = messages_for(question, passages, lang)
    reply = (await client.chat(messages, max_tokens=MAX_TOKENS, template="ask")).text.strip()
    if NOT_FOUND.match(reply):
        return "not_found", "", [], "the model found no answer in the passages"
    kept, failing, wrong = review(reply, passages, lang, judge)
    if failing or wrong:
        problems = [f"{sentence} ({why})" for sentence, why in failing] + ([wrong] if wrong else [])
        reask = environment().get_template(REASK_TEMPLATE).render(problems=problems)
        retry = [*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": reask}]
        reply = (await client.chat(retry, max_tokens=MAX_TOKENS, template="ask")).text.strip()
        if NOT_FOUND.match(reply):
            return "not_found", "", [], "the model found no answer in the passages"
        kept, failing, _ = review(reply, passages, lang, judge)
    words = WordTranslator(client, language(lang), "ask")
    kept = [await in_reader_words(sentence, passages, words) for sentence in kept]
    dropped = [f"{sentence} — {why}" for sentence, why in failing]
    if not kept:
        return "not_found", "", dropped, "no sentence of the answer was supported by the passages it cites"
    joiner = "" if language(lang).counts_characters else " "
    return ("partial" if dropped else "ok"), joiner.join(kept), dropped, None


def citations_of(answer: str, passages: list[Passage]) -> list[Citation]:
    cited = dict.fromkeys(int(n) for n in CITATION.findall(answer) if 1 <= int(n) <= len(passages))
    return [
        Citation(n=n, paper_id=p.paper_id, title=p.title, passage=p.text, section=p.section, page=p.page)
        for n in cited
        for p in [passages[n - 1]]
    ]


async def ask_async(
    store: Store,
    question: str,
    settings: Settings,
    *,
    paper: str | None = None,
    limit: int = 5,
    lang: str | None = None,
    filters: Filters | None = None,
    client: Any = None,
    embedder: Embedder | None = None,
) -> Answer:
    """The question answered from the store (see the module); ``paper`` asks one paper."""
    started = time.monotonic()
    question = " ".join(question.split())
    lang = lang or question_language(question)
    embedder = embedder or get_embedder(settings)
    gather = functools.partial(
        gather_evidence,
        store,
        question,
        settings,
        lang=lang,
        paper=paper,
        limit=limit,
        filters=filters,
        embedder=embedder,
    )
    passages = gather()
    base = {"question": question, "lang": lang}
    if not passages:
        reason = "no passage of the papers found bears on the question"
        if (coverage := vector_coverage(store, embedder.name)).notice:
            reason += f" ({coverage.notice})"  # a question in another language finds papers by meaning only
        return Answer(**base, status="not_found", reason=reason, seconds=round(time.monotonic() - started, 2))
    own = client is None
    client = client or LLMClient.from_settings(settings, store=store)
    try:
        if paper is None and question_language(question) != "en" and (english := await in_english(client, question)):
            passages = gather(english=english) or passages
        if (budget := context_budget(settings, question, lang)) is not None:
            passages = fitted(passages, budget)
        judge = Judge(embedder, question, passages)
        status, text, dropped, reason = await answer_question(client, question, passages, lang, judge)
    except LLMError as exc:
        status, text, dropped, reason = "not_found", "", [], f"the model could not be asked: {exc}"
    finally:
        usage = client.usage
        if own:
            await client.aclose()
    return Answer(
        **base,
        status=status,
        answer=text,
        citations=citations_of(text, passages),
        dropped=dropped,
        reason=reason,
        model=client.model,
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
        seconds=round(time.monotonic() - started, 2),
    )


def ask(store: Store, question: str, settings: Settings, **options: Any) -> Answer:
    """:func:`ask_async` for callers without an event loop (the CLI)."""
    return asyncio.run(ask_async(store, question, settings, **options))
