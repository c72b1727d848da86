"""The zero-shot classifier: an LLM picks a sub-area from the taxonomy's descriptions.

No training data needed: the system message lists every candidate sub-area with its
description (static, so a server's prefix cache serves it across papers), the user message
quotes the paper, and the answer is a small structured object whose ``subarea`` is constrained
to the candidate keys by the JSON schema sent with the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field, create_model

from ..config import Settings
from ..llm.client import LLMClient
from ..llm.templates import environment, quoted
from ..models import Paper
from ..store import Store
from ..taxonomy import Taxonomy

SYSTEM_TEMPLATE = "classify_system.jinja"
PAPER_TEMPLATE = "classify_paper.jinja"


def choice_model(keys: Sequence[str]) -> type[BaseModel]:
    """``{subarea: one of keys, confidence: 0..1}`` as a pydantic model (its schema constrains decoding)."""
    return create_model(
        "SubareaChoice",
        subarea=(Literal[tuple(keys)], Field(description="the key of the best-fitting sub-area")),
        confidence=(float, Field(ge=0, le=1, description="probability that this sub-area is right")),
    )


class ZeroShotClassifier:
    """Classifies papers with an :class:`~papersift.llm.client.LLMClient`, among ``keys`` (default: every sub-area)."""

    def __init__(self, client, taxonomy: Taxonomy, keys: Sequence[str] | None = None):
        self.client = client
        self.taxonomy = taxonomy
        self.keys = list(keys or taxonomy.subarea_keys())
        unknown = [k for k in self.keys if k not in taxonomy]
        if unknown:
            raise ValueError(f"not in the taxonomy: {', '.join(unknown)}")
        self.model = choice_model(self.keys)
        env = environment()
        self.system = env.get_template(SYSTEM_TEMPLATE).render(subareas=[taxonomy.subarea(k) for k in self.keys])
        self.paper_template = env.get_template(PAPER_TEMPLATE)

    @classmethod
    def from_settings(
        cls, settings: Settings, taxonomy: Taxonomy, store: Store | None = None, keys: Sequence[str] | None = None
    ) -> ZeroShotClassifier:

        return cls(LLMClient.from_settings(settings, store), taxonomy, keys)

    def messages(self, paper: Paper) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.paper_template.render(paper=quoted(paper))},
        ]

    async def classify_async(self, paper: Paper) -> tuple[str, float]:
        choice, _ = await self.client.structured(
            self.messages(paper), self.model, max_tokens=64, paper_id=paper.id, template=SYSTEM_TEMPLATE, thinking="off"
        )
        return choice.subarea, float(choice.confidence)

    def classify_all(self, papers: Sequence[Paper]) -> list[tuple[str, float] | Exception]:
        """One result per paper, in order: the choice, or the error that paper's call ended in."""

        async def run() -> list[tuple[str, float] | Exception]:
            try:
                return await asyncio.gather(*(self.classify_async(p) for p in papers), return_exceptions=True)
            finally:
                await self.client.aclose()

        return asyncio.run(run())
