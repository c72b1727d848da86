"""Crash safety: long commands killed with SIGKILL at random points, restarted until done, lose
nothing, duplicate nothing and pay for nothing twice.

Each command is a :class:`KillTarget`: how to set its store up, the command line, when its job
is done and what must then hold. The harness first times one whole run on a copy of the store
(T), then runs the command, sends SIGKILL to its process group after a random delay in [0, T),
checks the store as the kill left it (``PRAGMA integrity_check``, each paper once, search index
and facets in step, no LLM request paid twice), and starts it again, until its job is done: then
it checks the end state, sets up the next job (``ingest`` and ``enrich``: the store put back as
it was before the first run; ``daily``: new papers in its source, so the next run has a new digest
to deliver) and goes on until the command has been killed ``PAPERSIFT_KILL_POINTS`` times while
running. A new long command is one more ``KillTarget`` in ``TARGETS``.

``daily`` fetches a JSONL file source, enriches against the scripted LLM server, writes the
synthesis and delivers each digest by webhook and by email to loopback receivers that record
every delivery with its ``Idempotency-Key`` / ``Message-ID``. Delivery is at least once, by
design: a kill after a receiver accepted a digest and before the run marked it sent makes the
next run send it again, under the same key (see ``papersift.daily.run``). So the check counts
deliveries by key, what a receiver that honours the key sees: every digest composed arrives on
every channel, none twice; the raw repeats are counted, printed, and bounded by the kills. In
the run behind the README's figures (20 kills, seed 1189866319) one digest arrived twice by raw
count (under the same key), and one in a 5-kill run (seed 3140767641): the receiver here takes
0.5 s to answer, which widens that window on purpose so that kills land in it.

``PAPERSIFT_KILL_POINTS`` sets the kills per command (default 5; the figures in the README come
from 20). ``PAPERSIFT_KILL_SEED`` replays a run: every failure names its seed and kill delays.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import free_port
from pytest_httpserver import HTTPServer
from support.llm_server import ScriptedServer
from werkzeug import Request, Response

from papersift.store import Store

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from ingest import write_jsonl  # noqa: E402  the bench's synthetic arXiv-like records

POINTS = int(os.environ.get("PAPERSIFT_KILL_POINTS", "5"))
CLI = [sys.executable, "-c", "from papersift.cli import main; main()"]
INGEST_PAPERS = 20_000
SEED_PAPERS = 500  # already in the store before the killed import: none of them may be lost
ENRICH_CONCURRENCY = 4
DAILY_FIRST_PAPERS = 12  # the first digest's papers; each later job brings DAILY_BATCH more
DAILY_BATCH = 4
WEBHOOK_LATENCY = 0.5  # seconds a slow webhook receiver takes to answer: kills land during delivery

pytestmark = pytest.mark.killrun


@dataclass
class Kill:
    delay: float
    hit: bool  # the process was still running when it was killed
    papers: int = 0
    enriched: int = 0
    llm_requests: int = 0
    lost_calls: int = 0  # requests the server answered (or was answering) that the store did not keep
    deliveries_pending: int = 0  # daily: a digest composed, not yet sent on every channel


@dataclass
class Context:
    """What a target's setup leaves for its command and checks."""

    db: Path
    work: Path
    env: dict[str, str]
    server: ScriptedServer | None = None
    expected_papers: int = 0
    kills: list[Kill] = field(default_factory=list)  # since the store was last put back
    all_kills: list[Kill] = field(default_factory=list)
    jobs_done: int = 0
    full_run: float = 0.0  # seconds one whole run took (on a copy of the store)
    receivers: list[Any] = field(default_factory=list)  # delivery receivers: each forgets with reset()
    resources: ExitStack = field(default_factory=ExitStack)  # servers a setup started, stopped at the end
    figures: dict[str, int] = field(default_factory=dict)  # a target's own figures, printed at the end

    def forget_requests(self) -> None:
        """The LLM server and the receivers forget what they got (a timing run or a store put back)."""
        for server in ([self.server] if self.server else []) + self.receivers:
            server.reset()


