"""Importing local files: JSONL, CSV, BibTeX, RIS; a file with a bad record imports nothing."""

import json
from importlib.resources import as_file

import pytest
from conftest import shared_file
from hypothesis import given, settings
from hypothesis import strategies as st

from papersift.config import IngestSettings
from papersift.sources.base import InvalidInput, ingest
from papersift.sources.files import paper_from_mapping, read_file


def write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def good(i, **kw):
    return json.dumps({"id": f"r{i}", "title": f"Paper number {i}", "abstract": f"Abstract {i} with $O(n^2)$.", **kw})


def test_the_shared_catalog_imports_as_it_is_with_labels_and_reference_readings(store):
    path = shared_file("data/catalog-dev.jsonl")
    report = ingest(store, read_file(path), where=str(path))
    assert report.new == 481
    paper = next(store.iter_papers())
    assert paper.title is None and paper.abstract
    assert paper.topic.area == "基础/前沿模型 (含LLM)" and paper.topic.subarea
    assert set(paper.extra["summary_zh"]) == {
        "motivation",
        "problem",
        "observation",
        "method",
        "experiments",
        "contribution",
    }
    again = ingest(store, read_file(path), where=str(path))
    assert (again.new, again.updated, again.unchanged) == (0, 0, 481)


def test_arxiv_metadata_records_keep_their_id_date_authors_and_links(store):
    """The demo's bundled day of papers, as a source gives them: arXiv id, title, authors, first-version date, link."""
    from datetime import date

    from papersift.demo import PAPERS
    from papersift.models import Paper

    with as_file(PAPERS) as path:
        report = ingest(store, read_file(path), where=str(path))
    assert report.new == 19
    qwen3 = store.get(store.resolve("2505.09388"))  # found by its arXiv id
    assert qwen3.title == "Qwen3 Technical Report" and qwen3.published == date(2025, 5, 14)
    assert qwen3.authors[:2] == ["An Yang", "Anfeng Li"] and len(qwen3.authors) == 60
    assert (qwen3.url_abs, qwen3.url_pdf) == ("https://arxiv.org/abs/2505.09388", "https://arxiv.org/pdf/2505.09388")
    # the arXiv id is the dedup key: the same paper from the arXiv API merges into it
    assert (
        store.upsert(
            Paper(
                source="arxiv",
                source_id="2505.09388v2",
                arxiv_id="2505.09388",
                version=2,
                title="Qwen3 Technical Report",
                abstract=qwen3.abstract,
            )
        )[0]
        == qwen3.id
    )
    assert store.count() == 19


def test_an_arxiv_id_alone_gives_the_links_and_the_version():
    paper = paper_from_mapping({"eprint": "2505.11820v3", "title": "Chain-of-Model Learning for Language Model"})
    assert (paper.arxiv_id, paper.version) == ("2505.11820", 3)
    assert (paper.url_abs, paper.url_pdf) == ("https://arxiv.org/abs/2505.11820", "https://arxiv.org/pdf/2505.11820v3")
    given_link = paper_from_mapping({"arxiv_id": "2505.11820", "title": "t", "url": "https://example.org/p"})
    assert given_link.url_abs == "https://example.org/p"  # a record's own link wins


def test_latex_and_non_ascii_survive_intact(store, tmp_path):
    abstract = r"We bound $\nabla f(x)$ by $O(n^2)$ — 混合专家 naïve café."
    path = write(tmp_path / "a.jsonl", [json.dumps({"title": "Ünïcode", "abstract": abstract})])
    ingest(store, read_file(path), where=str(path))
    assert next(store.iter_papers()).abstract == abstract


