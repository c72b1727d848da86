"""The faithfulness guard: numbers and names in an LLM's output must be grounded in the source.

Numbers compare as values, so unit conversions pass (235 billion = 2350亿) and unit slips do not
(235 亿 is 23.5 billion). Names compare ignoring case and hyphen/space/dot variants.
"""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from papersift.checks import numbers
from papersift.checks.guard import GuardResult, SourceIndex, check, check_card
from papersift.models import Card, Reading

QWEN3 = (
    "We present Qwen3, a family of dense and Mixture-of-Experts models ranging from 0.6 to 235 billion "
    "parameters, evaluated on AIME and LiveCodeBench."
)


def values(text: str, role: str = "claim") -> list[set[float]]:
    return [q.values for q in numbers.quantities(text, role) if not q.exempt]


# --- the real case from the small model ---------------------------------------------------------------


def test_235_yi_for_235_billion_is_flagged():
    result = check("Qwen3 的参数规模从 0.6 到 235 亿。", QWEN3)
    assert not result.ok
    flagged = {v.value for v in result.violations}
    assert "235 亿" in flagged
    assert all(v.kind == "number" for v in result.violations)
    assert "23,500,000,000" in result.message  # the message says what the model's words mean


def test_the_right_conversion_passes():
    assert check("Qwen3 的参数规模从 6亿到2350亿。", QWEN3).ok
    assert check("Qwen3 ranges from 0.6 to 235 billion parameters.", QWEN3).ok


def test_a_range_bound_without_unit_takes_the_upper_bounds_unit_in_a_claim():
    # 0.6到2350亿 reads as 0.6亿 (60 million) to 2350亿: the lower bound is wrong.
    result = check("参数规模为 0.6 到 2350 亿", QWEN3)
    assert [v.value for v in result.violations] == ["0.6"]


# --- unit conversions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("a benchmark of 1.01M questions", "包含101万个问题"),
        ("trained on 900B tokens", "在9000亿token上训练"),
        ("a 0.6 billion parameter model", "6亿参数的模型"),
        ("across eleven datasets", "在11个数据集上"),
        ("reaches 53% on AIME", "在 AIME 上达到 53 %"),
        ("an accuracy of 0.53", "准确率为53%"),
        ("reaches 53% on AIME", "准确率为 0.53"),
        ("a 2x speedup", "提速2倍"),
        ("a two-fold speedup", "提速2倍"),
        ("a 2.8$\\times$ decoding speedup", "解码速度提升 2.8 倍"),
        ("with 96.6\\% success", "成功率为96.6%"),
        ("1.3K+ hours of data", "超过1300小时的数据"),
        ("1,650 regression and classification targets", "1650个目标"),
        ("models from 17 million to 1 billion parameters", "参数从1700万到10亿"),
        ("improves win rate by 2 to 4 points", "胜率提升2至4个百分点"),
        ("a gap of 10-20% in accuracy", "准确率差距为10%至20%"),
        ("by 15.3 percentage points", "提升15.3个百分点"),
        ("fifty percent of the data", "百分之五十的数据"),
        ("over 60k annotations", "超过6万条标注"),
    ],
)
def test_equivalent_forms_are_accepted(source, output):
    result = check(output, source)
    assert result.ok, result.reasons


@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("a benchmark of 1.01M questions", "包含1.01万个问题"),
        ("trained on 900B tokens", "在900亿token上训练"),
        ("reaches 53% on AIME", "在 AIME 上达到 35%"),
        ("gaining 0.2 higher SRR", "SRR 提高 20 个百分点"),  # percentage points are no fraction
        ("reaches 53 on the benchmark", "准确率为0.53"),  # only a percentage may be written as a fraction
        ("a 2x speedup", "提速3倍"),
        ("across eleven datasets", "在12个数据集上"),
        ("accuracy rises from 71.2 to 76.8", "准确率提升5.6个点"),  # derived: the reader cannot check it
    ],
)
def test_wrong_numbers_are_flagged(source, output):
    result = check(output, source)
    assert [v.kind for v in result.violations] == ["number"]


def test_an_approximate_claim_may_round_the_source():
    source = "a 2.8x speedup with 49.7% accuracy and 96.6% agreement"
    assert check("提速约3倍,准确率近50%", source).ok
    assert not check("提速3倍", source).ok  # unmarked, a rounding is a different number
    assert not check("一致率约96.8%", source).ok  # 96.8 is no rounding of 96.6


def test_more_than_may_only_round_down():
    source = "loss falls 4.3x while decoding is 2.8x faster"
    assert check("损失降低超过4倍", source).ok
    assert not check("解码提速超过3倍", source).ok


