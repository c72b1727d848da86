"""One configuration: a TOML file plus ``PAPERSIFT_*`` environment variables.

Precedence, highest first: explicit arguments (CLI flags), environment variables
(``PAPERSIFT_DB``, ``PAPERSIFT_LLM_BASE_URL``, ...), the TOML file (``PAPERSIFT_CONFIG`` or
``~/.config/papersift/config.toml``), then defaults. The defaults run offline: the embedded
llama.cpp engine and the packaged embedding model.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


def default_config_path() -> Path:
    return Path(os.environ.get("PAPERSIFT_CONFIG") or _xdg("XDG_CONFIG_HOME", ".config") / "papersift" / "config.toml")


def config_relative(path: str | Path) -> Path:
    """A path written in the config file: relative paths are relative to the file's folder."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else default_config_path().parent / path


def default_db_path() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / "papersift" / "papersift.db"


def cache_dir() -> Path:
    """Where large derived files (the assembled GGUF model) live, outside any virtualenv."""
    return Path(os.environ.get("PAPERSIFT_CACHE_DIR") or _xdg("XDG_CACHE_HOME", ".cache") / "papersift")


class LLMSettings(BaseModel):
    backend: str = "embedded"  # "embedded" (llama.cpp in-process) or "openai" (any compatible server)
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    lang: str = "zh"
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 4
    thinking: str = "off"  # off | on | budget:N
    # How thinking is switched: "kwargs" (chat_template_kwargs.enable_thinking), "soft" (/think and
    # /no_think appended to the prompt), or "auto" (kwargs, soft switches if the server rejects them)
    thinking_switch: str = "auto"
    keep_reasoning: bool = True
    # How a card is written: "whole" (one structured call: right for a server, one cached prefix),
    # "grounded" (each field from the abstract's own sentences, a short call each: what a small
    # model writes best), "fields" (a short call a field, from the whole abstract), or "auto"
    # (grounded for the embedded engine, whole for a server).
    card_mode: str = "auto"
    # Embedded engine: a registry name (see papersift.llm.models) or a path to any GGUF file.
    embedded_model: str = "qwen2.5-coder-1.5b"
    n_ctx: int = 8192
    n_threads: int | None = None
    # One embedded call may take this long before its worker is stopped and the call retried: a
    # card takes about a minute on 2 idle cores, and 10-20 times longer when the cores are busy.
    embedded_timeout: float = 1800.0
    # Prices per million tokens, keyed by model name: {"gpt-4o-mini": {"input": 0.15, "output": 0.6}}
    prices: dict[str, dict[str, float]] = Field(default_factory=dict)


class EmbeddingSettings(BaseModel):
    backend: str = "use"  # "use" (packaged multilingual USE) or "openai" (/v1/embeddings)
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None


class NetSettings(BaseModel):
    user_agent: str = "papersift/0.1 (+https://github.com/papersift/papersift; research paper triage)"
    timeout: float = 60.0
    max_retries: int = 5
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_oai_url: str = "https://oaipmh.arxiv.org/oai"
    arxiv_delay: float = 3.0  # arXiv's terms: one request every three seconds
    openreview_api_url: str = "https://api2.openreview.net"
    hf_api_url: str = "https://huggingface.co/api"


class IngestSettings(BaseModel):
    """``[ingest]``: how much one record of a local file may hold. A record over a limit is refused
    by name (``file:line``) before it is parsed, so no file can make an import slow or huge."""

    max_record_bytes: int = Field(1_000_000, gt=0)  # one JSONL line, CSV row, BibTeX entry or RIS record
    max_abstract_chars: int = Field(100_000, gt=0)  # the longest arXiv abstract is under 2,000
    max_depth: int = Field(32, gt=0)  # JSON nesting (papersift's own export nests 4 deep)


