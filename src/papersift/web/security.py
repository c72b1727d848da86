"""Who may use the app, and which requests may change anything.

- Access token: when one is configured (``web_token``; ``papersift serve`` insists on one for any
  address but loopback), every request but the static files must carry it, as the
  ``papersift_token`` cookie, an ``Authorization: Bearer`` or ``X-Papersift-Token`` header, or once
  as ``?token=`` (answered with the cookie and a redirect to the same URL without it).
- Host: without a token, only loopback names (``localhost``, ``127.0.0.1``, ``[::1]``) are
  answered, so a page that rebinds its own DNS name to 127.0.0.1 cannot read the app; and only
  clients connecting from a loopback address, so an app bound to a public address by mistake
  (``uvicorn --host 0.0.0.0``, past ``papersift serve``'s own check) serves no one else.
- CSRF: a random per-browser token in an HttpOnly cookie, repeated in every page (``<meta
  name="csrf-token">`` and the forms' ``csrf_token`` field). A state-changing request must be a
  POST from the same origin (``Origin``, else ``Referer``; and, when the browser sends it,
  ``Sec-Fetch-Site: same-origin``) whose ``X-CSRF-Token`` header or
  ``csrf_token`` form field equals the cookie (double submit). Clients that authenticate with the
  token in a header are not browsers riding on cookies, so they skip the CSRF check.
- Signed links: ``/feedback/…`` carries an HMAC for one paper and one verdict, made with the store's
  own key and dated; it needs neither the access token nor the CSRF token, and acts only when valid.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlencode, urlsplit

from fastapi import HTTPException, Request
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "papersift_token"
CSRF_COOKIE = "papersift_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PREFIXES = ("/static/",)
# A signed feedback link (papersift.curation.FeedbackLinks) is its own credential, for one paper and
# one verdict: the reader opens it from their mail, on a phone without the app's cookie.
SIGNED_PREFIXES = ("/feedback/",)
# Scripts only from this origin: a paper title that smuggles in <script> or a javascript: link
# is inert even if some template forgot to escape it.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def from_loopback(scope: Scope) -> bool:
    """Whether the client connected from a loopback address. No address (a Unix socket) is
    local; a name that is no address (a test client's) is not a network peer either."""
    client = scope.get("client")
    if not client:
        return True
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return True


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class Guard:
    """ASGI middleware: the access token, the CSRF cookie, and security headers on every response."""

    def __init__(self, app: ASGIApp, token: str | None):
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        state = scope.setdefault("state", {})
        state["token_header"] = False
        if not self.token and not is_loopback(request.url.hostname or ""):
            # without a token only loopback names are served: a DNS-rebinding page cannot read it
            await PlainTextResponse(
                "papersift: unknown host (serve with a web_token to use other names)", status_code=421
            )(scope, receive, send)
            return
        if not self.token and not from_loopback(scope):
            await PlainTextResponse(
                "papersift: this server has no access token, so it serves only this machine", status_code=403
            )(scope, receive, send)
            return
        if self.token and not request.url.path.startswith(PUBLIC_PREFIXES + SIGNED_PREFIXES):
            refused = self._check_token(request, state)
            if refused is not None:
                await refused(scope, receive, send)
                return
        csrf = request.cookies.get(CSRF_COOKIE)
        fresh = not csrf or len(csrf) < 32
        state["csrf"] = secrets.token_urlsafe(32) if fresh else csrf
        secure = "; Secure" if scope.get("scheme") == "https" else ""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if fresh:
                    headers.append(
                        "set-cookie", f"{CSRF_COOKIE}={state['csrf']}; Path=/; HttpOnly; SameSite=Strict{secure}"
                    )
                headers.setdefault("content-security-policy", CSP)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "same-origin")
                headers.setdefault("x-frame-options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _check_token(self, request: Request, state: dict):
        header = request.headers.get("authorization", "")
        given_header = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-papersift-token")
        if given_header and _same(given_header, self.token):
            state["token_header"] = True
            return None
        cookie = request.cookies.get(TOKEN_COOKIE)
        if cookie and _same(cookie, self.token):
            return None
        query = request.query_params.get("token")
        if query and _same(query, self.token) and request.method in SAFE_METHODS:
            rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), status_code=303)
            response.set_cookie(
                TOKEN_COOKIE, self.token, httponly=True, samesite="strict", secure=request.url.scheme == "https"
            )
            return response
        message = "papersift: this server needs its access token (open the page once with ?token=…, or send Authorization: Bearer …)"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=401)
        return PlainTextResponse(message, status_code=401)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def csrf_guard(request: Request) -> None:
    """App-wide dependency: a request that may change state must be same-origin and carry the CSRF token."""
    if request.method in SAFE_METHODS or request.state.token_header or request.url.path.startswith(SIGNED_PREFIXES):
        return
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() != "same-origin":
        raise HTTPException(403, f"cross-site request refused (Sec-Fetch-Site {fetch_site})")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    if origin is not None:
        if origin.lower() != own:
            raise HTTPException(403, f"cross-origin request refused (Origin {origin})")
    elif not referer or _origin_of(referer) != own:
        raise HTTPException(403, "request refused: no same-origin Origin or Referer header")
    cookie = request.cookies.get(CSRF_COOKIE)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        given = (await request.form()).get(CSRF_FIELD)
    if not cookie or not given or not _same(str(given), cookie):
        raise HTTPException(403, "request refused: missing or wrong CSRF token (reload the page)")
