"""`papersift eval readings`: the guard's false alarms on reference readings and its catches of planted errors."""

import json

from conftest import shared_file
from typer.testing import CliRunner

from papersift.cli import app
from papersift.models import Card, Enrichment, Paper, Reading
from papersift.store import Store

runner = CliRunner()

RECORDS = [
    {
        "id": "qwen3",
        "abstract": "We present Qwen3, a family of dense and Mixture-of-Experts (MoE) models ranging from 0.6 to 235 "
        "billion parameters. Trained on 36 trillion tokens in 119 languages, Qwen3-235B-A22B reaches 85.7 "
        "on AIME'24 and 70.7 on LiveCodeBench, rivalling DeepSeek-R1 and o3-mini.",
        "summary_zh": {
            "motivation": "开源大模型需要在推理与效率之间取得平衡。",
            "problem": "构建一个兼顾思考模式与非思考模式的模型家族。",
            "observation": "统一的思考预算机制可以按任务复杂度分配计算。",
            "method": "发布Qwen3系列稠密与MoE模型,参数规模从6亿到2350亿。",
            "experiments": "在36万亿token、119种语言上训练,Qwen3-235B-A22B在AIME'24上得分85.7,在LiveCodeBench上得分70.7。",
            "contribution": "提供可与DeepSeek-R1和o3-mini竞争的开源模型。",
        },
    },
    {
        "id": "cappo",
        "abstract": "Reinforcement learning from human feedback (RLHF) with proximal policy optimization (PPO) yields less "
        "diverse outputs. We formalize this policy contraction with the Support Retention Ratio (SRR) and "
        "propose Contraction-Aware PPO (CaPPO). On HH-RLHF and UltraFeedback with Qwen2-7B and "
        "Llama-3-8B-Instruct, CaPPO increases win rate by 2 to 4 points over PPO, gaining 0.2 to 0.3 higher SRR.",
        "summary_zh": {
            "motivation": "基于人类反馈的强化学习(RLHF)常使输出多样性下降。",
            "problem": "缓解PPO优化中的策略收缩。",
            "observation": "用支持保留比(SRR)量化策略收缩。",
            "method": "提出收缩感知PPO(CaPPO),联合优化奖励、熵与KL。",
            "experiments": "在HH-RLHF和UltraFeedback上使用Qwen2-7B与Llama-3-8B-Instruct,胜率提升2至4个百分点,SRR提高0.2至0.3。",
            "contribution": "在不牺牲对齐性能的前提下缓解了策略收缩。",
        },
    },
    {
        "id": "fgbmk",
        "abstract": "We introduce FG-BMK, a fine-grained benchmark of 1.01M questions and 0.28M images, and evaluate 12 "
        "representative LVLMs, finding that contrastive training such as CLIP helps fine-grained recognition. "
        "Attention over n tokens costs $O(n^2)$; our probe runs 2.8$\\times$ faster with 96.6\\% agreement.",
        "summary_zh": {
            "motivation": "大型视觉语言模型(LVLMs)的细粒度感知能力缺乏系统评测。",
            "problem": "构建细粒度视觉评测基准。",
            "observation": "对比学习训练(如CLIP)有助于细粒度识别。",
            "method": "提出FG-BMK,注意力复杂度为O(n²),探针提速2.8倍。",
            "experiments": "FG-BMK包含101万个问题和28万张图像,评测了12个代表性LVLMs,一致率为96.6%。",
            "contribution": "提供了大规模细粒度评测基准。",
        },
    },
]

UNFAITHFUL = {
    "id": "wrong",
    "abstract": "We propose FrugalRAG, which reaches competitive accuracy on HotPotQA with only 1,000 examples.",
    "summary_zh": {
        "motivation": "多跳问答的检索成本高。",
        "problem": "减少检索步数。",
        "observation": "多数问题无需完整检索。",
        "method": "提出FrugalRAG。",
        "experiments": "仅用10000个样本即在HotPotQA和MMLU上取得有竞争力的结果。",
        "contribution": "降低了检索成本。",
    },
}