class DailyInterests(BaseModel):
    """What the reader follows: ``[daily.interests]``."""

    model_config = ConfigDict(extra="forbid")

    library: list[Path] = Field(default_factory=list)  # BibTeX, RIS, CSV (Zotero), JSONL, or a text file of arXiv ids
    keywords: list[str] = Field(default_factory=list)  # alerts: a paper that mentions one is lifted
    authors: list[str] = Field(default_factory=list)  # alerts: a paper by one of them is lifted
    exclude: list[str] = Field(default_factory=list)  # a paper that mentions one is left out of the digest
    top: int = Field(10, ge=1)  # papers delivered per run
    diversity: float = Field(0.3, ge=0, le=1)  # MMR: how much a pick's likeness to earlier picks counts against it
    recency_days: float = Field(7.0, gt=0)  # half-life of the recency bonus


class DailySettings(BaseModel):
    """``papersift daily``: ``[[daily.sources]]``, ``[daily.interests]``, ``[[daily.deliver]]``.

    A source is an ``ingest`` subcommand (``type``) and its options by long name; a channel is a
    delivery plugin (``type``) and its options. Both are checked when the run starts.
    """

    model_config = ConfigDict(extra="forbid")

    sources: list[dict[str, Any]] = Field(default_factory=list)
    interests: DailyInterests = Field(default_factory=DailyInterests)
    deliver: list[dict[str, Any]] = Field(default_factory=list)
    enrich: str = Field("new", pattern="^(new|picks)$")  # enrich every new paper, or only the delivered ones
    synthesis: bool = True  # write the day's overview (one LLM call)


class _TomlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field, field_name):  # pragma: no cover - required by the ABC
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = default_config_path()
        if not path.is_file():
            if os.environ.get(
                "PAPERSIFT_CONFIG"
            ):  # named on purpose: running on the defaults instead is a silent surprise
                raise ValueError(f"{path}: no such config file (PAPERSIFT_CONFIG)")
            return {}
        with path.open("rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path}: invalid TOML: {exc}") from exc
        if problem := unknown_key(data, Settings):
            raise ValueError(f"{path}: {problem}")
        return data


def unknown_key(data: dict[str, Any], model: type[BaseModel], where: str = "") -> str | None:
    """The first key of a config table that ``model`` does not have, with the closest one it has:
    a misspelt key would otherwise be dropped without a word and its default used instead."""
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            close = difflib.get_close_matches(key, list(model.model_fields), n=1)
            hint = (
                f"; did you mean '{where}{close[0]}'?"
                if close
                else f"; the keys there are {', '.join(model.model_fields)}"
            )
            return f"unknown key '{where}{key}'{hint}"
        inner = field.annotation
        if isinstance(value, dict) and isinstance(inner, type) and issubclass(inner, BaseModel):
            if problem := unknown_key(value, inner, f"{where}{key}."):
                return problem
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAPERSIFT_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
    )

    db: Path = Field(default_factory=default_db_path)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    net: NetSettings = Field(default_factory=NetSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    taxonomy: Path | None = None
    # A TOML glossary (English term -> translation, one table per language) that extends and
    # overrides the starter glossary in every card prompt (env PAPERSIFT_GLOSSARY).
    glossary: Path | None = None
    # Seconds a command waits for another writer (ingest, enrich, the web app) to finish its
    # transaction before it gives up with a clear error (env PAPERSIFT_BUSY_TIMEOUT).
    busy_timeout: float = 30.0
    # Where the published site is served (env PAPERSIFT_SITE_URL): the feeds' channel and self links
    # and the site's absolute links; `publish --site-url` overrides it for one run.
    site_url: str | None = None
    # Where the reader reaches `papersift serve` from their mail (env PAPERSIFT_WEB_URL): the daily
    # email's signed "more / less like this" links point there. Unset, the email has no such links.
    web_url: str | None = None
    # Required by `papersift serve` on any address but loopback (env PAPERSIFT_WEB_TOKEN).
    web_token: str | None = None
    daily: DailySettings = Field(default_factory=DailySettings)

    @field_validator("db", "taxonomy", "glossary")
    @classmethod
    def _home(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None  # "~/papers/papersift.db" as the README writes it

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings, env_settings, _TomlSource(settings_cls))


def load_settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
