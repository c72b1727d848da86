"""The embedded engine: the packaged model registry (assembly, checksums, clear errors) and one
real run of the default model (marked ``embedded``: it loads a 1.1 GB model on the CPU)."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
import types

import pytest

from papersift.config import load_settings
from papersift.llm import models
from papersift.llm.base import LLMError
from papersift.llm.client import LLMClient


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
    model = models.PackagedModel("fake-model", "test", "fake_model_part", "fake-model-part", 3, "1.0",
                                 hashlib.sha256(whole).hexdigest(), len(whole))
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


def _default_model_available() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'papersift[embedded]')"
    try:
        models.part_paths(models.MODELS[models.DEFAULT_MODEL])
    except LLMError as exc:
        return str(exc)
    return None


@pytest.mark.embedded
async def test_the_default_embedded_model_translates_a_title_into_chinese():
    reason = _default_model_available()
    if reason:
        pytest.skip(reason)
    settings = load_settings(llm={"backend": "embedded", "n_ctx": 1024})
    async with LLMClient(settings) as client:
        result = await client.chat(
            [{"role": "system", "content": "Translate the paper title into Simplified Chinese. Reply with the title only."},
             {"role": "user", "content": "Attention Is All You Need"}],
            max_tokens=24,
        )
    assert re.search(r"[\u4e00-\u9fff]", result.text), result.text
    assert result.tokens_out <= 24 and result.model == models.DEFAULT_MODEL
