"""The Parquet path, for a cluster that cannot reach the SQLite file.

``export-pending`` writes the papers that still need a card as Parquet files (``paper_id``, and
the paper as JSON in ``paper``); the cluster enriches them with Ray Data alone, reading and
writing Parquet (``paper_id``, the enrichment as JSON in ``enrichment``, ``reasked``); ``import``
merges the cards back into the store. A folder may be local or any URI pyarrow reads (``s3://``,
``gs://``, ``hdfs://``): on a cluster both folders must be reachable from every node.

Each step can be run again: exporting replaces the folder's earlier export, importing a card that
is already stored changes nothing, and a failed result never replaces a usable card. A cluster
run that stopped halfway is resumed by importing what it wrote and exporting again.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pydantic

from ..config import Settings
from ..enrich.pipeline import RunReport, Selection, pending_papers, save_result
from ..models import Enrichment
from ..store import Store
from .ray_enrich import card_stage
from .servers import servers_down_in

PAPER_COLUMNS = ("paper_id", "paper")
CARD_COLUMNS = ("paper_id", "enrichment", "reasked")
ROWS_PER_FILE = 10_000
EXPORT_PREFIX = "pending-"
IMPORT_KIND = "scale-import"
NO_RUN = 0  # run ids start at 1: an export belongs to no run, so no paper counts as done by it


class ParquetFolderError(ValueError):
    """A folder that is not what the step expects: the message names the folder or the file."""


def _filesystem(folder: str | Path) -> tuple[Any, str]:
    from pyarrow import fs  # deferred, optional: the scale extra

    uri = str(folder)
    if "://" not in uri:
        uri = str(Path(uri).resolve())
    return fs.FileSystem.from_uri(uri)


def _parquet_files(folder: str | Path, *, must_exist: bool = True) -> tuple[Any, list[str]]:
    from pyarrow import fs  # deferred, optional: the scale extra

    filesystem, root = _filesystem(folder)
    info = filesystem.get_file_info(root)
    if info.type == fs.FileType.NotFound:
        if not must_exist:
            return filesystem, []
        raise ParquetFolderError(f"{folder}: no such folder")
    if info.type != fs.FileType.Directory:
        raise ParquetFolderError(f"{folder}: not a folder")
    found = filesystem.get_file_info(fs.FileSelector(root))
    return filesystem, sorted(f.path for f in found if f.type == fs.FileType.File and f.path.endswith(".parquet"))


def checked_files(folder: str | Path, columns: tuple[str, ...], written_by: str) -> tuple[Any, list[str]]:
    """The folder's Parquet files, each checked to hold ``columns``; an error names the first that does not."""
    import pyarrow as pa  # deferred, optional: the scale extra
    import pyarrow.parquet as pq  # deferred, optional: the scale extra

    filesystem, files = _parquet_files(folder)
    if not files:
        raise ParquetFolderError(f"{folder}: no Parquet files (*.parquet) in it; they are written by {written_by}")
    for path in files:
        try:
            names = pq.read_schema(path, filesystem=filesystem).names
        except (pa.ArrowException, OSError) as exc:
            raise ParquetFolderError(f"{path}: not a Parquet file ({exc})") from exc
        missing = [c for c in columns if c not in names]
        if missing:
            raise ParquetFolderError(f"{path}: no column {', '.join(missing)}; is it a folder written by {written_by}?")
    return filesystem, files


# --- the store's side: export and import ------------------------------------------------------


def export_pending(
    store: Store, settings: Settings, out: str | Path, *, selection: Selection | None = None, force: bool = False
) -> int:
    """Write the papers without a usable card in ``settings.llm.lang`` (all selected ones with
    ``force``) to ``out`` as ``pending-NNNNN.parquet`` files; returns how many. An earlier export
    in the folder is replaced; other files are left alone."""
    import pyarrow as pa  # deferred, optional: the scale extra
    import pyarrow.parquet as pq  # deferred, optional: the scale extra

    filesystem, root = _filesystem(out)
    for old in _parquet_files(out, must_exist=False)[1]:
        if Path(old).name.startswith(EXPORT_PREFIX):
            filesystem.delete_file(old)
    filesystem.create_dir(root, recursive=True)
    papers, _ = pending_papers(store, settings.llm.lang, selection or Selection(), force, NO_RUN)
    written = 0
    while rows := list(islice(papers, ROWS_PER_FILE)):
        table = pa.table({"paper_id": [p.id for p in rows], "paper": [p.model_dump_json() for p in rows]})
        pq.write_table(table, f"{root}/{EXPORT_PREFIX}{written // ROWS_PER_FILE:05d}.parquet", filesystem=filesystem)
        written += len(rows)
    return written


