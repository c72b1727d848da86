"""The grounded card (``llm.card_mode = "grounded"``, the embedded engine's default): every field
written from the abstract's own sentences, quantities in the target's units by code.

The parts are tested on their own (the sentence splitter, the unit rewriter, the role plan), then
the whole card against the scripted server, which stands in for the model: it answers each short
request with a Chinese text of the right kind, or with what the test wants it to get wrong.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib

import numpy as np
import pytest
from examples import THINKLESS
from hypothesis import given
from hypothesis import strategies as st
from scripted import settings_for
from support.llm_server import ScriptedServer

from papersift.checks.glossary import Glossary, Term
from papersift.checks.language import language
from papersift.config import Settings
from papersift.demo import PAPERS as DEMO_PAPERS
from papersift.enrich.grounded import (
    GroundedWriter,
    chunks,
    headed,
    keywords,
    method_name,
    restore_tokens,
    standalone,
    with_definitions,
    with_glossary,
    without_echo,
)
from papersift.enrich.pipeline import enrich_papers
from papersift.enrich.roles import assign, clauses
from papersift.enrich.sentences import split_sentences
from papersift.enrich.units import missing, numbers_in, rewrite_quantities
from papersift.models import READING_FIELDS, Paper
from papersift.store import Store

# --- sentences --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "abstract, sentences",
    [
        (
            "We cut the cost from $O(n^2)$ to $O(n \\log n)$. It works.",
            ["We cut the cost from $O(n^2)$ to $O(n \\log n)$.", "It works."],
        ),
        (
            "Prior work (e.g. Smith et al. and Lee et al.) fails, i.e. it diverges. We fix it.",
            ["Prior work (e.g. Smith et al. and Lee et al.) fails, i.e. it diverges.", "We fix it."],
        ),
        (
            "Accuracy rises from 71.5% to 78.2% vs. 3.4 points for Qwen2.5-7B. See Fig. 2 for more.",
            ["Accuracy rises from 71.5% to 78.2% vs. 3.4 points for Qwen2.5-7B.", "See Fig. 2 for more."],
        ),
        (
            "Code is at https://github.com/x/y.z. Data at www.example.org/a.b. Done!",
            ["Code is at https://github.com/x/y.z.", "Data at www.example.org/a.b.", "Done!"],
        ),
        (
            "The loss is $\\mathcal{L} = a. b$ here. $\\alpha$ is small. mPLUG-Owl is strong.",
            ["The loss is $\\mathcal{L} = a. b$ here.", "$\\alpha$ is small.", "mPLUG-Owl is strong."],
        ),
        ("Does it scale? Yes: to 235 billion parameters.", ["Does it scale?", "Yes: to 235 billion parameters."]),
        ("一句中文。第二句！", ["一句中文。", "第二句！"]),
    ],
)
def test_an_abstract_is_cut_at_its_sentences_and_nowhere_else(abstract, sentences):
    assert split_sentences(abstract) == sentences


@given(st.text(alphabet=st.sampled_from(list("ab. $\\(e.g.)0123456789?!\n")), max_size=80))
def test_the_sentences_are_the_text_itself_cut_into_pieces(text):
    assert " ".join(split_sentences(text)) == " ".join(text.split())


# --- units ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "english, chinese, quantities",
    [
        ("from 0.6 to 235 billion parameters", "from 6亿 to 2350亿 parameters", ["6亿", "2350亿"]),
        ("1.01M samples", "101万 samples", ["101万"]),
        ("36 trillion tokens", "36万亿 tokens", ["36万亿"]),
        ("50 thousand images and 1,200 million words", "5万 images and 12亿 words", ["5万", "12亿"]),
        ("a budget of $5 million", "a budget of $500万", ["500万"]),
        ("3 million", "300万", ["300万"]),
        ("7B and 32K context, 18 languages, 2.5% better", "7B and 32K context, 18 languages, 2.5% better", []),
        ("Qwen2.5 and GPT-4.1", "Qwen2.5 and GPT-4.1", []),
    ],
)
def test_quantities_are_put_into_chinese_units_by_code(english, chinese, quantities):
    rewritten = rewrite_quantities(english, "zh")
    assert (rewritten.text, rewritten.quantities) == (chinese, quantities)


def test_other_languages_keep_their_quantities_and_a_reply_must_keep_each_as_given():
    assert rewrite_quantities("235 billion", "en").text == "235 billion"
    assert missing(["6亿", "2350亿"], "参数规模从 6亿 到 2350 亿") == []
    assert missing(["6亿", "2350亿"], "参数规模从 0.6 到 235 亿") == ["6亿", "2350亿"]
    assert missing(numbers_in("from 6亿 to 2350亿, 1,200 of 29 (2.5%)"), "从6亿到2350亿，29 中的 1200（2.5%）") == []


def test_glossary_terms_reach_the_model_already_translated():
    glossary = Glossary("zh", (Term("large language model", "大语言模型"), Term("language model", "语言模型")))
    assert (
        with_glossary("Large Language Models (LLMs) and a language model", glossary)
        == "大语言模型 (LLMs) and a 语言模型"
    )


def test_a_term_that_opens_a_capitalised_name_is_left_to_the_model():
    glossary = Glossary("zh", (Term("reasoning", "推理"), Term("policy optimization", "策略优化")))
    assert with_glossary("Reasoning Language Models think.", glossary) == "Reasoning Language Models think."
    assert with_glossary("Group Relative Policy Optimization", glossary) == "Group Relative 策略优化"  # its head
    assert with_glossary("Reasoning helps. So does policy optimization.", glossary) == "推理 helps. So does 策略优化."


def test_an_acronym_the_abstract_defines_elsewhere_reaches_the_model_spelled_out_at_its_first_use():
    abstract = (
        "Diffusion Language Models (DLMs) infill code. We propose DreamOn. "
        "Our work removes a barrier to the deployment of DLMs, as DLMs need a fixed length."
    )
    last = split_sentences(abstract)[-1]
    assert with_definitions(last, abstract, None) == (
        "Our work removes a barrier to the deployment of Diffusion Language Models (DLMs), as DLMs need a fixed length."
    )
    assert with_definitions(split_sentences(abstract)[0], abstract, None) == split_sentences(abstract)[0]
    glossary = Glossary("zh", (Term("diffusion language model", "扩散语言模型"),))
    assert with_definitions(last, abstract, glossary) == last  # the glossary glosses its own acronyms
    assert with_definitions("Plain DLMsX and CoDLMs stay.", abstract, None) == "Plain DLMsX and CoDLMs stay."


def test_a_models_gloss_of_a_glossary_acronym_is_written_as_the_glossary_writes_the_term():
    sft = Term("supervised fine-tuning", "监督微调")
    assert sft.glossed("我们通过SFT（序列到序列）冷启动") == "我们通过SFT（监督微调）冷启动"
    assert sft.glossed("SFTs (supervised tuning) 与 GRPO（组相对）") == "SFTs (监督微调) 与 GRPO（组相对）"


def test_a_near_variant_of_a_glossary_term_is_written_as_the_glossary_writes_it():
    term = Term("large language model", "大语言模型")
    assert term.restored("大型语言模型（LLM）擅长推理") == "大语言模型（LLM）擅长推理"
    assert term.restored("large language models 擅长推理") == "大语言模型 擅长推理"
    assert term.restored("大语言模型与大型语言模型") == "大语言模型与大型语言模型"  # already written: left alone
    assert term.restored("大的、新型的语言模型") == "大的、新型的语言模型"  # too far apart to be a variant
    assert Term("token", "词元").restored("词的元") == "词的元"  # too short a term to guess at


def test_an_acronym_stands_for_its_glossary_term_and_a_term_the_source_never_holds_is_invented():
    glossary = Glossary(
        "zh",
        (
            Term("supervised fine-tuning", "监督微调"),
            Term("reinforcement learning", "强化学习"),
            Term("reinforcement learning from human feedback", "基于人类反馈的强化学习"),
            Term("mixture of experts", "混合专家"),
            Term("reasoning", "推理"),
        ),
    )
    sft, rl, rlhf, moe, _ = glossary.terms
    assert sft.abbreviated_in("SFT alone fails") and moe.abbreviated_in("two MoE models")
    assert rlhf.abbreviated_in("trained with RLHF") and not rl.abbreviated_in("trained with RLHF")
    assert glossary.invented("SFT alone fails.", "单靠监督微调会失败。") == []
    assert glossary.invented("trained with RLHF", "用基于人类反馈的强化学习训练") == []  # inside a held term
    assert glossary.invented("reinforced reasoning", "用强化学习提升推理") == [rl]  # 推理: one word, any paraphrase's


# --- the plan -------------------------------------------------------------------------------------------

CLEAR = [
    "Large language models are now used everywhere, yet serving them remains expensive for most users.",
    "However, existing cache compression methods discard tokens that later turn out to matter.",
    "We observe that attention to a token is stable across neighbouring layers of the model.",
    "We propose StableKV, a method that shares one eviction decision across groups of layers.",
    "Experiments on LongBench and RULER with Llama-3-8B show that StableKV cuts memory by 60% at equal accuracy.",
    "Overall, StableKV is the first eviction method that needs no retraining and works with any attention kernel.",
]


def test_sentences_with_clear_cues_go_to_their_fields_each_its_own():
    plan = assign(CLEAR)
    assert plan.fields["method"].units[0] == 3 and plan.fields["experiments"].units[0] == 4
    assert plan.fields["motivation"].units[0] == 0
    firsts = [plan.fields[f].units[0] for f in READING_FIELDS]
    assert len(set(firsts)) == len(READING_FIELDS) and not any(plan.fields[f].shared for f in READING_FIELDS)


def test_a_short_abstract_is_cut_at_its_clauses_and_a_field_left_over_shares_a_neighbours_sentence():
    short = [
        "Models forget, which hurts long chats; we study why this happens in detail across many settings.",
        "We propose a memory module that stores summaries of the earlier turns of each conversation.",
        "It improves recall by 12% on two benchmarks.",
    ]
    units = clauses(short, len(READING_FIELDS))
    assert len(units) == 4 and units[0] == "Models forget, which hurts long chats;"
    plan = assign(short)
    shared = [f for f in READING_FIELDS if plan.fields[f].shared]
    assert len(shared) == 2  # four units for six fields
    assert all(plan.neighbour(f) and plan.neighbour(f) not in shared for f in shared)


class Scores:
    """A role model whose scores are given: which sentence each field wants, and how much."""

    def __init__(self, rows):
        self.rows = rows

    def scores(self, units):
        return np.array(self.rows[: len(units)], dtype=float)


def test_a_sentence_no_field_wanted_is_written_before_two_fields_share_one_but_never_a_code_link():
    sentences = [f"Sentence {i} says something of its own about the paper." for i in range(5)] + [
        "This achieves improvements with lower training cost.",
        "Code is available at https://github.com/x/y.",
    ]
    wants = np.full((7, 6), 0.01)
    wants[:5, :5] += np.eye(5) * 0.8  # five sentences, each wanted by one of the first five fields
    wants[5, 5] = 0.04  # barely wanted by the contribution, under LEFTOVER_MIN
    plan = assign(sentences, Scores(wants))
    assert plan.fields["contribution"].units == (5,) and not plan.fields["contribution"].shared
    assert all(6 not in plan.fields[f].units for f in READING_FIELDS)  # the link stays in the digest only
    linkless = assign(sentences[:5] + sentences[6:], Scores(np.delete(wants, 5, axis=0)))
    assert linkless.fields["contribution"].shared  # nothing left to write it from but a neighbour's sentence


def test_keywords_come_from_the_source():
    assert keywords(THINKLESS)[:2] == ["Thinkless", "Decoupled Group Relative Policy Optimization (DeGRPO)"]
    assert keywords(THINKLESS.model_copy(update={"keywords": ["adaptive reasoning"]})) == ["adaptive reasoning"]
    assert all(k in f"{THINKLESS.title} {THINKLESS.abstract}" or "(" in k for k in keywords(THINKLESS))


def test_the_digest_is_asked_two_sentences_at_a_time_while_they_are_short():
    assert chunks(["a b.", "c d.", "e f.", "g " * 70 + "h."]) == ["a b. c d.", "e f.", "g " * 70 + "h."]


# --- the card, against the scripted server --------------------------------------------------------------

ROLE_TEXT = {  # a distinct, well-sized field for each role the request names
    "研究动机": "推理模型对所有问题都进行冗长的思维链推理，在大量简单问题上造成了可观的计算浪费。",
    "要解决的问题": "Thinkless 让大语言模型依据任务复杂度与自身能力，自主决定何时需要长链思考、何时直接简短作答。",
    "现象分析": "许多问题本身存在直接的解法，统一采用精细推理并不会带来收益，反而拖慢响应速度。",
    "主要方法": "提出可学习框架 Thinkless，在强化学习范式下训练，并用两个控制标记区分长短两种推理模式。",
    "数据与实验": "Thinkless 在 Minerva Algebra、MATH-500 与 GSM8K 等基准上，把长链推理的使用比例降低了 50% 至 90%。",
    "主要贡献": "核心是解耦的组相对策略优化算法 DeGRPO，让模型学会按需切换推理模式，在保持准确率的同时提升效率。",
}


def text_of(body: dict) -> str:
    return re.search(r"<text>\n(.*)\n</text>", body["messages"][-1]["content"], re.S)[1]


def good_reply(body: dict) -> str:
    """What a model that follows the grounded requests writes."""
    asked = body["messages"][-1]["content"]
    if asked.startswith("把这个论文标题"):
        return "大语言模型学习何时思考"
    if "论文做了什么" in asked:
        return "Thinkless 让模型按任务难度选择长短推理，长链推理使用减少 50%-90%。"
    if asked.startswith("把这段原文"):  # a translation: as long as Chinese renders it, every number and name kept
        text = text_of(body)
        kept = re.findall(
            r"\d+(?:\.\d+)?(?:万亿|亿|万)?%?|[A-Z][\w\-]*[A-Z0-9][\w\-]*|Thinkless|<\w+>|[\u4e00-\u9fff]+", text
        )
        # as long as Chinese renders it, two characters a word, each word's own: two sentences share
        # the wording of the words they share, as two translations do
        filler = "".join(
            chr(0x4E00 + zlib.crc32(f"{w.lower()}{i}".encode()) % 6000) for w in text.split() for i in (0, 1)
        )
        said = [
            zh
            for en, zh in (("when", "何时"), ("whether", "是否"), ("not", "不"))
            if re.search(rf"\b{en}\b", text, re.I)
        ]
        return "这部分原文被完整译出" + "、".join(kept + said) + "，" + filler + "。"
    role = re.search(r"论文的(\S+?)。", asked)
    return ROLE_TEXT[role[1]] if role else "原始"


def grounded_settings(server: ScriptedServer, db, **llm) -> Settings:
    """One request at a time, as the embedded engine runs, with the grounded card asked for by name."""
    return settings_for(
        server, db, **{"concurrency": 1, "timeout": 5.0, "max_retries": 1, "card_mode": "grounded"} | llm
    )


def stored(store: Store, paper_id: str):
    return store.enrichment(paper_id, "zh")


def test_no_request_holds_the_whole_abstract_and_the_card_passes_the_checks(store):
    paper_id = store.upsert(THINKLESS)[0]
    with ScriptedServer(responder=good_reply) as server:
        report = enrich_papers(store, grounded_settings(server, store.path))
        requests = server.chat_requests

    enrichment = stored(store, paper_id)
    assert report.ok == 1, enrichment.reasons
    sentences = split_sentences(THINKLESS.abstract)
    assert all(len(split_sentences(text_of(r.body))) <= 3 for r in requests)  # a title and a sentence at most
    assert all("response_format" not in r.body for r in requests)
    assert len({json.dumps(r.messages[0], ensure_ascii=False) for r in requests}) == 1  # one system message
    card = enrichment.card
    assert card.title == "Thinkless：大语言模型学习何时思考"  # the lead name kept by code
    assert [getattr(card.reading, f) for f in READING_FIELDS] == list(ROLE_TEXT.values())
    assert card.keywords[0] == "Thinkless"
    translations = [r for r in requests if r.messages[-1]["content"].startswith("把这段原文")]
    # the digest a chunk at a time, and the TL;DR's result sentence
    assert len(translations) == len(chunks(sentences)) + 1
    assert card.digest.count("这部分原文被完整译出") == len(chunks(sentences))


DREAMON = Paper(
    source="arxiv",
    arxiv_id="2602.00001",
    title="DreamOn: Diffusion Language Models For Code Infilling Beyond Fixed-size Canvas",
    abstract=(
        "Diffusion Language Models (DLMs) offer flexible infilling. However, they need a fixed-length mask. "
        "We propose DreamOn, a diffusion framework with two length control states. "
        "DreamOn matches autoregressive models on HumanEval-Infilling. "
        "Our work removes a fundamental barrier to the practical deployment of DLMs."
    ),
)


def test_the_model_never_sees_a_defined_acronym_alone_without_its_definition(store):
    store.upsert(DREAMON)
    with ScriptedServer(responder=good_reply) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        texts = [text_of(r.body) for r in server.chat_requests if "<text>" in r.messages[-1]["content"]]

    last = [t for t in texts if "practical deployment" in t]
    assert last and all("deployment of Diffusion Language Models (DLMs)" in t for t in last)


@pytest.mark.parametrize(
    "back, written",
    [
        ("Diffusion Language Models", "扩散语言模型"),
        ("Language diffusion model", "扩散语言模型"),
        ("Deep Learning Models", None),
    ],
)
def test_a_long_form_copied_in_english_is_written_in_chinese_where_the_model_translates_it_back(store, back, written):
    """Given "deployment of Diffusion Language Models (DLMs)", the 1.5B model copied the long form
    into the field; its rendering stands where translated back it gives the words."""
    paper_id = store.upsert(DREAMON)[0]
    copied = (
        "我们的工作消除了 Diffusion Language Models（DLMs）在实际部署中的一个根本性障碍，显著提升了灵活性与适用性。"
    )

    def copies(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if "论文的主要贡献" in asked or asked.startswith("把这段原文") and "practical deployment" in text_of(body):
            return copied
        if '"Diffusion Language Models" into' in asked:
            return "扩散语言模型"
        if '"扩散语言模型" into English' in asked:
            return back
        return good_reply(body)

    with ScriptedServer(responder=copies) as server:
        enrich_papers(store, grounded_settings(server, store.path))

    contribution = stored(store, paper_id).card.reading.contribution
    assert contribution == (copied.replace(" Diffusion Language Models", written) if written else copied)


QWEN3_TWO_SENTENCES = "We present Qwen3, a family of models. The models range from 0.6 to 235 billion parameters."


def test_the_model_sees_2350_yi_and_a_reply_that_slips_on_it_is_asked_again(store):
    qwen = Paper(source="arxiv", arxiv_id="2505.09388", title="Qwen3 Technical Report", abstract=QWEN3_TWO_SENTENCES)
    paper_id = store.upsert(qwen)[0]

    def slip_once(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if asked.startswith("把这段原文") and "2350亿" in text_of(body) and "没有通过" not in asked:
            return "模型参数规模从 0.6 到 235 亿。"
        return good_reply(body)

    with ScriptedServer(responder=slip_once) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        asked = [r.messages[-1]["content"] for r in server.chat_requests if "2350亿" in r.messages[-1]["content"]]

    assert any("from 6亿 to 2350亿 parameters" in a for a in asked)
    assert not any("235 billion" in r for r in asked)
    again = [a for a in asked if "没有通过" in a]
    assert any("0.6 到 235 亿" in a and "6亿, 2350亿" in a for a in again)
    assert "2350亿" in stored(store, paper_id).card.digest


@pytest.mark.parametrize(
    "title, two, lossy, kept",
    [
        (
            "Qwen3 Technical Report",
            "Compared to its predecessor, Qwen3 expands multilingual support from 29 to 119 languages. "
            "All Qwen3 models are publicly accessible under Apache 2.0.",
            "与前代相比，Qwen3 将多语言支持扩展了 29 个语言。所有 Qwen3 模型都以 Apache 2.0 公开。",
            ["29", "119", "2.0"],  # both sentences, every number
        ),
        (  # CoMAS: "after pretraining" came back 不断改进其能力后 (after what?), and the card never wrote 预训练
            "CoMAS",
            "Self-evolution lets agents continually improve their capabilities after pretraining. "
            "Recent research has moved from RL-free to RL-based methods.",
            "自我进化让智能体不断改进其能力后的研究话题。近年来的研究已经从无RL方法转向基于RL的方法。",
            ["预训练"],
        ),
    ],
)
def test_two_sentences_of_the_digest_that_keep_losing_a_number_or_a_term_are_translated_one_at_a_time(
    store, title, two, lossy, kept
):
    paper_id = store.upsert(Paper(source="arxiv", arxiv_id="2505.09388", title=title, abstract=two))[0]
    first, second = split_sentences(two)

    def loses_with_two(body: dict) -> str:
        text = text_of(body)
        both = text.startswith(first[:12]) and text.endswith(second[-12:])
        return lossy if body["messages"][-1]["content"].startswith("把这段原文") and both else good_reply(body)

    with ScriptedServer(responder=loses_with_two) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        texts = [text_of(r.body) for r in server.chat_requests if "<text>" in r.messages[-1]["content"]]

    digest = stored(store, paper_id).card.digest
    assert all(k in digest for k in kept)
    assert any(t.startswith(first[:12]) and second[-12:] not in t for t in texts)  # the first sentence asked alone


def test_a_reply_that_translates_the_objection_instead_of_fixing_the_answer_is_not_kept(store):
    qwen = Paper(source="arxiv", arxiv_id="2505.09388", title="Qwen3 Technical Report", abstract=QWEN3_TWO_SENTENCES)
    paper_id = store.upsert(qwen)[0]

    def echo(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if asked.startswith("把这段原文") and "2350亿" in text_of(body):
            if "没有通过" in asked:
                return "没有通过，因为：它丢失或改变了 6亿：写每个精确as给定。"  # the objection, translated
            return "模型参数规模到 2350亿。"  # drops 6亿: asked again
        return good_reply(body)

    with ScriptedServer(responder=echo) as server:
        enrich_papers(store, grounded_settings(server, store.path))
    digest = stored(store, paper_id).card.digest
    assert "模型参数规模到 2350亿。" in digest and "没有通过" not in digest


def test_an_english_word_left_in_a_field_is_translated_alone_in_its_context(store):
    paper_id = store.upsert(THINKLESS)[0]

    source = assign(split_sentences(THINKLESS.abstract)).text("motivation")
    assert "remarkable performance" in source

    def leave_english(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if "论文的研究动机" in asked:
            return ROLE_TEXT["研究动机"].replace("可观的", "remarkable ")
        return good_reply(body)

    with ScriptedServer(responder=leave_english) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        words = [r.messages[-1]["content"] for r in server.chat_requests if '"remarkable"' in r.messages[-1]["content"]]

    [word] = words
    assert "demonstrated remarkable performance on tasks" in word  # the source sentence, for its sense
    assert stored(store, paper_id).card.reading.motivation == ROLE_TEXT["研究动机"].replace("可观的", "原始")


def test_an_english_word_glued_to_chinese_by_an_underscore_is_translated_too(store):
    paper_id = store.upsert(THINKLESS)[0]

    def glue(body: dict) -> str:
        if "论文的研究动机" in body["messages"][-1]["content"]:
            return ROLE_TEXT["研究动机"].replace("可观的", "_remarkable")
        return good_reply(body)

    with ScriptedServer(responder=glue) as server:
        enrich_papers(store, grounded_settings(server, store.path))

    assert stored(store, paper_id).card.reading.motivation == ROLE_TEXT["研究动机"].replace("可观的", "原始")


def test_a_word_translated_next_to_its_own_translation_is_written_once(store):
    paper_id = store.upsert(THINKLESS)[0]

    def leave_english(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if asked.startswith("In this sentence:") and '"reasoning"' in asked:
            return "思考"
        if "论文的研究动机" in asked:
            return ROLE_TEXT["研究动机"].replace("冗长的思维链推理", "冗长的思考 reasoning")
        return good_reply(body)

    with ScriptedServer(responder=leave_english) as server:
        enrich_papers(store, grounded_settings(server, store.path))
    motivation = stored(store, paper_id).card.reading.motivation
    assert "冗长的思考，" in motivation and "思考思考" not in motivation


def test_a_word_the_model_inflected_is_asked_in_the_sentence_of_its_stem(store):
    store.upsert(THINKLESS)

    def inflect(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if asked.startswith("把这段原文") and "admit straightforward" in asked:
            return "特别是在许多问题 admits 直接解法的情况下，计算开销很大。"
        return good_reply(body)

    with ScriptedServer(responder=inflect) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        [word] = [r.messages[-1]["content"] for r in server.chat_requests if '"admits"' in r.messages[-1]["content"]]
    assert "many problems admit straightforward solutions" in word  # the English sentence, not the reply


@pytest.mark.parametrize(
    "field, role, led_by_the_name",
    [("contribution", "主要贡献", True), ("motivation", "研究动机", False)],  # the background is not Thinkless's
)
def test_a_field_too_short_to_keep_is_its_sentence_translated_after_the_papers_name(
    store, field, role, led_by_the_name
):
    paper_id = store.upsert(THINKLESS)[0]
    ending = assign(split_sentences(THINKLESS.abstract)).text(field).split()[-2:]  # past any glossary term

    def terse(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if f"论文的{role}" in asked:
            return "DeGRPO 表现出色。"  # what "Extensive experiments demonstrate …" gives: too little for a field
        return good_reply(body)

    with ScriptedServer(responder=terse) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        again = [r for r in server.chat_requests if text_of(r.body).endswith(" ".join(ending))]
    request = again[-1]  # the field's sentence, translated
    assert request.messages[-1]["content"].startswith("把这段原文译成")
    assert text_of(request.body).startswith("Thinkless: ") == led_by_the_name
    assert stored(store, paper_id).status == "ok", stored(store, paper_id).reasons


def test_an_author_keyword_in_the_glossary_is_written_in_its_words_and_counts_as_written(store):
    paper = THINKLESS.model_copy(update={"keywords": ["Large Language Models", "adaptive reasoning"]})
    paper_id = store.upsert(paper)[0]
    with ScriptedServer(responder=good_reply) as server:
        enrich_papers(store, grounded_settings(server, store.path))
    enrichment = stored(store, paper_id)
    assert enrichment.card.keywords == ["大语言模型 (Large Language Models)", "adaptive reasoning"]
    assert enrichment.status == "ok", enrichment.reasons


def test_a_field_that_repeats_another_is_asked_again_to_say_something_else(store):
    paper_id = store.upsert(THINKLESS)[0]

    def repeat(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if "论文的主要贡献" in asked and "另一部分已经写了" not in asked:
            return "DeGRPO：" + ROLE_TEXT["现象分析"]  # the observation field's words again
        return good_reply(body)

    with ScriptedServer(responder=repeat) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        again = [
            r.messages[-1]["content"] for r in server.chat_requests if "另一部分已经写了" in r.messages[-1]["content"]
        ]
    assert any(ROLE_TEXT["现象分析"] in a and "论文的主要贡献" in a for a in again)
    assert stored(store, paper_id).status == "ok", stored(store, paper_id).reasons


def test_a_field_that_loses_a_name_or_invents_a_term_is_asked_again(store):
    paper_id = store.upsert(THINKLESS)[0]

    def slip(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if "没有通过" not in asked and "论文的主要贡献" in asked:
            return "核心是解耦的组相对策略优化算法，它以监督学习让模型学会按需切换推理模式，并保持准确率。"  # no DeGRPO
        if "没有通过" not in asked and "论文的主要方法" in asked:
            return "提出可学习框架无思考，在强化学习范式下训练，并用两个控制标记区分长短两种推理模式。"  # the name rendered
        if "没有通过" not in asked and "论文的研究动机" in asked:
            return ROLE_TEXT["研究动机"].replace(
                "推理模型", "基于人类反馈的强化学习训练的推理模型"
            )  # not in its sentence
        return good_reply(body)

    with ScriptedServer(responder=slip) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        again = [r.messages[-1]["content"] for r in server.chat_requests if "没有通过" in r.messages[-1]["content"]]

    assert any("论文的主要贡献" in a and "dropped or changed DeGRPO" in a for a in again)
    assert any("论文的主要方法" in a and "dropped or changed Thinkless" in a for a in again)
    assert any("论文的研究动机" in a and "it says 基于人类反馈的强化学习" in a for a in again)
    reading = stored(store, paper_id).card.reading
    assert (reading.contribution, reading.method, reading.motivation) == (
        ROLE_TEXT["主要贡献"],
        ROLE_TEXT["主要方法"],
        ROLE_TEXT["研究动机"],
    )


def test_a_field_that_keeps_inventing_a_term_is_its_sentences_translated(store):
    paper_id = store.upsert(THINKLESS)[0]

    def invents(body: dict) -> str:
        if "论文的主要方法" in body["messages"][-1]["content"]:  # asked again, it invents again
            return "提出无监督学习框架 Thinkless，在强化学习范式下训练，并用两个控制标记区分长短两种推理模式。"
        return good_reply(body)

    with ScriptedServer(responder=invents) as server:
        enrich_papers(store, grounded_settings(server, store.path))
    method = stored(store, paper_id).card.reading.method
    assert method.startswith("这部分原文被完整译出") and "无监督学习" not in method


def test_a_field_that_talks_about_its_text_is_asked_again(store):
    paper_id = store.upsert(THINKLESS)[0]

    def meta(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if "论文的现象分析" in asked and "没有通过" not in asked:
            return "这段文本描述了论文中使用的方法，包括动态模式切换和利用旗舰模型的知识来减少计算资源。"
        return good_reply(body)

    with ScriptedServer(responder=meta) as server:
        report = enrich_papers(store, grounded_settings(server, store.path))
        again = [r.messages[-1]["content"] for r in server.chat_requests if "没有通过" in r.messages[-1]["content"]]

    assert report.ok == 1 and again and all("talks about the text" in a for a in again) and len(again) == 1
    assert stored(store, paper_id).card.reading.observation == ROLE_TEXT["现象分析"]


def test_an_instruction_written_back_before_the_answer_is_taken_off():
    asked = "这段原文讲的是论文的现象分析。用一句约 55–70 字的中文把它写出来，只根据这段原文，直接写内容。\n<text>\nX\n</text>"
    reply = "这段原文讲的是论文的现象分析。用一句约 55–70 字的中文把它写出来，只根据这段原文，直接写内容。\n\n许多问题存在直接解法。"
    assert without_echo(reply, asked).strip() == "许多问题存在直接解法。"
    assert without_echo("许多问题存在直接解法。", asked) == "许多问题存在直接解法。"


def test_a_code_link_no_field_wants_stays_in_the_digest_only():
    plan = assign([*CLEAR[:5], "Our code and models are available at https://github.com/x/stablekv."])
    assert all(5 not in plan.fields[f].units for f in READING_FIELDS)


def test_a_tldr_that_opens_with_the_title_reads_as_a_headline_and_its_result():
    zh = language("zh")
    assert (
        headed("Qwen3 技术报告。实验表明 Qwen3 达到最佳。", "Qwen3 技术报告", zh)
        == "Qwen3 技术报告：实验表明 Qwen3 达到最佳。"
    )
    assert headed("Qwen3 统一了两种模式。", "Qwen3 技术报告", zh) == "Qwen3 统一了两种模式。"
    assert headed("AdaptThink：何时思考。我们提出了 AdaptThink。", "AdaptThink：何时思考", zh) == (
        "AdaptThink：何时思考。我们提出了 AdaptThink。"  # one colon is enough
    )


@pytest.mark.parametrize(
    "sentence, alone",
    [
        ("To this end, we propose AdaptThink, a novel RL algorithm.", "We propose AdaptThink, a novel RL algorithm."),
        ("To address these challenges, we introduce CoMAS.", "We introduce CoMAS."),
        ("However, long thinking is costly.", "Long thinking is costly."),
        ("Experiments show a 53% cut.", "Experiments show a 53% cut."),
        ("Thus far, nothing works.", "Thus far, nothing works."),
    ],
)
def test_a_tldr_sentence_loses_the_words_that_tie_it_to_the_one_before(sentence, alone):
    assert standalone(sentence) == alone


def test_the_tldr_asks_for_its_result_sentence_standing_alone(store):
    abstract = "We present Qwen3, a family of models. As a result, the models range from 0.6 to 235 billion parameters."
    store.upsert(Paper(source="arxiv", arxiv_id="2505.09388", title="Qwen3 Technical Report", abstract=abstract))
    with ScriptedServer(responder=good_reply) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        texts = [text_of(r.body) for r in server.chat_requests if "<text>" in r.messages[-1]["content"]]
    assert "The models range from 6亿 to 2350亿 parameters." in texts


def test_a_record_without_a_title_has_a_tldr_of_its_result_not_of_the_name_made_up_for_it(store):
    paper_id = store.upsert(THINKLESS.model_copy(update={"title": None, "arxiv_id": None, "source_id": "untitled"}))[0]

    def names_it(body: dict) -> str:
        if body["messages"][-1]["content"].startswith("用不超过"):  # the title made up from the method's sentences
            return "可学习的混合推理框架 Thinkless"
        return good_reply(body)

    with ScriptedServer(responder=names_it) as server:
        enrich_papers(store, grounded_settings(server, store.path))

    card = stored(store, paper_id).card
    assert card.title == "可学习的混合推理框架 Thinkless"
    assert card.tldr.startswith("这部分原文被完整译出") and "混合推理框架" not in card.tldr


@pytest.mark.parametrize(
    "made_up, objection",
    [
        (
            "我们提出了一种可学习的框架，让大语言模型依据任务的复杂度与自身能力在长短推理之间自适应地选择",
            "reads as a sentence",
        ),
        ("混合专家推理框架", "which the text does not say"),  # CLUE's "混合专家框架": no mixture of experts in it
    ],
)
def test_a_made_up_title_that_stays_wrong_gives_way_to_the_name_the_abstract_gives(store, made_up, objection):
    paper_id = store.upsert(THINKLESS.model_copy(update={"title": None, "arxiv_id": None, "source_id": "untitled"}))[0]
    asked_for_a_name = []

    def stays_wrong(body: dict) -> str:
        if body["messages"][-1]["content"].startswith("用不超过"):
            asked_for_a_name.append(body["messages"][-1]["content"])
            return made_up
        return good_reply(body)

    with ScriptedServer(responder=stays_wrong) as server:
        enrich_papers(store, grounded_settings(server, store.path))

    assert objection in asked_for_a_name[1]  # asked again with the objection first
    assert stored(store, paper_id).card.title == "Thinkless"


def test_a_reask_answered_with_the_right_line_of_its_previous_answer_keeps_that_line(store):
    """DreamOn's observation translated: "这段原文的中文翻译如下：" before the translation, asked
    again, came back as the translation alone, which the echo filter took for the quoted answer."""
    paper_id = store.upsert(THINKLESS)[0]
    motivation = ROLE_TEXT["研究动机"]

    def talks_about_the_text(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if "论文的研究动机" in asked:
            return "这段原文讲的是推理模型的表现。"
        if (
            asked.startswith("把这段原文")
            and "remarkable performance" in text_of(body)
            and "However" not in text_of(body)
        ):
            return motivation if "没有通过" in asked else f"这段原文的中文翻译如下：\n\n{motivation}"
        return good_reply(body)

    with ScriptedServer(responder=talks_about_the_text) as server:
        enrich_papers(store, grounded_settings(server, store.path))

    assert stored(store, paper_id).card.reading.motivation == motivation


@pytest.mark.parametrize(
    "abstract, name",
    [
        ("We propose Contraction-Aware PPO (CaPPO), a minimum-norm update.", "CaPPO"),
        ("Unlike LLMs trained with RL, we introduce CoMAS, a co-evolving system.", "CoMAS"),
        ("We propose a forward-KL formulation that stabilizes training.", None),
        ("We propose ``Training with Sparsemax, Testing with Softmax (TS$^2$)''.", None),
        ("Large models are costly. We study why.", None),
    ],
)
def test_the_name_an_abstract_gives_its_method(abstract, name):
    assert method_name(abstract) == name


def test_an_instruction_written_back_inside_the_answer_is_taken_off_too():
    asked = "这段原文讲的是论文的主要方法。用一句约 55–70 字的中文把它写出来，只根据这段原文，直接写内容。\n<text>\nX\n</text>"
    reply = "提出一种方法。这段原文讲的是论文的主要方法。用一句约 55–70 字的中文把它写出来，只根据这段原文，直接写内容。它分两步。"
    assert without_echo(reply, asked) == "提出一种方法。它分两步。"


def test_a_field_that_keeps_talking_about_its_text_is_its_sentences_translated(store):
    paper_id = store.upsert(THINKLESS)[0]

    def always_meta(body: dict) -> str:
        if "论文的现象分析" in body["messages"][-1]["content"]:
            return "这段文本描述了论文中使用的方法。"
        return good_reply(body)

    with ScriptedServer(responder=always_meta) as server:
        enrich_papers(store, grounded_settings(server, store.path))

    observation = stored(store, paper_id).card.reading.observation
    assert observation.startswith("这部分原文被完整译出") and "这段文本" not in observation


def test_a_translation_that_writes_a_figure_its_sentences_lack_is_asked_again(store):
    """The 1.5B model once wrote the system prompt's example figure into a paper that never had it."""
    paper_id = store.upsert(THINKLESS)[0]
    first = split_sentences(THINKLESS.abstract)[0]

    def copies_a_figure(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if asked.startswith("把这段原文") and first[:40] in text_of(body) and "没有通过" not in asked:
            return good_reply(body).rstrip("。") + "，涵盖从 5 个数量级到 2350亿 的模型。"
        return good_reply(body)

    with ScriptedServer(responder=copies_a_figure) as server:
        report = enrich_papers(store, grounded_settings(server, store.path))
        again = [r.messages[-1]["content"] for r in server.chat_requests if "没有通过" in r.messages[-1]["content"]]

    assert any("it says" in a and "2350亿" in a for a in again)
    assert report.ok == 1 and "2350亿" not in stored(store, paper_id).card.digest


def test_a_title_that_drops_when_is_asked_again_naming_it(store):
    """ "LLM Learns When to Think" as LLM学会思考 says another thing: no number or name is lost, yet
    a reader would refuse it."""
    paper_id = store.upsert(THINKLESS)[0]

    def drops_when(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if asked.startswith("把这个论文标题") and "没有通过" not in asked:
            return "大语言模型学会思考"
        return good_reply(body)

    with ScriptedServer(responder=drops_when) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        again = [r.messages[-1]["content"] for r in server.chat_requests if "没有通过" in r.messages[-1]["content"]]

    assert any(a.startswith("把这个论文标题") and 'leaves out "when"' in a for a in again)
    assert stored(store, paper_id).card.title == "Thinkless：大语言模型学习何时思考"


def test_a_compound_half_left_in_english_is_translated_and_joined(store):
    """ "长度-aware" passes the gate's word count (a word joined to others), yet a reader sees English."""
    paper_id = store.upsert(THINKLESS)[0]

    def half(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if "论文的研究动机" in asked:
            return ROLE_TEXT["研究动机"].replace("可观的", "长度-aware的")
        if '"aware"' in asked:
            return "感知"
        return good_reply(body)

    with ScriptedServer(responder=half) as server:
        enrich_papers(store, grounded_settings(server, store.path))
    assert stored(store, paper_id).card.reading.motivation == ROLE_TEXT["研究动机"].replace("可观的", "长度感知的")


def test_a_space_copied_between_chinese_words_is_taken_out_and_one_beside_a_name_kept(store):
    """ "用于教 推理模型": the source read "teach 推理 models", a glossary term inside English."""
    paper_id = store.upsert(THINKLESS)[0]

    def spaced(body: dict) -> str:
        if "论文的研究动机" in body["messages"][-1]["content"]:
            return ROLE_TEXT["研究动机"].replace("推理模型", "推理 模型").replace("思维链", "思维链 CoT")
        return good_reply(body)

    with ScriptedServer(responder=spaced) as server:
        enrich_papers(store, grounded_settings(server, store.path))
    motivation = stored(store, paper_id).card.reading.motivation
    assert motivation == ROLE_TEXT["研究动机"].replace("思维链", "思维链 CoT")


def test_a_field_that_renders_the_papers_name_as_words_is_asked_again(store):
    """ "无思考能力（Thinkless）": the name is written, yet glossed as a phrase that says another thing."""
    paper_id = store.upsert(THINKLESS)[0]

    def glosses(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if "论文的主要方法" in asked and "没有通过" not in asked:
            return ROLE_TEXT["主要方法"].replace("Thinkless", "无思考能力（Thinkless）")
        return good_reply(body)

    with ScriptedServer(responder=glosses) as server:
        report = enrich_papers(store, grounded_settings(server, store.path))
        again = [r.messages[-1]["content"] for r in server.chat_requests if "没有通过" in r.messages[-1]["content"]]

    assert any("论文的主要方法" in a and "renders the name Thinkless as words" in a for a in again)
    assert report.ok == 1 and stored(store, paper_id).card.reading.method == ROLE_TEXT["主要方法"]


@pytest.mark.parametrize(
    "text, reply, objection",
    [
        (  # the number kept, what it counts lost: cost became performance
            "We achieve 10.9 points better performance, in 10 less cost compared to GPT-4o-mini.",
            "实现了 10.9 分的性能提升，比 GPT-4o-mini 的性能降低了 10 分。",
            'leaves out "cost"',
        ),
        ("It cuts latency by 3x.", "它把速度提高了 3 倍。", 'leaves out "latency"'),
        ("We propose NoThinking, which skips thinking.", "我们提出不思考（NoThinking），跳过思考。", "NoThinking"),
    ],
)
def test_a_reply_that_loses_what_a_number_measures_or_glosses_a_name_is_objected_to(text, reply, objection):
    writer = GroundedWriter(None, "zh", None, "card")
    assert any(objection in p for p in writer.problems("experiments", text, reply, False, []))


@pytest.mark.parametrize(
    "text, reply",
    [
        ("We achieve 10.9 points better performance, in 10 less cost.", "性能提升 10.9 分，成本只有十分之一。"),
        ("Reinforcement learning (RL) helps.", "强化学习（RL）有帮助。"),  # an acronym's gloss is right
        ("We propose NoThinking (NT).", "我们提出 NoThinking（NT）。"),
        ("Costs fall.", "开销下降了。"),  # no number kept: not a measured result
    ],
)
def test_a_faithful_reply_meets_no_such_objection(text, reply):
    writer = GroundedWriter(None, "zh", None, "card")
    assert writer.problems("experiments", text, reply, False, []) == []


def test_the_tldr_never_takes_the_background_before_the_papers_own_problem():
    """Thinkless's real abstract opens with "Reasoning Language Models … have demonstrated remarkable
    performance": result-like words, but the field's, not the paper's finding (the TL;DR took it)."""
    record = next(json.loads(line) for line in DEMO_PAPERS.open() if '"2505.13379"' in line)
    thinkless = Paper(source="arxiv", source_id=record["arxiv_id"], title=record["title"], abstract=record["abstract"])
    plan = assign(split_sentences(thinkless.abstract))
    first_own = min(u for f in ("problem", "method") for u in plan.fields[f].units)
    assert GroundedWriter.tldr_unit(thinkless, plan) >= first_own > 0


def test_a_models_special_tokens_are_names_a_field_keeps_as_written():
    """ "<short> for concise responses and <think> for detailed reasoning" came back as <简短> and <思考>."""
    writer = GroundedWriter(None, "zh", None, "card")
    text = "Thinkless employs two control tokens, <short> for concise responses and <think> for detailed reasoning."
    assert writer.kept_names(THINKLESS, text)[:3] == ["Thinkless", "<short>", "<think>"]
    assert writer.lost_names("它使用两个控制令牌：<简短> 和 <思考>。", ["<short>", "<think>"]) == ["<short>", "<think>"]


def test_a_field_that_still_loses_what_its_number_measures_is_its_sentence_translated():
    writer = GroundedWriter(None, "zh", None, "card")
    text = "We achieve 10.9 points better performance, in 10 less cost compared to GPT-4o-mini."
    assert writer.unfaithful(text, "性能提升 10.9 分，比 GPT-4o-mini 的性能降低了 10 分。", [])
    assert not writer.unfaithful(text, "性能提升 10.9 分，成本只有 GPT-4o-mini 的十分之一（10）。", [])


def test_a_word_answered_with_itself_in_its_context_is_asked_alone(store):
    """ "impressive性能": asked in its sentence, the 1.5B model answered "impressive"."""
    paper_id = store.upsert(THINKLESS)[0]

    def stubborn(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if "论文的研究动机" in asked:
            return ROLE_TEXT["研究动机"].replace("可观的", "remarkable ")
        if '"remarkable"' in asked:
            return "remarkable" if "In this sentence" in asked else "显著的"
        return good_reply(body)

    with ScriptedServer(responder=stubborn) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        words = [r.messages[-1]["content"] for r in server.chat_requests if '"remarkable"' in r.messages[-1]["content"]]

    assert len(words) == 2 and "In this sentence" in words[0] and "In this sentence" not in words[1]
    assert stored(store, paper_id).card.reading.motivation == ROLE_TEXT["研究动机"].replace("可观的", "显著的")


@pytest.mark.parametrize(
    "reply, restored",
    [
        (
            "使用两个控制令牌：<简短> 用于简洁回答，<思考> 用于详细推理。",
            "使用两个控制令牌：<short> 用于简洁回答，<think> 用于详细推理。",
        ),
        ("使用两个控制令牌：<short> 和 <think>。", "使用两个控制令牌：<short> 和 <think>。"),
        ("使用控制令牌 <简短>。", "使用控制令牌 <简短>。"),  # one written for two: which is which is unknown
    ],
)
def test_special_tokens_the_model_translated_are_written_back_in_their_place(reply, restored):
    text = "It employs two control tokens, <short> for concise responses and <think> for detailed reasoning."
    assert restore_tokens(text, reply) == restored


def test_a_fields_translation_that_still_loses_a_name_is_asked_again_once(store):
    """The field's sentences translated are checked like any translation, and asked again once."""
    paper_id = store.upsert(THINKLESS)[0]

    def drops_the_name(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if "论文的主要方法" in asked:  # the field, asked and asked again, renders the name
            return ROLE_TEXT["主要方法"].replace("Thinkless", "无思考")
        if asked.startswith("把这段原文") and "没有通过" not in asked and "learnable framework" in asked:
            return good_reply(body).replace("Thinkless", "无思考")  # so does its first translation
        return good_reply(body)

    with ScriptedServer(responder=drops_the_name) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        again = [r.messages[-1]["content"] for r in server.chat_requests if "没有通过" in r.messages[-1]["content"]]

    assert any(a.startswith("把这段原文") and "learnable framework" in a and "Thinkless" in a for a in again)
    method = stored(store, paper_id).card.reading.method
    assert method.startswith("这部分原文被完整译出") and "Thinkless" in method and "无思考" not in method


def test_a_word_answered_with_itself_alone_too_is_left_to_its_sentences_translated_whole(store):
    """ "取得了 impressive性能": asked alone as well, the 1.5B model answered "impressive"; translating
    the sentence whole, it wrote 令人瞩目的."""
    paper_id = store.upsert(THINKLESS)[0]

    def stubborn(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if "论文的研究动机" in asked:
            return ROLE_TEXT["研究动机"].replace("可观的", "remarkable ")
        if '"remarkable"' in asked:
            return "remarkable"
        return good_reply(body)

    with ScriptedServer(responder=stubborn) as server:
        enrich_papers(store, grounded_settings(server, store.path))
    enrichment = stored(store, paper_id)
    assert enrichment.card.reading.motivation.startswith("这部分原文被完整译出")
    assert "remarkable" not in enrichment.card.reading.motivation and enrichment.status == "ok"


def held_translation(body: dict) -> str | None:
    """The pattern a request holds its answer to, where it holds one."""
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
    return schema.get("properties", {}).get("translation", {}).get("pattern")


@pytest.mark.parametrize(
    "holds_to_the_pattern, back", [(True, "Remarkable"), (False, "Remarkable"), (True, "database")]
)
def test_a_word_answered_with_itself_however_asked_is_rendered_in_chinese_letters_with_the_word_beside_it(
    store, holds_to_the_pattern, back
):
    """ "rollout", "desirable": the 1.5B model answered each with itself in its sentence, alone, and
    in the sentence translated whole; held to Han letters by the engine's grammar, it renders them,
    and the rendering stands where translated back it gives the word (oracle came back 数据库,
    "database")."""
    paper_id = store.upsert(THINKLESS)[0]

    def stubborn(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if 'word "显著的" into English' in asked:
            return back
        if '"remarkable"' in asked and held_translation(body):
            return json.dumps({"translation": "显著的" if holds_to_the_pattern else "remarkable"})
        if '"remarkable"' in asked:
            return "remarkable"
        if "论文的研究动机" in asked:
            return ROLE_TEXT["研究动机"].replace("可观的", "remarkable ")
        if asked.startswith("把这段原文") and "remarkable" in text_of(body):
            return ROLE_TEXT["研究动机"].replace("可观的", "remarkable ")  # the whole sentence keeps it too
        return good_reply(body)

    with ScriptedServer(responder=stubborn) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        held = [held_translation(r.body) for r in server.chat_requests if held_translation(r.body)]

    assert held and all(re.fullmatch(pattern[1:-1], "显著的") for pattern in held)
    assert not any(re.fullmatch(pattern[1:-1], "remarkable") for pattern in held)
    enrichment = stored(store, paper_id)
    if holds_to_the_pattern and back == "Remarkable":
        assert enrichment.card.reading.motivation == ROLE_TEXT["研究动机"].replace("可观的", "显著的（remarkable）")
        assert enrichment.status == "ok"
    else:  # a server that does not hold its answer, or a rendering that means another word: the
        # English word stays, and the gate holds the card back
        assert "remarkable" in enrichment.card.reading.motivation and "显著的" not in enrichment.card.reading.motivation
        assert enrichment.status == "poor"


def test_a_joining_word_is_not_held_and_stays_for_the_gate_to_see():
    """ "shares across all chains": held to two characters, the model wrote 共享在本所有链."""

    class Client:
        def __init__(self):
            self.asked = []

        async def chat(self, messages, **options):
            from papersift.llm.base import ChatResult

            self.asked.append(options.get("schema"))
            held = options.get("schema")
            return ChatResult(text=json.dumps({"translation": "在本"}) if held else "across", model="scripted")

    from papersift.enrich.words import WordTranslator

    client = Client()
    words = WordTranslator(client, language("zh"), "card")
    reply = "然后将键值共享 across 所有链。"
    assert asyncio.run(words.mend(reply, "then shares across all chains.", held=True)) == reply
    assert client.asked == [None, None]  # in its sentence, then alone; never held


def test_a_comparison_the_text_does_not_make_is_asked_again_and_the_field_falls_back_to_its_sentence():
    """AdaptThink: "NoThinking … is a better choice for relatively simple tasks" came back as
    "…优于不思考" (better than not thinking), every number and name kept."""
    writer = GroundedWriter(None, "zh", None, "card")
    text = "We show that NoThinking is a better choice for relatively simple tasks in terms of efficiency."
    invented = "NoThinking 在相对简单的任务中，效率上优于不思考。"
    assert any("does not compare with" in p for p in writer.problems("problem", text, invented, False, []))
    assert writer.unfaithful(text, invented, [])
    assert not writer.unfaithful(text, "NoThinking 在相对简单的任务中是效率更高的选择。", [])
    compared = "NoThinking outperforms Thinking on simple tasks."
    assert not writer.unfaithful(compared, "NoThinking 在简单任务上优于 Thinking。", [])


def test_a_field_asked_as_its_sentence_translated_must_not_talk_about_the_text_either():
    """DreamOn's observation, too short, was asked as its sentence translated and came back as
    "这段原文讲的是…"; a sentence that itself speaks of a text may be translated so."""
    writer = GroundedWriter(None, "zh", None, "card")
    text = "This constraint severely degrades code infilling performance."
    assert any(
        "talks about the text" in p
        for p in writer.problems("sentence", text, "这段原文讲的是代码填充性能下降。", False, [])
    )
    about = "We detect whether this text was written by a model."
    assert writer.problems("sentence", about, "我们检测这段文本是否由模型写成。", False, []) == []


def test_a_tldr_asked_again_alone_is_headed_by_the_translated_title(store):
    """CoM's TL;DR, asked again for an English word, came back headed by its English title."""
    paper_id = store.upsert(THINKLESS)[0]
    plan = assign(split_sentences(THINKLESS.abstract))
    result = plan.units[GroundedWriter.tldr_unit(THINKLESS, plan)]
    assert result.startswith("On several benchmarks")
    asked_for_result = []

    def invents_then_mends(body: dict) -> str:  # the digest asks for that sentence after another
        if body["messages"][-1]["content"].startswith("把这段原文") and text_of(body).startswith("On several"):
            asked_for_result.append(body)
            if len(asked_for_result) <= 2:  # the first answer and its own re-ask: a number of its own
                return "Thinkless 把长链推理的使用降低了 95%。"
        return good_reply(body)

    with ScriptedServer(responder=invents_then_mends) as server:
        enrich_papers(store, grounded_settings(server, store.path))

    assert len(asked_for_result) >= 3  # asked again by the checks, alone
    tldr = stored(store, paper_id).card.tldr
    assert tldr.startswith("Thinkless：大语言模型学习何时思考。") and "95%" not in tldr


def test_a_special_token_is_no_english_word_to_translate(store):
    """<short> and <think> came back right, then "short" and "think" inside them were translated."""
    paper_id = store.upsert(THINKLESS)[0]
    method = "提出可学习框架 Thinkless，用 <short> 与 <think> 两个控制标记在强化学习中区分长短两种推理模式。"

    def with_tokens(body: dict) -> str:
        return method if "论文的主要方法" in body["messages"][-1]["content"] else good_reply(body)

    with ScriptedServer(responder=with_tokens) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        asked = [r.messages[-1]["content"] for r in server.chat_requests]
    assert not any('"short"' in a or '"think"' in a for a in asked)
    assert stored(store, paper_id).card.reading.method == method


def test_a_question_answered_instead_of_translated_is_asked_again():
    """Asked to translate "Can LLMs learn when to think?", a small model may answer it."""
    writer = GroundedWriter(None, "zh", None, "card")
    text = "This motivates an open question: can LLMs learn when to think?"
    assert any("answer no question" in p for p in writer.problems("sentence", text, "可以的。", False, []))
    assert writer.problems("sentence", text, "这引出了一个开放问题：LLMs 能否学会何时思考？", False, []) == []


def test_a_translation_that_answers_its_text_does_not_replace_the_field(store):
    """Thinkless's motivation lost "LLMs"; its sentences, ending in "Can LLMs learn when to think?",
    translated came back 可以吗？ twice. The field stays as the model wrote it, for the checks to judge."""
    paper_id = store.upsert(THINKLESS)[0]
    field = ROLE_TEXT["研究动机"].replace("推理模型", "语言模型")

    def answers(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        if "论文的研究动机" in asked:
            return field
        if asked.startswith("把这段原文") and "remarkable performance" in asked:
            return "可以吗？"
        return good_reply(body)

    with ScriptedServer(responder=answers) as server:
        enrich_papers(store, grounded_settings(server, store.path))
        again = [r.messages[-1]["content"] for r in server.chat_requests if "可以吗" in r.messages[-1]["content"]]
    assert any("answer no question" in a for a in again)
    assert stored(store, paper_id).card.reading.motivation == field
