"""Fuzzing every importer and the search query parser with Hypothesis.

Each reader has one documented way to refuse input, and arbitrary input must meet nothing else:

- local files (JSONL, CSV, BibTeX, RIS): iterating ``read_file`` yields papers and
  :class:`RecordError` s (``file:line: field: reason``), never raises; importing a file with
  any ``RecordError`` raises ``InvalidInput`` and stores nothing of it;
- network pages (RSS/Atom, arXiv Atom, OAI-PMH, OpenReview JSON, HF daily JSON): a
  :class:`SourceError` naming the URL for a page that cannot be read, and per-record
  ``RecordError`` s naming the URL and the record for the rest;
- PDF bytes: a ``SourceError`` naming the input;
- the search box: any text is a query FTS5 accepts, and ``search`` raises only ``SearchError``.

Inputs are both arbitrary (text, bytes, JSON) and the project's own fixtures mutated (a slice
cut, hostile tokens spliced in, the tail cut off), which reaches much deeper into each parser.
Example counts are modest so the suite stays fast; ``--hypothesis-show-statistics`` tells how
many cases ran.
"""

from __future__ import annotations

import io
import json
from datetime import date

import httpx
import pytest
from fixtures.sources.loopback import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from papersift.config import NetSettings
from papersift.models import Paper
from papersift.search import SearchError, search
from papersift.search.hybrid import fts_query
from papersift.sources import arxiv, hf, oai, openreview, rss
from papersift.sources.base import InvalidInput, RecordError, SourceError, ingest
from papersift.sources.files import read_file
from papersift.sources.http import Fetched, HttpClient
from papersift.sources.pdf import extract_text
from papersift.store import Store

FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
URL = "http://127.0.0.1:9/page"

