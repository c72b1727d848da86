"""The deep-dive article (format C), written from a real PDF against the scripted LLM server.

The PDF is made here with reportlab (sections, numbers, references) and read back with
pypdfium2. The scripted server plays the model: it answers the notes and article schemas from
a fixed script, thinks far longer than the budget (so the budget cut is observable in the
requests), and plants an invented number when a test asks it to.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pdfs import FACTS, make_pdf
from support.llm_server import ScriptedServer, count_tokens
from typer.testing import CliRunner

from papersift.cli import app
from papersift.config import LLMSettings, Settings
from papersift.enrich import deepdive as dd
from papersift.enrich.sections import split_sections
from papersift.enrich.sentences import split_sentences
from papersift.llm.reasoning import BUDGET_CLOSING
from papersift.models import Paper
from papersift.publish.article import to_html, to_markdown
from papersift.sources.pdf import read_pdf

PLANTED = "93.7%"
BUDGET = 32


# --- the scripted model -----------------------------------------------------------------------

PADDING = "这一设计围绕小型设备上的实际部署展开，作者在文中逐一说明了各个组件的取舍理由，使读者能够在普通硬件上复现整个流程并理解其背后的考虑。"


def section(title: str, *subsections: dict) -> dict:
    return {"title": title, "subsections": list(subsections)}


def prose(heading: str, *paragraphs: str) -> dict:
    return {"heading": heading, "paragraphs": [*paragraphs, PADDING, PADDING, PADDING], "bullets": []}


def points(heading: str, *bullets: dict) -> dict:
    return {"heading": heading, "paragraphs": [PADDING], "bullets": list(bullets)}


def point(text: str, *details: str) -> dict:
    return {"text": text, "sub_points": list(details)}


def article(plant: bool) -> dict:
    """A faithful Chinese article about the PDF (every number is in it), shaped as format C: titles
    that name the paper's content, sub-topics in prose or nested bullets, a closing section."""
    results = [
        point("**GSM8K**：TinyMoE 达到 71.4%。", "高于 **Llama-3-8B** 的 65.2%。", "高于 **Mistral-7B** 的 58.9%。")
    ]
    if plant:
        results.append(point("**延迟**：推理延迟同时降低了 93.7%，是同类方法中最好的结果。"))
    return {
        "short_name": "TinyMoE",
        "angle": "小设备上的稀疏专家",
        "lead": "TinyMoE 是一个面向小型设备的混合专家（mixture-of-experts）模型。它把每个 token 路由到 8 个专家中的 2 个，在 GSM8K 上达到 71.4%。",
        "sections": [
            section(
                "小设备部署的困境与目标",
                prose("稠密模型的浪费", "小型设备需要 2 GB 以下的模型，而**稠密模型**在简单 token 上浪费算力。"),
                prose("研究目标", "作者希望在不增加部署负担的前提下提升模型能力。"),
            ),
            section(
                "稀疏专家架构与路由设计",
                points(
                    "核心组件",
                    point("**路由器**：学习得到，把每个 token 送往 8 个专家中的 2 个。"),
                    point("**负载均衡损失**：权重为 0.01。"),
                ),
                prose("设计取舍", "整个结构保持简单，便于在普通硬件上复现。"),
            ),
            section(
                "两阶段训练流程",
                prose("数据与算力", "模型在 300B tokens 上分两个阶段训练，使用 64 GPUs，历时 12 days。"),
            ),
            section(
                "GSM8K 上的对比评测",
                points("主要结果", *results),
                prose("结果解读", "稀疏路由让小模型在数学推理上超过了更大的稠密基线。"),
            ),
            section(
                "消融实验与效率权衡",
                points(
                    "消融",
                    point("**去掉负载均衡损失**：GSM8K 准确率降到 66.0%。"),
                    point("**激活 4 个专家**：延迟上升 1.3x。"),
                ),
            ),
        ],
        "closing": {
            "title": "总结与展望",
            "paragraphs": [
                "稀疏专家适合小型设备：TinyMoE 用很少的激活参数取得了高于稠密基线的成绩。",
                PADDING,
                PADDING,
            ],
            "future_directions": ["探索 **4-bit** 专家，进一步压缩模型。", "把路由器推广到更多任务。"],
        },
    }