def test_one_bad_line_fails_the_file_with_its_line_and_stores_nothing(store, tmp_path):
    store.upsert(paper_from_mapping({"title": "Already here", "abstract": "kept"}))
    path = write(
        tmp_path / "bad.jsonl",
        [good(1), "{not json", good(3), json.dumps({"id": "x", "keywords": ["a"]}), good(5, published="yesterday")],
    )
    with pytest.raises(InvalidInput) as err:
        ingest(store, read_file(path), where=str(path))
    message = str(err.value)
    assert f"{path}:2: json: invalid JSON" in message
    assert f"{path}:4: record: Value error, a paper needs a title or an abstract" in message
    assert f"{path}:5: published:" in message
    assert [p.title for p in store.iter_papers()] == ["Already here"]


def test_skip_invalid_keeps_the_good_records_and_reports_the_bad(store, tmp_path):
    path = write(tmp_path / "bad.jsonl", [good(1), "[1, 2]", good(3)])
    report = ingest(store, read_file(path), where=str(path), skip_invalid=True)
    assert report.new == 2
    assert [str(e) for e in report.errors] == [f"{path}:2: record: expected a JSON object, got list"]


@pytest.mark.parametrize(
    "content, reason", [(b"", "empty"), (b"\n\n", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00", "binary")]
)
def test_empty_and_binary_files_are_refused_clearly(store, tmp_path, content, reason):
    path = tmp_path / "input.jsonl"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=reason):
        ingest(store, read_file(path), where=str(path))


def test_csv_with_common_field_names(store, tmp_path):
    path = tmp_path / "papers.csv"
    path.write_text(
        'Title,Summary,Authors,Tags,Date,URL\n"A, B and C",An abstract.,"Ann Lee; Bo Chen",x;y,2025-05-01,https://e.org/1\n',
        encoding="utf-8",
    )
    ingest(store, read_file(path), where=str(path))
    paper = next(store.iter_papers())
    assert (paper.title, paper.authors, paper.keywords, str(paper.published), paper.url_abs) == (
        "A, B and C",
        ["Ann Lee", "Bo Chen"],
        ["x", "y"],
        "2025-05-01",
        "https://e.org/1",
    )


def refusal(store, path, text: str) -> str:
    """Why importing ``text`` as ``path`` is refused; the store is left as it was (empty)."""
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        ingest(store, read_file(path), where=str(path))
    assert store.count() == 0
    return str(refused.value)


@pytest.mark.parametrize(
    "text, error",
    [
        ("title,abstract\nok,fine\nbad,row,extra\n", "p.csv:3: row: 3 values, more than the header's 2 columns"),
        ("title,abstract\nok,fine\nshort\n", "p.csv:3: row: 1 values, fewer than the header's 2 columns"),
        # a quote left open would read the rest of the file as one title
        (
            'title,abstract\n"Paper A,abs A\nPaper B,abs B\nPaper C,abs C\n',
            "p.csv:2: csv: a quote opened here is never closed",
        ),
        ('title,abstract\nok,fine\n"open,x\n', "p.csv:3: csv: a quote opened here is never closed"),
        ('"' * 20000 + "\n", "p.csv:1: file: a header line ("),
        ("Paper A,abs A\n", "p.csv:1: file: a header line ('Paper A', 'abs A') and no records after it"),
    ],
    ids=["too-many", "too-few", "open-quote", "open-quote-late", "only-quotes", "no-header"],
)
def test_a_csv_is_read_strictly_or_refused_by_line(store, tmp_path, text, error):
    assert error in refusal(store, tmp_path / "p.csv", text)


def test_a_multi_line_quoted_csv_value_is_one_value_and_its_row_is_named_by_its_first_line(store, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('title,abstract\n"A, quoted","two\nlines"\nB,b\nC\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"p.csv:5: row: 1 values"):
        ingest(store, read_file(path), where=str(path))
    ingest(store, read_file(path), where=str(path), skip_invalid=True)
    assert sorted((p.title, p.abstract) for p in store.iter_papers()) == [("A, quoted", "two\nlines"), ("B", "b")]


BIB = r"""
@inproceedings{vaswani2017,
  title = {Attention Is {All} You Need},
  author = {Vaswani, Ashish and Shazeer, Noam},
  booktitle = {NeurIPS},
  year = {2017},
  doi = {10.5555/3295222.3295349},
  eprint = {1706.03762},
  archiveprefix = {arXiv},
  abstract = {The dominant sequence transduction models cost $O(n^2)$.}
}

@article{broken,
  title = {Missing closing brace
"""


def test_bibtex_entries_import_and_a_broken_entry_is_named(store, tmp_path):
    path = tmp_path / "refs.bib"
    path.write_text(BIB, encoding="utf-8")
    with pytest.raises(
        InvalidInput, match=r"refs.bib:13: entry broken: entry: a brace opened in this entry is never closed"
    ):
        ingest(store, read_file(path), where=str(path))
    report = ingest(store, read_file(path), where=str(path), skip_invalid=True)
    paper = store.get(report_first(store))
    assert report.new == 1
    assert (paper.title, paper.authors, paper.arxiv_id, paper.doi, paper.venue) == (
        "Attention Is All You Need",
        ["Ashish Vaswani", "Noam Shazeer"],
        "1706.03762",
        "10.5555/3295222.3295349",
        "NeurIPS",
    )
    assert paper.abstract.endswith("$O(n^2)$.")


@pytest.mark.parametrize(
    "text, error",
    [
        (
            "@misc{k1,\n title={Extra close}} brace},\n author={A. Person},\n abstract={Text.}\n}\n",
            "b.bib:1: entry k1: entry: an extra '}' on line 2 ends the entry before its last fields",
        ),
        (
            "@misc{k1,\n title={Never closed,\n author={A. Person}\n}\n@misc{k2, title={Fine}}\n",
            "b.bib:1: entry k1: entry: a brace opened in this entry is still open where the next entry starts (line 5)",
        ),
        (
            "@misc{k1,\n title={Open at the end\n",
            "b.bib:1: entry k1: entry: a brace opened in this entry is never closed",
        ),
        (
            "@misc{k2, title = {Fine}}\n\n@article{k3,\n title = {x} # {y\n}\n@misc{k4, title={B}}\n",
            "b.bib:3: entry k3: entry: a brace opened in this entry is still open",
        ),
    ],
    ids=["extra-brace", "open-brace-before-next", "open-brace-at-end", "open-brace-later-entry"],
)
def test_a_bibtex_entry_whose_braces_do_not_balance_is_named_with_its_line(store, tmp_path, text, error):
    assert error in refusal(store, tmp_path / "b.bib", text)


def test_a_broken_bibtex_entry_says_why_and_the_parser_logs_nothing(store, tmp_path, caplog):
    path = tmp_path / "b.bib"
    path.write_text('@misc{ok, title={Fine}}\n@article{bad, title = "never closed}\n', encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        ingest(store, read_file(path), where=str(path))
    assert "b.bib:2: entry: Unexpectedly reached end of file" in str(refused.value)
    assert not caplog.records


def test_bibtex_string_macros_apply_across_the_groups_a_long_file_is_parsed_in(store, tmp_path):
    entries = "".join(f"@misc{{k{i},\n  title = {{Paper {i}}},\n  venue = conf\n}}\n" for i in range(450))
    path = tmp_path / "many.bib"
    path.write_text('@string{conf = "Conference on Things"}\n' + entries + "@misc{late, title = {Late},}\n")
    report = ingest(store, read_file(path), where=str(path))
    assert report.new == 451
    assert {p.venue for p in store.iter_papers() if p.title != "Late"} == {"Conference on Things"}


def test_records_over_the_size_limits_and_json_nested_too_deep_are_refused_by_name(store, tmp_path):
    limits = IngestSettings(max_record_bytes=5_000, max_abstract_chars=1_000, max_depth=8)
    long = "word " * 300
    cases = {
        "a.jsonl": (
            json.dumps({"title": "T", "abstract": long}),
            "a.jsonl:1: abstract: 1,499 characters, over the limit of 1,000",
        ),
        "b.jsonl": (json.dumps({"title": "T", "abstract": long * 4}), "b.jsonl:1: record: 6,0"),
        "d.jsonl": ('{"title": "T", "extra": ' + "[" * 9 + "]" * 9 + "}", "d.jsonl:1: json: JSON nested deeper than 8"),
        "e.csv": (f"title,abstract\nT,{long * 4}\n", "e.csv:2: csv: a value over 5,000 bytes"),
        "f.bib": (f"@misc{{big,\n title={{T}},\n abstract={{{long * 4}}}\n}}\n", "f.bib:1: entry big: entry: 6,0"),
        "g.bib": (
            f"@misc{{long,\n title={{T}},\n abstract={{{long}}}\n}}\n",
            "g.bib:1: entry long: abstract: 1,499 characters",
        ),
        "h.ris": (f"TY  - JOUR\nTI  - T\nAB  - {long * 4}\nER  - \n", "h.ris:1: record: 6,0"),
    }
    for name, (text, error) in cases.items():
        path = tmp_path / name
        path.write_text(text + "\n", encoding="utf-8")
        with pytest.raises(InvalidInput) as refused:
            ingest(store, read_file(path, limits=limits), where=str(path))
        assert error in str(refused.value), name
    assert store.count() == 0
    # the defaults: nesting that would crash Python's JSON parser is refused as too deep,
    # and an abstract of 100,000 characters imports where one more is refused
    path = write(tmp_path / "bomb.jsonl", ['{"title": "T", "extra": ' + "[" * 100_000 + "]" * 100_000 + "}"])
    with pytest.raises(InvalidInput, match=r"bomb.jsonl:1: json: JSON nested deeper than 32 levels"):
        ingest(store, read_file(path), where=str(path))
    path = tmp_path / "edge.jsonl"
    write(
        path,
        [json.dumps({"title": "T", "abstract": "x" * 100_000}), json.dumps({"title": "U", "abstract": "x" * 100_001})],
    )
    with pytest.raises(InvalidInput, match=r"edge.jsonl:2: abstract: 100,001 characters"):
        ingest(store, read_file(path), where=str(path))


def import_text(store, tmp_path, name, text, **kw):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    ingest(store, read_file(path), where=str(path), **kw)
    return list(store.iter_papers())


def test_bibtex_as_people_write_it_latex_braces_and_corporate_authors(store, tmp_path):
    (paper,) = import_text(
        store,
        tmp_path,
        "refs.bib",
        r"""
@inproceedings{devlin2019,
  title = {{\textsc{BERT}}: Pre-training of Deep {Bidirectional} Transformers for $\mathcal{L}$anguage},
  author = {M{\"u}ller, Hans and {Barnes and Noble} and Jos\'e Garc\'{\i}a and von Neumann, Jr., John},
  booktitle = {Proceedings of NAACL},
  year = 2019,
  abstract = {Gains of 7.7\% \& more, at $O(n^2)$ cost.},
}""",
    )
    assert paper.authors == ["Hans Müller", "Barnes and Noble", "José García", "John von Neumann Jr."]
    assert (
        paper.title == r"BERT: Pre-training of Deep Bidirectional Transformers for $\mathcal{L}$anguage"
    )  # math kept as written
    assert paper.abstract == "Gains of 7.7% & more, at $O(n^2)$ cost."
    assert paper.venue == "Proceedings of NAACL"


def test_bibtex_month_macros_string_macros_and_accents(store, tmp_path):
    papers = import_text(
        store,
        tmp_path,
        "refs.bib",
        r"""
@string{acl = "Annual Meeting of the ACL"}
@article{a, title = "{\"U}ber {\AA}ngstr{\"o}m and {\ss}",   author = "Fran{\c{c}}ois Ch{\'e}rel", year = 2024, month = mar, journal = acl}
@article{b, title = {Second},  author = {Lee, Ann and others}, year = {2023}, month = {December}}
@article{c, title = {Third},  author = {Kim, Bo}, year = {2022}}
""",
    )
    by_key = {p.source_id: p for p in papers}
    assert (by_key["a"].title, by_key["a"].authors, by_key["a"].venue) == (
        "Über Ångström and ß",
        ["François Chérel"],
        "Annual Meeting of the ACL",
    )
    assert str(by_key["a"].published) == "2024-03-01"
    assert str(by_key["b"].published) == "2023-12-01" and by_key["b"].authors == ["Ann Lee", "others"]
    assert str(by_key["c"].published) == "2022-01-01"


def test_a_bibtex_entry_with_no_title_or_abstract_is_named_by_file_line_and_key(store, tmp_path):
    path = tmp_path / "refs.bib"
    path.write_text(
        "@article{fine, title = {Fine}}\n\n@misc{notitle,\n  author = {Someone},\n  year = {2020}\n}\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as err:
        ingest(store, read_file(path), where=str(path))
    assert f"{path}:3: entry notitle: record: Value error, a paper needs a title or an abstract" in str(err.value)
    assert list(store.iter_papers()) == []


RIS = """TY  - JOUR
TI  - Attention is all you need
AU  - Vaswani, Ashish
AU  - Shazeer, Noam
AB  - The dominant sequence transduction models.
KW  - transformers
KW  - attention
PY  - 2017/06/12/
DO  - https://doi.org/10.5555/3295222.3295349
UR  - https://arxiv.org/abs/1706.03762
JO  - Advances in NeurIPS
ER  - 

TY  - CONF
T1  - Müller's second paper
A1  - Müller, Hans
Y1  - 2020///
T2  - ICLR
ER  - 
"""


def test_ris_records_import_with_their_fields(store, tmp_path):
    papers = import_text(store, tmp_path, "refs.ris", RIS)
    by_title = {p.title: p for p in papers}
    first = by_title["Attention is all you need"]
    assert (first.authors, first.keywords, str(first.published), first.doi, first.url_abs, first.venue) == (
        ["Ashish Vaswani", "Noam Shazeer"],
        ["transformers", "attention"],
        "2017-06-12",
        "10.5555/3295222.3295349",
        "https://arxiv.org/abs/1706.03762",
        "Advances in NeurIPS",
    )
    second = by_title["Müller's second paper"]
    assert (second.authors, str(second.published), second.venue, second.extra["entry_type"]) == (
        ["Hans Müller"],
        "2020-01-01",
        "ICLR",
        "CONF",
    )


def test_a_ris_record_left_open_or_stray_text_is_named_not_dropped(store, tmp_path):
    path = tmp_path / "refs.ris"
    path.write_text("stray words\n" + RIS + "TY  - JOUR\nTI  - Never closed\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        ingest(store, read_file(path), where=str(path))
    message = str(err.value)
    assert f"{path}:1: record: text outside a TY ... ER record: 'stray words'" in message
    assert f"{path}:21: record: record not closed by an 'ER  -' line" in message
    assert list(store.iter_papers()) == []


def report_first(store):
    return next(store.iter_papers()).id


def test_an_unknown_extension_asks_for_a_format(tmp_path):
    from papersift.sources.base import SourceError

    path = tmp_path / "papers.txt"
    path.write_text("x")
    with pytest.raises(SourceError, match="--format"):
        read_file(path)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_the_jsonl_reader_never_crashes_on_arbitrary_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "f.jsonl"
    path.write_text(text, encoding="utf-8")
    for item in read_file(path):  # every line is a paper or a named error, never an exception
        assert item is not None


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["title", "abstract", "summary", "authors", "keywords", "year", "doi", "x"]),
        st.one_of(st.text(max_size=30), st.lists(st.text(max_size=10), max_size=3), st.integers()),
    )
)
def test_mapping_arbitrary_records_gives_a_paper_or_a_validation_error(record):
    from pydantic import ValidationError

    try:
        paper = paper_from_mapping(record)
    except ValidationError:
        return
    assert paper.title or paper.abstract
