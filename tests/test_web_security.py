"""Web security, route by route: the tests are generated from the app's route table, so a route
added later is covered the day it is added (or fails here until it says how to call it).

- Every state-changing route (POST, PUT, PATCH, DELETE) refuses a cross-site request (a foreign
  ``Origin`` or ``Referer``, ``Sec-Fetch-Site: cross-site``/``same-site``) and a missing or
  wrong CSRF token, and changes nothing when it refuses; with all of them right it goes through.
- Off loopback, no token means no access: with a token configured, every route but the static
  files answers 401 without it; without a token, a non-loopback name (421) or a client on a
  non-loopback address (403) gets nothing.
- A signed route (a feedback link of the daily email) is its own credential: it needs no token and
  no CSRF token, and acts on nothing without a valid signature (test_feedback_links.py has the rest).
- Path traversal through the static mounts, the paper routes and the export is refused.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount
from web_papers import fill

from papersift.config import load_settings
from papersift.store import Store
from papersift.web import create_app
from papersift.web.security import SIGNED_PREFIXES

BASE = "http://127.0.0.1"
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
TOKEN = "route-table-token-0123456789"
OUTSIDE = ("203.0.113.7", 40000)  # a client on a public address (TEST-NET-3)

# How to call each state-changing route so that, once let through, it changes something. A new
# route fails test_every_state_changing_route_is_listed until it is added here.
CHANGES = {
    ("POST", "/api/papers/{paper_id}/curation"): ("json", {"starred": True}),
    ("POST", "/api/papers/{paper_id}/topic"): ("json", {"subarea": "llm-pretraining"}),
    ("POST", "/papers/{paper_id}/curation"): ("form", {"starred": "true"}),
    ("POST", "/papers/{paper_id}/topic"): ("form", {"subarea": "llm-pretraining"}),
    # a POST that changes nothing but spends LLM calls: a forged one is refused all the same
    ("POST", "/api/ask"): ("json", {"question": "如何烤出松软的面包？"}),
}
QUESTIONS = {("POST", "/api/ask")}


def route_entries(app) -> list[tuple[object, str]]:
    """(route, path) of every route, those of included routers too."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI >= 0.16x keeps included routers nested
    except ImportError:  # older FastAPI copies them into app.routes
        return [(route, route.path) for route in app.routes]
    return [(context.original_route, context.path) for context in iter_route_contexts(app.routes)]


def routes(app) -> list[tuple[str, str]]:
    """(method, path template) of every route, mounts left out."""
    return [
        (method, path)
        for route, path in route_entries(app)
        if not isinstance(route, Mount)
        for method in sorted(getattr(route, "methods", None) or ())
    ]


def mounts(app) -> list[str]:
    return [path for route, path in route_entries(app) if isinstance(route, Mount)]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("websec") / "web.db"
    with Store(path) as store:
        ids = fill(store)
    return path, ids


APP = create_app(load_settings(db=Path(tempfile.mkdtemp()) / "routes.db"))  # for its route table, at collection
ALL_ROUTES = routes(APP)
SIGNED_ROUTES = [r for r in ALL_ROUTES if r[1].startswith(SIGNED_PREFIXES)]
GUARDED_ROUTES = [r for r in ALL_ROUTES if r not in SIGNED_ROUTES]
CHANGING_ROUTES = [r for r in GUARDED_ROUTES if r[0] in STATE_CHANGING]


def url_for(template: str, ids: dict[str, str]) -> str:
    values = {"paper_id": ids["quant"], "day": "2025-05-02", "verdict": "up"}
    names = re.findall(r"{(\w+)(?::\w+)?}", template)
    missing = [n for n in names if n not in values]
    assert not missing, f"{template}: give test_web_security a value for {missing}"
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: quote(values[m[1]], safe=""), template)


def fingerprint(path) -> str:
    """Everything in the database, hashed: equal before and after means nothing changed."""
    with Store(path) as store:
        return hashlib.sha256("\n".join(store.conn.iterdump()).encode()).hexdigest()


