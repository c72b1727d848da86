"""Format C as data: the article a deep-dive writes, and the structure the model is asked for.

:class:`ArticleDraft` is what a writer produces (its JSON schema is the structured-output schema
of a model that composes the article; :mod:`.deepdive_grounded` lays one out by code);
:class:`DeepDive` is the article as the store keeps it and :mod:`papersift.publish.article` prints it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator


class Bullet(BaseModel):
    text: str = Field(description="one point, its key term in **bold**", max_length=400)
    sub_points: list[str] = Field(description="details under this point, one line each; may be empty", max_length=6)


class Subsection(BaseModel):
    """A numbered sub-topic of a section: prose, bullets, or both."""

    heading: str = Field(description="a heading that names this sub-topic's content, without a number", max_length=60)
    paragraphs: list[str] = Field(description="prose paragraphs, for explanations; may be empty", max_length=4)
    bullets: list[Bullet] = Field(
        description="points, for lists of components, stages or results; may be empty", max_length=8
    )

    @model_validator(mode="after")
    def _has_content(self) -> Subsection:
        if not self.paragraphs and not self.bullets:
            raise ValueError(f"sub-section {self.heading!r} has neither paragraphs nor bullets")
        return self


class Section(BaseModel):
    title: str = Field(
        description="a title naming this paper's own content (e.g. 模型架构与创新设计), without a number", max_length=40
    )
    subsections: list[Subsection] = Field(min_length=1, max_length=4)


class Closing(BaseModel):
    """The last, unnumbered section: the summary and the numbered future directions."""

    title: str = Field(description="e.g. 总结与展望", max_length=40)
    paragraphs: list[str] = Field(description="what the paper contributes, summed up", min_length=1, max_length=3)
    future_directions: list[str] = Field(
        description="the directions the paper names, one sentence each", min_length=1, max_length=6
    )


class ArticleDraft(BaseModel):
    """What the model writes; the headline, numbering and metadata are added around it."""

    short_name: str = Field(
        description="the paper's short name (model, method or system) as the paper writes it", max_length=80
    )
    angle: str = Field(description="the article's angle in a few words", max_length=60)
    lead: str = Field(description="two or three sentences: what the paper does and why it matters", max_length=600)
    sections: list[Section] = Field(
        description="background and goals; architecture or method and what is new; training or construction recipe; "
        "evaluation with the paper's numbers against its baselines; ablations, trade-offs and limits",
        min_length=4,
        max_length=6,
    )
    closing: Closing

    def text(self) -> str:
        """Everything the model wrote, for the guard and the length count."""
        texts = [self.short_name, self.angle, self.lead]
        for section in self.sections:
            texts.append(section.title)
            for sub in section.subsections:
                texts += [sub.heading, *sub.paragraphs]
                texts += [t for bullet in sub.bullets for t in (bullet.text, *bullet.sub_points)]
        texts += [self.closing.title, *self.closing.paragraphs, *self.closing.future_directions]
        return "\n".join(texts)


class ArticleSection(Section):
    number: int


class DeepDive(BaseModel):
    """A written article as the store keeps it and the renderers print it."""

    paper_id: str
    lang: str
    title: str
    source_id: str | None
    version: int | None = Field(None, description="the paper's version (arXiv's v2), when the source has one")
    primary_category: str | None = Field(
        None, description="the paper's primary category (cs.CL), when the source has one"
    )
    link: str | None = Field(description="the paper's page as the source gives it; renderers drop unsafe schemes")
    headline: str
    lead: str
    sections: list[ArticleSection]
    closing: Closing
    status: Literal["ok", "flagged"]
    reasons: list[str] = []
    length: int = Field(description="Chinese characters (zh) or characters of text the model wrote")
    length_ok: bool | None = None
    warnings: list[str] = []
    mode: Literal["whole", "sections", "grounded"] = Field(
        description="whole text in one call, notes per section first, or laid out by code from the "
        "paper's sections with each point a sentence translated (a small model's way)"
    )
    calls: int
    reasked: bool = False
    thinking_budget: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_the_earlier_layout(cls, data: Any) -> Any:
        """An article kept before sections had sub-sections (six fixed sections of points) still
        reads: each section becomes one of bullets, and the last one, the summary, the closing."""
        if not isinstance(data, dict) or "closing" in data or not data.get("sections"):
            return data
        *body, summary = data["sections"]
        sections = [
            {
                "number": s["number"],
                "title": s["title"],
                "subsections": [
                    {
                        "heading": s["title"],
                        "paragraphs": [],
                        "bullets": [{"text": p, "sub_points": []} for p in s["points"]],
                    }
                ],
            }
            for s in body
        ]
        points = summary["points"]
        closing = {"title": summary["title"], "paragraphs": points[:-1] or points, "future_directions": points[-1:]}
        return {**data, "sections": sections, "closing": closing}
