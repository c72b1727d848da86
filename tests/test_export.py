"""Export, then import into a new store: the same papers come back, in every format that can carry them.

What must come back is what identifies a paper (arXiv id, DOI, title, authors) and what a reader
reads; the store's own id is not compared, since a store that merged a paper found twice keeps
the id it gave first. Text is generated hostile: quotes, commas, semicolons,
newlines, braces, LaTeX, CJK, emoji and control characters. BibTeX and RIS hold one line a
value, so there the text comes back with runs of whitespace as one space; RIS reads
"Last, First" as a name turned round (its own convention), so its authors are generated without
commas; in BibTeX a keyword list is split at semicolons, so its keywords hold none.
"""

from __future__ import annotations

import io
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from papersift.export import export
from papersift.models import Paper, Topic
from papersift.sources.base import ingest
from papersift.sources.files import read_file
from papersift.store import Store

HOSTILE = [
    '"',
    "'",
    ",",
    ";",
    "\n",
    "{",
    "}",
    "\\",
    "$",
    "%",
    "&",
    "#",
    "_",
    "~",
    "^",
    "--",
    "@misc{",
    "中文",
    "😀",
    "\x07",
]
ROUND_TRIP = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def text(alphabet_extra: list[str] = HOSTILE) -> st.SearchStrategy[str]:
    pieces = st.one_of(st.text(st.characters(codec="utf-8"), max_size=8), st.sampled_from(alphabet_extra))
    return st.lists(pieces, min_size=1, max_size=8).map("".join).filter(lambda t: Paper._blank_is_none(t))


def without(*chars: str) -> st.SearchStrategy[str]:
    return text([h for h in HOSTILE if not any(c in h for c in chars)]).filter(lambda t: not any(c in t for c in chars))


@st.composite
def papers(draw, fmt: str) -> Paper:
    author = without(",", ";", "\n") if fmt == "ris" else text()
    keyword = without(";", ",") if fmt in ("bibtex", "ris") else text()
    return Paper(
        source="file",
        title=draw(text()),
        authors=draw(st.lists(author, min_size=1, max_size=3)),
        abstract=draw(text()),
        keywords=draw(st.lists(keyword, max_size=3)),
        published=draw(st.dates(date(1990, 1, 1), date(2030, 12, 31))),
        arxiv_id=draw(st.none() | st.from_regex(r"2[0-4](0[1-9]|1[0-2])\.\d{5}", fullmatch=True)),
        doi=draw(st.none() | st.from_regex(r"10\.\d{4,5}/[a-z0-9.]{1,12}", fullmatch=True)),
        topic=draw(st.none() | st.builds(Topic, area=st.just("NLP"), subarea=st.sampled_from(["agents", "rag"]))),
    )


def comparable(paper: Paper, fmt: str) -> dict:
    flat = (lambda t: " ".join(t.split())) if fmt in ("bibtex", "ris") else (lambda t: t)
    fields = {
        "title": flat(paper.title),
        "authors": [flat(a) for a in paper.authors],
        "abstract": flat(paper.abstract),
        "keywords": [flat(k) for k in paper.keywords],
        "published": paper.published,
        "arxiv_id": paper.arxiv_id,
        "doi": paper.doi,
    }
    if fmt in ("jsonl", "csv"):
        fields["topic"] = paper.topic
    return fields


@pytest.mark.parametrize("fmt, suffix", [("jsonl", "jsonl"), ("csv", "csv"), ("bibtex", "bib"), ("ris", "ris")])
def test_every_export_format_reads_back_as_the_same_papers(tmp_path_factory, fmt, suffix):
    @ROUND_TRIP
    @given(st.lists(papers(fmt), min_size=1, max_size=4))
    def round_trip(generated):
        folder = tmp_path_factory.mktemp(fmt)
        with Store(folder / "a.db") as first, Store(folder / "b.db") as second:
            for paper in generated:
                first.upsert(paper)
            out = io.StringIO()
            export(first, fmt, out)
            path = folder / f"papers.{suffix}"
            path.write_text(out.getvalue(), encoding="utf-8")
            ingest(second, read_file(path), where=str(path))  # raises on any record it cannot read
            before = sorted((comparable(p, fmt) for p in first.iter_papers()), key=repr)
            after = sorted((comparable(p, fmt) for p in second.iter_papers()), key=repr)
            assert after == before, out.getvalue()

    round_trip()


def test_the_csv_export_of_a_paper_without_extra_fields_imports(tmp_path):
    """The export writes an empty ``extra`` cell; reading it as JSON once failed every row."""
    with Store(tmp_path / "a.db") as store:
        store.upsert(Paper(source="file", title="Plain", authors=["Ann Author"], abstract="Text."))
        out = io.StringIO()
        export(store, "csv", out)
    assert ",," in out.getvalue().splitlines()[1]
    path = tmp_path / "p.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    with Store(tmp_path / "b.db") as again:
        assert ingest(again, read_file(path), where=str(path)).new == 1


def test_the_ris_export_is_what_reference_managers_read():
    with io.StringIO() as out, Store(":memory:") as store:
        store.upsert(
            Paper(
                source="file",
                title="Attention Is All You Need",
                authors=["Ashish Vaswani", "Noam Shazeer"],
                arxiv_id="1706.03762",
                published=date(2017, 6, 12),
                venue="NeurIPS",
                keywords=["transformers"],
            )
        )
        export(store, "ris", out)
        lines = out.getvalue().splitlines()
    assert lines[0] == "TY  - CPAPER" and lines[-2] == "ER  - "
    assert "AU  - Ashish Vaswani" in lines and "AU  - Noam Shazeer" in lines
    assert {"PY  - 2017", "DA  - 2017/06/12", "T2  - NeurIPS", "AN  - arXiv:1706.03762", "KW  - transformers"} <= set(
        lines
    )
