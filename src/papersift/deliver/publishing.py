"""Channels that publish files: the digests' own Atom/RSS feed, and the static site with the day's page."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import Literal

from feedgen.feed import FeedGenerator

from ..atomic import write_atomic
from ..config import config_relative
from ..publish.site import build_site
from . import ChannelConfig, DeliveryError


class FeedChannel(ChannelConfig):
    """One feed entry per digest (the newest ``keep``), its content the digest's HTML."""

    path: Path
    kind: Literal["rss", "atom"] = "atom"
    keep: int = 30
    site_url: str = "https://github.com/papersift/papersift"

    def send(self, digest, context) -> None:

        fg = FeedGenerator()
        fg.id(self.site_url)
        fg.title("papersift · daily")
        fg.link(href=self.site_url, rel="alternate")
        fg.description("papersift daily digests")
        newest = datetime(1970, 1, 1, tzinfo=UTC)
        for item in reversed(context.recent_digests(self.keep)):
            stamp = datetime.combine(item.day, time(0, 0), tzinfo=UTC)
            newest = max(newest, stamp)
            entry = fg.add_entry()
            entry.id(f"papersift-daily-{item.id}")
            entry.title(item.subject())
            entry.link(href=self.site_url)
            entry.description(item.text())
            entry.content(item.html(), type="html")
            entry.updated(stamp)
            entry.pubDate(stamp)
        fg.updated(newest)
        fg.lastBuildDate(newest)
        try:
            write_atomic(
                config_relative(self.path), fg.atom_str(pretty=True) if self.kind == "atom" else fg.rss_str(pretty=True)
            )
        except OSError as exc:
            raise DeliveryError(f"feed {self.path}: {exc}") from exc


class SiteChannel(ChannelConfig):
    """The static site (``papersift publish site``) plus ``daily/<digest id>.html|.json`` and ``daily/latest.*``."""

    out: Path
    site_url: str | None = None

    def send(self, digest, context) -> None:

        out = config_relative(self.out)
        try:
            build_site(
                context.store,
                out,
                digest.lang,
                settings=context.settings,
                site_url=self.site_url or context.settings.site_url,
            )
            for name in (str(digest.id), "latest"):
                write_atomic(out / "daily" / f"{name}.html", digest.html())
                write_atomic(out / "daily" / f"{name}.json", digest.model_dump_json(indent=2))
        except OSError as exc:
            raise DeliveryError(f"site {out}: {exc}") from exc
