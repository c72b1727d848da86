"""Webhook: the digest as one JSON POST (date, synthesis, papers in ranked order with id, title, url, score, why)."""

from __future__ import annotations

import httpx

from . import ChannelConfig, DeliveryError


class WebhookChannel(ChannelConfig):
    url: str
    headers: dict[str, str] = {}
    timeout: float = 30.0

    def send(self, digest, context) -> None:
        try:
            # The same key on every try, so that a receiver can drop a retry of a call it did get.
            headers = {"Idempotency-Key": f"papersift-daily-{digest.id}.{digest.day}", **self.headers}
            response = httpx.post(self.url, json=digest.webhook_body(), headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {self.url}: {exc}") from exc
        if response.status_code >= 300:
            raise DeliveryError(f"webhook {self.url}: HTTP {response.status_code}: {response.text[:200]}")
