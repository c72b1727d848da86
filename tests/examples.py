"""Example papers and cards the tests share: a real abstract and a card a careful reader would accept."""

from __future__ import annotations

from datetime import date

from papersift.models import Card, Paper, Reading

THINKLESS = Paper(
    source="arxiv",
    source_id="2505.13379",
    arxiv_id="2505.13379",
    title="Thinkless: LLM Learns When to Think",
    published=date(2025, 5, 19),
    url_abs="https://arxiv.org/abs/2505.13379",
    abstract=(
        "Reasoning Language Models, capable of extended chain-of-thought reasoning, have demonstrated "
        "remarkable performance on tasks requiring complex logical inference. However, applying elaborate "
        "reasoning for all queries often results in substantial computational inefficiencies, particularly "
        "when many problems admit straightforward solutions. We propose Thinkless, a learnable framework "
        "that empowers an LLM to adaptively select between short-form and long-form reasoning, based on "
        "both task complexity and the model's ability. Thinkless is trained under a reinforcement learning "
        "paradigm and employs two control tokens. Central to our approach is a Decoupled Group Relative "
        "Policy Optimization (DeGRPO) algorithm. On several benchmarks such as Minerva Algebra, MATH-500, "
        "and GSM8K, Thinkless is able to reduce the usage of long-chain thinking by 50% - 90%."
    ),
)

GOOD = Card(
    title="Thinkless：大语言模型学习何时思考",
    tldr="Thinkless 让大语言模型根据任务难度在简短回答与长链推理之间自适应选择，长链推理使用减少 50%-90%。",
    reading=Reading(
        motivation="推理模型对所有问题都进行冗长的思维链推理，在大量简单问题上造成了可观的计算浪费。",
        problem="如何让模型依据任务复杂度与自身能力，自主决定何时需要长链思考、何时直接简短作答。",
        observation="许多问题本身存在直接的解法，统一采用精细推理并不会带来收益，反而拖慢响应速度。",
        method="提出可学习框架 Thinkless，用两个控制标记区分长短推理，并以解耦的组相对策略优化算法训练。",
        experiments="在 Minerva Algebra、MATH-500 与 GSM8K 等基准上，长链推理的使用比例下降了 50% 至 90%。",
        contribution="首次以强化学习让模型学会按需切换推理模式，在保持准确率的同时显著提升推理效率。",
    ),
    keywords=["Thinkless", "DeGRPO", "adaptive reasoning"],
    digest=(
        "推理语言模型能够进行长链的思维链推理，在需要复杂逻辑推断的任务上表现出色。然而，对所有查询都进行精细推理会造成大量的"
        "计算浪费，尤其是许多问题本身存在直接的解法。本文提出 Thinkless，这是一个可学习的框架，使大语言模型能够依据任务复杂度"
        "和模型自身能力，在简短推理与长链推理之间自适应地选择。Thinkless 在强化学习范式下训练，使用两个控制标记：<short> 表示"
        "简洁回答，<think> 表示详细推理。方法的核心是解耦组相对策略优化（Decoupled Group Relative Policy Optimization, "
        "DeGRPO）算法，它把混合推理的学习目标分解为两部分：控制标记损失负责选择推理模式，回答损失负责提高答案的准确性。这种解耦"
        "的设计能够分别控制两部分的贡献，稳定训练过程，并有效避免原始 GRPO 中出现的模式坍塌问题。在 Minerva Algebra、"
        "MATH-500 和 GSM8K 等多个基准上，Thinkless 能够将长链思考的使用减少 50% 至 90%，显著提升了推理语言模型的效率。"
    ),
)
