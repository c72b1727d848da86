"""PDF full text with pypdfium2: from a local file, a URL, or the paper's own PDF link."""

from __future__ import annotations

import re
from pathlib import Path

import pypdfium2 as pdfium

from ..store import Store
from .base import SourceError
from .http import HttpClient

PAGE_BREAK = "\n\f\n"  # pages stay recognisable in the stored text
# pdfium writes U+FFFE where a word was hyphenated at a line's end: "tai\ufffeloring", "DeepSeek\ufffeV3"
_LINE_END_HYPHEN = re.compile(r"\ufffe\s*")


def joined_hyphens(text: str) -> str:
    """Words hyphenated at a line's end made whole: a lower-case word joined ("tailoring"), a
    name keeps its hyphen ("DeepSeek-V3")."""

    def join(m: re.Match[str]) -> str:
        before, after = text[m.start() - 1 : m.start()], text[m.end() : m.end() + 1]
        return "" if before.islower() and after.islower() else "-"

    return _LINE_END_HYPHEN.sub(join, text)


def extract_text(data: bytes, where: str) -> str:
    """The text of every page of a PDF; a file that is not a readable PDF is a clear error."""
    if not data.lstrip()[:5] == b"%PDF-":
        raise SourceError(f"{where}: not a PDF (it starts with {data[:16]!r})")
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise SourceError(f"{where}: unreadable PDF ({exc})") from exc
    try:
        pages = []
        for page in document:
            textpage = page.get_textpage()
            pages.append(textpage.get_text_range().replace("\r\n", "\n").strip())
            textpage.close()
            page.close()
    except pdfium.PdfiumError as exc:  # a damaged page table opens fine and fails here
        raise SourceError(f"{where}: unreadable PDF ({exc})") from exc
    finally:
        document.close()
    text = joined_hyphens(PAGE_BREAK.join(pages).strip())
    if not text:
        raise SourceError(f"{where}: the PDF has no extractable text (a scan without OCR?)")
    return text


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


def read_pdf(location: str, client: HttpClient | None = None) -> str:
    """Text of the PDF at a local path or an http(s) URL."""
    if is_url(location):
        if client is None:
            raise SourceError(f"{location}: a URL needs an HTTP client")
        return extract_text(client.get(location).content, location)
    path = Path(location)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    return extract_text(path.read_bytes(), str(path))


def attach_fulltext(
    store: Store, paper_ref: str, location: str | None = None, client: HttpClient | None = None
) -> tuple[str, int]:
    """Store the full text of a stored paper; without ``location`` its ``url_pdf`` is fetched.

    Returns ``(paper_id, characters)``. Nothing is written unless the text was extracted.
    """
    try:
        paper_id = store.resolve(paper_ref)
    except KeyError:
        raise SourceError(f"no paper {paper_ref!r} in {store.path}") from None
    if location is None:
        location = store.get(paper_id).url_pdf
        if not location:
            raise SourceError(f"paper {paper_ref!r} has no PDF link; give a file or URL")
    text = read_pdf(location, client)
    store.set_fulltext(paper_id, text, location)
    return paper_id, len(text)
