"""A paper as a PDF, made with reportlab for the tests that read full text: a title, numbered
sections each with one sentence of facts, optional filler prose and results-table rows, references."""

from __future__ import annotations

from pathlib import Path

FACTS = {
    "Abstract": "We present TinyMoE, a mixture-of-experts model with 8 experts that reaches 71.4% on GSM8K.",
    "1 Introduction": "Small devices need models under 2 GB. Dense models waste compute on easy tokens.",
    "2 Method": "TinyMoE routes each token to 2 of 8 experts with a learned router and a load-balancing loss weighted 0.01.",
    "3 Training Recipe": "We train on 300B tokens in two stages on 64 GPUs for 12 days.",
    "4 Experiments": "TinyMoE scores 71.4% on GSM8K against 65.2% for Llama-3-8B and 58.9% for Mistral-7B.",
    "5 Ablations": "Removing the balancing loss drops GSM8K accuracy to 66.0%. Latency rises by 1.3x with 4 experts active.",
    "6 Conclusion": "Sparse experts fit small devices. Future work includes 4-bit experts.",
}
FILLER = (
    "The design keeps every component simple so that it can be reproduced on modest hardware, "
    "and we describe each choice together with the reasoning behind it in the paragraphs that follow. "
)


def make_pdf(path: Path, *, filler_paragraphs: int = 0, table_rows: int = 0) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story = [
        Paragraph("TinyMoE: Sparse Experts for Small Devices", styles["Title"]),
        Paragraph("Ada Lovelace, Alan Turing", styles["Normal"]),
    ]
    for heading, fact in FACTS.items():
        story.append(Paragraph(heading, styles["Heading2"]))
        story.append(Paragraph(fact, styles["Normal"]))
        story += [Paragraph(FILLER * 3, styles["Normal"]) for _ in range(filler_paragraphs)]
        story += [Paragraph(table_row(i), styles["Normal"]) for i in range(table_rows)]
    story += [
        Paragraph("References", styles["Heading2"]),
        Paragraph("[1] A. Author. A reference with 99.9% nothing. 2020.", styles["Normal"]),
    ]
    SimpleDocTemplate(str(path), pagesize=A4).build(story)
    return path


def table_row(i: int) -> str:
    """A row of a results table: digits and decimal points, which a tokenizer spends a token on each."""
    return f"Model-{i} " + " ".join(f"{(i * 37 + k * 11) % 90 + 10}.{(i + k) % 10}" for k in range(12))
