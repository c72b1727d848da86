"""Local files: JSONL, CSV, BibTeX and RIS, streamed record by record.

Each reader yields a :class:`Paper` or a :class:`RecordError` per record, so the caller
decides whether one bad record stops the import. JSONL and CSV accept papersift's own
export schema and the common field names of other tools (and the shared labelled catalog).

The readers are strict where a lenient parser would guess: a CSV row with more or fewer values
than its header, a quote left open, a BibTeX entry whose braces do not balance, JSON nested past
``[ingest] max_depth``, a record over ``max_record_bytes`` or an abstract over
``max_abstract_chars`` is an error naming ``file:line``, never a record read wrongly. Each file
is read in one pass, in time linear in its size.
"""

from __future__ import annotations

import bisect
import csv
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import accumulate
from pathlib import Path
from typing import Any

import bibtexparser
import rispy
from bibtexparser import middlewares as mw
from bibtexparser.middlewares.names import InvalidNameError, parse_single_name_into_parts
from pydantic import ValidationError
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

from ..config import IngestSettings
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


def _admitted(
    raw: dict[str, Any], where: str, line: int | None, limits: IngestSettings, *, source: str, name: str = ""
) -> Iterator[Paper | RecordError]:
    """The paper of one record, or why it is refused (``name``: how the record is known, a BibTeX key)."""
    try:
        paper = paper_from_mapping(raw, source=source)
    except ValidationError as exc:
        for error in RecordError.from_validation(where, line, exc):
            yield replace(error, field=f"{name}{error.field}")
        return
    if paper.abstract and len(paper.abstract) > limits.max_abstract_chars:
        reason = f"{len(paper.abstract):,} characters, over the limit of {limits.max_abstract_chars:,} ([ingest] max_abstract_chars)"
        yield RecordError(where, line, f"{name}abstract", reason)
        return
    yield paper


TOO_DEEP = object()
LIST_FIELDS = [name for name, info in Paper.model_fields.items() if info.annotation == list[str]]


def _too_big(texts: Iterable[str], limits: IngestSettings) -> str | None:
    """Why a record of these texts (its lines, or its cells) is refused for its size, if it is."""
    size = sum(len(text.encode()) for text in texts)
    if size <= limits.max_record_bytes:
        return None
    return f"{size:,} bytes, over the limit of {limits.max_record_bytes:,} for one record ([ingest] max_record_bytes)"


def _depth(value: Any, limit: int) -> int:
    """How deep ``value`` nests, counted up to ``limit + 1`` (no deeper: it may be a bomb)."""
    depth, level = 0, [value]
    while level and depth <= limit:
        depth += 1
        level = [
            child
            for item in level
            if isinstance(item, (dict, list))
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, (dict, list))
        ]
    return depth + (1 if level else 0)


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