@dataclass
class ImportReport:
    """What ``import`` did with each card of the folder."""

    run_id: int
    files: int = 0
    imported: int = 0
    unchanged: int = 0  # already stored as is
    kept: int = 0  # a failed result where the store has a usable card: the card stays
    unknown: list[str] = field(default_factory=list)  # papers the store does not have

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _outcome(store: Store, enrichment: Enrichment) -> str:
    stored = store.enrichment(enrichment.paper_id, enrichment.lang)
    if stored is not None and stored.model_copy(update={"created_at": None}) == enrichment.model_copy(
        update={"created_at": None}
    ):
        return "unchanged"
    if stored is not None and stored.status != "failed" and enrichment.status == "failed":
        return "kept"
    return "imported"


def import_cards(store: Store, folder: str | Path) -> ImportReport:
    """Merge the cards a cluster run wrote to ``folder`` into the store (see the module docstring)."""
    import pyarrow.parquet as pq  # deferred, optional: the scale extra

    filesystem, files = checked_files(folder, CARD_COLUMNS, "`papersift scale enrich --output`")
    run_id = store.start_run(IMPORT_KIND, {"folder": str(folder)}, resume=False)
    report = ImportReport(run_id=run_id, files=len(files))
    try:
        for path in files:
            table = pq.read_table(path, columns=["enrichment"], filesystem=filesystem)
            for row, text in enumerate(table.column("enrichment").to_pylist()):
                try:
                    enrichment = Enrichment.model_validate_json(text)
                except pydantic.ValidationError as exc:
                    raise ParquetFolderError(
                        f"{path}, row {row}: not an enrichment ({exc.errors()[0]['msg']})"
                    ) from exc
                if not store.count("id = ?", [enrichment.paper_id]):
                    report.unknown.append(enrichment.paper_id)
                    continue
                outcome = _outcome(store, enrichment)
                if outcome == "imported":
                    save_result(store, run_id, enrichment)
                setattr(report, outcome, getattr(report, outcome) + 1)
    except BaseException:
        store.finish_run(run_id, report.as_dict(), status="interrupted")
        raise
    store.finish_run(run_id, report.as_dict())
    return report


# --- the cluster's side -----------------------------------------------------------------------


def enrich_parquet(
    settings: Settings,
    input_dir: str | Path,
    output_dir: str | Path,
    *,
    base_urls: list[str],
    actors: int = 2,
    batch_size: int = 16,
) -> RunReport:
    """Enrich the papers of ``input_dir`` on the Ray cluster this process is connected to and
    write their enrichments to ``output_dir``: Ray Data reads, maps and writes; no store."""
    import ray  # deferred, optional: the scale extra

    if not base_urls:
        raise ValueError("give at least one OpenAI-compatible server URL (--server)")
    filesystem, files = checked_files(input_dir, PAPER_COLUMNS, "`papersift scale export-pending`")
    if _parquet_files(output_dir, must_exist=False)[1]:
        raise ParquetFolderError(
            f"{output_dir}: holds Parquet files already; import them, export again and give an empty folder"
        )
    if not ray.is_initialized():
        ray.init()
    report = RunReport(run_id=NO_RUN, lang=settings.llm.lang, model=settings.llm.model or "")
    started = time.monotonic()
    papers = ray.data.read_parquet(files, filesystem=filesystem).select_columns(list(PAPER_COLUMNS))
    cards = card_stage(papers, settings, base_urls, actors=actors, batch_size=batch_size)
    try:
        cards.select_columns(list(CARD_COLUMNS)).write_parquet(str(output_dir))
    except Exception as exc:
        down = servers_down_in(exc)
        if down is None:
            raise
        raise down from exc
    report.elapsed = time.monotonic() - started
    statuses = _statuses(output_dir)
    for status, n in statuses.items():
        setattr(report, status, n)
    report.total = report.done
    report.status = "done"
    return report


def _statuses(folder: str | Path) -> Counter[str]:
    import pyarrow.parquet as pq  # deferred, optional: the scale extra

    filesystem, files = _parquet_files(folder)
    counts: Counter[str] = Counter()
    for path in files:
        for text in pq.read_table(path, columns=["enrichment"], filesystem=filesystem).column("enrichment").to_pylist():
            counts[Enrichment.model_validate_json(text).status] += 1
    return counts
