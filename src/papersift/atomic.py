"""Files that appear whole or not at all: publications, exports, trained models."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary ``path.part`` to write, renamed over ``path`` when the block ends well and
    removed when it does not: a reader never sees half a file, a failure leaves nothing behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        if isinstance(exc, OSError) and exc.filename == str(tmp):
            exc.filename = str(path)  # the reader asked for path; the .part is papersift's own business
        with suppress(OSError):  # on a read-only file system even removing a missing file fails
            tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content, encoding="utf-8")
    return Path(path)
