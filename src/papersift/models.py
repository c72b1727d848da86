"""The data model: papers as the sources give them, and the enrichment an LLM adds.

Every stage reads and writes these. The JSON schemas for structured LLM output come from
the enrichment models here, so the schema and the validation can never disagree.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ARXIV_ID = re.compile(r"^(?:arxiv:)?(?P<id>\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v(?P<v>\d+))?$", re.I)


def split_arxiv_id(raw: str) -> tuple[str, int | None]:
    """``'2501.01234v3'`` -> ``('2501.01234', 3)``; also accepts old-style ``hep-th/9901001``."""
    m = ARXIV_ID.match(raw.strip())
    if not m:
        raise ValueError(f"not an arXiv id: {raw!r}")
    return m["id"], int(m["v"]) if m["v"] else None


def abs_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


def pdf_url(arxiv_id: str, version: int | None = None) -> str:
    return f"https://arxiv.org/pdf/{arxiv_id}" + (f"v{version}" if version else "")


_WORD = re.compile(r"\w+")
# Never meaningful in a paper's text, and harmful in it: C0 controls (but tab and newlines) and
# DEL break XML feeds, which refuse them; lone surrogates and U+FFFE/U+FFFF are no text at all;
# the bidi embeddings and overrides (U+202A-U+202E) let a title reorder what follows it on a
# page. The isolates (U+2066-U+2069), which cannot leak, are kept.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\ud800-\udfff\ufffe\uffff]")


def printable(value: Any) -> Any:
    """Text without the characters above; anything else as it is."""
    if not isinstance(value, str) or value.isprintable():  # every character above is unprintable to Python
        return value
    return _UNPRINTABLE.sub("", value)


def normalise_title(title: str) -> str:
    """Case, accents, punctuation and LaTeX braces removed: for matching, never for display."""
    text = title.casefold()
    if not text.isascii():  # only non-ASCII text can carry accents to strip
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(_WORD.findall(text))


def author_key(author: str) -> str:
    """A last-name key: 'Ashish Vaswani' and 'Vaswani, Ashish' both give 'vaswani'."""
    name = author.split(",")[0] if "," in author else (author.split() or [""])[-1]
    return normalise_title(name)


class Topic(BaseModel):
    """A place in a two-level taxonomy, and who put the paper there."""

    area: str | None = None
    subarea: str | None = None
    origin: Literal["source", "user", "model"] = "source"
    confidence: float | None = None


class Paper(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, description="papersift's stable internal id, assigned by the store")
    source: str = Field(description="where this record came from: arxiv, openreview, hf, rss, file, ...")
    source_id: str | None = None
    arxiv_id: str | None = None
    doi: str | None = None
    openreview_id: str | None = None
    version: int | None = None
    title: str | None = None
    authors: list[str] = Field(default_factory=list)
    abstract: str | None = None
    keywords: list[str] = Field(default_factory=list)
    tldr: str | None = None
    venue: str | None = None
    categories: list[str] = Field(default_factory=list)
    published: date | None = None
    updated: date | None = None
    url_abs: str | None = None
    url_pdf: str | None = None
    url_code: str | None = None
    topic: Topic | None = None
    withdrawn: bool = False
    extra: dict[str, Any] = Field(default_factory=dict, description="anything else the source gave")

    @field_validator("title", "abstract", "tldr", "venue", "doi", "source_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = printable(value).strip()
            return value or None
        return value

    @field_validator("doi")
    @classmethod
    def _doi(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", value, flags=re.I).lower()

    @field_validator("arxiv_id")
    @classmethod
    def _arxiv(cls, value: str | None) -> str | None:
        return split_arxiv_id(value)[0] if value else None

    @field_validator("authors", "keywords", "categories", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            value = printable(value)
            return [v.strip() for v in re.split(r"[;,]" if "," in value or ";" in value else r"\n", value) if v.strip()]
        if not isinstance(value, list):
            return value
        # a name or keyword is what it says, without edge spaces, and a blank one is none; what is
        # not text at all is left for validation to name
        items = [printable(v) for v in value]
        return [v.strip() if isinstance(v, str) else v for v in items if not isinstance(v, str) or v.strip()]

    @field_validator("published", "updated", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, str) and len(value) > 10 and value[4] == "-":
            return value[:10]  # ISO timestamps: keep the day
        return value

    @model_validator(mode="after")
    def _has_content(self) -> Paper:
        if not self.title and not self.abstract:
            raise ValueError("a paper needs a title or an abstract")
        return self

    def dedup_keys(self) -> list[str]:
        """Keys under which two records are the same paper, strongest first.

        A titleless paper (the shared catalog has only abstracts) is keyed by its abstract alone,
        so it is never merged with another titleless paper.
        """
        keys = []
        if self.arxiv_id:
            keys.append(f"arxiv:{self.arxiv_id}")
        if self.doi:
            keys.append(f"doi:{self.doi}")
        if self.openreview_id:
            keys.append(f"openreview:{self.openreview_id}")
        if self.title:
            first = author_key(self.authors[0]) if self.authors else ""
            keys.append(f"title:{normalise_title(self.title)}|{first}")
        else:
            keys.append("abstract:" + hashlib.sha256(self.abstract.strip().encode()).hexdigest()[:24])
        return keys

    def record_key(self) -> str:
        """The key of this source record (one paper may have several)."""
        return f"{self.source}:{self.source_id or self.dedup_keys()[0]}"


# --- enrichment ---------------------------------------------------------------------------

READING_FIELDS = ("motivation", "problem", "observation", "method", "experiments", "contribution")


class Reading(BaseModel):
    """The six-part reading of ``shared/formats.md``: one or two sentences each."""

    motivation: str = Field(description="why the problem matters", max_length=400)
    problem: str = Field(description="what exactly the paper sets out to solve", max_length=400)
    observation: str = Field(description="the finding or analysis that drives the approach", max_length=400)
    method: str = Field(description="what they propose, concretely", max_length=400)
    experiments: str = Field(description="benchmarks, models and the headline numbers", max_length=400)
    contribution: str = Field(description="what is new", max_length=400)

    @field_validator(*READING_FIELDS, mode="before")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        return printable(value)


class Card(BaseModel):
    """Everything one LLM call produces for one paper, in the target language."""

    title: str = Field(description="the title translated into the target language", max_length=300)
    tldr: str = Field(description="one-sentence summary", max_length=300)
    reading: Reading
    keywords: list[str] = Field(description="3 to 6 technical keywords", min_length=1, max_length=8)
    digest: str = Field(description="one paragraph: a faithful, complete rendering of the abstract", max_length=1500)

    @field_validator("title", "tldr", "digest", "keywords", mode="before")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        return [printable(v) for v in value] if isinstance(value, list) else printable(value)


# ok: passed every check; flagged: the faithfulness guard found unsupported numbers or names;
# poor: faithful but failing the quality gate (repeated, cut-off, far too long or short fields...);
# failed: no card at all.
EnrichmentStatus = Literal["ok", "flagged", "poor", "failed"]


class Enrichment(BaseModel):
    """A stored enrichment: the card (unless it failed) and the guard's verdict."""

    paper_id: str
    lang: str
    status: EnrichmentStatus
    card: Card | None = None
    reasons: list[str] = Field(default_factory=list, description="guard violations, quality issues or the failure")
    problems: list[str] = Field(
        default_factory=list,
        description="what the checks found, by kind, for the reader's note: 'unfaithful' (the guard) and the gate's rules",
    )
    model: str | None = None
    tldr_generated: bool = True
    keywords_generated: bool = True
    reasoning: str | None = None
    created_at: datetime | None = None
    # Provenance: which prompt wrote the card, from which version of the paper and which text
    # (a hash of what the guard checked against); a changed text marks the card stale.
    prompt_version: str | None = None
    paper_version: int | None = None
    source_hash: str | None = None
