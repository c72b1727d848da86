"""The small fixed store the publication tests (and the browser checks of the published pages)
share: hand-written cards for an enriched paper, plus one whose enrichment failed, one flagged by
the guard, one never enriched, one with LaTeX, a titleless one, and one whose title, abstract and
link try to inject HTML and script."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from papersift.models import Card, Enrichment, Paper, Reading, Topic
from papersift.store import Store

TODAY = datetime.now(UTC).date()
LATEX = r"We bound the gradient $\nabla f$ and reach $O(n^2)$ cost, $$\sum_i x_i = 1.$$"
XSS_TITLE = "<script>window.__xss = 'title'</script>Evil <b>bold</b> paper"
XSS_ABSTRACT = (
    "Look <img src=x onerror=\"window.__xss = 'img'\"> and <a href=\"javascript:window.__xss='a'\">click</a>."
)


def reading(tag: str) -> Reading:
    return Reading(
        motivation=f"{tag}的动机",
        problem=f"{tag}的问题",
        observation=f"{tag}的现象",
        method=f"{tag}的方法",
        experiments=f"{tag}的实验",
        contribution=f"{tag}的贡献",
    )


def card(tag: str, title: str | None = None, **extra) -> Card:
    return Card(
        title=title or f"{tag}的中文标题",
        tldr=f"{tag}一句话总结",
        reading=reading(tag),
        keywords=[f"{tag}关键词"],
        digest=f"{tag}的速递段落，含 42% 的提升。",
        **extra,
    )


PAPERS = {
    # key: (paper, enrichment status or None, card title)
    "ok": Paper(
        source="arxiv",
        source_id="2505.00001",
        arxiv_id="2505.00001",
        title="Scaling Reasoning Models",
        abstract="We scale reasoning to 42% better accuracy.",
        keywords=["reasoning", "scaling"],
        tldr="Author TL;DR: reasoning scales.",
        published=date(2025, 5, 20),
        url_abs="https://arxiv.org/abs/2505.00001",
        topic=Topic(area="foundation-models", subarea="reasoning-cot"),
        extra={"score": 3},
    ),
    "failed": Paper(
        source="arxiv",
        source_id="2505.00002",
        arxiv_id="2505.00002",
        title="A Paper Whose Reading Failed",
        abstract="The original abstract of the failed paper.",
        published=date(2025, 5, 20),
        url_abs="https://arxiv.org/abs/2505.00002",
        topic=Topic(area="foundation-models", subarea="reasoning-cot"),
        extra={"score": 9},
    ),
    "flagged": Paper(
        source="arxiv",
        source_id="2505.00003",
        arxiv_id="2505.00003",
        title="A Flagged Paper",
        abstract="The original abstract of the flagged paper, 12% gain.",
        published=date(2025, 5, 21),
        url_abs="https://arxiv.org/abs/2505.00003",
        topic=Topic(area="foundation-models", subarea="agents-tools"),
    ),
    "pending": Paper(
        source="file",
        title="A Paper Not Enriched Yet",
        abstract="The original abstract of the pending paper.",
        keywords=["pending"],
        topic=Topic(area="基础/前沿模型 (含LLM)", subarea="reasoning-cot"),
    ),
    "latex": Paper(
        source="arxiv",
        source_id="2505.00005",
        arxiv_id="2505.00005",
        title="Gradients in $O(n^2)$",
        abstract=LATEX,
        published=date(2025, 5, 21),
        url_abs="https://arxiv.org/abs/2505.00005",
        topic=Topic(area="foundation-models", subarea="efficiency-compression"),
    ),
    "titleless": Paper(
        source="file",
        abstract="An abstract with no title at all, about agents that use tools.",
        published=date(2025, 5, 21),
        topic=Topic(area="foundation-models", subarea="agents-tools"),
    ),
    "xss": Paper(
        source="file",
        source_id="evil",
        title=XSS_TITLE,
        abstract=XSS_ABSTRACT,
        keywords=["<b>kw</b>"],
        published=date(2025, 5, 21),
        url_abs="javascript:window.__xss='link'",
        topic=Topic(area="foundation-models", subarea="reasoning-cot"),
    ),
}
STATUS = {"ok": "ok", "failed": "failed", "flagged": "flagged", "latex": "ok", "titleless": "ok", "xss": "ok"}


def build_store(path: Path) -> tuple[Store, dict[str, str]]:
    store = Store(path)
    ids = {}
    for key, paper in PAPERS.items():
        ids[key] = store.upsert(paper)[0]
    for key, status in STATUS.items():
        if status == "failed":
            enrichment = Enrichment(paper_id=ids[key], lang="zh", status="failed", reasons=["the server timed out"])
        else:
            title = "<script>window.__xss='zh'</script>坏标题" if key == "xss" else None
            enrichment = Enrichment(
                paper_id=ids[key],
                lang="zh",
                status=status,
                card=card(key, title),
                reasons=["number 99% not in the abstract"] if status == "flagged" else [],
                tldr_generated=key != "ok",
                keywords_generated=True,
            )
        store.save_enrichment(enrichment)
    return store, ids
