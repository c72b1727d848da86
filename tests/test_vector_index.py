"""The vector index beside the store (papersift.search.index): it answers as the exact scan does,
follows every embed run, and is rebuilt, never trusted, when it is missing, damaged or behind."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from papersift.models import Paper
from papersift.search import embed_store
from papersift.search import index as vector_index
from papersift.search.embeddings import paper_text
from papersift.search.index import (
    FILES,
    VectorIndex,
    VectorMatrix,
    build_index,
    index_folder,
    index_summary,
    indexed_generation,
    open_index,
    vector_searcher,
)

DIM = 128  # two 64-bit words a code


class HashEmbedder:
    """A vector per text, the same every time: clustered by the text's first word, as topics are."""

    name = "hash-128"

    def __init__(self) -> None:
        self.centres = np.random.default_rng(0).standard_normal((8, DIM))

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            topic = self.centres[zlib.crc32(text.split()[0].encode()) % 8]
            rows.append(topic + 0.8 * rng.standard_normal(DIM))
        vectors = np.asarray(rows, dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def paper(i: int, version: str = "") -> Paper:
    topic = ["agents", "diffusion", "retrieval", "kernels", "alignment", "speech", "vision", "proofs"][i % 8]
    return Paper(source="jsonl", source_id=f"p{i}", title=f"{topic} study {i}", abstract=f"{topic} paper {i} {version}")


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def filled(store, embedder):
    store.upsert_many([paper(i) for i in range(600)])
    embed_store(store, embedder)
    return store


def queries(embedder: HashEmbedder, n: int = 20) -> np.ndarray:
    return embedder.embed([f"{['agents', 'vision', 'proofs'][i % 3]} question {i}" for i in range(n)])


def top_ids(ranking: list[tuple[int, float]]) -> list[int]:
    return [rowid for rowid, _ in ranking]


def test_exact_and_indexed_search_agree_on_a_small_store(filled, embedder):
    exact = vector_searcher(filled, embedder.name, exact=True)
    indexed = vector_searcher(filled, embedder.name, exact=False)
    assert isinstance(exact, VectorMatrix) and isinstance(indexed, VectorIndex)
    for query in queries(embedder):
        want, got = exact.nearest(query, 10), indexed.nearest(query, 10)
        assert top_ids(got) == top_ids(want)
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=2e-3)  # float16 rows


def test_the_bits_find_the_nearest_among_a_few_candidates(filled, embedder, monkeypatch):
    """With 60 of 600 vectors rescored, the Hamming scan finds most of the exact top 10 (a random
    tenth would find a tenth); at 128 bits, a quarter of the real encoder's 512."""
    monkeypatch.setattr(vector_index, "RESCORE", 60)
    exact = vector_searcher(filled, embedder.name, exact=True)
    indexed = vector_searcher(filled, embedder.name, exact=False)
    found = [len(set(top_ids(indexed.nearest(q, 10))) & set(top_ids(exact.nearest(q, 10)))) for q in queries(embedder)]
    assert sum(found) / (10 * len(found)) >= 0.8, found


def test_filters_and_exclusions_are_honoured(filled, embedder):
    indexed = vector_searcher(filled, embedder.name, exact=False)
    allowed = np.array([r for (r,) in filled.conn.execute("SELECT rowid FROM papers WHERE rowid % 7 = 0")])
    query = queries(embedder, 1)[0]
    ranking = indexed.nearest(query, 10, allowed=allowed)
    assert len(ranking) == 10 and set(top_ids(ranking)) <= set(allowed.tolist())
    assert top_ids(ranking) == top_ids(vector_searcher(filled, embedder.name, exact=True).nearest(query, 10, allowed))
    first = top_ids(indexed.nearest(query, 1))[0]
    assert first not in top_ids(indexed.nearest(query, 10, exclude={first}))


def test_a_small_store_is_searched_exactly_and_a_large_one_through_the_index(filled, embedder, monkeypatch):
    assert isinstance(vector_searcher(filled, embedder.name), VectorMatrix)  # 600 < INDEX_FROM
    monkeypatch.setattr(vector_index, "INDEX_FROM", 500)
    vector_index._cache.clear()  # the choice is made once a generation of the vectors
    assert isinstance(vector_searcher(filled, embedder.name), VectorIndex)


