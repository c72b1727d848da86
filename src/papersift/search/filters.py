"""The one filter model of search and the catalog: what narrows a set of papers.

The CLI's options, the web pages' and the API's query parameters all parse into :class:`Filters`,
and one engine (:class:`papersift.search.selection.Catalog`) decides which papers pass, so a
filter means the same thing wherever it is given.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

Status = Literal["ok", "flagged", "poor", "failed", "pending"]
STATUSES: tuple[str, ...] = ("pending", "ok", "flagged", "poor", "failed")
_MONTH = re.compile(r"^\d{4}-\d{2}$")


class Filters(BaseModel):
    """Conditions every paper must meet; a field left unset is no condition. Hidden papers are
    left out unless ``hidden`` asks for them (and then only they are shown)."""

    area: str | None = Field(None, description="area key or label, as stored")
    subarea: str | None = Field(None, description="sub-area key")
    keyword: str | None = Field(
        None, description="has this keyword (case-insensitive): the source's or the card's in the reader's language"
    )
    source: str | None = Field(None, description="first seen from this source: arxiv, openreview, hf, rss, file, ...")
    venue: str | None = Field(None, description="venue contains this text (case-insensitive)")
    date_from: date | None = Field(None, description="published on or after")
    date_to: date | None = Field(None, description="published on or before")
    month: str | None = Field(None, description="YYYY-MM of the published date")
    day: date | None = Field(None, description="one published date")
    status: Status | None = Field(None, description="enrichment status in the reader's language; pending: not enriched")
    starred: bool | None = None
    read: bool | None = None
    hidden: bool = Field(False, description="show only hidden papers (they are left out otherwise)")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        # HTML forms send every field, the unused ones empty
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v not in ("", None)}
        return data

    @field_validator("month")
    @classmethod
    def _month(cls, value: str | None) -> str | None:
        if value is not None and not _MONTH.match(value):
            raise ValueError("month must look like 2025-05")
        return value

    def active(self) -> dict[str, Any]:
        """The filters in use, as query parameters (``hidden`` only when it asks for the hidden papers)."""
        return {
            k: v
            for k, v in self.model_dump(mode="json").items()
            if v is not None and not (k == "hidden" and v is False)
        }
