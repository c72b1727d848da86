"""The daily run's sources: each ``[[daily.sources]]`` entry is one call of the library's
:func:`~papersift.sources.kinds.ingest_source`.

``type`` names the kind of source and every other key one of its options, by the name
``papersift ingest`` gives it (``max = 200``, ``full = true``, ``from = "2025-05-01"``, ``path``,
``url``, ``venue_id``); a source plugin's ``type`` is its name, its keys its parameters. A source
keeps its incremental cursor ("since its last run") as the command does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Settings, config_relative
from ..sources.base import HarvestInterrupted, SourceError
from ..sources.kinds import SourceOptionsError, ingest_source, source_options
from ..store import Store

NOT_OPTIONS = ("type", "name")


class DailyConfigError(ValueError):
    """A ``[daily]`` entry that cannot run: the message names the entry and the key."""


@dataclass
class SourceResult:
    name: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def source_name(spec: dict[str, Any], index: int) -> str:
    return str(spec.get("name") or f"{spec.get('type')}#{index + 1}")


def options_of(spec: dict[str, Any]) -> dict[str, Any]:
    """The entry's options, a file's path taken relative to the config file."""
    options = {k: v for k, v in spec.items() if k not in NOT_OPTIONS}
    if "path" in options:
        options["path"] = str(config_relative(str(options["path"])))
    return options


def check_source(spec: dict[str, Any], index: int) -> None:
    """A clear error naming the entry and the key, before anything runs."""
    kind = str(spec.get("type"))
    try:
        source_options(kind, options_of(spec))
    except SourceOptionsError as exc:
        label = f" ({kind})" if "is not a source" not in str(exc) and "plugin" not in str(exc) else ""
        raise DailyConfigError(f"daily.sources[{index}]{label}: {exc}") from None


def check_sources(specs: list[dict[str, Any]]) -> None:
    for i, spec in enumerate(specs):
        check_source(spec, i)


def run_source(spec: dict[str, Any], index: int, settings: Settings, store: Store) -> SourceResult:
    """Run one entry against the store; a failure is the result's error, never raised."""
    result = SourceResult(source_name(spec, index))
    try:
        check_source(spec, index)
        report = ingest_source(str(spec["type"]), options_of(spec), store, settings)
    except HarvestInterrupted as exc:
        report, result.error = exc.report, str(exc)
    except (DailyConfigError, SourceError, SourceOptionsError) as exc:
        result.error = str(exc)
        return result
    except Exception as exc:  # one source's surprise never stops the others
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    if report is not None:
        result.new, result.updated, result.unchanged, result.invalid = (
            report.new,
            report.updated,
            report.unchanged,
            len(report.errors),
        )
    return result
