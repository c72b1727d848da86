"""The reader's library: the papers they already keep, read from the files reference managers export.

BibTeX, JSONL and papersift's own CSV go through the ingest readers (``sources.files``); RIS
goes through ``rispy``; a CSV exported by Zotero (``Item Type``, ``Abstract Note``, ``Manual
Tags`` ...) is mapped column by column; a text file holds one arXiv id (or abs URL) a line. A bad
file is a :class:`LibraryError` naming the file (and the line, where there is one).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import rispy
from pydantic import ValidationError

from ..models import Paper, split_arxiv_id
from ..sources.base import RecordError, SourceError
from ..sources.files import paper_from_mapping, read_bibtex, read_csv, read_jsonl

ZOTERO_COLUMNS = {"Item Type", "Abstract Note"}
ARXIV_IN_TEXT = re.compile(r"arXiv:\s*(\d{4}\.\d{4,5})|arxiv\.org/abs/(\d{4}\.\d{4,5})", re.I)
TEXT_EXTENSIONS = (".txt", ".ids", ".list")


class LibraryError(ValueError):
    """A library file could not be read: the message names the file and what went wrong."""


def _zotero_authors(value: str) -> list[str]:
    # Zotero writes "Last, First; Last, First"
    return [" ".join(reversed([p.strip() for p in a.split(",", 1)])) for a in value.split(";") if a.strip()]


def _zotero_record(row: dict[str, str]) -> dict[str, object]:
    extra = " ".join(row.get(k) or "" for k in ("Extra", "Url", "Archive Location"))
    arxiv = ARXIV_IN_TEXT.search(extra)
    tags = [
        t.strip() for col in ("Manual Tags", "Automatic Tags") for t in (row.get(col) or "").split(";") if t.strip()
    ]
    return {
        "title": row.get("Title"),
        "authors": _zotero_authors(row.get("Author") or ""),
        "abstract": row.get("Abstract Note"),
        "keywords": tags,
        "doi": row.get("DOI"),
        "url": row.get("Url"),
        "arxiv_id": (arxiv[1] or arxiv[2]) if arxiv else None,
        "venue": row.get("Publication Title"),
    }


def read_zotero_csv(path: Path) -> Iterator[Paper | RecordError]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            try:
                yield paper_from_mapping(_zotero_record(row), source="library")
            except ValidationError as exc:
                yield from RecordError.from_validation(str(path), reader.line_num, exc)


def read_ris(path: Path) -> Iterator[Paper | RecordError]:

    try:
        entries = rispy.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, OSError) as exc:
        raise LibraryError(f"{path}: cannot read: {exc}") from exc
    except Exception as exc:  # rispy raises plain IOError/ValueError subclasses on bad structure
        raise LibraryError(f"{path}: not a RIS file: {exc}") from exc
    for n, entry in enumerate(entries, start=1):
        urls = entry.get("urls") or []
        arxiv = ARXIV_IN_TEXT.search(" ".join([*urls, entry.get("notes_abstract") or "", *(entry.get("notes") or [])]))
        record = {
            "title": entry.get("title") or entry.get("primary_title"),
            "authors": entry.get("authors") or entry.get("first_authors") or [],
            "abstract": entry.get("abstract"),
            "keywords": entry.get("keywords") or [],
            "doi": entry.get("doi"),
            "url": urls[0] if urls else None,
            "arxiv_id": (arxiv[1] or arxiv[2]) if arxiv else None,
        }
        try:
            yield paper_from_mapping(record, source="library")
        except ValidationError as exc:
            yield from RecordError.from_validation(f"{path} (entry {n})", None, exc)


def read_arxiv_ids(path: Path) -> list[str]:
    """The arXiv ids of a text file, one a line (``#`` starts a comment)."""
    ids = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        text = re.sub(r"^(https?://arxiv\.org/(abs|pdf)/|arxiv:)", "", text, flags=re.I)
        try:
            ids.append(split_arxiv_id(text)[0])
        except ValueError:
            raise LibraryError(f"{path}:{lineno}: {line.strip()!r} is not an arXiv id") from None
    return ids


def _is_zotero_csv(path: Path) -> bool:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh), [])
    return ZOTERO_COLUMNS <= set(header)


def _records(path: Path) -> Iterator[Paper | RecordError]:
    suffix = path.suffix.lower()
    if suffix in (".bib", ".bibtex"):
        return read_bibtex(path, source="library")
    if suffix == ".ris":
        return read_ris(path)
    if suffix == ".csv":
        return read_zotero_csv(path) if _is_zotero_csv(path) else read_csv(path, source="library")
    if suffix in (".jsonl", ".ndjson", ".json"):
        return read_jsonl(path, source="library")
    raise LibraryError(f"{path}: unknown library format; use .bib, .ris, .csv, .jsonl or a .txt of arXiv ids")


class Library:
    """The papers of the library files, and the arXiv ids listed without text (to look up in the store)."""

    def __init__(self, papers: list[Paper], arxiv_ids: list[str]):
        self.papers = papers
        self.arxiv_ids = arxiv_ids

    def keys(self) -> set[str]:
        """Dedup keys of every library paper: a new paper with one of them is already the reader's."""
        return {k for p in self.papers for k in p.dedup_keys()} | {f"arxiv:{i}" for i in self.arxiv_ids}


def read_library(paths: list[Path]) -> Library:
    papers: list[Paper] = []
    ids: list[str] = []
    for path in paths:
        if not path.is_file():
            raise LibraryError(f"{path}: no such library file (daily.interests.library)")
        if path.suffix.lower() in TEXT_EXTENSIONS:
            ids += read_arxiv_ids(path)
            continue
        try:
            for item in _records(path):
                if isinstance(item, RecordError):
                    raise LibraryError(str(item))
                papers.append(item)
        except SourceError as exc:
            raise LibraryError(str(exc)) from exc
    return Library(papers, list(dict.fromkeys(ids)))
