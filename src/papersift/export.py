"""Export everything the store knows of each paper: JSONL, CSV, BibTeX, RIS, Markdown.

CSV and Markdown carry each paper's card in one language (the target language by default): its
status, translated title, TL;DR, six-part reading, keywords and digest paragraph.

JSONL, CSV, BibTeX and RIS read back with ``ingest file`` as the same papers (their ids, titles,
authors, dates, identifiers and keywords; JSONL and CSV also their topic labels): text is
escaped for each format rather than trusted to it, so quotes, commas, braces, LaTeX, newlines
and any script survive (BibTeX and RIS keep one line a value, so runs of whitespace become one
space). ``tests/test_export.py`` checks the round trip on generated hostile papers.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

from .labels import labels
from .models import READING_FIELDS, Paper
from .store import Store
from .text import one_line

FORMATS = ("jsonl", "csv", "bibtex", "ris", "markdown")


def paper_document(store: Store, paper: Paper) -> dict[str, Any]:
    """One paper as a JSON-ready dict: its fields, every source record's links, its enrichments,
    flags, deep-dives, predictions and curation. This is papersift's export schema; ``ingest file`` reads it back."""
    doc = paper.model_dump(mode="json")
    doc["sources"] = [
        {"source": r.source, "source_id": r.source_id, "url_abs": r.url_abs, "url_pdf": r.url_pdf}
        for r in store.records_of(paper.id)
    ]
    enrichments = {
        lang: {"status": status, **json.loads(data)} for lang, status, data in store.enrichments_of(paper.id)
    }
    if enrichments:
        doc["enrichment"] = enrichments
        doc["flags"] = sorted({e["status"] for e in enrichments.values() if e["status"] != "ok"})
    deepdives = {lang: json.loads(data) for lang, data in store.deepdives_of(paper.id).items()}
    if deepdives:
        doc["deepdive"] = deepdives
    predictions = store.predictions_of(paper.id)
    if predictions:
        doc["predictions"] = predictions
    marks = store.marks_of([paper.id]).get(paper.id)
    if marks:
        doc["curation"] = {k: marks[k] for k in ("starred", "hidden", "read", "note")}
    return doc


def _own_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The part of an export document that ``ingest file`` maps back onto a paper."""
    return {k: v for k, v in doc.items() if k in Paper.model_fields and k != "id"}


def write_jsonl(docs: Iterable[dict[str, Any]], out: TextIO) -> int:
    n = 0
    for doc in docs:
        out.write(json.dumps(doc, ensure_ascii=False) + "\n")
        n += 1
    return n


CSV_COLUMNS = [f for f in Paper.model_fields if f != "id"]
CARD_COLUMNS = ["card_lang", "card_status", "card_title", "card_tldr", *(f"card_{f}" for f in READING_FIELDS)]
CARD_COLUMNS += ["card_keywords", "card_digest"]


def card_of(doc: dict[str, Any], lang: str | None) -> tuple[str, dict[str, Any]] | None:
    """The paper's enrichment in ``lang`` (else in its first language) and the language, if it has one."""
    enrichments = doc.get("enrichment") or {}
    chosen = lang if lang in enrichments else next(iter(enrichments), None)
    return (chosen, enrichments[chosen]) if chosen else None


def card_cells(doc: dict[str, Any], lang: str | None) -> dict[str, str]:
    """The card as CSV cells: empty where the paper has none (a failed enrichment has no card)."""
    found = card_of(doc, lang)
    if not found:
        return {}
    chosen, enrichment = found
    card = enrichment.get("card") or {}
    reading = card.get("reading") or {}
    cells = {"card_lang": chosen, "card_status": enrichment["status"]}
    cells |= {
        "card_title": card.get("title", ""),
        "card_tldr": card.get("tldr", ""),
        "card_digest": card.get("digest", ""),
    }
    cells |= {f"card_{f}": reading.get(f, "") for f in READING_FIELDS}
    cells["card_keywords"] = csv_list(card.get("keywords") or [])
    return cells


