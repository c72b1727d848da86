"""Cards worth reading: the quality gate, titles that keep the paper's name, the glossary, the
``poor`` status in every publication, and ``papersift eval cards``.

Each gate rule is shown on a good card changed to break exactly that rule. The pipeline tests talk
to the scripted OpenAI-compatible server on 127.0.0.1, never to a real model.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from examples import GOOD, THINKLESS
from fastapi.testclient import TestClient
from support.llm_server import ScriptedServer, default_reply
from typer.testing import CliRunner

from papersift import export
from papersift.checks import quality
from papersift.checks.glossary import STARTER_GLOSSARY, GlossaryError, load_glossary, read_glossary
from papersift.cli import app
from papersift.config import LLMSettings, Settings, load_settings
from papersift.enrich.card_prompt import card_schema
from papersift.enrich.pipeline import enrich_papers
from papersift.models import READING_FIELDS, Card, Enrichment, Paper, Reading
from papersift.publish import catalog, digest, site
from papersift.store import Store
from papersift.web import create_app


def with_reading(card: Card, **fields: str) -> Card:
    return card.model_copy(update={"reading": card.reading.model_copy(update=fields)})


def rules(card: Card, paper: Paper = THINKLESS, lang: str = "zh", glossary=None) -> list[tuple[str, str]]:
    return [(i.rule, i.field) for i in quality.check_card(card, paper, lang, glossary=glossary).issues]


# --- the gate, one rule at a time ----------------------------------------------------------------


def test_a_good_card_passes_every_rule():
    assert rules(GOOD, glossary=read_glossary("zh", [STARTER_GLOSSARY])) == []


def test_a_reading_field_that_repeats_another_is_caught():
    copied = with_reading(GOOD, problem=GOOD.reading.motivation)
    assert rules(copied) == [("repeated", "reading.problem")]


def test_a_reading_field_that_repeats_the_tldr_is_caught():
    assert rules(with_reading(GOOD, contribution=GOOD.tldr)) == [("repeated", "reading.contribution")]


def test_a_field_cut_off_mid_sentence_is_caught():
    cut = with_reading(GOOD, method="提出可学习框架 Thinkless，用两个控制标记区分长短推理，并以解耦的组相对策略优化")
    assert rules(cut) == [("truncated", "reading.method")]


def test_a_field_far_longer_than_the_target_is_caught():
    long = "训练数据覆盖代数、几何与数论题目，每类题目都按难度分档并记录长短推理所需的词元数量与耗时，" * 6
    assert quality.length(long, quality.language("zh")) > 210
    assert rules(with_reading(GOOD, observation=long + "结论稳定。")) == [("length", "reading.observation")]


def test_a_field_far_shorter_than_the_target_is_caught():
    assert rules(with_reading(GOOD, motivation="推理太慢。")) == [("length", "reading.motivation")]


def test_a_field_that_talks_about_its_source_text_is_caught():
    """What the 1.5B model wrote for Qwen3's observation when its sentences held none (bench/RESULTS.md)."""
    about = with_reading(
        GOOD, observation="这段文本描述了论文中使用的方法，包括动态模式切换和利用旗舰模型的知识来减少计算资源。"
    )
    assert rules(about) == [("about_the_text", "reading.observation")]
    english = GOOD.model_copy(update={"tldr": "This text describes a framework that decides when to think."})
    assert ("about_the_text", "tldr") in rules(english, lang="en")


def test_a_field_that_names_its_own_role_as_a_text_is_caught():
    """What the 1.5B model wrote for Thinkless's motivation (bench/cards.py, 2026-12-06)."""
    about = with_reading(GOOD, motivation="这段研究动机是：大语言模型是否能够学会在什么时候需要进行思考？")
    assert rules(about) == [("about_the_text", "reading.motivation")]


def test_a_word_written_twice_in_a_row_is_caught():
    """GuardReasoner-VL's "在做出决策之前进行思考思考" (bench/cards.py, 2026-12-06)."""
    twice = with_reading(
        GOOD, motivation="核心思想是通过在线强化学习激励监控模型在做出决策之前进行思考思考，提升安全判断。"
    )
    assert rules(twice) == [("stutter", "reading.motivation")]
    assert rules(GOOD) == []  # 冗长, 长链, 简单问题: words, none twice in a row


def test_a_digest_much_shorter_than_the_abstract_is_caught():
    short = GOOD.model_copy(update={"digest": "Thinkless 让模型学会何时思考，长链推理减少 50%-90%。"})
    assert rules(short) == [("digest_short", "digest")]


