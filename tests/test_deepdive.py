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
from typer.testing import CliRunner

from papersift.cli import app
from papersift.config import LLMSettings, Settings
from papersift.llm.reasoning import BUDGET_CLOSING
from papersift.testing.llm_server import ScriptedServer, count_tokens
from papersift.models import Paper
from papersift.publish import deepdive as dd
from papersift.publish.sections import split_sections
from papersift.sources.pdf import read_pdf

FACTS = {
    "Abstract": "We present TinyMoE, a mixture-of-experts model with 8 experts that reaches 71.4% on GSM8K.",
    "1 Introduction": "Small devices need models under 2 GB. Dense models waste compute on easy tokens.",
    "2 Method": "TinyMoE routes each token to 2 of 8 experts with a learned router and a load-balancing loss weighted 0.01.",
    "3 Training Recipe": "We train on 300B tokens in two stages on 64 GPUs for 12 days.",
    "4 Experiments": "TinyMoE scores 71.4% on GSM8K against 65.2% for Llama-3-8B and 58.9% for Mistral-7B.",
    "5 Ablations": "Removing the balancing loss drops GSM8K accuracy to 66.0%. Latency rises by 1.3x with 4 experts active.",
    "6 Conclusion": "Sparse experts fit small devices. Future work includes 4-bit experts.",
}
FILLER = ("The design keeps every component simple so that it can be reproduced on modest hardware, "
          "and we describe each choice together with the reasoning behind it in the paragraphs that follow. ")
PLANTED = "93.7%"
BUDGET = 32


def make_pdf(path: Path, *, filler_paragraphs: int = 0) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story = [Paragraph("TinyMoE: Sparse Experts for Small Devices", styles["Title"]),
             Paragraph("Ada Lovelace, Alan Turing", styles["Normal"])]
    for heading, fact in FACTS.items():
        story.append(Paragraph(heading, styles["Heading2"]))
        story.append(Paragraph(fact, styles["Normal"]))
        story += [Paragraph(FILLER * 3, styles["Normal"]) for _ in range(filler_paragraphs)]
    story += [Paragraph("References", styles["Heading2"]), Paragraph("[1] A. Author. A reference with 99.9% nothing. 2020.", styles["Normal"])]
    SimpleDocTemplate(str(path), pagesize=A4).build(story)
    return path


# --- the scripted model -----------------------------------------------------------------------

PADDING = "这一设计围绕小型设备上的实际部署展开，作者在文中逐一说明了各个组件的取舍理由，使读者能够在普通硬件上复现整个流程并理解其背后的考虑。"