def read_jsonl(
    path: Path, *, source: str = "file", limits: IngestSettings | None = None
) -> Iterator[Paper | RecordError]:
    where, limits = str(path), limits or IngestSettings()
    seen_any = False
    for lineno, line in _decode_lines(path):
        if isinstance(line, RecordError):
            yield line
            continue
        if not line.strip():
            continue
        seen_any = True
        if too_big := _too_big([line], limits):
            yield RecordError(where, lineno, "record", too_big)
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RecordError(where, lineno, "json", f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except RecursionError:  # json's C parser gives up near Python's recursion limit
            raw = TOO_DEEP
        if raw is TOO_DEEP or _depth(raw, limits.max_depth) > limits.max_depth:
            reason = f"JSON nested deeper than {limits.max_depth} levels ([ingest] max_depth)"
            yield RecordError(where, lineno, "json", reason)
            continue
        if not isinstance(raw, dict):
            yield RecordError(where, lineno, "record", f"expected a JSON object, got {type(raw).__name__}")
            continue
        yield from _admitted(raw, where, lineno, limits, source=source)
    if not seen_any:
        yield RecordError(where, None, "file", "empty: no records")


def read_csv(
    path: Path, *, source: str = "file", limits: IngestSettings | None = None
) -> Iterator[Paper | RecordError]:
    """A CSV with a header line; every row must have as many values as the header has columns."""
    where, limits = str(path), limits or IngestSettings()
    csv.field_size_limit(limits.max_record_bytes)
    lines = _decode_lines(path)

    def text_lines() -> Iterator[str]:
        for _, line in lines:
            if isinstance(line, RecordError):
                raise SourceError(str(line))
            yield line

    # strict: a quote left open is an error at the end of the file, not the rest of the file read as one value
    reader = csv.reader(text_lines(), strict=True)
    header, rows, first_line = None, 0, 1
    try:
        for row in reader:
            line, first_line = first_line, reader.line_num + 1
            if header is None:
                header = [name.strip() for name in row]
            elif any(cell.strip() for cell in row):
                rows += 1
                yield from _csv_record(header, row, where, line, limits, source)
    except SourceError as exc:
        yield RecordError(where, None, "file", str(exc))
        return
    except csv.Error as exc:
        yield RecordError(where, first_line, "csv", _csv_reason(exc, limits))
        return
    if header is None:
        yield RecordError(where, None, "file", "empty: no records")
    elif not rows:
        shown = ", ".join(repr(name[:30]) for name in header[:4]) + (", ..." if len(header) > 4 else "")
        reason = f"a header line ({shown}) and no records after it; a CSV's first line names its columns"
        yield RecordError(where, 1, "file", reason)


def _csv_record(
    header: list[str], row: list[str], where: str, line: int, limits: IngestSettings, source: str
) -> Iterator[Paper | RecordError]:
    if len(row) != len(header):
        more_or_fewer = "more" if len(row) > len(header) else "fewer"
        reason = f"{len(row)} values, {more_or_fewer} than the header's {len(header)} columns"
        yield RecordError(where, line, "row", reason)
        return
    if too_big := _too_big(row, limits):
        yield RecordError(where, line, "row", too_big)
        return
    record: dict[str, Any] = {name: cell for name, cell in zip(header, row) if name}
    for name in LIST_FIELDS:  # papersift writes a list as a JSON array where an item holds a separator
        if record.get(name, "").startswith("["):
            try:
                record[name] = json.loads(record[name])
            except json.JSONDecodeError:
                pass  # a value that merely starts with a bracket: split as text
    if not record.get("topic", "").startswith("{"):
        record.pop("topic", None)  # another tool's free-text topic: the classifier gives papersift's own
    for name in ("extra", "topic"):  # papersift's export writes these as JSON objects, or leaves them empty
        if record.get(name, "").strip():
            try:
                record[name] = json.loads(record[name])
            except (json.JSONDecodeError, RecursionError) as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
                yield RecordError(where, line, name, f"invalid JSON: {reason}")
                return
    yield from _admitted(record, where, line, limits, source=source)


def _csv_reason(exc: csv.Error, limits: IngestSettings) -> str:
    message = str(exc)
    if "unexpected end of data" in message:
        return "a quote opened here is never closed: the rest of the file would be read as one value"
    if "field larger than field limit" in message:
        return f"a value over {limits.max_record_bytes:,} bytes ([ingest] max_record_bytes)"
    return message


def _latex_decoder():
    r"""bibtexparser's own LaTeX decoder settings: math kept as written, ``\url{x}`` as ``x``,
    ``\textasciicircum{}`` as the ASCII ``^`` it stands for (pylatexenc gives a modifier letter).

    Built here once so the same decoder can also read author names: bibtexparser's
    ``LatexDecodingMiddleware`` leaves list values (the split co-authors) untouched.
    """

    context = get_default_latex_context_db()
    context.add_context_category(
        "papersift",
        prepend=True,
        macros=[MacroTextSpec("url", simplify_repl="%s"), MacroTextSpec("textasciicircum", simplify_repl="^")],
    )
    return LatexNodes2Text(latex_context=context, math_mode="verbatim", keep_braced_groups=False)


def _parse_bibtex(text: str, decoder: LatexNodes2Text):
    """A library whose values are plain text: LaTeX decoded, ``month = jan`` a number, each
    author one "First von Last Jr" name (a braced ``{Barnes and Noble}`` stays one author), and
    why each failed block failed (bibtexparser says it only in its log, keyed by the block's line)."""
    reasons = _LoggedReasons()
    logger = logging.getLogger("bibtexparser")
    logger.addHandler(reasons)
    propagate, logger.propagate = logger.propagate, False  # its warnings are ours to report, once, by line
    try:
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
    finally:
        logger.removeHandler(reasons)
        logger.propagate = propagate
    return library, reasons.by_line


class _LoggedReasons(logging.Handler):
    ABORTED = re.compile(r"block \(line (\d+)\) aborted on line \d+ due to syntactical error in bibtex:\s*(.*)", re.S)

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.by_line: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        found = self.ABORTED.search(record.getMessage())
        if found:
            self.by_line[int(found[1])] = " ".join(found[2].split())


def _failure_reason(block, logged: dict[int, str]) -> str:
    error = getattr(block, "error", None)
    if block.start_line in logged:
        return logged[block.start_line]
    text = str(error).split(". Note:")[0] if error is not None and str(error) else ""
    return text or f"bibtexparser could not read it ({type(block).__name__})"


def _bibtex_record(entry, decoder) -> dict[str, Any]:
    raw: dict[str, Any] = {k.lower(): f.value for k, f in entry.fields_dict.items()}
    for name in ("author", "editor"):
        if isinstance(raw.get(name), list):
            raw[name] = [" ".join(decoder.latex_to_text(a).split()) for a in raw[name]]
    if isinstance(raw.get("title"), str):
        raw["title"] = " ".join(raw["title"].split())
    if isinstance(raw.get("keywords"), str):  # "a; b" (papersift, Zotero) or "a, b"
        separator = ";" if ";" in raw["keywords"] else ","
        raw["keywords"] = [k.strip() for k in raw["keywords"].split(separator) if k.strip()]
    if (
        raw.get("archiveprefix", "").lower() != "arxiv"
        and "eprint" in raw
        and not re.match(r"^\d{4}\.\d{4,5}", raw["eprint"])
    ):
        raw.pop("eprint")
    year, month = str(raw.get("year", "")).strip(), raw.get("month")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(raw.get("date", "")).strip()):  # biblatex's date, as papersift writes it
        raw["published"] = raw.pop("date").strip()
    elif year.isdigit() and isinstance(month, int) and 1 <= month <= 12:
        raw["published"] = f"{int(year):04d}-{month:02d}-01"
        raw.pop("month")
    raw["id"] = entry.key
    raw["entry_type"] = entry.entry_type
    return raw