def test_english_words_inside_chinese_sentences_are_caught_but_names_and_parenthesised_terms_are_not():
    mixed = with_reading(
        GOOD, contribution="该框架demonstrated其灵活性，可以seamlessly集成到现有推理模型中，并effectively提升效率。"
    )
    assert rules(mixed) == [("foreign_words", "reading.contribution")]
    kept = with_reading(
        GOOD,
        contribution="提出解耦组相对策略优化（Decoupled Group Relative Policy Optimization），让 Thinkless 学会按需思考。",
    )
    assert rules(kept) == []
    one_word = with_reading(GOOD, motivation="近年来，大型推理模型通过模仿人类深度思考取得了 impressive性能。")
    assert rules(one_word) == [("foreign_words", "reading.motivation")]  # one plain word is one too many
    quoted = with_reading(
        GOOD, method="提出 'any-process generation'，用 <short> 与 <think> 两个控制标记切换推理模式。"
    )
    assert rules(quoted) == []  # a term quoted as a name, and a model's tokens, are written as they are


def test_a_number_kept_without_what_it_measures_is_caught():
    source = "We achieve 10.9 points better performance, in 10 less cost compared to GPT-4o-mini."
    paper = THINKLESS.model_copy(update={"abstract": f"{THINKLESS.abstract} {source}"})
    lost = with_reading(
        GOOD, contribution="性能提升 10.9 分，比 GPT-4o-mini 的性能降低了 10 分，在多个基准上保持准确。"
    )
    issues = quality.check_card(lost, paper, "zh").issues
    assert [(i.rule, i.field) for i in issues] == [("lost_measure", "reading.contribution")]
    assert '"cost"' in issues[0].detail
    kept = with_reading(
        GOOD, contribution="性能提升 10.9 分，成本只有 GPT-4o-mini 的十分之一（10），在多个基准上保持准确。"
    )
    assert quality.check_card(kept, paper, "zh").ok
    named = "A redesigned memory-layer architecture, UltraMemV2, closes the gap."  # the 2 is a name's
    paper = THINKLESS.model_copy(update={"abstract": f"{THINKLESS.abstract} {named}"})
    assert quality.check_card(
        with_reading(GOOD, contribution=GOOD.reading.contribution + "UltraMemV2 缩小差距。"), paper, "zh"
    ).ok


def test_a_translated_title_must_keep_the_papers_name():
    assert rules(GOOD.model_copy(update={"title": "无尽思考：大语言模型学习何时思考"})) == [("title_name", "title")]
    assert quality.title_names("MMaDA: Multimodal Large Diffusion Language Models") == ["MMaDA"]
    assert quality.title_names("Qwen3 Technical Report") == ["Qwen3"]
    # plural acronyms and field vocabulary are terms, translated freely
    assert quality.title_names("Web-Shepherd: Advancing PRMs for Reinforcing Web Agents") == ["Web-Shepherd"]
    assert quality.title_names("Chain-of-Model Learning for Language Model") == []


def test_a_title_made_up_for_a_record_without_one_must_read_as_a_title():
    untitled = THINKLESS.model_copy(update={"title": None})
    named = GOOD.model_copy(update={"title": "可学习的混合推理框架 Thinkless"})
    assert rules(named, untitled) == []
    sentence = GOOD.model_copy(update={"title": "基于吸收离散扩散的推理，我们的方法在三个基准上提升了效率"})
    assert rules(sentence, untitled) == [("title_shape", "title")]
    too_long = GOOD.model_copy(update={"title": "可学习的混合推理框架" * 5})
    assert [i.detail for i in quality.check_card(too_long, untitled, "zh").issues] == [
        "is 50 characters; a title is at most 40"
    ]
    assert rules(too_long, THINKLESS)[:1] == [("title_name", "title")]  # a paper's own title is only translated


def test_a_glossary_term_inside_a_name_the_card_keeps_as_written_needs_no_translation():
    glossary = read_glossary("zh", [STARTER_GLOSSARY])
    source = "We introduce Co-Evolving Multi-Agent Systems (CoMAS), a framework for agents."
    kept = "我们提出 Co-Evolving Multi-Agent Systems（CoMAS），一个让智能体协同进化的框架。"
    assert [t.english for t in glossary.missing(source, kept)] == []
    # the name translated, or the term used on its own as well: its translation is asked for
    assert [t.english for t in glossary.missing(source, "我们提出协同进化系统（CoMAS）。")] == ["multi-agent"]
    also_alone = source + " Multi-agent debate is costly."
    assert [t.english for t in glossary.missing(also_alone, kept)] == ["multi-agent"]