def article(plant: bool) -> dict:
    """A faithful Chinese article about the PDF (every number is in it), padded to a realistic length."""
    def points(*facts: str) -> list[str]:
        return [*facts, *(PADDING for _ in range(5 - len(facts)))]

    evaluation = ["**TinyMoE** 在 **GSM8K** 上达到 71.4%，高于 **Llama-3-8B** 的 65.2% 和 **Mistral-7B** 的 58.9%。"]
    if plant:
        evaluation.append("推理延迟同时降低了 93.7%，是同类方法中最好的结果。")
    return {
        "short_name": "TinyMoE",
        "angle": "小设备上的稀疏专家",
        "lead": "TinyMoE 是一个面向小型设备的混合专家（mixture-of-experts）模型。它把每个 token 路由到 8 个专家中的 2 个，在 GSM8K 上达到 71.4%。" + PADDING,
        "background": points("小型设备需要 2 GB 以下的模型，而**稠密模型**在简单 token 上浪费算力。"),
        "method": points("**TinyMoE** 用学习得到的**路由器**把每个 token 送往 8 个专家中的 2 个，负载均衡损失的权重为 0.01。"),
        "recipe": points("模型在 300B tokens 上分两个阶段训练，使用 64 GPUs，历时 12 days。"),
        "evaluation": points(*evaluation),
        "discussion": points("去掉**负载均衡损失**后 GSM8K 准确率降到 66.0%；激活 4 个专家时延迟上升 1.3x。"),
        "summary": points("稀疏专家适合小型设备，未来工作包括 **4-bit** 专家。"),
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
    return Settings(db=tmp_path / "papers.db", llm=LLMSettings(
        backend="openai", base_url=server.base_url, model="scripted-qwen3", api_key="test", lang="zh",
        concurrency=4, max_retries=0, timeout=30,
    ))


@pytest.fixture
def paper_in_store(store):
    paper_id, _ = store.upsert(Paper(source="arxiv", source_id="2505.12345", arxiv_id="2505.12345",
                                     title="TinyMoE: Sparse Experts for Small Devices", abstract=FACTS["Abstract"],
                                     url_abs="https://arxiv.org/abs/2505.12345"))
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


def test_a_deepdive_has_headline_lead_metadata_and_six_numbered_sections(store, paper_in_store, server, tmp_path):
    dive = run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"))
    assert dive.status == "ok" and dive.reasons == [] and dive.mode == "whole" and not dive.reasked
    assert dive.headline == "TinyMoE 深度解析：小设备上的稀疏专家"
    assert 1500 <= dive.length <= 4000 and dive.length_ok and dive.warnings == []
    text = dd.to_markdown(dive)
    positions = [text.index(s) for s in (
        "# TinyMoE 深度解析：小设备上的稀疏专家", "TinyMoE 是一个面向小型设备的混合专家",
        "> **论文标题**：TinyMoE: Sparse Experts for Small Devices", "> **来源**：arXiv:2505.12345",
        "> **链接**：[https://arxiv.org/abs/2505.12345](https://arxiv.org/abs/2505.12345)",
        "## 1. 背景与目标", "## 2. 架构与方法：新在哪里", "## 3. 训练与构建方案",
        "## 4. 评测：论文的数字与基线", "## 5. 讨论：消融、权衡与局限", "## 6. 总结与未来方向",
    )]
    assert positions == sorted(positions)
    assert "- **TinyMoE** 在 **GSM8K** 上达到 71.4%" in text
    # the whole text went to the model in one call, references left out
    (request,) = [r for r in server.chat_requests if not r.body.get("continue_final_message")]
    assert FACTS["6 Conclusion"] in request.last_user and "99.9%" not in request.last_user
    assert store.fulltext(paper_in_store)  # the PDF's text is kept for next time


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
    assert PLANTED not in dd.to_markdown(dive)


def test_an_invented_number_that_stays_is_published_flagged_with_the_reason(store, paper_in_store, server, tmp_path):
    server.responder = Script(plant="always")
    dive = run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"))
    assert dive.status == "flagged" and any(PLANTED in r for r in dive.reasons)
    text = dd.to_markdown(dive)
    assert "> ⚠️ 忠实性检查未通过" in text and f"{PLANTED}" in text.split("## 1.")[0]
    assert dd.to_html(dive).count("note-flagged") == 1


def test_a_paper_longer_than_the_context_is_read_section_by_section(store, paper_in_store, server, tmp_path):
    pdf = make_pdf(tmp_path / "long.pdf", filler_paragraphs=4)
    server.responder = Script(plant="once")  # the re-ask must fit the context too
    context = 4000
    dive = run_deepdive(store, server, tmp_path, pdf, context_tokens=context, output_tokens=1200, notes_tokens=1500)
    assert dive.mode == "sections" and dive.status == "ok" and dive.reasked
    notes = [r for r in server.chat_requests if not r.body.get("continue_final_message")
             and "notes" in r.body["response_format"]["json_schema"]["schema"]["properties"]]
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
    short = {**article(False), **{k: ["**TinyMoE** 在 GSM8K 上达到 71.4%。", "模型使用 8 个专家。"] for k in dd.SECTION_KEYS}}
    server.responder = lambda body: short
    dive = run_deepdive(store, server, tmp_path, make_pdf(tmp_path / "p.pdf"))
    assert dive.length_ok is False and "outside 1500–4000" in dive.warnings[0]


def test_cli_writes_the_deepdive(store, paper_in_store, server, tmp_path, monkeypatch):
    for name, value in (("DB", store.path), ("LLM_BACKEND", "openai"), ("LLM_BASE_URL", server.base_url),
                        ("LLM_MODEL", "scripted-qwen3"), ("LLM_API_KEY", "test")):
        monkeypatch.setenv(f"PAPERSIFT_{name}", str(value))
    pdf = make_pdf(tmp_path / "p.pdf")
    runner = CliRunner()
    out = tmp_path / "dive.html"
    args = ["deepdive", "2505.12345", "--pdf", str(pdf), "--thinking-budget", "16", "-f", "html", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "<h2>4. 评测：论文的数字与基线</h2>" in html and "<strong>TinyMoE</strong>" in html
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
    assert "<h2>4. 评测：论文的数字与基线</h2>" in page and f'href="../papers/{paper_in_store}.html"' in page
    assert (site / "deepdives" / f"{paper_in_store}.md").read_text(encoding="utf-8").startswith(f"# {dive.headline}")
    assert f'href="../deepdives/{paper_in_store}.html"' in (site / "papers" / f"{paper_in_store}.html").read_text(encoding="utf-8")
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
            store.upsert(Paper(source="arxiv", source_id="2505.12345", arxiv_id="2505.12345", title="TinyMoE",
                               abstract=FACTS["Abstract"], url_pdf=f"http://127.0.0.1:{files.server_port}/paper.pdf"))
            dive = run_deepdive(store, server, tmp_path, None)
        finally:
            files.shutdown()
    assert dive.status == "ok" and FACTS["3 Training Recipe"] in store.fulltext(dive.paper_id)