def send(client: TestClient, method: str, template: str, ids: dict, headers: dict) -> int:
    kind, body = CHANGES[(method, template)]
    payload = (
        {"json": body}
        if kind == "json"
        else {"data": {**body, **({"csrf_token": headers.pop("csrf_token")} if "csrf_token" in headers else {})}}
    )
    return client.request(
        method, url_for(template, ids), headers=headers, follow_redirects=False, **payload
    ).status_code


@pytest.fixture
def browser(db):
    """A same-origin browser session: the CSRF cookie set by a first page."""
    with TestClient(create_app(load_settings(db=db[0])), base_url=BASE) as client:
        assert client.get("/").status_code == 200
        yield client


def test_the_route_table_is_what_these_tests_cover():
    assert len(ALL_ROUTES) >= 20 and len(CHANGING_ROUTES) >= 4 and len(SIGNED_ROUTES) >= 2
    assert {"/static/publish", "/static/web"} == set(mounts(APP))


def test_every_state_changing_route_is_listed():
    assert set(CHANGING_ROUTES) == set(CHANGES), "add the new route to CHANGES with a body that changes something"


def good(client: TestClient) -> dict[str, str]:
    return {"Origin": BASE, "X-CSRF-Token": client.cookies["papersift_csrf"], "Sec-Fetch-Site": "same-origin"}


ATTACKS = {
    "foreign Origin": lambda token: {"Origin": "https://evil.example", "X-CSRF-Token": token},
    "foreign Referer, no Origin": lambda token: {"Referer": "https://evil.example/page", "X-CSRF-Token": token},
    "Sec-Fetch-Site cross-site": lambda token: {"Origin": BASE, "X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"},
    "Sec-Fetch-Site same-site": lambda token: {"Origin": BASE, "X-CSRF-Token": token, "Sec-Fetch-Site": "same-site"},
    "neither Origin nor Referer": lambda token: {"X-CSRF-Token": token},
    "no CSRF token": lambda token: {"Origin": BASE},
    "wrong CSRF token": lambda token: {"Origin": BASE, "X-CSRF-Token": "x" * len(token)},
    "wrong CSRF form field": lambda token: {"Origin": BASE, "csrf_token": "y" * len(token)},
    "token of another browser": lambda token: {"Origin": BASE, "X-CSRF-Token": "A" * 43},
}


@pytest.mark.parametrize("method, template", CHANGING_ROUTES)
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_state_changing_route_refuses_a_forged_request_and_changes_nothing(browser, db, method, template, attack):
    before = fingerprint(db[0])
    status = send(browser, method, template, db[1], ATTACKS[attack](browser.cookies["papersift_csrf"]))
    assert status == 403, (method, template, attack, status)
    assert fingerprint(db[0]) == before


@pytest.mark.parametrize("method, template", CHANGING_ROUTES)
def test_a_state_changing_route_goes_through_from_the_same_origin_with_the_token(browser, db, method, template):
    before = fingerprint(db[0])
    status = send(browser, method, template, db[1], good(browser))
    assert status in (200, 303), (method, template, status)
    if (method, template) not in QUESTIONS:  # a question answered (here: not found) is the success
        assert fingerprint(db[0]) != before  # so the refusals above refused something that would have worked


@pytest.mark.parametrize("method, template", GUARDED_ROUTES)
def test_with_a_token_configured_no_route_answers_without_it(db, method, template):
    app = create_app(load_settings(db=db[0], web_token=TOKEN))
    with TestClient(app, base_url="http://papers.example.org", client=OUTSIDE) as outsider:
        url = url_for(template, db[1])
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-0123456789"},
            {"X-Papersift-Token": TOKEN[:-1] + "!"},
            {"Cookie": "papersift_token=" + "z" * len(TOKEN)},
        ):
            response = outsider.request(method, url, headers=headers, follow_redirects=False)
            assert response.status_code == 401, (method, template, headers, response.status_code)
        if method in STATE_CHANGING:  # ?token= lets a browser in with a GET, never with a change
            assert outsider.request(method, f"{url}?token={TOKEN}", follow_redirects=False).status_code == 401
        assert (
            outsider.request(
                method, url, headers={"Authorization": f"Bearer {TOKEN}"}, follow_redirects=False
            ).status_code
            != 401
        )


