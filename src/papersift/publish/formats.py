"""Output formats: the one way a publication (catalog, digest, deep-dive) becomes a file.

An output format is an :class:`OutputFormat` with a ``name`` and a method for each publication
it can write: ``catalog``, ``digest``, ``deepdive``, each taking the publication and the
:class:`RenderOptions` and returning text (or bytes). The built-in formats are ``md``,
``html`` (one file carrying its CSS, scripts and fonts), ``json``, and, for the digest,
``rss`` and ``atom``; another package adds one through the ``papersift.formats`` entry point
group (docs/plugins.md), and ``papersift publish catalog|digest --format NAME`` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..plugins import PluginError, Registry
from . import article, catalog, digest
from .render import inline_assets


class FormatError(ValueError):
    """A format that does not exist, cannot be loaded, or cannot write that publication."""


@dataclass(frozen=True)
class RenderOptions:
    site_url: str | None = None  # the absolute address the output is served from (a feed's channel link)


class OutputFormat:
    """Subclass it, set ``name``, and override the methods of the publications the format writes."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def catalog(self, catalog: catalog.Catalog, options: RenderOptions) -> str | bytes:
        raise NotImplementedError

    def digest(self, digest: digest.Digest, options: RenderOptions) -> str | bytes:
        raise NotImplementedError

    def deepdive(self, dive: article.DeepDive, options: RenderOptions) -> str | bytes:
        raise NotImplementedError

    @classmethod
    def writes(cls, publication: str) -> bool:
        """Whether the format overrides the method of ``publication``."""
        return getattr(cls, publication) is not getattr(OutputFormat, publication)


class Markdown(OutputFormat):
    name, description = "md", "Markdown"

    def catalog(self, c, options):
        return catalog.to_markdown(c)

    def digest(self, d, options):
        return digest.to_markdown(d)

    def deepdive(self, dive, options):
        return article.to_markdown(dive)


class Html(OutputFormat):
    name, description = "html", "one HTML page that carries its CSS, scripts and math fonts, so it opens anywhere"

    def catalog(self, c, options):
        return catalog.to_html(c, inline=inline_assets())

    def digest(self, d, options):
        return digest.to_html(d, inline=inline_assets())

    def deepdive(self, dive, options):
        return article.to_html(dive, inline=inline_assets())


class Json(OutputFormat):
    name, description = "json", "the publication's data, as JSON"

    def catalog(self, c, options):
        return catalog.to_json(c)

    def digest(self, d, options):
        return digest.to_json(d)

    def deepdive(self, dive, options):
        return article.to_json(dive)


class Rss(OutputFormat):
    name, description = "rss", "an RSS 2.0 feed, one item per paper"

    def digest(self, d, options):
        return digest.to_feed(d, kind=self.name, site_url=options.site_url)


class Atom(Rss):
    name, description = "atom", "an Atom feed, one entry per paper"


FORMATS: Registry[type[OutputFormat]] = Registry("formats", "format")
for _builtin in (Markdown, Html, Json, Rss, Atom):
    FORMATS.builtin(_builtin.name, _builtin)


def formats_for(publication: str) -> list[str]:
    """The names of the formats that write ``publication`` (loads the installed formats to ask them)."""
    return [name for name in FORMATS.names() if _writes(name, publication)]


def _writes(name: str, publication: str) -> bool:
    try:
        return FORMATS.get(name).writes(publication)
    except PluginError:
        return False  # a broken plugin writes nothing; naming it is for the command that asks for it


def get_format(name: str, publication: str) -> OutputFormat:
    """The format ``name``, checked to write ``publication``; a :class:`FormatError` says what to use instead."""
    if name not in FORMATS.names():
        raise FormatError(f"unknown format {name!r}; use one of {', '.join(formats_for(publication))}")
    try:
        found = FORMATS.get(name)
    except PluginError as exc:
        raise FormatError(str(exc)) from exc
    if not found.writes(publication):
        raise FormatError(
            f"format {name!r} cannot write a {publication}; use one of {', '.join(formats_for(publication))}"
        )
    return found()


def render(publication: str, content: Any, fmt: str, options: RenderOptions | None = None) -> str | bytes:
    """``content`` (a Catalog, Digest or DeepDive, as ``publication`` says) written in the format ``fmt``."""
    return getattr(get_format(fmt, publication), publication)(content, options or RenderOptions())
