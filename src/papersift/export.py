"""Export everything the store knows of each paper: JSONL, CSV, BibTeX, Markdown."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from .models import Paper
from .store import Store

FORMATS = ("jsonl", "csv", "bibtex", "markdown")


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


def write_csv(docs: Iterable[dict[str, Any]], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=["id", *CSV_COLUMNS])
    writer.writeheader()
    n = 0
    for doc in docs:
        row = {"id": doc["id"]}
        for name, value in _own_fields(doc).items():
            if isinstance(value, list):
                row[name] = "; ".join(value)
            elif isinstance(value, dict):
                row[name] = json.dumps(value, ensure_ascii=False) if value else ""
            else:
                row[name] = "" if value is None else value
        writer.writerow(row)
        n += 1
    return n


def _bib_escape(text: str) -> str:
    return text.replace("{", "\\{").replace("}", "\\}") if "$" not in text else text


def bibtex_key(doc: dict[str, Any]) -> str:
    first = re.sub(r"\W", "", (doc["authors"][0].split()[-1] if doc.get("authors") else "anon")).lower()
    year = (doc.get("published") or "")[:4]
    word = next((w.lower() for w in re.findall(r"[A-Za-z]+", doc.get("title") or "") if len(w) > 3), "paper")
    return f"{first}{year}{word}_{doc['id'][:4]}"


def bibtex_entry(doc: dict[str, Any]) -> str:
    fields: list[tuple[str, str]] = []
    if doc.get("title"):
        fields.append(("title", "{" + _bib_escape(doc["title"]) + "}"))
    if doc.get("authors"):
        fields.append(("author", " and ".join(doc["authors"])))
    if doc.get("published"):
        fields.append(("year", doc["published"][:4]))
    if doc.get("venue"):
        fields.append(("booktitle", doc["venue"]))
    if doc.get("arxiv_id"):
        fields += [("eprint", doc["arxiv_id"]), ("archiveprefix", "arXiv")]
    for name, key in (("doi", "doi"), ("url", "url_abs")):
        if doc.get(key):
            fields.append((name, doc[key]))
    if doc.get("keywords"):
        fields.append(("keywords", ", ".join(doc["keywords"])))
    if doc.get("abstract"):
        fields.append(("abstract", _bib_escape(doc["abstract"])))
    kind = "inproceedings" if doc.get("venue") else "misc"
    body = ",\n".join(f"  {k} = {{{v}}}" if not v.startswith("{") else f"  {k} = {v}" for k, v in fields)
    return f"@{kind}{{{bibtex_key(doc)},\n{body}\n}}\n"


def write_bibtex(docs: Iterable[dict[str, Any]], out: TextIO) -> int:
    n = 0
    for doc in docs:
        out.write(bibtex_entry(doc) + "\n")
        n += 1
    return n


def write_markdown(docs: Iterable[dict[str, Any]], out: TextIO) -> int:
    n = 0
    for doc in docs:
        title = doc.get("title") or (doc.get("abstract") or "")[:80] + "…"
        link = doc.get("url_abs")
        out.write(f"## {f'[{title}]({link})' if link else title}\n\n")
        if doc.get("authors"):
            out.write(", ".join(doc["authors"]) + "\n\n")
        if doc.get("keywords"):
            out.write(" ".join(f"`#{k}`" for k in doc["keywords"]) + "\n\n")
        if doc.get("abstract"):
            out.write(doc["abstract"] + "\n\n")
        n += 1
    return n


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "bibtex": write_bibtex, "markdown": write_markdown}


def documents(store: Store, papers: Iterable[Paper]) -> Iterator[dict[str, Any]]:
    for paper in papers:
        yield paper_document(store, paper)


def export(store: Store, fmt: str, out: TextIO, papers: Iterable[Paper] | None = None) -> int:
    if fmt not in WRITERS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return WRITERS[fmt](documents(store, papers if papers is not None else store.iter_papers()), out)
