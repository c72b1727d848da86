"""PDF full text: extracted with pypdfium2 from a file, a URL or the paper's own PDF link,
and stored beside the paper. Test PDFs are made with reportlab."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.sources.loopback import Loopback, Reply
from typer.testing import CliRunner

from papersift.cli import app
from papersift.config import NetSettings
from papersift.models import Paper
from papersift.sources.base import SourceError
from papersift.sources.http import HttpClient
from papersift.sources.pdf import attach_fulltext, extract_text

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
ENGLISH = "Sparse attention reaches 53% of the baseline cost."
CHINESE = "稀疏注意力将计算成本降低到基线的百分之五十三。"


def make_pdf(path: Path, pages: list[list[str]], *, cjk: bool = False) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font = "Helvetica"
    if cjk:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        pdfmetrics.registerFont(TTFont("WQY", str(CJK_FONT), subfontIndex=0))
        font = "WQY"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    for lines in pages:
        pdf.setFont(font, 12)
        for n, line in enumerate(lines):
            pdf.drawString(72, 760 - 20 * n, line)
        pdf.showPage()
    pdf.save()
    return path


@pytest.fixture
def english_pdf(tmp_path) -> Path:
    return make_pdf(tmp_path / "paper.pdf", [["Page one.", ENGLISH], ["Page two: $O(n^2)$ memory."]])


def test_text_of_every_page_in_order(english_pdf):
    text = extract_text(english_pdf.read_bytes(), str(english_pdf))
    assert ENGLISH in text and text.index("Page one.") < text.index("Page two")
    assert "\f" in text  # page boundaries survive


@pytest.mark.skipif(not CJK_FONT.exists(), reason="no CJK font installed")
def test_chinese_text_is_extracted(tmp_path):
    pdf = make_pdf(tmp_path / "zh.pdf", [[CHINESE, ENGLISH]], cjk=True)
    text = extract_text(pdf.read_bytes(), str(pdf))
    assert CHINESE in text and ENGLISH in text


def test_a_word_hyphenated_at_a_lines_end_is_made_whole():
    from papersift.sources.pdf import joined_hyphens

    # pdfium marks such a hyphen U+FFFE (the Qwen3 report has 41 of them)
    assert joined_hyphens("tai\ufffe\nloring the model") == "tailoring the model"
    assert joined_hyphens("DeepSeek\ufffeV3 Base") == "DeepSeek-V3 Base"
    assert joined_hyphens("multi\ufffe lingual") == "multilingual"


def test_a_file_that_is_not_a_pdf_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match=r"notes.txt: not a PDF \(it starts with b'hello"):
        extract_text(b"hello, world", str(tmp_path / "notes.txt"))
    with pytest.raises(SourceError, match="broken.pdf: unreadable PDF"):
        extract_text(b"%PDF-1.7\n garbage without any objects", "broken.pdf")


def test_a_pdf_without_text_is_reported(tmp_path):
    blank = make_pdf(tmp_path / "blank.pdf", [[]])
    with pytest.raises(SourceError, match="no extractable text"):
        extract_text(blank.read_bytes(), "blank.pdf")


def test_attach_from_the_papers_own_pdf_link(store, english_pdf):
    with Loopback() as s, HttpClient(NetSettings()) as client:
        s.route("/pdf/2501.00001v1", Reply(english_pdf.read_bytes(), content_type="application/pdf"))
        paper = Paper(
            source="arxiv", arxiv_id="2501.00001", title="Sparse attention", url_pdf=s.url("/pdf/2501.00001v1")
        )
        paper_id, _ = store.upsert(paper)
        attached, chars = attach_fulltext(store, "2501.00001", client=client)
    assert attached == paper_id and chars > len(ENGLISH)
    assert ENGLISH in store.fulltext(paper_id)


def test_a_failed_download_stores_nothing(store):
    with Loopback() as s, HttpClient(NetSettings()) as client:
        s.route("/pdf/x", Reply(b"<!DOCTYPE html><html>login required</html>", content_type="text/html"))
        paper_id, _ = store.upsert(Paper(source="arxiv", arxiv_id="2501.00009", title="T", url_pdf=s.url("/pdf/x")))
        with pytest.raises(SourceError, match="not a PDF"):
            attach_fulltext(store, paper_id, client=client)
    assert store.fulltext(paper_id) is None


def test_unknown_papers_and_papers_without_a_link(store):
    with pytest.raises(SourceError, match="no paper 'nope'"):
        attach_fulltext(store, "nope")
    store.upsert(Paper(source="file", title="No link here"))
    (paper,) = store.iter_papers()
    with pytest.raises(SourceError, match="has no PDF link"):
        attach_fulltext(store, paper.id)


def test_cli_ingest_pdf_from_a_local_file(tmp_path, english_pdf):
    db = tmp_path / "p.db"
    papers = tmp_path / "papers.jsonl"
    papers.write_text(json.dumps({"title": "Sparse attention", "arxiv_id": "2501.00001"}) + "\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["--db", str(db), "ingest", "file", str(papers)]).exit_code == 0
    result = CliRunner().invoke(
        app, ["--db", str(db), "ingest", "pdf", str(english_pdf), "--paper", "2501.00001", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["characters"] > 0
    no_paper = CliRunner().invoke(app, ["--db", str(db), "ingest", "pdf", str(english_pdf)])
    assert no_paper.exit_code == 2 and "--paper" in no_paper.output
    missing = CliRunner().invoke(
        app, ["--db", str(db), "ingest", "pdf", str(tmp_path / "gone.pdf"), "--paper", "2501.00001"]
    )
    assert missing.exit_code == 2 and "no such file" in missing.output