def test_groups_of_a_thousands_separated_number_are_no_numbers_of_their_own():
    assert check("使用1050个样本", "with 1,050 examples").ok
    assert not check("使用50个样本", "with 1,050 examples").ok


def test_a_year_may_be_written_short():
    assert check("在 AIME 2024 上得分 85.7", "scores 85.7 on AIME'24").ok


def test_chinese_and_english_number_words_are_read():
    assert values("在十一个数据集上,一百个样本", "claim") == [{11.0}, {100.0}]
    assert values("eleven datasets and twenty-five tasks", "claim") == [{11.0}, {25.0}]
    assert check("在十一个数据集上", "across eleven datasets").ok
    assert not check("在十二个数据集上", "across eleven datasets").ok


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("十", 10),
        ("十一", 11),
        ("二十", 20),
        ("三十五", 35),
        ("一百", 100),
        ("两千三百", 2300),
        ("一万二千", 12000),
        ("十亿", 10**9),
        ("三千万", 3 * 10**7),
        ("两亿五千万", 250_000_000),
        ("两万亿", 2 * 10**12),
        ("一千零五", 1005),
    ],
)
def test_chinese_numerals(numeral, value):
    assert numbers.parse_chinese_numeral(numeral) == value


DIGITS_ZH = "零一二三四五六七八九"


def chinese(n: int) -> str:
    """n written in Chinese numerals, the way a careful writer does (一千零五, 三亿零二十万)."""

    def section(k: int) -> str:
        out, gap = "", False
        for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
            digit = k // value % 10
            if digit:
                out += ("零" if gap and out else "") + DIGITS_ZH[digit] + unit
                gap = False
            else:
                gap = True
        return out

    parts, gap = "", False
    for value, unit in ((10**8, "亿"), (10**4, "万"), (1, "")):
        k = n // value % 10**4 if value < 10**8 else n // value
        if k:
            parts += ("零" if parts and (gap or k < 1000) else "") + section(k) + unit
            gap = False
        else:
            gap = True
    return parts


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=10**12 - 1))
def test_chinese_numerals_read_back_as_written(n):
    assert numbers.parse_chinese_numeral(chinese(n)) == n


def test_runs_that_are_no_single_number():
    assert numbers.parse_chinese_numeral("三四") is None  # "three or four"


def test_numeral_characters_inside_ordinary_words_are_no_numbers():
    # 统一 (unify), 十分 (very), 三维 (3-D), 万一 (in case), 千万 (by all means)
    assert values("统一框架十分重要,三维场景,万一失败,千万注意") == []


# --- exemptions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("提出三个方法:1. SpecKV;2. SpecPC", "ordinal"),
        ("(1) 数据;(2) 模型", "ordinal"),
        ("贡献有三:1. 数据 2. 模型", "ordinal"),
        ("在第3节中", "ordinal"),
        ("采用两阶段训练", "small-word"),
        ("一种新方法", "small-word"),
        ("数十亿参数", "vague"),
        ("成本降至原来的 1/14.5", "reciprocal"),
        ("在MTIL、X-TAIL、VLCL和ConStruct-VL四个基准上", "enumerated"),
    ],
)
def test_exempt_numbers_say_why(output, reason):
    exempt = [q.exempt for q in numbers.quantities(output, "claim") if q.exempt]
    assert reason in exempt
    assert reason in numbers.EXEMPTIONS


def test_a_count_must_match_the_list_it_counts():
    source = "Across MTIL, X-TAIL, VLCL, and ConStruct-VL, the method is best."
    assert not check("在MTIL、X-TAIL、VLCL和ConStruct-VL五个基准上", source).ok
    assert not check("准确率和效率提升2倍", source).ok  # a factor, not a count of the two things before it


def test_a_number_ending_an_english_sentence_is_no_list_marker():
    assert not check("Accuracy improves by 5. Then it drops.", "Accuracy improves by 4.").ok


def test_exempt_numbers_raise_no_alarm():
    source = "We propose SpecKV and SpecPC, reducing the cost by 14.5x."
    assert check("提出两种方法:1. SpecKV;2. SpecPC。成本降至原来的 1/14.5,适用于3D场景。", source).ok


def test_numbers_inside_names_belong_to_the_name_check():
    source = "We fine-tune Qwen2.5-14B and Llama-3-8B on GSM8K and HH-RLHF."
    assert values("微调 Qwen2.5-14B 与 Llama-3-8B,在 GSM8K 上评测") == []
    assert check("微调 Qwen2.5-14B 与 Llama-3-8B,在 GSM8K 和 HH-RLHF 上评测", source).ok
    wrong = check("微调 Qwen2.5-7B,在 GSM8K 上评测", source)
    assert [(v.kind, v.value) for v in wrong.violations] == [("name", "Qwen2.5-7B")]


