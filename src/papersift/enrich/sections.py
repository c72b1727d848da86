"""A paper's full text cut into its sections, and sections packed into pieces a model can read.

Headings are found line by line: numbered ("1 Introduction", "2. Method", "3.1 Data"), ALL CAPS
("RELATED WORK"), or the usual names on a line of their own (Abstract, References, ...). The
references are dropped: they cost tokens and hold nothing a deep-dive reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..llm.tokens import TokenCount, estimate_tokens

_NUMBERED = re.compile(r"^(?P<num>(?:[1-9]\d?|[A-H])(?:\.\d{1,2}){0,3})\.?\s+(?P<title>[A-Z][^\n]{1,78})$")
_CAPS = re.compile(r"^(?:(?:[1-9]\d?|[IVX]{1,4})\.?\s+)?[A-Z][A-Z0-9&:,'’\- ]{3,60}$")
_NAMED = re.compile(
    r"^(?:abstract|introduction|background|related work|method|methods|methodology|approach|experiments?|"
    r"evaluation|results|discussion|limitations|conclusions?|future work|references|bibliography|"
    r"acknowledge?ments?|appendix(?: [a-z])?)$",
    re.IGNORECASE,
)
_REFERENCES = re.compile(r"^(?:[\dIVX.]+\s+)?(?:references|bibliography)$", re.IGNORECASE)
APPENDIX = re.compile(
    r"^(?:appendix|appendices|supplementary material|acknowledge?ments?|[A-H](?:\.\d+)*\.?\s+[A-Z]).*$", re.IGNORECASE
)
FRONT = "Front matter"


@dataclass(frozen=True)
class Section:
    heading: str
    text: str

    def render(self) -> str:
        return f"## {self.heading}\n{self.text}".strip()


def is_heading(line: str) -> bool:
    line = line.strip()
    if not line or len(line) > 80:
        return False
    if _NAMED.match(line):
        return True
    m = _NUMBERED.match(line)
    if m:
        title = m["title"]
        # a sentence ("1 We show that ...") or a table row of numbers is not a heading
        return (
            len(title.split()) <= 10
            and not title.rstrip().endswith((".", ",", ";", ":"))
            and sum(c.isdigit() for c in title) <= 3
        )
    return bool(_CAPS.match(line)) and sum(c.isalpha() for c in line) >= 4 and len(line.split()) <= 8


def split_sections(text: str) -> list[Section]:
    """The sections of a full text in order; text before the first heading is the front matter."""
    sections: list[Section] = []
    heading, lines = FRONT, []

    def close() -> None:
        body = "\n".join(lines).strip()
        if body and not _REFERENCES.match(heading):
            sections.append(Section(heading, body))

    for line in text.replace("\f", "\n").splitlines():
        # inside the references, entries look like headings ("ICLR 2024"): only an appendix ends them
        in_references = bool(_REFERENCES.match(heading))
        if is_heading(line) and (not in_references or APPENDIX.match(line.strip())):
            close()
            heading, lines = " ".join(line.split()), []
        else:
            lines.append(line.rstrip())
    close()
    return sections


def fitting_prefix(text: str, room: int, count: TokenCount) -> int:
    """The longest prefix of ``text`` within ``room`` tokens, ended at a line break or a space if one is near."""
    low, high = 1, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if count(text[:mid]) <= room else (low, mid - 1)
    for mark in ("\n", " "):
        at = text.rfind(mark, 0, low)
        if at > low // 2:
            return at
    return low


def _pieces(section: Section, budget: int, count: TokenCount) -> Iterable[Section]:
    """The section whole if it fits ``budget`` tokens, else cut in order, at line breaks where possible."""
    room = max(1, budget - count(section.heading) - 4)
    rest = section.text
    while rest:
        if count(rest) <= room:
            yield Section(section.heading, rest)
            return
        cut = fitting_prefix(rest, room, count)
        yield Section(section.heading, rest[:cut])
        rest = rest[cut:].lstrip("\n")


def pack(sections: Iterable[Section], budget: int, count: TokenCount = estimate_tokens) -> list[list[Section]]:
    """Consecutive sections grouped into chunks of at most ``budget`` tokens (as ``count`` counts
    them); a long one is cut."""
    chunks: list[list[Section]] = []
    current: list[Section] = []
    size = 0
    for section in sections:
        for piece in _pieces(section, budget, count):
            cost = count(piece.render()) + 2
            if current and size + cost > budget:
                chunks.append(current)
                current, size = [], 0
            current.append(piece)
            size += cost
    if current:
        chunks.append(current)
    return chunks


def render(sections: Iterable[Section]) -> str:
    return "\n\n".join(s.render() for s in sections)