def test_a_glossary_term_rendered_another_way_is_caught():
    glossary = read_glossary("zh", [STARTER_GLOSSARY])
    other_way = Card.model_validate_json(GOOD.model_dump_json().replace("思维链", "链式思维"))
    assert rules(other_way, glossary=glossary) == [("glossary", "card")]
    message = quality.check_card(other_way, THINKLESS, "zh", glossary=glossary).message
    assert '"chain-of-thought"' in message and "思维链" in message


def test_the_gate_counts_words_for_a_language_written_with_spaces():
    sentence = "The paper studies when a reasoning model should think at length and when a short answer is enough."
    english = GOOD.model_copy(
        update={
            "title": "Thinkless: an LLM learns when to think",
            "tldr": "Thinkless teaches an LLM to choose between short and long reasoning, cutting long reasoning by 50% to 90%.",
            "reading": Reading(
                **{
                    f: f"{f.capitalize()}: " + sentence.replace("paper", f"{f} part of the paper")
                    for f in READING_FIELDS
                }
            ),
            "digest": " ".join([sentence] * 12),
        }
    )
    issues = quality.check_card(english, THINKLESS, "en").issues
    # the six fields share most of their words: repeats, measured on word 3-grams; lengths are fine
    assert {i.rule for i in issues} == {"repeated"}
    assert quality.length(sentence, quality.language("en")) == 18


def test_the_reference_readings_pass_the_gate(sample_records):
    """The packaged sample of reference readings: each passes every rule a reading alone can break."""
    for record in sample_records:
        texts = {f"reading.{f}": record["summary_zh"][f] for f in READING_FIELDS}
        assert quality.check_texts(texts, "zh") == [], record["id"]


def test_eval_readings_reports_the_gates_false_alarms_on_reference_readings():
    sample = Path(quality.__file__).parent.parent / "data" / "sample.jsonl"
    result = CliRunner().invoke(app, ["eval", "readings", "--reference", str(sample), "--json"])
    summary = json.loads(result.stdout)
    assert (summary["n"], summary["gate_failed"], summary["gate_false_alarm_rate"]) == (35, 0, 0.0)


def test_the_reask_message_names_the_field_and_the_rule():
    result = quality.check_card(with_reading(GOOD, problem=GOOD.reading.motivation), THINKLESS, "zh")
    assert "reading.problem: repeats reading.motivation" in result.message
    assert result.reasons == [f"quality: {result.issues[0].describe()}"]


# --- the pipeline: re-ask once, then store "poor" and show it -------------------------------------


def settings_for(server: ScriptedServer, db: Path, **top) -> Settings:
    llm = LLMSettings(
        backend="openai",
        base_url=server.base_url,
        model="scripted",
        api_key="test",
        concurrency=2,
        timeout=5.0,
        max_retries=1,
    )
    return Settings(db=db, llm=llm, **top)


def scripted_card(body: dict) -> dict:
    """The scripted server's default card for the paper as first asked."""
    first_ask = {
        "messages": body["messages"][:2],
        "response_format": {"type": "json_schema", "json_schema": {"schema": card_schema()}},
    }
    return json.loads(default_reply(first_ask))


def repeating_card(body: dict) -> dict:
    card = scripted_card(body)
    card["reading"] = {f: card["reading"]["motivation"] for f in READING_FIELDS}
    return card


def last_user(request) -> str:
    return request.messages[-1]["content"]


