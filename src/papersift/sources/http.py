"""The HTTP layer every network source shares.

One ``httpx`` client with a descriptive User-Agent, a per-host rate limit (arXiv asks for one
request every three seconds), retries with exponential backoff and jitter on 429/5xx/timeouts
that honour ``Retry-After``, a cap on the response size, and errors that name the URL and what
was wrong. Hostile XML (entity bombs, external entities) is refused by ``defusedxml``.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as fast_xml
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
import httpx
from defusedxml import DefusedXmlException
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from ..config import NetSettings
from .base import SourceError

MAX_BYTES = 64 * 1024 * 1024  # far above any real page (an OAI page of 1,000 records is ~2 MB)
RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 600.0  # a server asking for longer than this is treated as down


class RetryableError(SourceError):
    """A failure worth another try; ``retry_after`` is what the server asked for, if anything."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Fetched:
    """A response read in full (within the size cap)."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def looks_like_html(self) -> bool:
        head = self.content[:512].lstrip().lower()
        return self.content_type in ("text/html", "application/xhtml+xml") or head.startswith(
            (b"<!doctype html", b"<html")
        )

    def snippet(self, n: int = 120) -> str:
        text = " ".join(self.content[:2000].decode("utf-8", "replace").split())
        return text if len(text) <= n else text[: n - 1] + "…"

    def json(self) -> Any:
        """The body as JSON, or a clear error (an HTML error page is the usual culprit)."""
        if self.looks_like_html():
            raise SourceError(f"{self.url}: expected JSON, got an HTML page: {self.snippet()!r}")
        try:
            return json.loads(self.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SourceError(f"{self.url}: invalid JSON ({exc}): {self.snippet()!r}") from exc

    def check_xml(self) -> None:
        if self.looks_like_html():
            raise SourceError(f"{self.url}: expected XML, got an HTML page: {self.snippet()!r}")
        if not self.content.strip():
            raise SourceError(f"{self.url}: empty response, expected XML")

    def _parser(self) -> ModuleType:
        """defusedxml wherever a DTD is declared; else the stdlib's C parser, twice as fast.

        Entities (the bombs) and external references can only be declared in a DOCTYPE, and
        "<!DOCTYPE" cannot occur unescaped anywhere else but in comments or CDATA, which at
        worst send a harmless document down the slow, safe path.
        """
        return safe_xml if b"<!DOCTYPE" in self.content else fast_xml

    def xml(self) -> Element:
        """The body parsed as XML, safely: no DTD entities, no external references."""
        self.check_xml()
        try:
            return self._parser().fromstring(self.content)
        except DefusedXmlException as exc:
            raise SourceError(f"{self.url}: refused hostile XML ({exc})") from exc
        except (ParseError, LookupError) as exc:  # LookupError: an encoding Python does not know
            raise SourceError(f"{self.url}: malformed or truncated XML ({exc})") from exc

    def iterxml(self, tags: Collection[str]) -> Iterator[Element]:
        """Stream the complete elements named in ``tags`` (Clark notation), freeing each after use."""
        self.check_xml()
        try:
            for _, elem in self._parser().iterparse(io.BytesIO(self.content), events=("end",)):
                if elem.tag in tags:
                    yield elem
                    elem.clear()
        except DefusedXmlException as exc:
            raise SourceError(f"{self.url}: refused hostile XML ({exc})") from exc
        except (ParseError, LookupError) as exc:  # LookupError: an encoding Python does not know
            raise SourceError(f"{self.url}: malformed or truncated XML ({exc})") from exc


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now())
    except (TypeError, ValueError):
        return None


class RateLimiter:
    """At most one request per ``delay`` seconds to each host that has a delay."""

    def __init__(self, delays: Mapping[str, float], sleep: Callable[[float], None] = time.sleep):
        self.delays = dict(delays)
        self.sleep = sleep
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> None:
        delay = self.delays.get(host, 0.0)
        if delay <= 0:
            return
        with self._lock:
            last = self._last.get(host)
            if last is not None:
                remaining = delay - (time.monotonic() - last)
                if remaining > 0:
                    self.sleep(remaining)
            self._last[host] = time.monotonic()


def host_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


class HttpClient:
    """GET with politeness and resilience; returns :class:`Fetched` or raises :class:`SourceError`."""

    def __init__(
        self,
        net: NetSettings | None = None,
        *,
        delays: Mapping[str, float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_bytes: int = MAX_BYTES,
        transport: httpx.BaseTransport | None = None,
    ):
        self.net = net or NetSettings()
        if delays is None:
            arxiv_hosts = {
                host_of(self.net.arxiv_api_url),
                host_of(self.net.arxiv_oai_url),
                "arxiv.org",
                "export.arxiv.org",
            }
            delays = {host: self.net.arxiv_delay for host in arxiv_hosts}
        self.limiter = RateLimiter(delays, sleep)
        self.sleep = sleep
        self.max_bytes = max_bytes
        self.client = httpx.Client(
            headers={"User-Agent": self.net.user_agent},
            timeout=self.net.timeout,
            follow_redirects=True,
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> Fetched:
        """GET ``url``; retry what is worth retrying, and fail clearly on anything else.

        ``ok`` lists the statuses the caller handles itself (e.g. 304 for a conditional GET).
        """
        retrying = Retrying(
            retry=retry_if_exception_type(RetryableError),
            stop=stop_after_attempt(self.net.max_retries + 1),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(self._get_once, url, params, headers, ok)
        except RetryableError as exc:
            raise SourceError(f"{exc} (gave up after {self.net.max_retries + 1} attempts)") from exc

    @staticmethod
    def _wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return exc.retry_after
        return wait_exponential_jitter(initial=1, max=60, jitter=1)(state)

    def _get_once(
        self, url: str, params: Mapping[str, Any] | None, headers: Mapping[str, str] | None, ok: tuple[int, ...]
    ) -> Fetched:
        self.limiter.wait(host_of(url))
        shown = url
        try:
            with self.client.stream("GET", url, params=params, headers=headers) as response:
                shown = str(response.url)
                if response.status_code in RETRY_STATUSES:
                    wait = retry_after_seconds(response.headers.get("retry-after"))
                    if wait is not None and wait > MAX_RETRY_AFTER:
                        raise SourceError(
                            f"{shown}: HTTP {response.status_code}, server asks to retry after {wait:.0f} s"
                        )
                    raise RetryableError(f"{shown}: HTTP {response.status_code} {response.reason_phrase}", wait)
                content = self._read_capped(response, shown)
        except httpx.TimeoutException as exc:
            raise RetryableError(f"{shown}: timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise RetryableError(f"{shown}: connection failed ({exc})") from exc
        except httpx.HTTPError as exc:  # invalid URL, decoding errors, ...
            raise SourceError(f"{shown}: {exc}") from exc
        fetched = Fetched(shown, response.status_code, response.headers, content)
        if response.status_code not in ok:
            raise SourceError(f"{shown}: HTTP {response.status_code} {response.reason_phrase}: {fetched.snippet()!r}")
        return fetched

    def _read_capped(self, response: httpx.Response, url: str) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise SourceError(f"{url}: response too large ({int(declared)} bytes, limit {self.max_bytes})")
        chunks, size = [], 0
        # iter_bytes decodes gzip/deflate, so a compression bomb is caught by the same count
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise SourceError(f"{url}: response too large (over {self.max_bytes} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)