@pytest.mark.parametrize("method, template", ALL_ROUTES)
def test_without_a_token_only_this_machine_is_served(db, method, template):
    app = create_app(load_settings(db=db[0]))
    url = url_for(template, db[1])
    with TestClient(app, base_url="http://papers.example.org") as renamed:
        assert renamed.request(method, url, follow_redirects=False).status_code == 421
    with TestClient(app, base_url=BASE, client=OUTSIDE) as remote:  # right name, wrong place
        refused = remote.request(method, url, follow_redirects=False)
        assert refused.status_code == 403 and (method == "HEAD" or "serves only this machine" in refused.text)
    # (a change still needs its CSRF token, a signed route its signature)
    with TestClient(app, base_url=BASE, client=("127.0.0.1", 40000)) as local:
        answered = local.request(method, url, follow_redirects=False)
        assert (
            answered.status_code not in (403, 421)
            if method not in STATE_CHANGING and (method, template) not in SIGNED_ROUTES
            else "serves only this machine" not in answered.text
        )


@pytest.mark.parametrize("method, template", SIGNED_ROUTES)
def test_a_signed_route_without_a_valid_signature_acts_on_nothing(db, method, template):
    app = create_app(load_settings(db=db[0], web_token=TOKEN))
    before = fingerprint(db[0])
    with TestClient(app, base_url="http://papers.example.org", client=OUTSIDE) as outsider:
        for sig in ("", "A" * 43, "../../etc/passwd"):
            fields = {"paper": db[1]["quant"], "until": "4102444800", "sig": sig}
            payload = {"data": fields} if method in STATE_CHANGING else {"params": fields}
            response = outsider.request(method, url_for(template, db[1]), follow_redirects=False, **payload)
            assert response.status_code == 403, (method, template, sig, response.status_code)
    assert fingerprint(db[0]) == before


TRAVERSALS = [
    "{mount}/../../store.py",
    "{mount}/..%2f..%2fstore.py",
    "{mount}/%2e%2e/%2e%2e/store.py",
    "{mount}/%2e%2e%2f%2e%2e%2fstore.py",
    "{mount}/....//....//store.py",
    "{mount}/..\\..\\store.py",
    "{mount}/%252e%252e/%252e%252e/store.py",
    "{mount}//etc/passwd",
    "{mount}/%2fetc%2fpasswd",
    "{mount}/../../../../../../../../etc/passwd",
]


@pytest.mark.parametrize("mount", mounts(APP))
@pytest.mark.parametrize("pattern", TRAVERSALS)
def test_static_mounts_serve_nothing_outside_their_folder(browser, mount, pattern):
    response = browser.get(pattern.format(mount=mount), follow_redirects=False)
    assert response.status_code in (400, 404), (pattern, response.status_code)
    assert "import" not in response.text and "root:" not in response.text


@pytest.mark.parametrize("method, template", [r for r in ALL_ROUTES if "{paper_id}" in r[1]])
def test_a_paper_id_cannot_climb_out_of_its_route(browser, db, method, template):
    for hostile in ("../../etc/passwd", "..%2f..%2fetc%2fpasswd", "/etc/passwd", "..\\..\\store.py"):
        url = template.replace("{paper_id}", quote(hostile, safe=""))
        headers = good(browser) if method in STATE_CHANGING else {}
        response = browser.request(method, url, headers=headers, json={"starred": True}, follow_redirects=False)
        assert response.status_code in (404, 422), (url, response.status_code)
        assert "root:" not in response.text


def test_the_export_names_its_file_itself_and_takes_no_path(browser):
    for fmt in ("../../etc/passwd", "json/../../x", "bibtex\r\nSet-Cookie: a=b", "csv%00"):
        assert browser.get("/api/export", params={"format": fmt}).status_code == 422
    for fmt, ext in (("bibtex", "bib"), ("markdown", "md"), ("json", "json"), ("jsonl", "jsonl"), ("csv", "csv")):
        disposition = browser.get("/api/export", params={"format": fmt, "q": "../../etc/passwd"}).headers[
            "content-disposition"
        ]
        assert re.fullmatch(rf'attachment; filename="papersift-\d{{8}}\.{ext}"', disposition), disposition
