"""Delivery channels on their own: email over STARTTLS and TLS with a password from the
environment, webhook errors, the digests' feed and the site's daily pages."""

from __future__ import annotations

import ssl
import subprocess
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import feedparser
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import free_port

from papersift.config import load_settings
from papersift.daily.picks_digest import DailyDigest, DigestPaper, recent_digests, save_digest
from papersift.daily.synthesis import Synthesis
from papersift.deliver import DeliveryContext, DeliveryError, make_channels
from papersift.publish.view import PaperView
from papersift.store import Store


def digest(n: int = 1) -> DailyDigest:
    view = PaperView(
        id="p1",
        source="arxiv",
        arxiv_id="2601.00001",
        link="https://arxiv.org/abs/2601.00001",
        title="Compressing the KV cache",
        area_label="LLM",
        subarea_label="Efficiency",
        status="pending",
        abstract="We compress the KV cache 4x.",
    )
    return DailyDigest(
        id=n,
        day=date(2026, 11, 29),
        lang="en",
        considered=3,
        synthesis=Synthesis(status="ok", text="One theme: KV cache compression [1]."),
        papers=[DigestPaper(rank=1, score=0.9, why=["matches keyword KV cache"], view=view)],
    )


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class Inbox:
    def __init__(self) -> None:
        self.messages = []
        self.logins = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def authenticator(inbox: Inbox):
    def check(server, session, envelope, mechanism, auth_data):
        inbox.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret")

    return check


@pytest.fixture
def trusted(certificate, monkeypatch):
    """The channel verifies the server: trust the test certificate as the system's CA file."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    return certificate


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def email_channel(port: int, security: str, **extra):
    (channel,) = make_channels(
        [
            {
                "type": "email",
                "host": "127.0.0.1",
                "port": port,
                "security": security,
                "from": "papersift@localhost",
                "to": ["reader@localhost"],
                **extra,
            }
        ]
    )
    return channel


def context(tmp_path) -> DeliveryContext:
    """As the daily run gives it: the feed reads the digests composed so far through the context."""
    store = Store(tmp_path / "papers.db")
    return DeliveryContext(store=store, settings=load_settings(), recent_digests=lambda n: recent_digests(store, n))


def test_email_over_starttls_logs_in_with_the_password_from_the_environment(trusted, tmp_path):
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context(trusted),
        require_starttls=True,
        authenticator=authenticator(inbox),
    )
    controller.start()
    try:
        email_channel(controller.port, "starttls", username="me", password_env="SMTP_PASSWORD").send(
            digest(), context(tmp_path)
        )
    finally:
        controller.stop()
    assert inbox.logins == [("me", "s3cret")]
    (message,) = inbox.messages
    assert message["Subject"].startswith("papersift · For you · 2026-11-29")
    assert sorted(p.get_content_type() for p in message.walk() if not p.is_multipart()) == ["text/html", "text/plain"]


def test_email_over_tls(trusted, tmp_path):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=server_context(trusted))
    controller.start()
    try:
        email_channel(controller.port, "tls").send(digest(), context(tmp_path))
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


def test_a_missing_password_variable_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv("NO_SUCH_PASSWORD", raising=False)
    channel = email_channel(free_port(), "none", username="me", password_env="NO_SUCH_PASSWORD")
    with pytest.raises(DeliveryError, match="NO_SUCH_PASSWORD"):
        channel.send(digest(), context(tmp_path))


def test_a_webhook_answering_with_an_error_status_is_a_failed_delivery(httpserver, tmp_path):
    httpserver.expect_request("/hook", method="POST").respond_with_data("nope", status=500)
    (channel,) = make_channels([{"type": "webhook", "url": httpserver.url_for("/hook")}])
    with pytest.raises(DeliveryError, match="HTTP 500"):
        channel.send(digest(), context(tmp_path))


def test_the_feed_has_one_entry_per_digest_and_the_site_a_page_for_each(tmp_path):
    ctx = context(tmp_path)
    for n in (1, 2):
        save_digest(ctx.store, digest(n).model_copy(update={"id": None}), through_rowid=n, channels=["feed", "site"])
    feed, site = make_channels(
        [{"type": "feed", "path": str(tmp_path / "daily.xml")}, {"type": "site", "out": str(tmp_path / "site")}]
    )
    feed.send(digest(2), ctx)
    site.send(digest(2), ctx)
    parsed = feedparser.parse((tmp_path / "daily.xml").read_bytes())
    assert sorted(e.id for e in parsed.entries) == ["papersift-daily-1", "papersift-daily-2"]
    assert "Compressing the KV cache" in parsed.entries[0].content[0].value
    page = (tmp_path / "site" / "daily" / "2.html").read_text(encoding="utf-8")
    assert '<a href="https://arxiv.org/abs/2601.00001">[1]</a>' in page  # the synthesis cites the paper, linked
    assert (tmp_path / "site" / "daily" / "latest.json").exists() and (tmp_path / "site" / "index.html").exists()