BIB_START = re.compile(r"\s*@\s*(?P<kind>[A-Za-z]+)\s*[{(]\s*(?P<key>[^,\s]*)")
BRACE = re.compile(r"(?<!\\)[{}]")
BIB_GROUP = 200  # entries handed to bibtexparser at once: its own cost grows faster than linearly


@dataclass
class _BibBlock:
    """One ``@kind{...}`` block as it stands in the file: its first line, its text, and why its
    braces do not balance, if they do not."""

    line: int
    kind: str
    key: str
    lines: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def name(self) -> str:
        return _entry_name(self.key)


def _entry_name(key: str | None) -> str:
    """How an error names a BibTeX entry, before its field: ``entry KEY: ``."""
    return f"entry {key}: " if key else ""


def _bibtex_blocks(text: str) -> Iterator[_BibBlock]:
    """The file's blocks, split where a line starts ``@kind{`` outside any brace, in one pass.

    bibtexparser ends an entry at the first ``}`` that balances its opening one and reads what
    follows as a comment, so ``title={A}} B}`` loses every field after the title without a word;
    a brace never closed swallows the entries after it. Both are errors here, with their line."""
    block, depth = None, 0
    for lineno, line in enumerate(text.splitlines(keepends=True), start=1):
        start = BIB_START.match(line)
        if start:
            if block is not None:
                if depth > 0 and block.error is None:
                    block.error = (
                        f"a brace opened in this entry is still open where the next entry starts (line {lineno})"
                    )
                yield block
            block, depth = _BibBlock(lineno, start["kind"].lower(), start["key"]), 0
        if block is None:
            continue  # text before the first entry is a comment
        block.lines.append(line)
        if block.kind == "comment":
            continue
        for brace in BRACE.finditer(line):
            depth += 1 if brace[0] == "{" else -1
            if depth < 0:
                if block.error is None:
                    block.error = f"an extra '}}' on line {lineno} ends the entry before its last fields"
                depth = 0
    if block is not None:
        if depth > 0 and block.error is None:
            block.error = "a brace opened in this entry is never closed"
        yield block