def notes_for(part: str) -> dict:
    """Notes that copy the part's sentences holding a number (what a careful reader would keep)."""
    body = re.split(r"Part \d+ of \d+:", part, maxsplit=1)[-1]
    sentences = re.split(r"(?<=[.!?])\s+|\n", body)
    kept = [s.strip() for s in sentences if re.search(r"\d", s) and not s.startswith("## ")][:6]
    return {"notes": kept or ["This part holds no figures."]}


class Script:
    def __init__(self, plant: str | None = None):
        self.plant = plant  # None, "once" (fixed when re-asked) or "always"

    def __call__(self, body: dict) -> dict:
        schema = body["response_format"]["json_schema"]["schema"]
        if "notes" in schema["properties"]:
            return notes_for(next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user"))
        reasked = any("93.7" in (m.get("content") or "") for m in body["messages"][2:])
        return article(plant=self.plant == "always" or (self.plant == "once" and not reasked))


@pytest.fixture
def server():
    with ScriptedServer(responder=Script(), reasoning_tokens=200, thinking_default=False) as s:
        yield s


def settings_for(server: ScriptedServer, tmp_path: Path) -> Settings:
    return Settings(
        db=tmp_path / "papers.db",
        llm=LLMSettings(
            backend="openai",
            base_url=server.base_url,
            model="scripted-qwen3",
            api_key="test",
            lang="zh",
            concurrency=4,
            max_retries=0,
            timeout=30,
        ),
    )


@pytest.fixture
def paper_in_store(store):
    paper_id, _ = store.upsert(
        Paper(
            source="arxiv",
            source_id="2505.12345",
            arxiv_id="2505.12345",
            version=2,
            title="TinyMoE: Sparse Experts for Small Devices",
            abstract=FACTS["Abstract"],
            categories=["cs.LG", "cs.CL"],
            url_abs="https://arxiv.org/abs/2505.12345",
        )
    )
    return paper_id


def run_deepdive(store, server, tmp_path, pdf, **options) -> dd.DeepDive:
    settings = settings_for(server, tmp_path)
    return dd.deepdive(store, "2505.12345", settings, dd.DeepDiveOptions(thinking_budget=BUDGET, **options), pdf=pdf)


def continuations(server: ScriptedServer) -> list:
    return [r for r in server.chat_requests if r.body.get("continue_final_message")]


# --- tests ------------------------------------------------------------------------------------


def test_sections_are_found_in_a_real_pdf_and_references_dropped(tmp_path):
    text = read_pdf(str(make_pdf(tmp_path / "p.pdf")))
    headings = [s.heading for s in split_sections(text)]
    assert headings == ["Front matter", *FACTS]
    assert "99.9%" not in " ".join(s.text for s in split_sections(text))


def headings(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("#")]


def test_a_deepdive_has_headline_lead_and_metadata_with_version_and_primary_category(
    store, paper_in_store, server, tmp_path
):
    dive = run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"))
    assert dive.status == "ok" and dive.reasons == [] and dive.mode == "whole" and not dive.reasked
    assert dive.headline == "TinyMoE 深度解析：小设备上的稀疏专家"
    assert 1500 <= dive.length <= 4000 and dive.length_ok and dive.warnings == []
    text = to_markdown(dive)
    lead_and_meta = text.split("\n## ", 1)[0]
    assert lead_and_meta.splitlines()[:3] == ["# TinyMoE 深度解析：小设备上的稀疏专家", "", article(False)["lead"]]
    assert [line for line in lead_and_meta.splitlines() if line.startswith(">")] == [
        "> **论文标题**：TinyMoE: Sparse Experts for Small Devices  ",
        "> **来源**：arXiv:2505.12345  ",
        "> **版本**：v2  ",
        "> **主分类**：cs.LG  ",
        "> **链接**：[https://arxiv.org/abs/2505.12345](https://arxiv.org/abs/2505.12345)",
    ]
    # the whole text went to the model in one call, references left out
    (request,) = [r for r in server.chat_requests if not r.body.get("continue_final_message")]
    assert FACTS["6 Conclusion"] in request.last_user and "99.9%" not in request.last_user
    assert store.fulltext(paper_in_store)  # the PDF's text is kept for next time


def test_a_link_that_is_not_http_is_left_out(store, paper_in_store, server, tmp_path):
    dive = run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf")).model_copy(
        update={"link": "javascript:alert(1)"}
    )
    assert "javascript" not in to_markdown(dive) and "javascript" not in to_html(dive)
    assert "> **链接**" not in to_markdown(dive) and "> **主分类**：cs.LG" in to_markdown(dive)