def test_the_index_follows_adds_and_reembeds_without_a_rebuild(filled, embedder):
    vector_searcher(filled, embedder.name, exact=False)  # built
    filled.upsert_many([paper(i) for i in range(600, 650)])  # added
    changed = paper(3, version="now about speech")
    filled.upsert(changed)  # re-embedded: its text changed
    report = embed_store(filled, embedder)
    assert report.embedded == 51
    assert indexed_generation(filled, embedder.name) == filled.get_state("embeddings", embedder.name)

    rebuilt = []
    indexed = vector_searcher(filled, embedder.name, exact=False, on_build=lambda: rebuilt.append(1))
    assert rebuilt == [] and len(indexed.rowids) == 650
    for source_id in ("p620", "p3"):
        (paper_id,) = filled.conn.execute(
            "SELECT id FROM papers WHERE json_extract(data, '$.source_id') = ?", (source_id,)
        ).fetchone()
        vector = embedder.embed([paper_text(filled.get(paper_id))])[0]
        assert top_ids(indexed.nearest(vector, 1)) == [filled.rowid_of(paper_id)]
    exact = vector_searcher(filled, embedder.name, exact=True)
    for query in queries(embedder, 5):
        assert top_ids(indexed.nearest(query, 10)) == top_ids(exact.nearest(query, 10))


def test_vectors_deleted_behind_its_back_are_noticed_and_the_index_rebuilt(filled, embedder):
    vector_searcher(filled, embedder.name, exact=False)
    gone = [pid for (pid,) in filled.conn.execute("SELECT id FROM papers LIMIT 10")]
    with filled.transaction() as db:
        db.executemany("DELETE FROM embeddings WHERE paper_id = ?", [(pid,) for pid in gone])
    vector_index._cache.clear()  # a new process: the store's generation did not change, its count did
    rebuilt = []
    indexed = vector_searcher(filled, embedder.name, exact=False, on_build=lambda: rebuilt.append(1))
    assert rebuilt == [1] and len(indexed.rowids) == 590
    assert not {filled.rowid_of(pid) for pid in gone} & set(indexed.rowids.tolist())


def test_a_kill_in_the_middle_of_an_update_leaves_an_index_that_is_rebuilt(filled, embedder, monkeypatch):
    vector_searcher(filled, embedder.name, exact=False)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # after the rows were written, before meta.json

    monkeypatch.setattr(vector_index, "_write_meta", killed)
    filled.upsert_many([paper(i) for i in range(600, 620)])
    with pytest.raises(KeyboardInterrupt):
        embed_store(filled, embedder)
    monkeypatch.undo()
    assert open_index(filled, embedder.name) is None  # no meta.json: not trusted
    rebuilt = []
    indexed = vector_searcher(filled, embedder.name, exact=False, on_build=lambda: rebuilt.append(1))
    assert rebuilt == [1] and len(indexed.rowids) == 620


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / "meta.json").unlink(),
        lambda folder: (folder / "meta.json").write_text("{not json"),
        lambda folder: (folder / FILES["codes"][0]).write_bytes(b"\0" * 100),
        lambda folder: (folder / FILES["rows"][0]).unlink(),
    ],
    ids=["meta missing", "meta corrupt", "codes truncated", "rows missing"],
)
def test_a_missing_or_corrupt_index_file_is_rebuilt_not_a_crash(filled, embedder, damage):
    build_index(filled, embedder.name)
    damage(index_folder(filled.path, embedder.name))
    vector_index._cache.clear()
    indexed = vector_searcher(filled, embedder.name, exact=False)
    query = queries(embedder, 1)[0]
    assert top_ids(indexed.nearest(query, 10)) == top_ids(
        vector_searcher(filled, embedder.name, exact=True).nearest(query, 10)
    )


def test_stats_say_what_searches_the_vectors_and_its_memory(filled, embedder, monkeypatch):
    assert index_summary(filled, embedder.name) | {"memory_mib": None} == {
        "model": "hash-128",
        "vectors": 600,
        "index_from": vector_index.INDEX_FROM,
        "search": "exact",
        "memory_mib": None,
    }
    monkeypatch.setattr(vector_index, "INDEX_FROM", 500)
    assert index_summary(filled, embedder.name)["search"] == "index, rebuilt at the next search or embed"
    build_index(filled, embedder.name)
    summary = index_summary(filled, embedder.name)
    # rowids 8 bytes, codes 16, centre 512: the float16 rows stay on disk
    assert summary["search"] == "index" and summary["memory_mib"] == round((600 * 24 + 512) / 2**20, 1)
    assert summary["file_mib"] == round(600 * (8 + 16 + 2 * DIM) / 2**20, 1)


def test_the_stats_command_names_the_vector_search(filled):
    from typer.testing import CliRunner

    from papersift.cli import app

    result = CliRunner().invoke(app, ["stats"], env={"PAPERSIFT_DB": str(filled.path)})
    assert result.exit_code == 0, result.output
    assert "0 use-m3 vectors, searched exactly, 0.0 MiB in memory" in result.output  # the configured model's