@dataclass
class KillTarget:
    name: str
    args: Callable[[Context], list[str]]
    setup: Callable[[Context], None]
    is_done: Callable[[Context, dict[str, int]], bool]
    check_done: Callable[[Context], None]
    serve_llm: bool = False
    next_job: Callable[[Context], None] | None = None  # None: put the store back as before the first run


# --- the store as a kill leaves it ------------------------------------------------------------


def store_state(db: Path) -> dict[str, int]:
    """Counts that must always agree, read from a fresh connection (what a restart sees)."""
    conn = sqlite3.connect(db)
    try:
        [(integrity,)] = conn.execute("PRAGMA integrity_check").fetchall()
        assert integrity == "ok", f"integrity_check: {integrity}"
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        state = {
            "papers": one("SELECT count(*) FROM papers"),
            "distinct_arxiv_keys": one("SELECT count(DISTINCT key) FROM paper_keys WHERE key LIKE 'arxiv:%'"),
            "fts": one("SELECT count(*) FROM papers_fts"),
            "facets": one("SELECT count(*) FROM paper_facets"),
            "enriched": one("SELECT count(*) FROM enrichments"),
            "logged_calls": one("SELECT count(*) FROM llm_calls WHERE error IS NULL"),
            # the same request (prompt, model, options) answered twice: the cache should have served it
            "requests_paid_twice": one(
                "SELECT count(*) FROM (SELECT cache_key FROM llm_calls WHERE error IS NULL"
                " GROUP BY cache_key HAVING count(*) > 1)"
            ),
            "deliveries_pending": one("SELECT count(*) FROM daily_deliveries WHERE status != 'sent'"),
        }
    finally:
        conn.close()
    assert state["papers"] == state["distinct_arxiv_keys"], f"a paper stored twice or a key lost: {state}"
    assert state["fts"] == state["facets"] == state["papers"], f"search index or facets out of step: {state}"
    assert state["requests_paid_twice"] == 0, f"an LLM request paid for twice: {state}"
    return state


# --- ingest: one large JSONL file, into a store that already holds papers -------------------


def setup_ingest(ctx: Context) -> None:
    write_jsonl(ctx.work / "first.jsonl", SEED_PAPERS)
    write_jsonl(ctx.work / "big.jsonl", INGEST_PAPERS)  # its first SEED_PAPERS records are known already
    subprocess.run(
        [*CLI, "ingest", "file", str(ctx.work / "first.jsonl")], env=ctx.env, check=True, capture_output=True
    )
    ctx.expected_papers = INGEST_PAPERS


def check_ingest_done(ctx: Context) -> None:
    state = store_state(ctx.db)
    assert state["papers"] == INGEST_PAPERS
    with Store(ctx.db, readonly=True) as store:
        assert store.conn.execute("SELECT count(*) FROM records").fetchone()[0] == INGEST_PAPERS
    assert all(k.papers in (SEED_PAPERS, INGEST_PAPERS) for k in ctx.kills), "an import is all or nothing"


# --- enrich: against the scripted LLM server, with latency --------------------------------------


def setup_enrich(ctx: Context) -> None:
    papers = 60
    write_jsonl(ctx.work / "papers.jsonl", papers)
    subprocess.run(
        [*CLI, "ingest", "file", str(ctx.work / "papers.jsonl")], env=ctx.env, check=True, capture_output=True
    )
    ctx.expected_papers = papers
    ctx.env |= {
        "PAPERSIFT_LLM_BACKEND": "openai",
        "PAPERSIFT_LLM_BASE_URL": ctx.server.base_url,
        "PAPERSIFT_LLM_MODEL": "scripted-qwen3",
        "PAPERSIFT_LLM_API_KEY": "test",
    }


def check_enrich_done(ctx: Context) -> None:
    state = store_state(ctx.db)
    assert state["enriched"] == ctx.expected_papers
    check_cards_paid_once(ctx, state)
    with Store(ctx.db, readonly=True) as store:
        assert store.runs("enrich", limit=1)[0]["status"] == "done"


