"""Ranking the day's papers for a reader, and reading the reader's library from exported files."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from papersift.daily.library import LibraryError, read_library
from papersift.daily.rank import Interests, rank
from papersift.models import Paper

TODAY = date(2026, 11, 29)


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def paper(pid: str, title: str, *, abstract: str = "An abstract.", authors=(), published=TODAY) -> Paper:
    return Paper(id=pid, source="file", title=title, abstract=abstract, authors=list(authors), published=published)


def interests(**fields) -> Interests:
    return Interests(vectors=np.stack([unit(1, 0, 0)]), labels=["Paged attention for LLM serving"], **fields)


def ids(picks) -> list[str]:
    return [p.paper_id for p in picks]


def test_papers_closest_to_the_library_come_first_and_say_which_library_paper_they_are_close_to():
    papers = [paper("far", "Robots"), paper("near", "KV cache paging"), paper("mid", "Attention")]
    vectors = {"far": unit(0, 1, 0), "near": unit(1, 0.1, 0), "mid": unit(1, 1, 0)}
    picks = rank(papers, vectors, interests(), top=3, today=TODAY, diversity=0)
    assert ids(picks) == ["near", "mid", "far"]
    assert picks[0].why == ["close to Paged attention for LLM serving"]


def test_keyword_and_author_alerts_lift_a_paper_and_say_so():
    papers = [paper("near", "KV cache paging"), paper("alert", "Speculative decoding", authors=["Tri Dao"])]
    vectors = {"near": unit(1, 0.2, 0), "alert": unit(0.8, 1, 0)}
    picks = rank(papers, vectors, interests(keywords=["speculative decoding"], authors=["Dao"]), top=2, today=TODAY)
    assert ids(picks) == ["alert", "near"]
    assert picks[0].why[:2] == ["author Dao", "matches keyword speculative decoding"]


def test_an_excluded_term_leaves_the_paper_out_whatever_its_score():
    papers = [paper("clinical", "Clinical notes with KV cache"), paper("other", "Robots")]
    vectors = {"clinical": unit(1, 0, 0), "other": unit(0, 1, 0)}
    assert ids(rank(papers, vectors, interests(exclude=["clinical"]), top=5, today=TODAY)) == ["other"]


def test_diversity_lets_a_different_paper_in_before_a_near_duplicate_of_the_first_pick():
    papers = [paper("a", "A"), paper("a2", "A again"), paper("b", "B")]
    vectors = {"a": unit(1, 0.3, 0), "a2": unit(1, 0.31, 0), "b": unit(1, -0.5, 0.5)}
    assert ids(rank(papers, vectors, interests(), top=2, today=TODAY, diversity=0)) == ["a", "a2"]
    assert ids(rank(papers, vectors, interests(), top=2, today=TODAY, diversity=0.8)) == ["a", "b"]


def test_a_paper_closer_to_a_hidden_paper_than_to_the_library_drops():
    papers = [paper("like-hidden", "X"), paper("plain", "Y")]
    vectors = {"like-hidden": unit(1, 2, 0), "plain": unit(1, 0, 2.5)}
    assert ids(rank(papers, vectors, interests(), top=2, today=TODAY, diversity=0))[0] == "like-hidden"
    hidden = np.stack([unit(0, 1, 0)])
    assert ids(rank(papers, vectors, interests(hidden=hidden), top=2, today=TODAY, diversity=0))[0] == "plain"


def test_without_a_library_the_newest_papers_lead():
    papers = [paper("old", "Old", published=date(2026, 11, 1)), paper("new", "New")]
    empty = Interests(vectors=np.zeros((0, 1)), labels=[])
    picks = rank(papers, {}, empty, top=2, today=TODAY)
    assert ids(picks) == ["new", "old"] and picks[0].why == ["new since the last run"]


# --- the library files ------------------------------------------------------------------------

RIS = """TY  - JOUR
TI  - Efficient Memory Management for Large Language Model Serving with PagedAttention
AU  - Kwon, Woosuk
AB  - High throughput serving of large language models requires batching.
KW  - LLM serving
UR  - https://arxiv.org/abs/2309.06180
ER  -
"""

ZOTERO_CSV = """"Key","Item Type","Publication Year","Author","Title","Publication Title","DOI","Url","Abstract Note","Manual Tags","Extra"
"ABCD1234","preprint","2023","Kwon, Woosuk; Li, Zhuohan","Efficient Memory Management for LLM Serving","","","https://arxiv.org/abs/2309.06180v1","Paged attention for the KV cache.","LLM serving; KV cache","arXiv: 2309.06180"
"""

BIBTEX = """@article{kwon2023,
  title = {Efficient Memory Management for {LLM} Serving},
  author = {Kwon, Woosuk and Li, Zhuohan},
  eprint = {2309.06180},
  archivePrefix = {arXiv},
  abstract = {Paged attention for the KV cache.}
}
"""


@pytest.mark.parametrize(
    "name, content",
    [
        ("lib.ris", RIS),
        ("zotero.csv", ZOTERO_CSV),
        ("lib.bib", BIBTEX),
        ("lib.jsonl", '{"title": "Efficient Memory Management for LLM Serving", "arxiv_id": "2309.06180"}\n'),
    ],
)
def test_a_library_exported_by_a_reference_manager_reads_as_papers_with_their_arxiv_id(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    library = read_library([path])
    assert len(library.papers) == 1
    assert library.papers[0].arxiv_id == "2309.06180"
    assert "arxiv:2309.06180" in library.keys()


def test_zotero_authors_and_tags_are_split_as_zotero_writes_them(tmp_path):
    path = tmp_path / "zotero.csv"
    path.write_text(ZOTERO_CSV, encoding="utf-8")
    (only,) = read_library([path]).papers
    assert only.authors == ["Woosuk Kwon", "Zhuohan Li"] and only.keywords == ["LLM serving", "KV cache"]


def test_a_text_file_of_arxiv_ids_and_its_bad_line_named(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("# my reading list\n2309.06180v2\nhttps://arxiv.org/abs/2401.18079\n", encoding="utf-8")
    assert read_library([path]).arxiv_ids == ["2309.06180", "2401.18079"]
    path.write_text("2309.06180\nnot-an-id\n", encoding="utf-8")
    with pytest.raises(LibraryError, match=r"ids.txt:2: 'not-an-id' is not an arXiv id"):
        read_library([path])


def test_a_missing_library_file_is_named(tmp_path):
    with pytest.raises(LibraryError, match="nowhere.bib: no such library file"):
        read_library([tmp_path / "nowhere.bib"])


def test_in_cold_start_the_papers_readers_upvoted_lead_and_say_so():
    popular = paper("popular", "Popular", published=date(2026, 11, 28)).model_copy(update={"extra": {"upvotes": 120}})
    papers = [paper("quiet", "Quiet"), popular, paper("some", "Some").model_copy(update={"extra": {"upvotes": 3}})]
    empty = Interests(vectors=np.zeros((0, 1)), labels=[])
    picks = rank(papers, {}, empty, top=3, today=TODAY)
    assert ids(picks) == ["popular", "some", "quiet"]  # a day older, but 120 upvotes
    assert picks[0].why == ["upvotes 120"] and picks[0].evidence["popularity"] > picks[1].evidence["popularity"] > 0
    with_library = rank(papers, {}, interests(), top=3, today=TODAY)
    assert "popularity" not in with_library[0].evidence  # a reader with a library is ranked by what they read