def test_a_size_taken_out_of_a_name_is_grounded():
    source = "It surpasses Qwen-2.5-Math-PRM-72B with only 8B parameters, using the FP8 format."
    assert check("仅用8B参数即超越72B的PRM模型,采用8位浮点格式", source).ok


# --- LaTeX ------------------------------------------------------------------------------------------


def test_latex_in_the_source_raises_no_false_alarm():
    source = (
        "Attention costs $O(n^2)$; our method is $\\mathcal{O}(n \\log n)$, with a 2.8$\\times$ speedup, "
        "96.6\\% accuracy and $\\approx 0.6$B parameters; see $\\texttt{Sonata}$ and $\\delta_{\\mathrm{TCB}}$."
    )
    output = "将注意力的 O(n²) 复杂度降为 O(n log n),提速2.8倍,准确率96.6%,约6亿参数;提出 Sonata 与 δ_TCB 指标。"
    assert check(output, source).ok, check(output, source).reasons
    assert check("复杂度为 $O(n^2)$,参见 $\\texttt{Sonata}$", source).ok


def test_latex_whose_backslash_json_ate_is_still_understood():
    source = "we introduce $\\texttt{Sonata}$ and a $\\mathrm{AnsF1}$ reward"
    # "\t" in JSON is a tab: "\texttt" arrives as a tab and "exttt"; sometimes the backslash is just gone.
    assert check("提出了$\texttt{Sonata}$与 $mathrm{AnsF1}$ 奖励", source).ok


# --- names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("experiments with Llama-3 and Qwen2-7B", "在 Llama 3 和 Qwen2 7B 上实验"),
        ("experiments with LLaMA-2", "在 Llama2 上实验"),
        (
            "on HH-RLHF, Summarize-from-Feedback and UltraFeedback",
            "在HH-RLHF、Summarize-from-Feedback和UltraFeedback上",
        ),
        ("evaluated on MMLU and HumanEval with BLEU", "在MMLU和HumanEval上以BLEU评测"),
        ("large vision-language models (LVLMs)", "大型视觉语言模型(LVLM)"),
        ("a Nyström approximation", "引入 Nyström 近似"),
        ("compared with Mistral and Claude", "与 Mistral 和 Claude 比较"),
    ],
)
def test_name_variants_are_grounded(source, output):
    result = check(output, source)
    assert result.ok, result.reasons


@pytest.mark.parametrize(
    ("source", "output", "name"),
    [
        ("we compare against GPT-4o", "与 GPT-4 比较", "GPT-4"),  # GPT-4 is not GPT-4o
        ("better math reasoning", "在 MATH 基准上", "MATH"),  # the benchmark is not the word
        ("compared with Claude", "与 Mistral 比较", "Mistral"),
        ("on GSM8K", "在 GSM8K 和 MMLU 上", "MMLU"),
    ],
)
def test_names_missing_from_the_source_are_flagged(source, output, name):
    result = check(output, source)
    assert [(v.kind, v.value) for v in result.violations] == [("name", name)]


def test_acronyms_of_phrases_in_the_source_are_grounded():
    source = (
        "We formalize this with the Support Retention Ratio and use reinforcement learning from human "
        "feedback with Low-Rank Adaptation, tracking Kullback–Leibler divergence."
    )
    assert check("定义支持保留比(SRR),结合 RLHF 与 LoRA,跟踪 KL 散度", source).ok
    source_of_support = SourceIndex(source)
    assert source_of_support.expands("SRR")
    assert not source_of_support.expands("SRX")


def test_an_acronym_is_not_spelt_by_chance_from_ordinary_words():
    source = SourceIndex("Although any individual model existing today is weak, the ensemble is strong.")
    assert not source.expands("AIME")


def test_generic_field_vocabulary_needs_no_grounding():
    assert check("大型语言模型(LLMs)在 SOTA 的 Transformer 中使用 KV 缓存与 CoT", "Language models are good.").ok


def test_a_link_must_be_in_the_source():
    source = "Code is available at https://github.com/org/project."
    assert check("代码见 https://github.com/org/project", source).ok
    result = check("代码见 https://github.com/other/project", source)
    assert [(v.kind, v.value) for v in result.violations] == [("name", "https://github.com/other/project")]


def test_english_prose_only_checks_names_mid_sentence():
    source = "We propose CaPPO, which improves over PPO."
    assert check("Improving alignment. The method, CaPPO, beats PPO.", source).ok
    assert not check("The method beats PPO and Vicuna.", source).ok
    assert check("Contraction-Aware Policy Optimization Beats PPO", source).ok  # title case: capitals mean nothing