def check_cards_paid_once(ctx: Context, state: dict[str, int]) -> None:
    """Every card paid for once, and the server saw no more calls than the logged ones plus those in flight at kills."""
    with Store(ctx.db, readonly=True) as store:
        statuses = dict(store.conn.execute("SELECT status, count(*) FROM enrichments GROUP BY status"))
        assert "failed" not in statuses, statuses  # flagged or poor cards are finished cards
        # one call a paper, two for the few whose first card the guard or the quality gate sent back
        reasked = (
            statuses.get("flagged", 0)
            + statuses.get("poor", 0)
            + store.conn.execute(
                "SELECT count(*) FROM enrichments WHERE status = 'ok' AND paper_id IN"
                " (SELECT paper_id FROM llm_calls GROUP BY paper_id HAVING count(*) > 1)"
            ).fetchone()[0]
        )
        card_calls = store.conn.execute(
            "SELECT count(*) FROM llm_calls WHERE error IS NULL AND paper_id IS NOT NULL"
        ).fetchone()[0]
        assert card_calls == state["enriched"] + reasked
    requests = chat_requests(ctx.server)
    in_flight_at_kills = sum(k.lost_calls for k in ctx.kills)
    assert requests <= state["logged_calls"] + in_flight_at_kills
    assert all(k.lost_calls <= ENRICH_CONCURRENCY for k in ctx.kills), "more calls lost at a kill than were in flight"


def chat_requests(server: ScriptedServer | None) -> int:
    return sum(r.path == "/v1/chat/completions" for r in server.requests) if server else 0


# --- daily: fetch, enrich, synthesis, deliver by webhook and email; new papers for each job ----


class WebhookReceiver:
    """A loopback webhook that records each delivery (its Idempotency-Key and digest id) as it arrives."""

    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", threaded=True)
        self.server.expect_request("/hook", method="POST").respond_with_handler(self.receive)
        self.keys: list[str] = []
        self.lock = threading.Lock()

    def receive(self, request: Request) -> Response:
        with self.lock:
            self.keys.append(request.headers["Idempotency-Key"])
        time.sleep(WEBHOOK_LATENCY)  # accepted; a kill before the answer arrives leaves it unmarked
        return Response("ok")

    def reset(self) -> None:
        with self.lock:
            self.keys.clear()

    def __enter__(self) -> WebhookReceiver:
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()


class Mailbox:
    """An aiosmtpd handler that records each message's Message-ID."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server, session, envelope):
        self.keys.append(message_from_bytes(envelope.content)["Message-ID"])
        return "250 OK"

    def reset(self) -> None:
        self.keys.clear()

    def __enter__(self) -> Mailbox:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def setup_daily(ctx: Context) -> None:
    hook, mailbox = ctx.resources.enter_context(WebhookReceiver()), ctx.resources.enter_context(Mailbox())
    ctx.receivers = [hook, mailbox]
    Store(ctx.db).close()  # an empty store: every paper the source brings is new
    ctx.expected_papers = DAILY_FIRST_PAPERS
    write_jsonl(ctx.work / "inbox.jsonl", ctx.expected_papers)
    (ctx.work / "library.jsonl").write_text(
        json.dumps(
            {
                "title": "Efficient attention for long-context language models",
                "abstract": "Sparse and linear attention reduce the memory of long-context inference.",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    config = ctx.work / "config.toml"
    config.write_text(
        f"""
[llm]
backend = "openai"
base_url = "{ctx.server.base_url}"
model = "scripted-qwen3"
api_key = "test"
concurrency = {ENRICH_CONCURRENCY}

[embedding]
backend = "openai"
base_url = "{ctx.server.base_url}"
model = "hashed"

[[daily.sources]]
type = "file"
path = "inbox.jsonl"

[daily.interests]
library = ["library.jsonl"]
top = 3

[[daily.deliver]]
type = "webhook"
url = "{hook.server.url_for("/hook")}"
retry_delay = 0

