"""Local files: JSONL, CSV, BibTeX and RIS, streamed record by record.

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
from dataclasses import replace
from pathlib import Path
from typing import Any

import bibtexparser
import rispy
from bibtexparser import middlewares as mw
from bibtexparser.middlewares.names import InvalidNameError, parse_single_name_into_parts
from pydantic import ValidationError
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

from ..models import Paper, Topic, abs_url, pdf_url, split_arxiv_id
from .base import RecordError, SourceError

FORMATS = ("jsonl", "csv", "bibtex", "ris")

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
    given = raw.get("extra") or {}
    # an "extra" that is not an object is kept under its own name, not lost or crashed on
    extra: dict[str, Any] = dict(given) if isinstance(given, dict) else {"extra": given}
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
        fields["topic"] = Topic(
            area=extra.get("category"), subarea=extra.get("subcategory_key") or extra.get("subcategory")
        )
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
                yield (
                    lineno,
                    RecordError(str(path), lineno, "file", f"not UTF-8 text ({exc.reason} at byte {exc.start})"),
                )


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


def _latex_decoder():
    r"""bibtexparser's own LaTeX decoder settings: math kept as written, ``\url{x}`` as ``x``.

    Built here once so the same decoder can also read author names: bibtexparser's
    ``LatexDecodingMiddleware`` leaves list values (the split co-authors) untouched.
    """

    context = get_default_latex_context_db()
    context.add_context_category("papersift", prepend=True, macros=[MacroTextSpec("url", simplify_repl="%s")])
    return LatexNodes2Text(latex_context=context, math_mode="verbatim", keep_braced_groups=False)


def _parse_bibtex(text: str):
    """A library whose values are plain text: LaTeX decoded, ``month = jan`` a number, each
    author one "First von Last Jr" name (a braced ``{Barnes and Noble}`` stays one author)."""

    decoder = _latex_decoder()
    library = bibtexparser.parse_string(
        text,
        append_middleware=[
            mw.MonthIntMiddleware(True),
            mw.SeparateCoAuthors(),
            mw.SplitNameParts(),
            mw.MergeNameParts(style="first"),
            mw.LatexDecodingMiddleware(decoder=decoder),
        ],
    )
    return library, decoder


def _bibtex_record(entry, decoder) -> dict[str, Any]:
    raw: dict[str, Any] = {k.lower(): f.value for k, f in entry.fields_dict.items()}
    for name in ("author", "editor"):
        if isinstance(raw.get(name), list):
            raw[name] = [" ".join(decoder.latex_to_text(a).split()) for a in raw[name]]
    if isinstance(raw.get("title"), str):
        raw["title"] = " ".join(raw["title"].split())
    if isinstance(raw.get("keywords"), str):
        raw["keywords"] = [k.strip() for k in re.split(r"[;,]", raw["keywords"]) if k.strip()]
    if (
        raw.get("archiveprefix", "").lower() != "arxiv"
        and "eprint" in raw
        and not re.match(r"^\d{4}\.\d{4,5}", raw["eprint"])
    ):
        raw.pop("eprint")
    year, month = str(raw.get("year", "")).strip(), raw.get("month")
    if year.isdigit() and isinstance(month, int) and 1 <= month <= 12:
        raw["published"] = f"{int(year):04d}-{month:02d}-01"
        raw.pop("month")
    raw["id"] = entry.key
    raw["entry_type"] = entry.entry_type
    return raw


def read_bibtex(path: Path, *, source: str = "bibtex") -> Iterator[Paper | RecordError]:
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
    library, decoder = _parse_bibtex(text)
    for failed in library.failed_blocks:
        line = (failed.start_line or 0) + 1
        yield RecordError(where, line, "entry", f"broken BibTeX entry: {getattr(failed, 'error', failed)}")
    if not library.entries and not library.failed_blocks:
        yield RecordError(where, None, "file", "empty: no BibTeX entries")
    for entry in library.entries:
        line = (entry.start_line or 0) + 1
        try:
            yield paper_from_mapping(_bibtex_record(entry, decoder), source=source)
        except ValidationError as exc:
            for error in RecordError.from_validation(where, line, exc):
                yield replace(error, field=f"entry {entry.key}: {error.field}")


RIS_TAG = re.compile(r"^(?P<tag>[A-Z][A-Z0-9])  -(?: (?P<value>.*))?$")
RIS_DATE = re.compile(r"^(?P<y>\d{4})(?:/(?P<m>\d{1,2}))?(?:/(?P<d>\d{1,2}))?")


def _ris_records(
    lines: Iterator[tuple[int, str | RecordError]], where: str
) -> Iterator[tuple[int, list[str]] | RecordError]:
    """``(line of TY, the record's lines)`` for each ``TY  - ... ER  -`` record; stray text and
    a record left open at the end are errors (rispy would drop them without a word)."""
    start, record = None, []
    for lineno, line in lines:
        if isinstance(line, RecordError):
            yield line
            return
        line = line.rstrip("\r\n")
        tag = RIS_TAG.match(line)
        if start is None:
            if tag and tag["tag"] == "TY":
                start, record = lineno, [line]
            elif line.strip():
                yield RecordError(where, lineno, "record", f"text outside a TY ... ER record: {line[:40]!r}")
            continue
        record.append(line)
        if tag and tag["tag"] == "ER":
            yield start, record
            start = None
    if start is not None:
        yield RecordError(where, start, "record", "record not closed by an 'ER  -' line")


def _ris_name(name: str) -> str:
    """ "Last, First" as "First Last", read the way BibTeX reads names."""

    try:
        return parse_single_name_into_parts(name).merge_first_name_first
    except InvalidNameError:
        return name


def _ris_record(fields: dict[str, Any]) -> dict[str, Any]:
    pick = lambda *names: next((fields.pop(n) for n in names if fields.get(n)), None)  # noqa: E731
    raw: dict[str, Any] = {
        "title": pick("title", "primary_title", "translated_title"),
        "authors": [_ris_name(a) for a in (pick("authors", "first_authors") or [])],
        "abstract": pick("abstract", "notes_abstract"),
        "keywords": pick("keywords"),
        "doi": pick("doi"),
        "venue": pick("journal_name", "secondary_title", "alternate_title1"),
        "entry_type": pick("type_of_reference"),
    }
    urls = fields.pop("urls", None) or []
    if urls:
        raw["url"] = urls[0]
    date_text = pick("date", "year", "publication_year")
    found = RIS_DATE.match(date_text or "")
    if found:
        raw["published"] = "-".join([found["y"], f"{int(found['m'] or 1):02d}", f"{int(found['d'] or 1):02d}"])
    elif date_text:
        raw["published"] = date_text  # left for validation to name
    if isinstance(fields.get("unknown_tag"), dict):
        fields["unknown_tag"] = dict(fields["unknown_tag"])
    if fields.get("id"):
        raw["id"] = fields.pop("id")
    return {**fields, **{k: v for k, v in raw.items() if v not in (None, [], "")}}


def read_ris(path: Path, *, source: str = "ris") -> Iterator[Paper | RecordError]:
    """RIS (EndNote, Zotero, Mendeley, most publishers' "export citation"), parsed by rispy."""

    where = str(path)
    seen_any = False
    for item in _ris_records(_decode_lines(path), where):
        if isinstance(item, RecordError):
            yield item
            continue
        seen_any = True
        line, lines = item
        (fields,) = rispy.loads("\n".join(lines))
        try:
            yield paper_from_mapping(_ris_record(fields), source=source)
        except ValidationError as exc:
            yield from RecordError.from_validation(where, line, exc)
    if not seen_any:
        yield RecordError(where, None, "file", "empty: no RIS records")


READERS = {"jsonl": read_jsonl, "csv": read_csv, "bibtex": read_bibtex, "ris": read_ris}
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".ris": "ris",
}


def read_file(path: Path, fmt: str | None = None) -> Iterator[Paper | RecordError]:
    """Records of a local file, in the format its extension (or ``fmt``) names."""
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    fmt = fmt or EXTENSIONS.get(path.suffix.lower())
    if fmt not in READERS:
        raise SourceError(f"{path}: unknown format; use --format {'|'.join(FORMATS)}")
    return READERS[fmt](path)


__all__ = ["read_file", "read_jsonl", "read_csv", "read_bibtex", "read_ris", "paper_from_mapping", "FORMATS"]