# --- cards and results --------------------------------------------------------------------------------


def card(**changes) -> Card:
    fields = dict(
        title="策略收缩感知的PPO",
        tldr="CaPPO在HH-RLHF上将胜率提升2至4个百分点。",
        reading=Reading(
            motivation="RLHF常导致输出多样性降低。",
            problem="缓解PPO中的策略收缩。",
            observation="支持保留比(SRR)揭示了收缩。",
            method="提出CaPPO,联合优化奖励、熵与KL。",
            experiments="在HH-RLHF和UltraFeedback上,使用Qwen2-7B,胜率提升2至4个百分点。",
            contribution="提出兼顾多样性与性能的新方法。",
        ),
        keywords=["Policy Contraction", "Proximal Policy Optimization", "RLHF"],
        digest="基于人类反馈的强化学习(RLHF)使用PPO时……CaPPO将胜率提升2至4个百分点,SRR提高0.2至0.3。",
    )
    fields.update(changes)
    return Card(**fields)


SOURCE = (
    "Reinforcement learning from human feedback (RLHF) with proximal policy optimization (PPO) yields less "
    "diverse outputs, a policy contraction. We formalize it with the Support Retention Ratio (SRR). We propose "
    "Contraction-Aware PPO (CaPPO). On HH-RLHF and UltraFeedback with Qwen2-7B, CaPPO increases win rate by "
    "2 to 4 points over PPO, gaining 0.2 to 0.3 higher SRR."
)


def test_a_faithful_card_passes():
    result = check_card(card(), SOURCE)
    assert result.ok, result.reasons
    assert result.message == ""


def test_every_field_of_a_card_is_checked_and_named():
    bad = card(title="在MMLU上的CaPPO", digest="胜率提升5个百分点。", keywords=["Llama-3-8B"])
    result = check_card(bad, SOURCE)
    assert {(v.field, v.kind, v.value) for v in result.violations} == {
        ("title", "name", "MMLU"),
        ("digest", "number", "5个百分点"),
        ("keywords", "name", "Llama-3-8B"),
    }
    assert not result.ok
    assert "MMLU" in result.message and "digest" in result.message
    assert len(result.reasons) == 3


def test_a_card_may_be_a_dict_of_fields():
    data = card().model_dump()
    data["reading"]["experiments"] = "使用 Qwen2.5-72B 评测"
    result = check_card(data, SOURCE)
    assert [(v.field, v.value) for v in result.violations] == [("experiments", "Qwen2.5-72B")]


def test_a_result_round_trips_as_json():
    result = check("在 MMLU 上", SOURCE)
    again = GuardResult.model_validate_json(result.model_dump_json())
    assert again.violations == result.violations and not again.ok


# --- properties -----------------------------------------------------------------------------------------

MULTIPLIERS = [
    ("k", "thousand", Decimal(10) ** 3),
    ("M", "million", Decimal(10) ** 6),
    ("B", "billion", Decimal(10) ** 9),
]
CHINESE = [("万", Decimal(10) ** 4), ("亿", Decimal(10) ** 8)]


def plain(d: Decimal) -> str:
    text = format(d.normalize(), "f")
    return text


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=99_999), st.integers(min_value=0, max_value=2), st.sampled_from(range(3)))
def test_one_value_in_many_unit_forms_normalises_to_one_value(mantissa, decimals, which):
    letter, word, scale = MULTIPLIERS[which]
    number = Decimal(mantissa) / (Decimal(10) ** decimals)
    total = number * scale
    forms = [f"{plain(number)}{letter}", f"{plain(number)} {word}"]
    forms += [f"{plain(total / unit)}{cn}" for cn, unit in CHINESE if (total / unit) >= Decimal("0.01")]
    if total == int(total) and total < 10**7:
        forms.append(f"{int(total):,}")
    readings = [numbers.quantities(form, "claim") for form in forms]
    assert all(len(r) == 1 for r in readings), forms
    assert len({frozenset(r[0].values) for r in readings}) == 1, forms
    source = f"trained on {plain(number)} {word} tokens"
    for form in forms:
        assert check(f"在{form}个token上训练", source).ok, form


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.text(max_size=200))
def test_any_text_is_checked_without_crashing(output, source):
    result = check(output, source)
    assert result.ok == (not result.violations)
    for role in ("claim", "source"):
        numbers.quantities(output, role)


TEXTISH = st.text(
    alphabet=st.sampled_from(list("0123456789.,%-x×万亿千百十一二两三五 abcMBKkT GPT Qwen 个倍到至和 $\\{}()")),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(TEXTISH)
def test_a_text_is_grounded_in_itself(text):
    result = check(text, text)
    assert result.ok, (text, result.reasons)