def test_sections_carry_the_models_titles_numbered_with_numbered_subsections(store, paper_in_store, server, tmp_path):
    written = article(False)
    text = to_markdown(run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf")))
    expected = []
    for n, section in enumerate(written["sections"], 1):
        expected.append(f"## {n}. {section['title']}")
        expected += [f"### {n}.{m} {sub['heading']}" for m, sub in enumerate(section["subsections"], 1)]
    assert headings(text)[1:-1] == expected
    # the structure is the model's: the schema it is asked to fill has sections of sub-sections
    (request,) = [r for r in server.chat_requests if not r.body.get("continue_final_message")]
    schema = request.body["response_format"]["json_schema"]["schema"]
    assert {"sections", "closing"} <= set(schema["properties"])
    assert "subsections" in schema["$defs"]["Section"]["properties"]


def test_prose_stays_prose_and_bullets_nest_their_details(store, paper_in_store, server, tmp_path):
    text = to_markdown(run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf")))
    lines = text.splitlines()
    paragraph = "小型设备需要 2 GB 以下的模型，而**稠密模型**在简单 token 上浪费算力。"
    assert paragraph in lines  # a paragraph of its own, not a bullet
    at = lines.index("- **GSM8K**：TinyMoE 达到 71.4%。")
    assert lines[at + 1 : at + 3] == ["  - 高于 **Llama-3-8B** 的 65.2%。", "  - 高于 **Mistral-7B** 的 58.9%。"]
    html = to_html(run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf")))
    assert f'<p class="tex">{paragraph.replace("**稠密模型**", "<strong>稠密模型</strong>")}</p>' in html
    assert re.search(
        r"<li class=\"tex\"><strong>GSM8K</strong>：TinyMoE 达到 71.4%。\s*<ul>\s*<li>高于 <strong>Llama-3-8B</strong>",
        html,
    )
    assert '<h3 class="tex">4.1 主要结果</h3>' in html


def test_the_closing_section_is_unnumbered_with_numbered_future_directions(store, paper_in_store, server, tmp_path):
    dive = run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"))
    closing = to_markdown(dive).split(f"\n{headings(to_markdown(dive))[-1]}\n", 1)[1]
    assert headings(to_markdown(dive))[-1] == "## 总结与展望"
    assert closing.strip().splitlines()[-2:] == [
        "1. 探索 **4-bit** 专家，进一步压缩模型。",
        "2. 把路由器推广到更多任务。",
    ]
    html = to_html(dive)
    assert re.search(r'<h2 class="tex">总结与展望</h2>.*<ol>\s*<li class="tex">探索 <strong>4-bit</strong>', html, re.S)


def test_thinking_is_on_and_cut_at_the_users_budget(store, paper_in_store, server, tmp_path):
    run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"))
    first = [r for r in server.chat_requests if not r.body.get("continue_final_message")]
    assert first and all(r.chat_template_kwargs == {"enable_thinking": True} and r.stream for r in first)
    # the server would think 200 words; the client stopped at the budget and closed the reasoning
    (cont,) = continuations(server)
    prefix = cont.messages[-1]["content"]
    reasoning = prefix.split("<think>", 1)[1].split(BUDGET_CLOSING, 1)[0]
    assert len(reasoning.split()) == BUDGET and prefix.rstrip().endswith("</think>")


def test_an_invented_number_is_caught_and_fixed_on_the_second_ask(store, paper_in_store, server, tmp_path):
    server.responder = Script(plant="once")
    dive = run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"))
    assert dive.status == "ok" and dive.reasked
    retry = continuations(server)[-1]
    assert PLANTED in retry.messages[-2]["content"]  # the guard's violations were listed to the model
    assert PLANTED not in to_markdown(dive)


def test_an_invented_number_that_stays_is_published_flagged_with_the_reason(store, paper_in_store, server, tmp_path):
    server.responder = Script(plant="always")
    dive = run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"))
    assert dive.status == "flagged" and any(PLANTED in r for r in dive.reasons)
    text = to_markdown(dive)
    assert "> 忠实性检查未通过" in text and f"{PLANTED}" in text.split("## 1.")[0]
    assert to_html(dive).count("note-flagged") == 1


def test_a_paper_longer_than_the_context_is_read_section_by_section(store, paper_in_store, server, tmp_path):
    pdf = make_pdf(tmp_path / "long.pdf", filler_paragraphs=8)
    server.responder = Script(plant="once")  # the re-ask must fit the context too
    context = 7500
    dive = run_deepdive(store, server, tmp_path, pdf, context_tokens=context, output_tokens=1200, notes_tokens=1500)
    assert dive.mode == "sections" and dive.status == "ok" and dive.reasked
    notes = [
        r
        for r in server.chat_requests
        if not r.body.get("continue_final_message")
        and "notes" in r.body["response_format"]["json_schema"]["schema"]["properties"]
    ]
    assert len(notes) >= 3
    read = " ".join(r.last_user for r in notes)
    for fact in FACTS.values():  # every section was read: nothing truncated
        assert fact.split(". ")[-1].rstrip(".") in " ".join(read.split())
    for request in server.chat_requests:  # and no request overflowed the context
        assert count_tokens("".join(m["content"] for m in request.messages)) + request.max_tokens <= context
    final = [r for r in server.chat_requests if not r.body.get("continue_final_message") and r not in notes]
    assert "- We train on 300B tokens" in final[0].last_user  # composed from the notes


def test_a_context_too_small_for_the_budget_is_a_clear_error(store, paper_in_store, server, tmp_path):
    with pytest.raises(dd.DeepDiveError, match="leaves no room"):
        run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"), context_tokens=2000)


def test_a_paper_without_full_text_is_a_clear_error(store, paper_in_store, server, tmp_path):
    with pytest.raises(dd.DeepDiveError, match="no full text"):
        run_deepdive(store, server, tmp_path, None)


def test_a_short_article_is_reported(store, paper_in_store, server, tmp_path):
    brief = section("要点", points("结果", point("**TinyMoE** 在 GSM8K 上达到 71.4%。")))
    short = {**article(False), "sections": [brief] * 4}
    server.responder = lambda body: short
    dive = run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"))
    assert dive.length_ok is False and "outside 1500–4000" in dive.warnings[0]


def test_an_empty_subsection_is_asked_for_again(store, paper_in_store, server, tmp_path):
    empty = article(False)
    empty["sections"][0]["subsections"][0] = {"heading": "空的小节", "paragraphs": [], "bullets": []}

    def reply(body: dict) -> dict:
        reasked = [
            m["content"] for m in body["messages"] if "has neither paragraphs nor bullets" in (m.get("content") or "")
        ]
        return article(False) if reasked else empty

    server.responder = reply
    dive = run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"))
    assert dive.sections[0].subsections[0].heading == "稠密模型的浪费"
    assert (
        "sub-section '空的小节' has neither paragraphs nor bullets" in continuations(server)[-1].messages[-2]["content"]
    )


def test_cli_writes_the_deepdive(store, paper_in_store, server, tmp_path, monkeypatch):
    for name, value in (
        ("DB", store.path),
        ("LLM_BACKEND", "openai"),
        ("LLM_BASE_URL", server.base_url),
        ("LLM_MODEL", "scripted-qwen3"),
        ("LLM_API_KEY", "test"),
    ):
        monkeypatch.setenv(f"PAPERSIFT_{name}", str(value))
    pdf = make_pdf(tmp_path / "p.pdf")
    runner = CliRunner()
    out = tmp_path / "dive.html"
    args = ["deepdive", "2505.12345", "--pdf", str(pdf), "--thinking-budget", "16", "-f", "html", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert '<h2 class="tex">4. GSM8K 上的对比评测</h2>' in html and "<strong>GSM8K</strong>" in html
    (cont,) = continuations(server)
    assert len(cont.messages[-1]["content"].split("<think>", 1)[1].split(BUDGET_CLOSING)[0].split()) == 16
    result = runner.invoke(app, ["deepdive", "2505.12345", "-f", "json"])  # the stored full text, from the cache
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sections"][3]["number"] == 4
    result = runner.invoke(app, ["deepdive", "nope"])
    assert result.exit_code != 0 and "no paper 'nope'" in result.output


def test_a_deepdive_is_kept_exported_and_published_on_the_site(store, paper_in_store, server, tmp_path):
    from papersift.export import paper_document
    from papersift.publish.site import build_site

    dive = run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"))
    assert dd.stored(store, "zh") == {paper_in_store: dive} and dd.stored(store, "en") == {}
    assert paper_document(store, store.get(paper_in_store))["deepdive"]["zh"]["headline"] == dive.headline

    report = build_site(store, tmp_path / "site", "zh")
    site = tmp_path / "site"
    assert report.deepdives == 1
    page = (site / "deepdives" / f"{paper_in_store}.html").read_text(encoding="utf-8")
    assert '<h2 class="tex">4. GSM8K 上的对比评测</h2>' in page and f'href="../papers/{paper_in_store}.html"' in page
    assert (site / "deepdives" / f"{paper_in_store}.md").read_text(encoding="utf-8").startswith(f"# {dive.headline}")
    assert f'href="../deepdives/{paper_in_store}.html"' in (site / "papers" / f"{paper_in_store}.html").read_text(
        encoding="utf-8"
    )
    assert f'href="deepdives/{paper_in_store}.html"' in (site / "index.html").read_text(encoding="utf-8")


def test_the_pdf_is_fetched_from_the_papers_link_when_no_text_is_stored(store, server, tmp_path):
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    make_pdf(tmp_path / "paper.pdf")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as files:
        threading.Thread(target=files.serve_forever, daemon=True).start()
        try:
            store.upsert(
                Paper(
                    source="arxiv",
                    source_id="2505.12345",
                    arxiv_id="2505.12345",
                    title="TinyMoE",
                    abstract=FACTS["Abstract"],
                    url_pdf=f"http://127.0.0.1:{files.server_port}/paper.pdf",
                )
            )
            dive = run_deepdive(store, server, tmp_path, None)
        finally:
            files.shutdown()
    assert dive.status == "ok" and FACTS["3 Training Recipe"] in store.fulltext(dive.paper_id)


def test_an_article_kept_in_the_earlier_layout_still_reads_and_renders(store, paper_in_store):
    earlier = {
        "paper_id": paper_in_store,
        "lang": "zh",
        "title": "TinyMoE",
        "source_id": "arXiv:2505.12345",
        "link": "https://arxiv.org/abs/2505.12345",
        "headline": "TinyMoE 深度解析：稀疏专家",
        "lead": "导语。",
        "sections": [
            {"number": n, "key": key, "title": title, "points": [f"{title}的要点一。", f"{title}的要点二。"]}
            for n, (key, title) in enumerate(
                [("background", "背景与目标"), ("method", "架构与方法"), ("summary", "总结与未来方向")], 1
            )
        ],
        "status": "ok",
        "length": 1600,
        "length_ok": True,
        "mode": "whole",
        "calls": 1,
    }
    store.save_deepdive(paper_in_store, "zh", json.dumps(earlier, ensure_ascii=False))
    (dive,) = dd.stored(store, "zh").values()
    text = to_markdown(dive)
    assert headings(text)[1:] == [
        "## 1. 背景与目标",
        "### 1.1 背景与目标",
        "## 2. 架构与方法",
        "### 2.1 架构与方法",
        "## 总结与未来方向",
    ]
    assert "- 架构与方法的要点二。" in text and text.rstrip().endswith("1. 总结与未来方向的要点二。")


# --- the context plan ------------------------------------------------------------------------


def test_on_the_embedded_engine_a_model_without_thinking_writes_grounded_in_its_own_tokens():
    settings = Settings(llm=LLMSettings(backend="embedded"))  # the packaged model, n_ctx 8192 for cards
    planned, options, notes = dd.plan(settings, thinking_budget=2048)
    assert options.grounded and options.tokenizer.window == 32768  # the GGUF's own window, known
    assert options.context_tokens == planned.llm.n_ctx == 8192  # a sentence a request: no 32k cache
    assert options.thinking_budget == 0 and "no thinking mode" in notes[0]  # Qwen2.5-Coder cannot think
    assert options.tokenizer.count("2350") == 4 and options.tokenizer.caution == 1  # Qwen's tokens: a digit each
    planned, options, _ = dd.plan(settings, context=16384)
    assert options.context_tokens == planned.llm.n_ctx == 16384  # --context reaches the engine


def test_an_embedded_model_that_thinks_keeps_the_budget(monkeypatch, tmp_path):
    monkeypatch.setattr(dd.models, "resolve", lambda name: tmp_path / "qwen3.gguf")
    monkeypatch.setattr(dd, "gguf_tokenizer", lambda path: dd.Tokenizer(len, window=40960, thinks=True, caution=1))
    settings = Settings(llm=LLMSettings(backend="embedded", embedded_model=str(tmp_path / "qwen3.gguf")))
    _, options, notes = dd.plan(settings)
    assert (options.context_tokens, options.thinking_budget, notes) == (40960, dd.DEFAULT_THINKING_BUDGET, [])
    assert not options.grounded  # it composes, in its whole trained window
    assert dd.plan(settings, thinking_budget=0)[1].thinking_budget == 0


def test_for_a_server_the_budget_comes_from_the_settings_and_zero_is_off():
    server = Settings(llm=LLMSettings(backend="openai", base_url="http://127.0.0.1:9/v1", thinking="budget:1024"))
    _, options, _ = dd.plan(server)
    assert (options.context_tokens, options.thinking_budget) == (dd.SERVER_CONTEXT, 1024)
    _, options, _ = dd.plan(server, thinking_budget=0, context=65536)
    assert (options.context_tokens, options.thinking_budget) == (65536, 0)


def test_thinking_budget_zero_writes_with_thinking_off(store, paper_in_store, server, tmp_path):
    settings = settings_for(server, tmp_path)
    dd.deepdive(store, "2505.12345", settings, dd.DeepDiveOptions(thinking_budget=0), pdf=make_pdf(tmp_path / "p.pdf"))
    assert server.chat_requests and not continuations(server)
    for request in server.chat_requests:
        assert request.chat_template_kwargs == {"enable_thinking": False}
        assert request.max_tokens == dd.DeepDiveOptions().output_tokens  # no room kept for a thought


@pytest.mark.parametrize("context", [6000, 9000, 16384])
def test_no_request_is_sent_that_the_models_window_cannot_hold(store, paper_in_store, server, tmp_path, context):
    """Counted with the packaged model's own tokenizer, every request (the notes of each part, the
    article and its re-ask) and its answer fit the window; the notes are smaller than their text."""
    from papersift.llm.models import DEFAULT_MODEL, resolve
    from papersift.llm.tokens import gguf_tokenizer

    tokenizer = gguf_tokenizer(resolve(DEFAULT_MODEL))
    server.responder = Script(plant="once")
    options = dict(context_tokens=context, output_tokens=1200, tokenizer=tokenizer)
    pdf = make_pdf(tmp_path / "long.pdf", filler_paragraphs=4, table_rows=40)  # as dense as a report's tables
    dive = run_deepdive(store, server, tmp_path, pdf, **options)
    assert dive.status == "ok" and dive.calls >= 2
    for request in server.chat_requests:
        assert tokenizer.messages(request.messages) + request.max_tokens <= context


def test_a_request_that_cannot_fit_is_refused_before_it_is_sent(store, paper_in_store, server, tmp_path):
    tiny = dd.Tokenizer(len, window=None, thinks=True, caution=1)  # a character a token: the paper is large
    with pytest.raises(dd.DeepDiveError, match="leaves no room|over the context"):
        run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"), context_tokens=3000, tokenizer=tiny)
    assert not server.chat_requests


# --- the grounded article: a model without thinking ---------------------------------------------

HEADINGS = {"Introduction": "引言", "Method": "方法", "Training Recipe": "训练配方", "Experiments": "实验"}
HEADINGS |= {"Ablations": "消融实验", "Summary and outlook": "总结与展望"}


def asked_text(body: dict) -> str:
    return re.search(r"<text>\n(.*)\n</text>", body["messages"][-1]["content"], re.S)[1]


def translating(body: dict) -> str:
    """A model that translates what it is given: a heading by the table, a sentence as Chinese
    that keeps each of its numbers and names."""
    asked, text = body["messages"][-1]["content"], asked_text(body)
    if asked.startswith("把这个论文标题"):
        return "TinyMoE：面向小型设备的稀疏专家" if "TinyMoE" in text else HEADINGS.get(text, "章节")
    kept = re.findall(r"\d+(?:\.\d+)?(?:万亿|亿|万)?%?|[A-Z][\w\-]*[A-Z0-9][\w\-]*|TinyMoE", text)
    return "这句原文说的是" + "、".join(kept) + "。"


def grounded_run(store, server, tmp_path, **options) -> dd.DeepDive:
    options = dict(thinking_budget=0, grounded=True) | options
    return dd.deepdive(
        store,
        "2505.12345",
        settings_for(server, tmp_path),
        dd.DeepDiveOptions(**options),
        pdf=make_pdf(tmp_path / "p.pdf"),
    )


def test_without_thinking_the_article_is_laid_out_from_the_papers_sections(store, paper_in_store, server, tmp_path):
    server.responder = translating
    steps = []
    dive = dd.deepdive(
        store,
        "2505.12345",
        settings_for(server, tmp_path),
        dd.DeepDiveOptions(thinking_budget=0, grounded=True),
        pdf=make_pdf(tmp_path / "p.pdf"),
        progress=lambda done, total: steps.append((done, total)),
    )
    assert (dive.mode, dive.status) == ("grounded", "ok"), dive.reasons
    assert dive.headline == "TinyMoE 深度解析：面向小型设备的稀疏专家"
    assert [s.title for s in dive.sections] == ["引言", "方法", "训练配方", "实验", "消融实验"]  # the paper's own
    assert "300" in dive.sections[2].subsections[0].bullets[0].text  # 300B tokens, from its sentence
    assert dive.closing.title == "总结与展望" and "4" in dive.closing.future_directions[0]  # "4-bit experts"
    assert dive.sections[1].subsections[0].bullets[0].text.startswith("这句原文说的是**TinyMoE**")  # in bold
    for request in server.chat_requests:  # a heading or one sentence a request, never the paper
        assert len(split_sentences(asked_text(request.body))) == 1
        assert "response_format" not in request.body
    assert steps[-1][0] == steps[-1][1] == len(steps)  # the progress bar counted every step, to the end
    assert dive.calls == len(server.chat_requests)


def test_a_point_with_an_invented_number_is_asked_again_then_left_out(store, paper_in_store, server, tmp_path):
    def invent(body: dict) -> str:
        text = asked_text(body)
        if "300" in text:  # the training sentence: always a number it does not hold
            return "这句原文说的是在 93.7 亿词元上训练。"
        return translating(body)

    server.responder = invent
    dive = grounded_run(store, server, tmp_path)
    asked = [r.messages[-1]["content"] for r in server.chat_requests if "300" in asked_text(r.body)]
    assert "93.7" in asked[-1] and "93.7" not in asked[0]  # asked again with the guard's objection
    assert dive.status == "ok" and "93.7" not in to_markdown(dive)  # then left out, not published
    assert any("93.7" in w and "Training Recipe" in w for w in dive.warnings)  # and said so


def test_a_run_stopped_between_sections_resumes_where_it_stopped(store, paper_in_store, server, tmp_path):
    server.responder = translating
    server.fail_when(lambda body: "load-balancing" in asked_text(body), "500")  # the Method section's sentence
    with pytest.raises(dd.DeepDiveError, match="model failed"):
        grounded_run(store, server, tmp_path)
    answered = {asked_text(r.body) for r in server.chat_requests if r.fault is None}
    server.reset()
    server.responder = translating
    dive = grounded_run(store, server, tmp_path)
    assert dive.status == "ok" and any("load-balancing" in asked_text(r.body) for r in server.chat_requests)
    assert not answered & {asked_text(r.body) for r in server.chat_requests}  # nothing asked twice


def test_the_points_are_prose_sentences_not_table_rows_captions_or_pointers():
    from papersift.enrich.deepdive_grounded import prose

    text = (
        "Qwen2.5-7B-Instruct 85.4 96.7 95.1 93.7 89.4 82.3 55.1 41.2 77.0\n"
        "Long-CoT Cold Start Stage 2 Reasoning RL Figure 1: Post-training pipeline of the Qwen3 series models.\n"
        "Key information is provided in Table 1. (b) Due to the scale-up of the pre-\ntraining tokens (Yang et al., 2024b), "
        "the MoE base models outperform the dense ones. • Agent & Coding: we use BFCL v3 and LiveCodeBench v5."
    )
    assert prose(text) == [
        "Due to the scale-up of the pre-training tokens, the MoE base models outperform the dense ones.",
        "Agent & Coding: we use BFCL v3 and LiveCodeBench v5.",
    ]


def test_an_outline_keeps_to_the_articles_shape():
    from papersift.enrich.deepdive_grounded import MAX_BULLETS, MAX_SECTIONS, MAX_SUBSECTIONS, Chapter, Part, shaped

    sentences = [f"We measure result {i} at {i}.5 points on GSM8K with TinyMoE." for i in range(12)]
    chapters = [Chapter(f"Chapter {c}", [Part(f"Part {p}", sentences[:7]) for p in range(6)]) for c in range(8)]
    result = shaped(chapters)
    assert len(result) == MAX_SECTIONS
    assert all(len(c.parts) <= MAX_SUBSECTIONS for c in result)
    assert all(len(p.sentences) <= MAX_BULLETS for c in result for p in c.parts)
