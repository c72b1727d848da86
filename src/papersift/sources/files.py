"""Local files: JSONL, CSV and BibTeX, streamed record by record.

Each reader yields a :class:`Paper` or a :class:`RecordError` per record, so the caller
decides whether one bad record stops the import. JSONL and CSV accept papersift's own
export schema and the common field names of other tools (and the shared labelled catalog).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..models import Paper, Topic, split_arxiv_id
from .arxiv import abs_url, pdf_url
from .base import RecordError, SourceError

FORMATS = ("jsonl", "csv", "bibtex")

# Common field names of other tools -> papersift's. Anything unmatched goes to ``extra``.
ALIASES: dict[str, str] = {
    "summary": "abstract",
    "abstract_en": "abstract",
    "author": "authors",
    "author_names": "authors",
    "tags": "keywords",
    "keyword": "keywords",
    "tl;dr": "tldr",
    "tl_dr": "tldr",
    "journal": "venue",
    "booktitle": "venue",
    "conference": "venue",
    "date": "published",
    "published_date": "published",
    "publication_date": "published",
    "updated_date": "updated",
    "url": "url_abs",
    "link": "url_abs",
    "abs_url": "url_abs",
    "pdf": "url_pdf",
    "pdf_url": "url_pdf",
    "code": "url_code",
    "code_url": "url_code",
    "github": "url_code",
    "arxiv": "arxiv_id",
    "eprint": "arxiv_id",
    "primary_category": "categories",
}
OWN_FIELDS = set(Paper.model_fields)
# What papersift's own export adds beside a paper's fields: derived here, not given by a source.
EXPORT_ONLY = {"sources", "enrichment", "flags", "deepdive", "predictions", "curation"}


def paper_from_mapping(raw: dict[str, Any], *, source: str = "file") -> Paper:
    """Build a paper from a flat record; raises ``ValidationError`` naming the bad field."""
    fields: dict[str, Any] = {"source": source}
    extra: dict[str, Any] = dict(raw.get("extra") or {})
    for key, value in raw.items():
        if key == "extra" or key in EXPORT_ONLY or value is None or value == "":
            continue
        name = key.strip().lower()
        name = ALIASES.get(name, name)
        if name == "id":
            continue
        if name == "year" and "published" not in raw:
            fields["published"] = f"{int(value):04d}-01-01" if str(value).isdigit() else value
        elif name in OWN_FIELDS and name not in fields:
            fields[name] = value
        else:
            extra[key] = value
    if raw.get("id") not in (None, "") and "source_id" not in fields:
        fields["source_id"] = str(raw["id"])
    # The shared labelled catalog: category / subcategory_key are the source's topic label.
    if "topic" not in fields and ("subcategory_key" in extra or "category" in extra):
        fields["topic"] = Topic(area=extra.get("category"), subarea=extra.get("subcategory_key") or extra.get("subcategory"))
    if isinstance(fields.get("arxiv_id"), str):
        fields["arxiv_id"] = re.sub(r"^https?://arxiv\.org/abs/", "", fields["arxiv_id"])
        _arxiv_links(fields)
    fields["extra"] = extra
    return Paper.model_validate(fields)


def _arxiv_links(fields: dict[str, Any]) -> None:
    """An arXiv id is enough for the paper's links and version, where the record gives none."""
    try:
        arxiv_id, version = split_arxiv_id(fields["arxiv_id"])
    except ValueError:
        return  # the paper's validation names the bad field
    if version and "version" not in fields:
        fields["version"] = version
    fields.setdefault("url_abs", abs_url(arxiv_id))
    fields.setdefault("url_pdf", pdf_url(arxiv_id, fields.get("version")))


