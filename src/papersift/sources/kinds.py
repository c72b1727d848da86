"""Every kind of source behind one call: ``ingest_source(kind, options, store, settings) -> IngestReport``.

The CLI (``papersift ingest KIND``), the daily run (``[[daily.sources]]``), the web app and the
tests all call it. Each built-in kind has typed options (a pydantic model whose aliases are the
option names a user writes: ``max``, ``from``, ``all-submissions``); a plugin source's options are
its function's parameters. Bad options raise :class:`SourceOptionsError`, naming the key; a source
that cannot be read raises :class:`~papersift.sources.base.SourceError`. A network harvest that
finds nothing new since its last run returns ``None``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from ..config import Settings
from ..plugins import PluginError, Registry
from ..store import Store
from . import arxiv, files, hf, oai, openreview, rss
from .base import IngestReport, SourceError, ingest
from .http import HttpClient

OnItem = Callable[[], None] | None


class SourceOptionsError(ValueError):
    """Options a source cannot run with; the message names the key."""


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class FileOptions(Options):
    path: Path
    format: str | None = None
    skip_invalid: bool = Field(False, alias="skip-invalid")


class ArxivOptions(Options):
    category: str | None = None
    query: str | None = None
    ids: tuple[str, ...] = ()
    date_from: date | None = Field(None, alias="from")
    date_until: date | None = Field(None, alias="until")
    max: int | None = None
    full: bool = False

    @field_validator("ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return tuple(i.strip() for i in value.split(",") if i.strip()) if isinstance(value, str) else value


class OaiOptions(Options):
    set: str | None = None
    date_from: date | None = Field(None, alias="from")
    date_until: date | None = Field(None, alias="until")
    format: str = "arXivRaw"
    full: bool = False


class OpenReviewOptions(Options):
    venue_id: str
    max: int | None = None
    all_submissions: bool = Field(False, alias="all-submissions")
    full: bool = False


class HfDailyOptions(Options):
    day: date | None = Field(None, alias="date")
    full: bool = False


class RssOptions(Options):
    url: str
    full: bool = False


def file_source(
    o: FileOptions, store: Store, settings: Settings, on_item: OnItem, client: HttpClient | None
) -> IngestReport:
    return ingest(
        store,
        files.read_file(o.path, o.format, settings.ingest),
        where=str(o.path),
        skip_invalid=o.skip_invalid,
        on_item=on_item,
    )


def arxiv_source(
    o: ArxivOptions, store: Store, settings: Settings, on_item: OnItem, client: HttpClient | None
) -> IngestReport | None:
    try:
        query = arxiv.ArxivQuery(
            category=o.category, search=o.query, ids=o.ids, date_from=o.date_from, date_until=o.date_until
        )
    except ValueError as exc:
        raise SourceOptionsError(str(exc)) from exc
    with _client(client, settings) as client:
        return arxiv.sync(
            store, client, query, base_url=settings.net.arxiv_api_url, full=o.full, limit=o.max, on_item=on_item
        )


def oai_source(
    o: OaiOptions, store: Store, settings: Settings, on_item: OnItem, client: HttpClient | None
) -> IngestReport | None:
    if o.format not in oai.FORMATS:
        raise SourceOptionsError(f"format {o.format!r}: use one of {', '.join(oai.FORMATS)}")
    with _client(client, settings) as client:
        return oai.sync(
            store,
            client,
            base_url=settings.net.arxiv_oai_url,
            metadata_prefix=o.format,
            set_spec=o.set,
            full=o.full,
            on_item=on_item,
            date_from=o.date_from.isoformat() if o.date_from else None,
            date_until=o.date_until.isoformat() if o.date_until else None,
        )


def openreview_source(
    o: OpenReviewOptions, store: Store, settings: Settings, on_item: OnItem, client: HttpClient | None
) -> IngestReport | None:
    with _client(client, settings) as client:
        return openreview.sync(
            store,
            client,
            o.venue_id,
            base_url=settings.net.openreview_api_url,
            all_submissions=o.all_submissions,
            limit=o.max,
            full=o.full,
            on_item=on_item,
        )


def hf_daily_source(
    o: HfDailyOptions, store: Store, settings: Settings, on_item: OnItem, client: HttpClient | None
) -> IngestReport | None:
    with _client(client, settings) as client:
        return hf.sync(
            store,
            client,
            o.day or datetime.now(UTC).date(),
            base_url=settings.net.hf_api_url,
            full=o.full,
            on_item=on_item,
        )


def rss_source(
    o: RssOptions, store: Store, settings: Settings, on_item: OnItem, client: HttpClient | None
) -> IngestReport | None:
    with _client(client, settings) as client:
        return rss.sync(store, client, o.url, full=o.full, on_item=on_item)


def _client(client: HttpClient | None, settings: Settings) -> Any:
    """The caller's client (theirs to close), or one of the settings' for this harvest."""
    return nullcontext(client) if client is not None else HttpClient(settings.net)


@dataclass(frozen=True)
class Kind:
    """A built-in source: its options and how it runs; ``describe`` names the input in reports."""

    options: type[Options]
    run: Callable[[Any, Store, Settings, OnItem, HttpClient | None], IngestReport | None]
    describe: Callable[[Any, Settings], str]


# The built-in kinds, and a plugin's Source (``papersift.sources`` entry points) under its name.
SOURCES: Registry[Any] = Registry("sources", "source")
KINDS: dict[str, Kind] = {
    "file": Kind(FileOptions, file_source, lambda o, s: str(o.path)),
    "arxiv": Kind(
        ArxivOptions, arxiv_source, lambda o, s: "arXiv " + (o.query or o.category or ",".join(o.ids) or "by date")
    ),
    "oai": Kind(OaiOptions, oai_source, lambda o, s: f"OAI-PMH {s.net.arxiv_oai_url} set={o.set or 'all'}"),
    "openreview": Kind(OpenReviewOptions, openreview_source, lambda o, s: f"OpenReview {o.venue_id}"),
    "hf-daily": Kind(
        HfDailyOptions, hf_daily_source, lambda o, s: f"HF daily papers {o.day or datetime.now(UTC).date()}"
    ),
    "rss": Kind(RssOptions, rss_source, lambda o, s: o.url),
}
for _name, _kind in KINDS.items():
    SOURCES.builtin(_name, _kind.run)


def option_names(kind: str) -> list[str]:
    """The option names a source of this kind takes, as a user writes them."""
    target = _target(kind)
    if isinstance(target, Kind):
        return sorted(f.alias or name for name, f in target.options.model_fields.items())
    return sorted(inspect.signature(target).parameters)


def _target(kind: str) -> Any:
    if kind in KINDS:
        return KINDS[kind]
    if kind not in SOURCES.names():
        raise SourceOptionsError(f"type {kind!r} is not a source; use one of {', '.join(SOURCES.names())}")
    try:
        return SOURCES.get(kind)
    except PluginError as exc:  # a plugin that fails to load is this source's error, named
        raise SourceOptionsError(str(exc)) from None


def source_options(kind: str, options: dict[str, Any]) -> Any:
    """The options checked (a built-in's model, a plugin's keyword arguments), or a clear error naming the key."""
    target = _target(kind)
    if isinstance(target, Kind):
        try:
            return target.options.model_validate(options)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            key = ".".join(str(p) for p in error["loc"])
            if error["type"] == "extra_forbidden":
                raise SourceOptionsError(
                    f"unknown key {key!r}; {kind} takes: {', '.join(option_names(kind))}"
                ) from None
            raise SourceOptionsError(f"{key}: {error['msg']}") from None
    parameters = inspect.signature(target).parameters
    unknown = [k for k in options if k not in parameters]
    if unknown:
        raise SourceOptionsError(f"unknown key {unknown[0]!r}; {kind} takes: {', '.join(sorted(parameters))}")
    missing = [n for n, p in parameters.items() if p.default is inspect.Parameter.empty and n not in options]
    if missing:
        raise SourceOptionsError(f"missing {', '.join(missing)}")
    hints = get_type_hints(target)  # a config file gives strings; the plugin asked for a Path, an int...
    try:
        return {k: TypeAdapter(hints[k]).validate_python(v) if k in hints else v for k, v in options.items()}
    except ValidationError as exc:
        raise SourceOptionsError(f"{exc.title}: {exc.errors(include_url=False)[0]['msg']}") from None


def describe_source(kind: str, options: dict[str, Any], settings: Settings) -> str:
    target = _target(kind)
    return target.describe(source_options(kind, options), settings) if isinstance(target, Kind) else kind


def ingest_source(
    kind: str,
    options: dict[str, Any],
    store: Store,
    settings: Settings,
    *,
    on_item: OnItem = None,
    skip_invalid: bool = False,
    client: HttpClient | None = None,
) -> IngestReport | None:
    """Bring papers in from a source of ``kind`` with ``options`` (see the module); a network
    source uses ``client`` if given, else one made from ``settings.net``."""
    checked = source_options(kind, options)
    target = _target(kind)
    if isinstance(target, Kind):
        return target.run(checked, store, settings, on_item, client)
    try:
        items = target(**checked)
    except SourceError as exc:
        raise SourceError(f"{kind}: {exc}") from exc
    return ingest(store, items, where=kind, skip_invalid=skip_invalid, on_item=on_item)