# Tokens that break parsers: markup, entities, brackets, escapes, encodings, each format's own syntax.
HOSTILE = [
    b"<",
    b">",
    b"</entry>",
    b"<entry>",
    b"</record>",
    b"<record>",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#xD800;",
    b"&bogus;",
    b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]>",
    b"<![CDATA[",
    b"]]>",
    b"\x00",
    b"\xff\xfe",
    b"\xc3",
    b"\xed\xa0\x80",
    b'"',
    b"'",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b"\\",
    b"\\u0000",
    b"@",
    b"#",
    b"%",
    b"$",
    b"\n",
    b"\r\n",
    b"\t",
    b"TY  - ",
    b"ER  - ",
    b"@string{x = y}",
    b"\\textsc{",
    b'{\\"u}',
    b" and ",
    b"month = jan,",
    b"NaN",
    b"Infinity",
    b"1e999",
    b"-1",
    b"99999999999999999999",
    b"null",
    b"true",
    b"<script>alert(1)</script>",
    b"\xe2\x80\xae",
    b"%PDF-1.4",
    b"endobj",
    b"stream",
    b"xref",
    b"trailer",
    b"%%EOF",
    b"0 0 obj",
]


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """``seed`` with up to three edits: a slice cut, a token or random bytes spliced in, the tail cut off."""
    data = seed
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["cut", "insert", "replace", "truncate"]))
        piece = draw(st.sampled_from(HOSTILE) | st.binary(min_size=1, max_size=8))
        if kind == "cut":
            data = data[:at] + data[at + draw(st.integers(1, 64)) :]
        elif kind == "insert":
            data = data[:at] + piece + data[at:]
        elif kind == "replace":
            data = data[:at] + piece + data[at + len(piece) :]
        else:
            data = data[:at]
    return data


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def inputs(*seeds: bytes) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes and text, or a mutation of one of ``seeds``."""
    return st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.sampled_from(seeds).flatmap(mutated),
    )


def assert_named(item: RecordError, where: str) -> None:
    assert isinstance(item, RecordError) and str(item).startswith(where), item


def check_records(items, where: str) -> None:
    for item in items:
        if not isinstance(item, Paper | oai.Deleted):
            assert_named(item, where)


# --- local files ------------------------------------------------------------------------------------

JSONL_SEED = (
    b'{"id": "a", "title": "T", "abstract": "A", "authors": ["X Y"], "published": "2025-01-02"}\n{"title": "U"}\n'
)
CSV_SEED = (
    b'title,abstract,authors,keywords,date,extra\n"A, B",An abstract.,"Ann Lee; Bo Chen",x;y,2025-05-01,"{""k"": 1}"\n'
)
BIB_SEED = rb"""@string{acl = "ACL"}
@inproceedings{devlin2019,
  title = {{\textsc{BERT}}: Deep {Bidirectional} Transformers $O(n^2)$},
  author = {M{\"u}ller, Hans and {Barnes and Noble} and von Neumann, Jr., John},
  booktitle = acl, year = 2019, month = jan, keywords = {a; b},
  eprint = {1810.04805}, archiveprefix = {arXiv},
  abstract = {We get 7.7\% \& more.},
}
"""
RIS_SEED = b"TY  - JOUR\nTI  - Attention\nAU  - Vaswani, Ashish\nAB  - Models.\nKW  - a\nPY  - 2017/06/12/\nDO  - 10.1/x\nUR  - https://e.org\nER  - \n"
FILE_SEEDS = {"jsonl": JSONL_SEED, "csv": CSV_SEED, "bibtex": BIB_SEED, "ris": RIS_SEED}


KEPT = Paper(source="file", title="Stored before", abstract="A paper already in the store.")


@pytest.mark.parametrize("fmt", sorted(FILE_SEEDS))
def test_file_readers_yield_papers_or_named_record_errors(tmp_path_factory, fmt):
    @FUZZ
    @given(data=inputs(FILE_SEEDS[fmt]))
    def run(data: bytes) -> None:
        path = tmp_path_factory.mktemp("fuzz") / f"input.{fmt}"
        path.write_bytes(data)
        items = list(read_file(path, fmt))
        check_records(items, str(path))
        refused = any(isinstance(item, RecordError) for item in items)
        with Store(":memory:") as store:
            kept_id, _ = store.upsert(KEPT)
            try:
                report = ingest(store, iter(items), where=str(path))
            except InvalidInput:
                assert refused
                assert [p.id for p in store.iter_papers()] == [kept_id]  # a refused file stores nothing
            else:
                assert not refused
                assert report.new + report.updated + report.unchanged == len(items)

    run()


# --- network pages ----------------------------------------------------------------------------------


def page(content: bytes, content_type: str = "application/xml") -> Fetched:
    return Fetched(URL, 200, {"content-type": content_type}, content)


def refused_or_named(read, where: str = URL) -> None:
    """``read()`` gives records (each a paper or a named error), or raises a SourceError naming the input."""
    try:
        check_records(read(), where)
    except SourceError as exc:
        assert where in str(exc), exc


@FUZZ
@given(inputs(fixture_bytes("arxiv_rss_cs.CL.xml"), fixture_bytes("blog_atom.xml")))
def test_rss_and_atom_feeds(data):
    refused_or_named(lambda: rss.parse_feed(page(data)))


@FUZZ
@given(inputs(fixture_bytes("arxiv_page1.xml"), fixture_bytes("arxiv_v2.xml"), fixture_bytes("arxiv_error.xml")))
def test_arxiv_api_atom(data):
    refused_or_named(lambda: arxiv.parse_feed(page(data))[1])


@FUZZ
@given(
    inputs(
        fixture_bytes("oai_raw_page1.xml"), fixture_bytes("oai_arxiv_format.xml"), fixture_bytes("oai_bad_token.xml")
    )
)
def test_oai_pmh_xml(data):
    refused_or_named(lambda: oai.parse_page(page(data)).records)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
wrapped = json_values | json_values.map(lambda v: {"value": v})
CONTENT_FIELDS = ["title", "authors", "abstract", "keywords", "TLDR", "venue", "venueid", "pdf", "code", "primary_area"]
notes = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "forum": json_values,
        "content": st.dictionaries(st.sampled_from(CONTENT_FIELDS), wrapped) | json_values,
        **{
            name: json_values | st.integers(-(10**20), 10**20)
            for name in ("pdate", "odate", "cdate", "mdate", "tmdate")
        },
    },
)
hf_items = st.fixed_dictionaries(
    {},
    optional={
        "paper": st.fixed_dictionaries(
            {},
            optional={name: json_values for name in ("id", "title", "summary", "authors", "publishedAt", "githubRepo")},
        )
        | json_values,
        "title": json_values,
        "summary": json_values,
        "publishedAt": json_values,
    },
)


def as_json_body(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def json_client(body: bytes) -> HttpClient:
    """An HTTP client whose every answer is ``body``, in process (no socket)."""
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-type": "application/json"})
    )
    return HttpClient(NetSettings(max_retries=0), delays={}, sleep=lambda s: None, transport=transport)


def run_json_source(read, body: bytes) -> None:
    with json_client(body) as client:
        refused_or_named(lambda: read(client), where="http://127.0.0.1:9/")


@FUZZ
@given(
    st.one_of(
        inputs(fixture_bytes("openreview_page1.json"), fixture_bytes("openreview_error.json")),
        st.fixed_dictionaries({"notes": st.lists(notes, max_size=3)}, optional={"count": json_values}).map(
            as_json_body
        ),
    ),
    st.booleans(),
)
def test_openreview_json(body, incremental):
    since = 1 if incremental else None
    # limit: the mock answers every offset with the same page
    run_json_source(
        lambda c: openreview.submissions(c, "V", base_url="http://127.0.0.1:9/", changed_after_ms=since, limit=6), body
    )


@FUZZ
@given(
    st.one_of(
        inputs(fixture_bytes("hf_daily_2025-01-07.json")),
        st.lists(hf_items, max_size=3).map(as_json_body),
    )
)
def test_hugging_face_daily_json(body):
    run_json_source(lambda c: hf.daily(c, date(2025, 1, 7), base_url="http://127.0.0.1:9/"), body)


# --- PDF --------------------------------------------------------------------------------------------


def small_pdf() -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    pdf.drawString(72, 720, "Sparse attention reaches 53% of the baseline cost.")
    pdf.showPage()
    pdf.save()
    return out.getvalue()


@settings(max_examples=60, deadline=None)
@given(inputs(small_pdf(), b"%PDF-1.4\n%%EOF"))
def test_pdf_bytes_give_text_or_a_named_error(data):
    try:
        assert isinstance(extract_text(data, "fuzz.pdf"), str)
    except SourceError as exc:
        assert str(exc).startswith("fuzz.pdf: ")


# --- the search box ---------------------------------------------------------------------------------

queries = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(
            [
                '"',
                "AND",
                "OR",
                "NOT",
                "NEAR(",
                ")",
                "(",
                "*",
                "^",
                ":",
                "title:",
                "-",
                "+",
                "注意力",
                "稀疏",
                "attention",
                "'",
                "\\",
                "\x00",
                "{",
                "}",
                "col:x",
                '""',
            ]
        ),
        max_size=8,
    ).map(" ".join),
)


@pytest.fixture(scope="module")
def search_store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("search") / "s.db")
    store.upsert(Paper(source="file", title="Sparse attention 稀疏注意力", abstract="Attention AND near OR not."))
    yield store
    store.close()


@FUZZ
@given(queries)
def test_any_search_box_text_is_a_query_fts5_accepts(search_store, text):
    match = fts_query(text)
    if match is not None:  # what the parser hands FTS5 is valid MATCH syntax, whatever was typed
        search_store.conn.execute("SELECT count(*) FROM papers_fts WHERE papers_fts MATCH ?", (match,)).fetchone()
    try:
        search(search_store, text, mode="lexical")
    except SearchError as exc:
        assert str(exc)