def _decode_lines(path: Path) -> Iterator[tuple[int, str | RecordError]]:
    """Lines of a text file; a binary or non-UTF-8 file is reported, not crashed on."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if b"\x00" in raw:
                yield lineno, RecordError(str(path), lineno, "file", "binary data (NUL byte): not a text file")
                return
            try:
                yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield lineno, RecordError(str(path), lineno, "file", f"not UTF-8 text ({exc.reason} at byte {exc.start})")


def read_jsonl(path: Path, *, source: str = "file") -> Iterator[Paper | RecordError]:
    where = str(path)
    seen_any = False
    for lineno, line in _decode_lines(path):
        if isinstance(line, RecordError):
            yield line
            continue
        if not line.strip():
            continue
        seen_any = True
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RecordError(where, lineno, "json", f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(raw, dict):
            yield RecordError(where, lineno, "record", f"expected a JSON object, got {type(raw).__name__}")
            continue
        try:
            yield paper_from_mapping(raw, source=source)
        except ValidationError as exc:
            yield from RecordError.from_validation(where, lineno, exc)
    if not seen_any:
        yield RecordError(where, None, "file", "empty: no records")


def read_csv(path: Path, *, source: str = "file") -> Iterator[Paper | RecordError]:
    where = str(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    lines = _decode_lines(path)

    def text_lines() -> Iterator[str]:
        for _, line in lines:
            if isinstance(line, RecordError):
                raise SourceError(str(line))
            yield line

    reader = csv.DictReader(text_lines())
    seen_any = False
    try:
        for row in reader:
            seen_any = True
            lineno = reader.line_num
            if None in row:
                yield RecordError(where, lineno, "row", f"{len(row[None])} more value(s) than header columns")
                continue
            record: dict[str, Any] = {k: v for k, v in row.items() if k}
            if isinstance(record.get("extra"), str):
                try:
                    record["extra"] = json.loads(record["extra"])
                except json.JSONDecodeError as exc:
                    yield RecordError(where, lineno, "extra", f"invalid JSON: {exc.msg}")
                    continue
            for name in ("topic",):
                if isinstance(record.get(name), str):
                    record[name] = json.loads(record[name]) if record[name].startswith("{") else None
            try:
                yield paper_from_mapping(record, source=source)
            except ValidationError as exc:
                yield from RecordError.from_validation(where, lineno, exc)
    except SourceError as exc:
        yield RecordError(where, None, "file", str(exc))
        return
    except csv.Error as exc:
        yield RecordError(where, reader.line_num, "csv", str(exc))
        return
    if not seen_any:
        yield RecordError(where, None, "file", "empty: no records")


def _bibtex_authors(value: str) -> list[str]:
    return [" ".join(a.split()) for a in re.split(r"\s+and\s+", value) if a.strip()]


def _strip_braces(value: str) -> str:
    # {Title With {Caps}} -> Title With Caps, but LaTeX math ($...$) is kept as written
    return re.sub(r"(?<!\\)[{}]", "", value).strip() if "$" not in value else value.strip()


def read_bibtex(path: Path, *, source: str = "bibtex") -> Iterator[Paper | RecordError]:
    import bibtexparser

    where = str(path)
    data = path.read_bytes()
    if b"\x00" in data:
        yield RecordError(where, None, "file", "binary data (NUL byte): not a BibTeX file")
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        yield RecordError(where, line, "file", f"not UTF-8 text ({exc.reason})")
        return
    library = bibtexparser.parse_string(text)
    for failed in library.failed_blocks:
        line = (failed.start_line or 0) + 1
        yield RecordError(where, line, "entry", f"broken BibTeX entry: {getattr(failed, 'error', failed)}")
    if not library.entries and not library.failed_blocks:
        yield RecordError(where, None, "file", "empty: no BibTeX entries")
    for entry in library.entries:
        fields = {k.lower(): v for k, v in entry.fields_dict.items()}
        raw: dict[str, Any] = {name: _strip_braces(f.value) for name, f in fields.items()}
        raw["id"] = entry.key
        if "author" in raw:
            raw["author"] = _bibtex_authors(raw["author"])
        if "keywords" in raw:
            raw["keywords"] = [k.strip() for k in re.split(r"[;,]", raw["keywords"]) if k.strip()]
        if raw.get("archiveprefix", "").lower() != "arxiv" and "eprint" in raw and not re.match(r"^\d{4}\.\d{4,5}", raw["eprint"]):
            raw.pop("eprint")
        raw["entry_type"] = entry.entry_type
        try:
            yield paper_from_mapping(raw, source=source)
        except ValidationError as exc:
            yield from RecordError.from_validation(where, (entry.start_line or 0) + 1, exc)


READERS = {"jsonl": read_jsonl, "csv": read_csv, "bibtex": read_bibtex}
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".bib": "bibtex", ".bibtex": "bibtex"}


def read_file(path: Path, fmt: str | None = None) -> Iterator[Paper | RecordError]:
    """Records of a local file, in the format its extension (or ``fmt``) names."""
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    fmt = fmt or EXTENSIONS.get(path.suffix.lower())
    if fmt not in READERS:
        raise SourceError(f"{path}: unknown format; use --format {'|'.join(FORMATS)}")
    return READERS[fmt](path)


__all__ = ["read_file", "read_jsonl", "read_csv", "read_bibtex", "paper_from_mapping", "FORMATS"]
