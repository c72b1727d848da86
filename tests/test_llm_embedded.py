"""The embedded engine: the packaged model registry (assembly, checksums, clear errors), the
build's instruction floor, and one real card from the default model (marked ``embedded``: it
loads a 1.1 GB model on the CPU and takes a minute or two)."""

from __future__ import annotations

import hashlib
import importlib.util
import platform
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from engines import default_model_missing
from typer.testing import CliRunner

from papersift.checks import guard, quality
from papersift.checks.language import check_card_language, language
from papersift.cli import app
from papersift.config import load_settings
from papersift.enrich.card_prompt import source_text
from papersift.enrich.pipeline import Enricher, card_mode
from papersift.llm import models
from papersift.llm.base import LLMError
from papersift.llm.client import LLMClient
from papersift.models import READING_FIELDS, Card
from papersift.sources.files import paper_from_mapping
from papersift.store import Store


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """A three-part packaged "model" whose part modules live in tmp_path."""
    pieces = [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 5]
    for i, data in enumerate(pieces, start=1):
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(data)
        module = types.ModuleType(f"fake_model_part{i}")
        module.get_part_path = lambda path=path: str(path)
        monkeypatch.setitem(sys.modules, f"fake_model_part{i}", module)
    whole = b"".join(pieces)
    model = models.PackagedModel(
        "fake-model",
        "test",
        "fake_model_part",
        "fake-model-part",
        3,
        "1.0",
        hashlib.sha256(whole).hexdigest(),
        len(whole),
    )
    monkeypatch.setenv("PAPERSIFT_CACHE_DIR", str(tmp_path / "cache"))
    return model, whole


def test_a_packaged_model_is_assembled_once_in_part_order_and_verified(fake_parts):
    model, whole = fake_parts
    path = models.assemble(model)
    assert path.read_bytes() == whole and path.parent.parent.name == "cache"
    assert list(path.parent.glob("*.part")) == []
    sys.modules["fake_model_part2"].get_part_path = lambda: "/nonexistent"  # parts are not read again
    assert models.assemble(model) == path


def test_a_corrupt_assembly_is_refused_and_leaves_nothing_behind(fake_parts, monkeypatch):
    model, _ = fake_parts
    wrong = models.PackagedModel(**{**model.__dict__, "sha256": "0" * 64})
    with pytest.raises(LLMError, match="corrupt.*force-reinstall fake-model-part1==1.0"):
        models.assemble(wrong)
    assert not any(models.assembled_path(wrong).parent.iterdir())


def test_missing_part_packages_are_named_in_the_error(fake_parts, monkeypatch):
    model, _ = fake_parts
    monkeypatch.delitem(sys.modules, "fake_model_part3")
    with pytest.raises(LLMError, match="missing fake-model-part3==1.0; run: pip install fake-model-part3==1.0"):
        models.assemble(model)


def test_the_first_command_to_need_the_model_says_it_assembles_it_with_its_size_then_never_again(
    fake_parts, tmp_path, monkeypatch
):
    model, whole = fake_parts
    monkeypatch.setitem(models.MODELS, model.name, model)
    monkeypatch.setenv("PAPERSIFT_LLM_EMBEDDED_MODEL", model.name)
    db = tmp_path / "empty.db"
    Store(db).close()  # nothing to enrich: the engine never starts, only the model is made ready

    first = CliRunner().invoke(app, ["--db", str(db), "enrich", "--backend", "embedded"])
    assert first.exit_code == 0, first.output
    assert (
        f"assembling the embedded model fake-model ({len(whole)} bytes) into {models.assembled_path(model)}, once"
        in first.stderr
    )
    assert "assembled fake-model in" in first.stderr
    assert models.assembled_path(model).read_bytes() == whole

    again = CliRunner().invoke(app, ["--db", str(db), "enrich", "--backend", "embedded"])
    assert again.exit_code == 0 and "assembl" not in again.stderr


def test_embedded_model_may_be_any_gguf_path_but_nothing_else(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF\x03\x00")
    assert models.resolve(str(gguf)) == gguf
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(LLMError, match="not a GGUF file"):
        models.resolve(str(other))
    with pytest.raises(LLMError, match="neither a packaged model"):
        models.resolve("no-such-model")


@pytest.mark.embedded
async def test_the_default_embedded_model_writes_a_grounded_card_with_six_distinct_fields(sample_records):
    """The path enrichment takes with this engine, on one real abstract: the grounded card (each
    field from its own sentences), the language check, the guard and the gate. The six reading
    fields are six different texts that the gate does not find repeating each other, and the
    status is the one the card deserves: an ``ok`` card is in Chinese and holds no number the
    abstract lacks."""
    reason = default_model_missing()
    if reason:
        pytest.skip(reason)
    record = next(r for r in sample_records if r["id"] == "c8f5df2594e")  # a short abstract with percentages
    paper = paper_from_mapping(record).model_copy(update={"id": record["id"]})  # as the store would name it
    settings = load_settings(llm={"backend": "embedded", "n_ctx": 4096})
    assert card_mode(settings) == "grounded"
    async with LLMClient(settings) as client:
        enricher = Enricher(client, "zh", model=client.model, mode=card_mode(settings))
        enrichment, _ = await enricher.enrich(paper)

    assert enrichment.status != "failed", enrichment.reasons
    card = Card.model_validate(enrichment.card.model_dump())
    fields = {f: getattr(card.reading, f) for f in READING_FIELDS}
    assert card.title and card.tldr and all(fields.values()) and card.digest
    assert len(set(fields.values())) == len(READING_FIELDS)
    assert quality.repeated_pairs({f"reading.{f}": t for f, t in fields.items()}, language("zh")) == []
    verdict = guard.check_card(card, source_text(paper))
    if enrichment.status == "ok":
        assert check_card_language(card, "zh").ok and verdict.ok, verdict.reasons
    else:
        assert enrichment.reasons  # flagged (or held back) says why


def test_the_installed_engine_uses_no_instruction_above_the_documented_floor():
    """x86-64: the build is AVX2 at most (README), so it runs on any x86-64-v3 CPU: no AVX-512
    (zmm registers) and no AMX (tile registers), which crash or trap on CPUs without them."""
    if platform.machine() != "x86_64":
        pytest.skip("the instruction floor is checked on x86-64")
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None, "llama-cpp-python is not installed (pip install 'papersift[embedded]')"
    [cpu_library] = [p for p in Path(spec.origin).parent.glob("lib/libggml-cpu.so") if p.is_file()]
    disassembly = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(cpu_library)], capture_output=True, text=True, check=True
    ).stdout
    above_floor = re.findall(r"\b(?:%zmm\d+|%tmm\d|ldtilecfg|tdpb\w+)\b", disassembly)
    assert above_floor == [], f"{cpu_library} uses {sorted(set(above_floor))[:5]}: rebuild with `make engine`"
    assert "%ymm" in disassembly  # and it is the AVX2 build, not a generic one
