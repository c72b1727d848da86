"""What every source shares: record errors that name their place, and the ingest loops."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from ..models import Paper
from ..store import Store

BATCH_SIZE = 1000  # records stored together: big enough to amortise statements, small enough to stay flat in memory


class Source(Protocol):
    """A plugin source: a function whose parameters are its options, yielding the papers it reads.

    ``papersift ingest NAME`` is made from its signature (a parameter without a default is an
    argument, one with a default an ``--option``; ``typing.Annotated`` with ``typer.Option`` or
    ``typer.Argument`` adds help), its docstring is the command's help, and a ``[[daily.sources]]``
    entry of ``type = "NAME"`` runs it. It yields :class:`~papersift.models.Paper` records, and a
    :class:`RecordError` for a bad record; it raises :class:`SourceError` when it cannot read at all.
    The papers are stored as a file's are: in one transaction, none when a record is bad, unless
    ``--skip-invalid``.
    """

    def __call__(self, **options: Any) -> Iterable[Paper | RecordError]: ...


class SourceError(Exception):
    """A source could not be read: the message names the input and what went wrong."""


@dataclass(frozen=True)
class RecordError:
    """One bad record: ``file:line: field: reason``."""

    where: str
    line: int | None
    field: str
    reason: str

    def __str__(self) -> str:
        place = f"{self.where}:{self.line}" if self.line is not None else self.where
        return f"{place}: {self.field}: {self.reason}"

    @classmethod
    def from_validation(cls, where: str, line: int | None, exc: ValidationError) -> list[RecordError]:
        return [
            cls(where, line, ".".join(str(p) for p in err["loc"]) or "record", err["msg"])
            for err in exc.errors(include_url=False)
        ]


class InvalidInput(SourceError):
    def __init__(self, where: str, errors: list[RecordError]):
        self.errors = errors
        shown = "\n".join(f"  {e}" for e in errors[:50])
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{where}: {len(errors)} invalid record(s), nothing was imported:\n{shown}{more}")


@dataclass
class IngestReport:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RecordError] = field(default_factory=list)

    def count(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)

    def as_dict(self) -> dict:
        return {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "invalid": len(self.errors),
            "errors": [str(e) for e in self.errors],
        }


def ingest(
    store: Store,
    items: Iterable[Paper | RecordError],
    *,
    where: str,
    skip_invalid: bool = False,
    on_item: Callable[[], None] | None = None,
) -> IngestReport:
    """Store every paper of ``items`` in one transaction.

    By default one bad record stops the import and rolls everything back, so a file is
    imported whole or not at all; with ``skip_invalid`` the good records are kept and the bad
    ones reported. Items are consumed as a stream: memory does not grow with the input.
    """
    report = IngestReport()
    batch: list[Paper] = []

    def flush() -> None:
        for _, status in store.upsert_batch(batch):
            report.count(status)
        batch.clear()

    with store.transaction():
        for item in items:
            if on_item:
                on_item()
            if isinstance(item, RecordError):
                report.errors.append(item)
                continue
            if report.errors and not skip_invalid:
                continue  # keep reading to report every bad record; the transaction is rolled back below
            batch.append(item)
            if len(batch) >= BATCH_SIZE:
                flush()
        if report.errors and not skip_invalid:
            raise InvalidInput(where, report.errors)
        flush()
    return report


class HarvestInterrupted(SourceError):
    """A network harvest stopped part-way; what came before the error is stored."""

    def __init__(self, cause: Exception, report: IngestReport):
        self.report = report
        super().__init__(f"{cause} (stopped after storing {report.new} new and {report.updated} updated paper(s))")


def ingest_stream(
    store: Store,
    items: Iterable[Paper | RecordError],
    *,
    batch_size: int = BATCH_SIZE,
    on_item: Callable[[], None] | None = None,
    on_stored: Callable[[str, Paper], None] | None = None,
) -> IngestReport:
    """Store a long harvest batch by batch, one transaction per batch.

    Unlike :func:`ingest`, a bad record is reported and skipped (one failed paper never sinks
    a harvest), and when the source fails part-way the batches read so far are committed
    before :class:`HarvestInterrupted` is raised, so a long harvest keeps what it has. Each
    upsert is atomic, so no paper is ever half-written. ``on_stored(paper_id, record)`` runs
    for every stored record (sources use it to track their incremental-fetch cursor).
    """
    report = IngestReport()
    batch: list[Paper] = []

    def flush() -> None:
        with store.transaction():
            for record, (paper_id, status) in zip(batch, store.upsert_batch(batch)):
                report.count(status)
                if on_stored:
                    on_stored(paper_id, record)
        batch.clear()

    try:
        for item in items:
            if on_item:
                on_item()
            if isinstance(item, RecordError):
                report.errors.append(item)
                continue
            batch.append(item)
            if len(batch) >= batch_size:
                flush()
    except SourceError as exc:
        flush()
        raise HarvestInterrupted(exc, report) from exc
    except KeyboardInterrupt:
        flush()
        raise
    flush()
    return report