def write(tmp_path, records, name="reference.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def evaluate(path, *extra):
    result = run("eval", "readings", "--reference", path, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_faithful_readings_raise_no_alarm_and_every_planted_error_is_caught(tmp_path):
    report = evaluate(write(tmp_path, RECORDS))
    assert {
        "n",
        "flagged",
        "false_alarm_rate",
        "planted",
        "planted_caught",
        "catch_rate",
        "by_kind",
        "length",
    } <= report.keys()
    assert report["n"] == 3
    assert report["flagged"] == 0 and report["false_alarm_rate"] == 0
    # one changed number and one swapped name per reading, and a changed size in a name where one has
    # a size (Qwen3-235B-A22B, Qwen2-7B; FG-BMK and CLIP have none)
    planted = {kind: row["planted"] for kind, row in report["by_kind"].items()}
    assert planted == {"number": 3, "name": 3, "name_variant": 2}
    assert report["planted_caught"] == report["planted"] == 8
    assert report["catch_rate"] == 1


def test_an_unfaithful_reading_is_flagged_and_listed(tmp_path):
    report = evaluate(write(tmp_path, [*RECORDS, UNFAITHFUL]), "--details")
    assert report["flagged"] == 1
    assert report["false_alarm_rate"] == 0.25
    [flagged] = report["flagged_readings"]
    assert flagged["id"] == "wrong"
    assert {tuple(v) for v in flagged["violations"]} == {
        ("number", "experiments", "10000"),
        ("name", "experiments", "MMLU"),
    }


def test_lengths_are_the_reference_fields_in_characters(tmp_path):
    report = evaluate(write(tmp_path, RECORDS))
    fields = [len(text) for record in RECORDS for text in record["summary_zh"].values()]
    assert report["length"]["mean_chars_per_field"] == round(sum(fields) / len(fields), 1)
    assert report["length"]["mean_reading_chars"] == round(sum(fields) / len(RECORDS), 1)
    assert "generated" not in report["length"]  # the default store does not exist


def test_stored_readings_of_the_same_papers_are_measured_too(tmp_path):
    db = tmp_path / "papers.db"
    with Store(db) as store:
        paper_id, _ = store.upsert(Paper(source="file", source_id="q", abstract=RECORDS[0]["abstract"]))
        reading = Reading(**{**RECORDS[0]["summary_zh"], "method": "发布Qwen3系列,参数规模从 0.6 到 235 亿。"})
        card = Card(
            title="Qwen3 技术报告", tldr="Qwen3 模型家族。", reading=reading, keywords=["Qwen3"], digest="Qwen3。"
        )
        store.save_enrichment(Enrichment(paper_id=paper_id, lang="zh", status="ok", card=card))
    result = run("--db", db, "eval", "readings", "--reference", write(tmp_path, RECORDS), "--json")
    generated = json.loads(result.stdout)["length"]["generated"]
    assert generated["n"] == 1
    assert generated["flagged"] == 1  # 235 亿 is not 235 billion
    assert generated["mean_reading_chars"] == sum(len(t) for t in reading.model_dump().values())


def test_planting_is_deterministic_for_a_seed(tmp_path):
    path = write(tmp_path, RECORDS)
    first = evaluate(path, "--seed", "7", "--details")
    assert evaluate(path, "--seed", "7", "--details") == first
    assert first["seed"] == 7


def test_limit_takes_the_first_records(tmp_path):
    assert evaluate(write(tmp_path, RECORDS), "--limit", "2")["n"] == 2


def test_the_text_report_gives_the_rates(tmp_path):
    result = run("eval", "readings", "--reference", write(tmp_path, [*RECORDS, UNFAITHFUL]))
    assert result.exit_code == 0
    assert "false-alarm rate 25.00%" in result.stdout
    assert "catch rate" in result.stdout


def test_without_a_reference_it_says_what_it_needs():
    result = run("eval", "readings")
    assert result.exit_code == 2
    assert "--reference" in result.output and "summary_zh" in result.output


def test_a_bad_record_is_named_by_file_line_and_field(tmp_path):
    broken = dict(RECORDS[1])
    broken["summary_zh"] = {k: v for k, v in broken["summary_zh"].items() if k != "method"}
    path = write(tmp_path, [RECORDS[0], broken])
    result = run("eval", "readings", "--reference", path)
    assert result.exit_code == 2
    assert f"{path}:2" in result.output and "summary_zh" in result.output and "method" in result.output
    path.write_text("{not json\n", encoding="utf-8")
    result = run("eval", "readings", "--reference", path)
    assert result.exit_code == 2 and f"{path}:1" in result.output


def test_a_missing_reference_file_is_a_clear_error(tmp_path):
    result = run("eval", "readings", "--reference", tmp_path / "nope.jsonl")
    assert result.exit_code == 2 and "no such file" in result.output


def test_the_goals_hold_on_the_shared_reference_readings():
    """False alarms under 2% and at least 95% of planted errors caught (see bench/RESULTS.md)."""
    report = evaluate(shared_file("data/catalog-dev.jsonl"))
    assert report["n"] > 400
    assert report["false_alarm_rate"] < 0.02, report
    assert report["catch_rate"] >= 0.95, report
    assert all(row["catch_rate"] >= 0.95 for row in report["by_kind"].values()), report["by_kind"]