[[daily.deliver]]
type = "email"
host = "127.0.0.1"
port = {mailbox.controller.port}
security = "none"
from = "papersift@localhost"
to = ["reader@localhost"]
retry_delay = 0
""",
        encoding="utf-8",
    )
    ctx.env["PAPERSIFT_CONFIG"] = str(config)


def next_daily_job(ctx: Context) -> None:
    """New papers in the source: the next run composes and delivers a new digest."""
    ctx.expected_papers += DAILY_BATCH
    write_jsonl(ctx.work / "inbox.jsonl", ctx.expected_papers)  # the earlier papers again, unchanged


def digests_state(db: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    try:
        digests = conn.execute("SELECT id, day FROM daily_digests ORDER BY id").fetchall()
        channels = Counter(c for (c,) in conn.execute("SELECT channel FROM daily_deliveries"))
    finally:
        conn.close()
    return {"digests": digests, "channels": channels}


def daily_is_done(ctx: Context, state: dict[str, int]) -> bool:
    return (
        state["papers"] == ctx.expected_papers
        and state["deliveries_pending"] == 0
        and len(digests_state(ctx.db)["digests"]) == ctx.jobs_done + 1
    )


def check_daily_done(ctx: Context) -> None:
    state = store_state(ctx.db)
    assert state["papers"] == state["enriched"] == ctx.expected_papers  # enrich = "new": every paper is new
    check_cards_paid_once(ctx, state)
    digests = digests_state(ctx.db)
    assert len(digests["digests"]) == ctx.jobs_done + 1, (
        "one digest a job: its papers were neither lost nor composed twice"
    )
    assert state["deliveries_pending"] == 0 and digests["channels"] == {
        "webhook": ctx.jobs_done + 1,
        "email": ctx.jobs_done + 1,
    }
    hook, mailbox = ctx.receivers
    expected = {
        "webhook": {f"papersift-daily-{i}.{day}" for i, day in digests["digests"]},
        "email": {f"<papersift-daily-{i}.{day}@papersift.local>" for i, day in digests["digests"]},
    }
    repeats = {}
    for channel, receiver in (("webhook", hook), ("email", mailbox)):
        # by key, what a receiver that honours it sees: every digest arrived, none twice
        assert set(receiver.keys) == expected[channel], f"{channel}: got {sorted(receiver.keys)}"
        repeats[channel] = len(receiver.keys) - len(set(receiver.keys))
    # the raw repeats: one delivery is in flight at a time, so at most one a kill
    assert sum(repeats.values()) <= sum(k.hit for k in ctx.all_kills), f"repeated deliveries: {repeats}"
    ctx.figures.update(
        digests=len(digests["digests"]),
        raw_repeats=repeats,
        kills_leaving_a_delivery_pending=sum(k.hit and k.deliveries_pending > 0 for k in ctx.all_kills),
    )
    with Store(ctx.db, readonly=True) as store:
        assert store.runs("daily", limit=1)[0]["status"] == "done"


TARGETS = [
    KillTarget(
        "ingest",
        lambda ctx: ["ingest", "file", str(ctx.work / "big.jsonl")],
        setup_ingest,
        is_done=lambda ctx, state: state["papers"] == INGEST_PAPERS,
        check_done=check_ingest_done,
    ),
    KillTarget(
        "enrich",
        lambda ctx: ["enrich", "--concurrency", str(ENRICH_CONCURRENCY), "--json"],
        setup_enrich,
        is_done=lambda ctx, state: state["enriched"] == ctx.expected_papers,
        check_done=check_enrich_done,
        serve_llm=True,
    ),
    KillTarget(
        "daily",
        lambda ctx: ["daily", "--json"],
        setup_daily,
        is_done=daily_is_done,
        check_done=check_daily_done,
        serve_llm=True,
        next_job=next_daily_job,
    ),
]


# --- the harness --------------------------------------------------------------------------------


def copy_store(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's backup API (the WAL included)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def time_full_run(ctx: Context, args: list[str]) -> float:
    """Seconds one whole run takes, on a copy of the store (the servers then forget its requests)."""
    scratch = ctx.work / "timing.db"
    copy_store(ctx.db, scratch)
    started = time.monotonic()
    subprocess.run([*CLI, *args], env=ctx.env | {"PAPERSIFT_DB": str(scratch)}, check=True, capture_output=True)
    ctx.forget_requests()
    return time.monotonic() - started


def kill_at(ctx: Context, args: list[str], delay: float) -> Kill:
    child = subprocess.Popen(
        [*CLI, *args], env=ctx.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        child.wait(timeout=delay)
        hit = False
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        hit = True
    if not hit:
        assert child.returncode == 0, child.stderr.read().decode()
    child.stderr.close()
    return Kill(delay, hit)


def finish(target: KillTarget, ctx: Context) -> None:
    """Let the command run to the end, and check the job."""
    done = subprocess.run([*CLI, *target.args(ctx)], env=ctx.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    target.check_done(ctx)
    ctx.jobs_done += 1


def run_with_kills(target: KillTarget, ctx: Context, rng: random.Random) -> None:
    ctx.full_run = time_full_run(ctx, target.args(ctx))
    before = ctx.work / "before.db"
    copy_store(ctx.db, before)
    lost_before = 0
    for _ in range(10 * POINTS):  # bounded: a machine too fast for any kill to land still ends
        if sum(k.hit for k in ctx.all_kills) >= POINTS:
            break
        kill = kill_at(ctx, target.args(ctx), rng.uniform(0, ctx.full_run))
        state = store_state(ctx.db)
        kill.papers, kill.enriched, kill.deliveries_pending = (
            state["papers"],
            state["enriched"],
            state["deliveries_pending"],
        )
        kill.llm_requests = chat_requests(ctx.server)
        lost_so_far = kill.llm_requests - state["logged_calls"]
        kill.lost_calls, lost_before = lost_so_far - lost_before, lost_so_far
        ctx.kills.append(kill)
        ctx.all_kills.append(kill)
        if target.is_done(ctx, state):  # the job got through: check it, then set up the next one
            finish(target, ctx)
            if target.next_job:
                target.next_job(ctx)
            else:
                copy_store(before, ctx.db)
                ctx.forget_requests()
                ctx.kills = []
            lost_before = chat_requests(ctx.server) - store_state(ctx.db)["logged_calls"]
    finish(target, ctx)


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_killed_at_random_points_and_restarted_nothing_is_lost_or_paid_twice(target, tmp_path):
    seed = int(os.environ.get("PAPERSIFT_KILL_SEED") or random.SystemRandom().randrange(2**32))
    ctx = Context(
        db=tmp_path / "papers.db", work=tmp_path, env=dict(os.environ, PAPERSIFT_DB=str(tmp_path / "papers.db"))
    )
    server = ScriptedServer(latency=0.3) if target.serve_llm else None
    if server:
        ctx.server = server.start()
    try:
        target.setup(ctx)
        run_with_kills(target, ctx, random.Random(seed))
    except AssertionError as exc:
        delays = ", ".join(f"{k.delay:.2f}{'' if k.hit else ' (finished)'}" for k in ctx.all_kills)
        raise AssertionError(f"{target.name}: PAPERSIFT_KILL_SEED={seed} (kills at {delays} s): {exc}") from exc
    finally:
        ctx.resources.close()
        if server:
            server.stop()
    hits = sum(k.hit for k in ctx.all_kills)
    assert hits >= POINTS, f"only {hits} of {len(ctx.all_kills)} kills landed while {target.name} ran"
    print(
        f"{target.name}: seed {seed}, a whole run {ctx.full_run:.1f} s, {hits} kills of a running process, "
        f"{ctx.jobs_done} jobs done, {sum(k.lost_calls for k in ctx.all_kills)} LLM calls in flight at a kill, "
        f"{json.dumps(ctx.figures)}; "
        f"kills: {json.dumps([k.__dict__ for k in ctx.all_kills])}"
    )