def read_bibtex(
    path: Path, *, source: str = "bibtex", limits: IngestSettings | None = None
) -> Iterator[Paper | RecordError]:
    where, limits = str(path), limits or IngestSettings()
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
    del data
    decoder, macros, group, seen_any = _latex_decoder(), [], [], False
    for block in _bibtex_blocks(text):
        seen_any = True
        error = block.error or _too_big(block.lines, limits)
        if error:
            yield RecordError(where, block.line, f"{block.name}entry", error)
        elif block.kind == "string":
            macros.append(block)  # @string macros apply to every entry after them
        elif block.kind not in ("comment", "preamble"):
            group.append(block)
            if len(group) == BIB_GROUP:
                yield from _bibtex_group(group, macros, decoder, where, limits, source)
                group = []
    yield from _bibtex_group(group, macros, decoder, where, limits, source)
    if not seen_any:
        yield RecordError(where, None, "file", "empty: no BibTeX entries")


def _bibtex_group(
    group: list[_BibBlock], macros: list[_BibBlock], decoder, where: str, limits: IngestSettings, source: str
) -> Iterator[Paper | RecordError]:
    """Parse a group of balanced entries together (the macros first), each named by its own line."""
    if not group:
        return
    blocks = [*macros, *group]
    starts = list(accumulate((len(b.lines) for b in blocks), initial=0))  # 0-based line of each block
    library, logged = _parse_bibtex("".join(x for b in blocks for x in b.lines), decoder)

    def file_line(parsed_line: int | None) -> int:
        index = bisect.bisect_right(starts, parsed_line or 0) - 1
        return blocks[index].line + (parsed_line or 0) - starts[index]

    for failed in library.failed_blocks:
        if (failed.start_line or 0) < starts[len(macros)]:
            continue  # a broken macro: said once, where the macros' own group fails (see read_bibtex)
        line = file_line(failed.start_line)
        key = getattr(getattr(failed, "ignore_error_block", None), "key", None)
        yield RecordError(where, line, f"{_entry_name(key)}entry", _failure_reason(failed, logged))
    for entry in library.entries:
        yield from _admitted(
            _bibtex_record(entry, decoder),
            where,
            file_line(entry.start_line),
            limits,
            source=source,
            name=_entry_name(entry.key),
        )


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
    """ "Last, First" as "First Last", read the way BibTeX reads names; a name without a comma as it is."""

    if "," not in name:
        return name
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
    accession = str(fields.get("accession_number") or "")
    if accession.lower().startswith("arxiv:"):  # papersift's and Zotero's way to give an arXiv id in RIS
        raw["arxiv_id"] = accession[6:].strip()
        fields.pop("accession_number")
    return {**fields, **{k: v for k, v in raw.items() if v not in (None, [], "")}}


def read_ris(path: Path, *, source: str = "ris", limits: IngestSettings | None = None) -> Iterator[Paper | RecordError]:
    """RIS (EndNote, Zotero, Mendeley, most publishers' "export citation"), parsed by rispy."""

    where, limits = str(path), limits or IngestSettings()
    seen_any = False
    for item in _ris_records(_decode_lines(path), where):
        if isinstance(item, RecordError):
            yield item
            continue
        seen_any = True
        line, lines = item
        if too_big := _too_big(lines, limits):
            yield RecordError(where, line, "record", too_big)
            continue
        (fields,) = rispy.loads("\n".join(lines))
        yield from _admitted(_ris_record(fields), where, line, limits, source=source)
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


def read_file(
    path: Path, fmt: str | None = None, limits: IngestSettings | None = None
) -> Iterator[Paper | RecordError]:
    """Records of a local file, in the format its extension (or ``fmt``) names."""
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    fmt = fmt or EXTENSIONS.get(path.suffix.lower())
    if fmt not in READERS:
        raise SourceError(f"{path}: unknown format; use --format {'|'.join(FORMATS)}")
    return READERS[fmt](path, limits=limits)


__all__ = ["read_file", "read_jsonl", "read_csv", "read_bibtex", "read_ris", "paper_from_mapping", "FORMATS"]
