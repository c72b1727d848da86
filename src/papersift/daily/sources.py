"""The daily run's sources: each ``[[daily.sources]]`` entry is one ``papersift ingest`` command.

``type`` names the subcommand and every other key one of its options by long name (``max =
200`` is ``--max 200``, ``full = true`` is ``--full``) or its argument by name (``path``,
``url``, ``venue_id``); a source plugin's ``type`` is its name, its keys its options. The command itself runs, so a source checks its options, keeps its
incremental cursor ("since its last run") and reports exactly as ``papersift ingest`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import typer

from ..config import Settings, config_relative
from ..plugins import PluginError
from ..sources.base import SOURCES, IngestReport

NOT_OPTIONS = {"json"}  # the daily run prints its own report


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


def _command(kind: str) -> Any:
    """The ``papersift ingest`` command of a source type (a plugin's is loaded here)."""
    from ..cli.ingest import app

    group = typer.main.get_command(app)
    return group.get_command(typer.Context(group), kind)


def _is_argument(param: Any) -> bool:
    return param.param_type_name == "argument"


def _key(param: Any) -> str | None:
    """The config key of a parameter: an option's long name without dashes, an argument's name."""
    if _is_argument(param):
        return param.name
    longs = [o[2:] for o in param.opts if o.startswith("--")]
    return longs[0] if longs else None


def _source_types() -> list[str]:
    from ..cli import ingest  # noqa: F401 - registers the built-in sources, which are its commands

    return SOURCES.names()


def source_name(spec: dict[str, Any], index: int) -> str:
    return str(spec.get("name") or f"{spec.get('type')}#{index + 1}")


def command_args(spec: dict[str, Any], index: int) -> tuple[Any, list[str]]:
    """The ingest command of a source entry and its command line; a clear error for a bad entry."""
    where = f"daily.sources[{index}]"
    kind = spec.get("type")
    if kind not in _source_types():
        raise DailyConfigError(f"{where}: type {kind!r} is not a source; use one of {', '.join(_source_types())}")
    try:
        SOURCES.get(kind)  # a plugin that fails to load is this entry's error, named
    except PluginError as exc:
        raise DailyConfigError(f"{where}: {exc}") from None
    command = _command(kind)
    params = {_key(p): p for p in command.params if _key(p) and _key(p) not in NOT_OPTIONS}
    params.update({k.replace("-", "_"): p for k, p in list(params.items())})
    args: list[str] = []
    positional: list[str] = []
    for key, value in spec.items():
        if key in ("type", "name"):
            continue
        param = params.get(key)
        if param is None:
            known = ", ".join(sorted({_key(p) for p in params.values()}))
            raise DailyConfigError(f"{where} ({kind}): unknown key {key!r}; {kind} takes: {known}")
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if key == "path":
            value = str(config_relative(str(value)))
        if _is_argument(param):
            positional.append(str(value))
        elif param.is_flag:
            if not isinstance(value, bool):
                raise DailyConfigError(f"{where} ({kind}): {key} must be true or false, not {value!r}")
            args += [param.opts[0]] if value else []
        else:
            args += [f"--{_key(param)}", str(value)]
    missing = [p.name for p in command.params if _is_argument(p) and p.required and _key(p) not in spec]
    if missing:
        raise DailyConfigError(f"{where} ({kind}): missing {', '.join(missing)}")
    return command, [*positional, *args]


def check_sources(specs: list[dict[str, Any]]) -> None:
    """Fail before anything runs when an entry is wrong, naming it."""
    for i, spec in enumerate(specs):
        command, args = command_args(spec, i)
        try:
            command.make_context(spec["type"], list(args), resilient_parsing=False)
        except typer.TyperException as exc:
            raise DailyConfigError(f"daily.sources[{i}] ({spec['type']}): {exc.format_message()}") from None


def run_source(spec: dict[str, Any], index: int, settings: Settings) -> SourceResult:
    """Run one source's ingest command against ``settings.db``; a failure is reported, not raised."""
    from ..cli import common

    result = SourceResult(source_name(spec, index))
    saved = common.state.settings, common.state.db
    common.state.settings, common.state.db = settings, str(settings.db)
    try:
        command, args = command_args(spec, index)
        capture = common.console.capture()  # the command's own messages: its error becomes the reason
        try:
            with capture, command.make_context(spec["type"], args) as ctx:
                report = command.invoke(ctx)
        except (typer.Exit, typer.TyperException) as exc:
            result.error = _failure(capture.get(), exc)
            return result
    except DailyConfigError as exc:
        result.error = str(exc)
        return result
    except Exception as exc:  # one source's surprise never stops the others
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    finally:
        common.state.settings, common.state.db = saved
    if isinstance(report, IngestReport):
        result.new, result.updated, result.unchanged, result.invalid = report.new, report.updated, report.unchanged, len(report.errors)
    return result


def _failure(output: str, exc: Exception) -> str:
    """The message the command printed (``error: ...``), else the exception's own."""
    for line in output.splitlines():
        if line.startswith("error:"):
            return " ".join(output[output.index(line) + len("error:"):].split())
    if hasattr(exc, "format_message"):
        return exc.format_message()
    return str(exc) or type(exc).__name__
