"""Delivery channels: small plugins that take a composed daily digest somewhere.

A channel is a pydantic model of its options (``[[daily.deliver]]`` minus ``type``; an unknown
key is an error naming it) with a ``send(digest, context)`` method that raises on failure. The
daily run retries a failed send, records every outcome, and sends what is still pending on the
next run. The built-in channels are registered in :data:`CHANNELS`; another package adds one
through the ``papersift.channels`` entry point group (docs/plugins.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import Settings
from ..plugins import PluginError, Registry
from ..store import Store


class DeliveryError(Exception):
    """A send failed: the message says where and why."""


@dataclass
class DeliveryContext:
    """What a channel may use besides the digest: the store, the settings, and the newest digests
    composed so far (the daily run's, newest first), for a channel that publishes several."""

    store: Store
    settings: Settings
    recent_digests: Callable[[int], list[Any]] = lambda limit: []


class ChannelConfig(BaseModel):
    """What every channel takes; each plugin adds its own options."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: str
    name: str | None = None  # what deliveries are recorded under; default: the type (type#2 for a second one)
    attempts: int = Field(3, ge=1)  # tries within one run before it is left for the next run
    retry_delay: float = Field(2.0, ge=0)  # seconds before the second try, doubling after

    def send(self, digest, context: DeliveryContext) -> None:  # pragma: no cover - every plugin overrides it
        raise NotImplementedError


CHANNELS: Registry[type[ChannelConfig]] = Registry("channels", "delivery channel")
CHANNELS.builtin("email", "papersift.deliver.email:EmailChannel")
CHANNELS.builtin("feed", "papersift.deliver.publishing:FeedChannel")
CHANNELS.builtin("site", "papersift.deliver.publishing:SiteChannel")
CHANNELS.builtin("webhook", "papersift.deliver.webhook:WebhookChannel")


def make_channels(specs: list[dict[str, Any]]) -> list[ChannelConfig]:
    """The configured channels, each named; a bad entry is a ``ValueError`` naming it and its key."""
    made: list[ChannelConfig] = []
    for i, spec in enumerate(specs):
        where = f"daily.deliver[{i}]"
        kind = spec.get("type")
        if kind not in CHANNELS.names():
            raise ValueError(f"{where}: type {kind!r} is not a channel; use one of {', '.join(CHANNELS.names())}")
        try:
            config = CHANNELS.get(kind).model_validate(spec)
        except PluginError as exc:
            raise ValueError(f"{where}: {exc}") from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise ValueError(f"{where} ({kind}): {problems}") from None
        same = sum(1 for c in made if c.type == kind)
        made.append(config.model_copy(update={"name": config.name or (kind if same == 0 else f"{kind}#{same + 1}")}))
    names = [c.name for c in made]
    if len(set(names)) != len(names):
        raise ValueError(
            f"daily.deliver: two channels share a name ({', '.join(sorted({n for n in names if names.count(n) > 1}))})"
        )
    return made