def csv_list(values: list[str]) -> str:
    """A list as a spreadsheet shows it ("a; b"), or as a JSON array where an item holds the separators."""
    if any(re.search(r"[;,\n]", v) or v.startswith("[") for v in values):
        return json.dumps(values, ensure_ascii=False)
    return "; ".join(values)


def write_csv(docs: Iterable[dict[str, Any]], out: TextIO, lang: str | None = None) -> int:
    writer = csv.DictWriter(out, fieldnames=["id", *CSV_COLUMNS, *CARD_COLUMNS])
    writer.writeheader()
    n = 0
    for doc in docs:
        row = {"id": doc["id"], **card_cells(doc, lang)}
        for name, value in _own_fields(doc).items():
            if isinstance(value, list):
                row[name] = csv_list(value)
            elif isinstance(value, dict):
                row[name] = json.dumps(value, ensure_ascii=False) if value else ""
            else:
                row[name] = "" if value is None else value
        writer.writerow(row)
        n += 1
    return n


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
LATEX_SPECIALS = re.compile("|".join(re.escape(c) for c in LATEX_SPECIAL))
TEX_LIGATURES = re.compile(r"-(?=-)|'(?=')|`(?=`)|[!?](?=`)")  # "--" reads back as a dash, "''" as a quote
MATH = re.compile(r"\$[^$\\{}%]+\$")  # $O(n^2)$ kept as math, read back as written ("%" would start a comment)


def _escaped(text: str) -> str:
    text = LATEX_SPECIALS.sub(lambda c: LATEX_SPECIAL[c[0]], text)
    return TEX_LIGATURES.sub(r"\g<0>{}", text)


def latex_text(text: str) -> str:
    """Plain text as LaTeX that BibTeX tools (and ``ingest file``) read back as the same text."""
    out, end = [], 0
    for math in MATH.finditer(text):
        out += [_escaped(text[end : math.start()]), math[0]]
        end = math.end()
    out.append(_escaped(text[end:]))
    return one_line("".join(out))


def bibtex_key(doc: dict[str, Any]) -> str:
    first = re.sub(r"\W", "", (doc["authors"][0].split()[-1] if doc.get("authors") else "anon"), flags=re.A).lower()
    year = (doc.get("published") or "")[:4]
    word = next((w.lower() for w in re.findall(r"[A-Za-z]+", doc.get("title") or "") if len(w) > 3), "paper")
    return f"{first or 'anon'}{year}{word}_{doc['id'][:4]}"


def bibtex_entry(doc: dict[str, Any]) -> str:
    """One entry; every value braced, each author braced whole (so "Smith, J." or "R and D"
    reads back as one name, unsplit and unturned)."""
    fields: list[tuple[str, str]] = []
    if doc.get("title"):
        fields.append(("title", latex_text(doc["title"])))
    if doc.get("authors"):
        fields.append(("author", " and ".join("{" + latex_text(a) + "}" for a in doc["authors"])))
    if doc.get("published"):
        fields += [("year", doc["published"][:4]), ("date", doc["published"])]
    if doc.get("venue"):
        fields.append(("booktitle", latex_text(doc["venue"])))
    if doc.get("arxiv_id"):
        fields += [("eprint", doc["arxiv_id"]), ("archiveprefix", "arXiv")]
    for name, key in (("doi", "doi"), ("url", "url_abs")):
        if doc.get(key):
            fields.append((name, latex_text(doc[key])))
    if doc.get("keywords"):
        fields.append(("keywords", "; ".join(latex_text(k) for k in doc["keywords"])))
    if doc.get("abstract"):
        fields.append(("abstract", latex_text(doc["abstract"])))
    kind = "inproceedings" if doc.get("venue") else "misc"
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields)
    return f"@{kind}{{{bibtex_key(doc)},\n{body}\n}}\n"