def test_a_card_with_repeated_fields_is_asked_again_then_stored_poor_and_shown_so(store, tmp_path):
    [pid] = [store.upsert(THINKLESS)[0]]
    with ScriptedServer(responder=repeating_card) as server:
        report = enrich_papers(store, settings_for(server, store.path))
        second = server.chat_requests[1]
    assert (report.ok, report.poor, report.guard_reasks) == (0, 1, 1)
    assert "reading.problem: repeats reading.motivation" in last_user(second)
    enrichment = store.enrichment(pid, "zh")
    assert enrichment.status == "poor" and enrichment.reasons[0].startswith("quality: reading.problem")
    # every publication shows it, as it shows "flagged"
    markdown = catalog.to_markdown(catalog.build_catalog(store, "zh"))
    assert (
        "质量检查未通过：字段重复" in markdown and "repeats reading.motivation" not in markdown
    )  # the gate's words stay in the store
    assert "note-poor" in catalog.to_html(catalog.build_catalog(store, "zh"))
    assert "质量检查未通过" in digest.to_markdown(digest.build_digest(store, "zh", everything=True))
    site.build_site(store, tmp_path / "site", "zh")
    topic = next((tmp_path / "site" / "topics").glob("*.html")).relative_to(tmp_path / "site")
    for page in (topic, "digest/2025-05-19.html", f"papers/{pid}.html", "feed.xml"):
        assert "质量检查未通过" in (tmp_path / "site" / page).read_text(encoding="utf-8"), page
    assert export.paper_document(store, store.get(pid))["flags"] == ["poor"]
    listed = CliRunner().invoke(app, ["papers", "list", "--poor", "--json"], env={"PAPERSIFT_DB": str(store.path)})
    assert [p["id"] for p in json.loads(listed.stdout)] == [pid]
    with TestClient(create_app(load_settings(db=store.path)), base_url="http://127.0.0.1") as client:
        assert client.get("/api/papers?status=poor").json()["total"] == 1
        assert "质量检查未通过" in client.get(f"/papers/{pid}").text


def test_a_card_fixed_on_the_second_ask_is_ok(store):
    store.upsert(THINKLESS)
    replies = iter([repeating_card, scripted_card])
    with ScriptedServer(responder=lambda body: next(replies)(body)) as server:
        report = enrich_papers(store, settings_for(server, store.path))
    assert (report.ok, report.poor, report.guard_reasks) == (1, 0, 1)


def test_a_title_that_translates_the_papers_name_is_asked_again_naming_it(store):
    store.upsert(THINKLESS)

    def translated_name(body: dict) -> dict:
        return scripted_card(body) | {"title": "无尽思考：大语言模型学习何时思考"}

    with ScriptedServer(responder=translated_name) as server:
        enrich_papers(store, settings_for(server, store.path))
        assert 'title: drops the paper\'s name "Thinkless"' in last_user(server.chat_requests[1])
    assert store.enrichment(store.resolve("2505.13379"), "zh").status == "poor"


# --- the glossary ---------------------------------------------------------------------------------


def test_a_user_glossary_extends_and_overrides_the_starter(tmp_path):
    user = tmp_path / "glossary.toml"
    user.write_text(
        '[zh]\n"chain of thought" = "思考链"\n"world model" = ""\n"test-time training" = "测试时训练"\n',
        encoding="utf-8",
    )
    terms = {t.english.casefold(): t.translation for t in load_glossary(Settings(glossary=user)).terms}
    assert terms["chain of thought"] == "思考链" and "chain-of-thought" not in terms  # overridden
    assert terms["test-time training"] == "测试时训练" and "world model" not in terms
    assert terms["reinforcement learning"] == "强化学习"  # the starter's still there


