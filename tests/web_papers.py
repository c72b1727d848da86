"""A small store of papers the web tests share: stable names, facets, one card ok and one flagged,
and a paper whose text and link are hostile."""

from __future__ import annotations

from datetime import date

from papersift.models import Card, Enrichment, Paper, Reading, Topic
from papersift.store import Store

AREA = "foundation-models"
XSS_TITLE = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">Evil title'


def reading(text: str) -> Reading:
    return Reading(motivation=text, problem=text, observation=text, method=text, experiments=text, contribution=text)


def card(title: str, digest: str, keywords: list[str]) -> Card:
    return Card(title=title, tldr=digest[:60], reading=reading(digest[:80]), keywords=keywords, digest=digest)


def fill(store: Store) -> dict[str, str]:
    """Papers under stable names -> their ids."""
    papers = {
        "sparse": Paper(
            source="arxiv",
            source_id="2505.00001",
            arxiv_id="2505.00001",
            title="Sparse attention for long-context reasoning",
            abstract="We propose a sparse attention kernel that cuts the cost of long-context reasoning by 3x on LongBench.",
            authors=["Ada Lovelace", "Alan Turing"],
            keywords=["sparse attention", "long context"],
            published=date(2025, 5, 2),
            url_abs="https://arxiv.org/abs/2505.00001",
            topic=Topic(area=AREA, subarea="reasoning-cot"),
        ),
        "agents": Paper(
            source="openreview",
            source_id="or-agents",
            openreview_id="or-agents",
            title="Tool-using agents that plan with memory",
            abstract="Agents that call tools and keep an episodic memory solve 41% more WebArena tasks.",
            authors=["Grace Hopper"],
            keywords=["agents", "tool use"],
            venue="ICLR 2025",
            published=date(2025, 5, 2),
            url_abs="https://openreview.net/forum?id=or-agents",
            topic=Topic(area=AREA, subarea="agents-tools"),
        ),
        "quant": Paper(
            source="arxiv",
            source_id="2504.00002",
            arxiv_id="2504.00002",
            title="Two-bit quantization of large language models",
            abstract="Quantization to two bits keeps 95% of accuracy of a 7B model.",
            authors=["Claude Shannon"],
            keywords=["quantization"],
            published=date(2025, 4, 15),
            url_abs="https://arxiv.org/abs/2504.00002",
            topic=Topic(area=AREA, subarea="efficiency-compression"),
        ),
        "evil": Paper(
            source="rss",
            source_id="evil",
            title=XSS_TITLE,
            abstract='An abstract with <b>markup</b> and "quotes" & ampersands.',
            keywords=["<i>kw</i>"],
            published=date(2025, 4, 20),
            url_abs="javascript:window.__xss = 3",
            topic=Topic(area=AREA, subarea="agents-tools"),
        ),
    }
    for i in range(8):
        papers[f"filler{i}"] = Paper(
            source="hf",
            source_id=f"hf-{i}",
            title=f"Diffusion model study number {i}",
            abstract=f"A study of diffusion models for video generation, part {i}.",
            keywords=["diffusion"],
            published=date(2025, 3, 1 + i),
            topic=Topic(area=AREA, subarea="multimodal-foundation"),
        )
    ids = {name: store.upsert(paper)[0] for name, paper in papers.items()}
    store.save_enrichment(
        Enrichment(
            paper_id=ids["sparse"],
            lang="zh",
            status="ok",
            tldr_generated=True,
            card=card(
                "面向长上下文推理的稀疏注意力",
                "我们提出一种稀疏注意力内核，在 LongBench 上将长上下文推理的成本降低 3 倍。",
                ["稀疏注意力", "长上下文"],
            ),
        )
    )
    store.save_enrichment(
        Enrichment(
            paper_id=ids["agents"],
            lang="zh",
            status="flagged",
            reasons=["number 42% not in the abstract"],
            tldr_generated=True,
            card=card(
                "会规划、有记忆的工具智能体",
                "调用工具并保留情景记忆的智能体多完成 41% 的 WebArena 任务。",
                ["智能体", "工具使用"],
            ),
        )
    )
    return ids