def record_writer(render: Callable[[dict[str, Any]], str]) -> Callable[[Iterable[dict[str, Any]], TextIO], int]:
    """A writer of one ``render(doc)`` a paper, a blank line after each; it returns the count."""

    def write(docs: Iterable[dict[str, Any]], out: TextIO) -> int:
        n = 0
        for doc in docs:
            out.write(render(doc) + "\n")
            n += 1
        return n

    return write


def ris_record(doc: dict[str, Any]) -> str:
    """One RIS record (Zotero, EndNote, Mendeley): a tag a line, repeated for each author and keyword."""
    lines = [("TY", "CPAPER" if doc.get("venue") else "GEN"), ("ID", doc["id"])]
    lines += [("TI", doc.get("title"))] + [("AU", a) for a in doc.get("authors") or []]
    if doc.get("published"):
        lines += [("PY", doc["published"][:4]), ("DA", doc["published"].replace("-", "/"))]
    lines += [("T2", doc.get("venue")), ("DO", doc.get("doi")), ("UR", doc.get("url_abs")), ("AB", doc.get("abstract"))]
    lines += [("KW", k) for k in doc.get("keywords") or []]
    if doc.get("arxiv_id"):
        lines.append(("AN", f"arXiv:{doc['arxiv_id']}"))
    body = "".join(f"{tag}  - {one_line(value)}\n" for tag, value in lines if value and one_line(value))
    return body + "ER  - \n"


def card_markdown(doc: dict[str, Any], lang: str | None) -> str:
    """The card in its language's labels: translated title, TL;DR, the reading, the digest; a card
    that did not pass the checks says so first, in one line."""
    found = card_of(doc, lang)
    if not found or not found[1].get("card"):
        return ""
    chosen, enrichment = found
    L, card = labels(chosen), enrichment["card"]
    lines = [f"**{card['title']}**", ""]
    if enrichment["status"] != "ok":
        lines += [f"> {L['note_' + enrichment['status']].rstrip('：:')}", ""]
    lines += [f"**{L['tldr']}**{L['sep']}{card['tldr']}", ""]
    lines += [f"- **{L[f]}**{L['sep']}{card['reading'][f]}" for f in READING_FIELDS] + [""]
    return "\n".join([*lines, card["digest"], "", ""])


def write_markdown(docs: Iterable[dict[str, Any]], out: TextIO, lang: str | None = None) -> int:
    n = 0
    for doc in docs:
        title = doc.get("title") or (doc.get("abstract") or "")[:80] + "…"
        link = doc.get("url_abs")
        out.write(f"## {f'[{title}]({link})' if link else title}\n\n")
        if doc.get("authors"):
            out.write(", ".join(doc["authors"]) + "\n\n")
        if doc.get("keywords"):
            out.write(" ".join(f"`#{k}`" for k in doc["keywords"]) + "\n\n")
        out.write(card_markdown(doc, lang))
        if doc.get("abstract"):
            out.write(doc["abstract"] + "\n\n")
        n += 1
    return n


WRITERS = {
    "jsonl": write_jsonl,
    "csv": write_csv,
    "bibtex": record_writer(bibtex_entry),
    "ris": record_writer(ris_record),
    "markdown": write_markdown,
}


def documents(store: Store, papers: Iterable[Paper]) -> Iterator[dict[str, Any]]:
    for paper in papers:
        yield paper_document(store, paper)


def export(store: Store, fmt: str, out: TextIO, papers: Iterable[Paper] | None = None, lang: str | None = None) -> int:
    """Every paper (or these) in ``fmt``; CSV and Markdown with the card in ``lang``."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    docs = documents(store, papers if papers is not None else store.iter_papers())
    return WRITERS[fmt](docs, out, lang=lang) if fmt in ("csv", "markdown") else WRITERS[fmt](docs, out)