def test_a_bad_glossary_file_is_named_with_the_entry_at_fault(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[zh]\n"pruning" = 3\n', encoding="utf-8")
    with pytest.raises(GlossaryError, match=r"bad.toml: \[zh\] 'pruning'"):
        load_glossary(Settings(glossary=bad))
    with pytest.raises(GlossaryError, match="no such glossary file"):
        load_glossary(Settings(glossary=tmp_path / "missing.toml"))


def test_a_glossary_term_rendered_another_way_is_asked_again_and_the_prefix_stays_the_same(store, tmp_path):
    user = tmp_path / "glossary.toml"
    user.write_text('[zh]\n"control tokens" = "控制标记"\n', encoding="utf-8")
    other = THINKLESS.model_copy(
        update={
            "arxiv_id": "2505.99999",
            "source_id": "2505.99999",
            "title": "Another Paper",
            "abstract": THINKLESS.abstract.replace("Thinkless", "Another"),
        }
    )
    thinkless_id = store.upsert(THINKLESS)[0]
    store.upsert(other)

    def other_way(body: dict) -> dict:
        card = scripted_card(body)
        card["digest"] = card["digest"].replace("思维链", "链式思维")
        return card

    with ScriptedServer(responder=other_way) as server:
        enrich_papers(store, settings_for(server, store.path, glossary=user), paper_ids=[thinkless_id])
        [first, reask] = server.chat_requests
        assert '"chain-of-thought"' in last_user(reask) and "write it as 思维链" in last_user(reask)
        server.responder = scripted_card
        enrich_papers(store, settings_for(server, store.path, glossary=user))
        third = server.chat_requests[2]
    # the system prompt (the static prefix) carries the glossary and is the same byte for byte
    system = first.messages[0]["content"]
    assert "- control tokens → 控制标记" in system and "- chain-of-thought → 思维链" in system
    assert third.messages[0]["content"] == system and third.messages[1] != first.messages[1]


# --- papersift eval cards -------------------------------------------------------------------------


@pytest.fixture
def judged_store(tmp_path):
    """Two papers with cards: a good one and a poor one whose fields all say the same."""
    path = tmp_path / "cards.db"
    with Store(path) as store:
        good = store.upsert(THINKLESS)[0]
        poor = store.upsert(
            THINKLESS.model_copy(update={"arxiv_id": "2505.00001", "source_id": "2505.00001", "title": "Repeats"})
        )[0]
        store.save_enrichment(Enrichment(paper_id=good, lang="zh", status="ok", card=GOOD))
        copied = GOOD.model_copy(update={"reading": Reading(**{f: GOOD.reading.motivation for f in READING_FIELDS})})
        store.save_enrichment(Enrichment(paper_id=poor, lang="zh", status="poor", card=copied))
    return path


def eval_cards(db: Path, reference: Path, *args: str):
    return CliRunner().invoke(
        app, ["eval", "cards", "--reference", str(reference), *args], env={"PAPERSIFT_DB": str(db)}
    )


def test_eval_cards_reports_status_numbers_lengths_repeats_and_latin_words(judged_store, tmp_path):
    reading = {f: getattr(GOOD.reading, f) for f in READING_FIELDS} | {
        "experiments": "在 GSM8K 等基准上，长链推理的使用减少 50% 至 90%，准确率保持 99%。"
    }
    reference = tmp_path / "ref.jsonl"
    reference.write_text(
        "\n".join(
            json.dumps(r, ensure_ascii=False)
            for r in [
                {"arxiv_id": "2505.13379", "summary_zh": reading},
                {"arxiv_id": "2505.00001", "summary_zh": reading},
                {"id": "not-in-the-store", "summary_zh": reading},
            ]
        ),
        encoding="utf-8",
    )
    result = eval_cards(judged_store, reference, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    good, poor, unmatched = report["papers"]
    assert (good["status"], poor["status"], unmatched["status"]) == ("ok", "poor", "unmatched")
    # 50% and 90% are in the card, 99% is not (the 500 of MATH-500 is a name's, not a number)
    assert (good["numbers_found"], good["numbers_total"]) == (2, 3)
    assert good["repeated"] == [] and len(poor["repeated"]) == 15  # every pair of the six fields
    zh = quality.language("zh")
    assert good["length"] == statistics.median(quality.length(getattr(GOOD.reading, f), zh) for f in READING_FIELDS)
    assert good["reference_length"] == statistics.median(quality.length(t, zh) for t in reading.values())
    assert good["latin_share"] == 0  # the digest's <short> and <think> are tokens, not English words
    overall = report["overall"]
    assert overall["status"] == {"ok": 1, "poor": 1, "unmatched": 1}
    assert overall["number_recall"] == 0.6667 and overall["cards_with_repeats"] == 1
    assert overall["ok_cards_with_repeats"] == 0
    table = eval_cards(judged_store, reference)
    assert "number recall 66.67% (4/6)" in table.stdout


def test_eval_cards_takes_digest_paragraphs_as_reference(judged_store, tmp_path):
    reference = tmp_path / "digest.jsonl"
    reference.write_text(
        json.dumps({"arxiv_id": "2505.13379", "summary_zh": GOOD.digest}, ensure_ascii=False), encoding="utf-8"
    )
    report = json.loads(eval_cards(judged_store, reference, "--json").stdout)
    [paper] = report["papers"]
    assert report["kind"] == "digest" and paper["numbers_found"] == paper["numbers_total"] == 2
    assert paper["length"] == paper["reference_length"] == quality.length(GOOD.digest, quality.language("zh"))


def test_eval_cards_names_the_line_of_a_bad_reference(judged_store, tmp_path):
    reference = tmp_path / "bad.jsonl"
    reference.write_text('{"arxiv_id": "2505.13379", "summary_zh": {"motivation": "only one"}}\n', encoding="utf-8")
    result = eval_cards(judged_store, reference)
    assert result.exit_code == 2 and "bad.jsonl:1: field 'summary_zh' lacks problem" in result.output
