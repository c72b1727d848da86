"""Email: one message per digest over SMTP (plain, STARTTLS or TLS), a plain-text and an HTML part."""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from typing import Literal

from pydantic import Field

from ..curation import FeedbackLinks
from . import ChannelConfig, DeliveryError


class EmailChannel(ChannelConfig):
    host: str = "127.0.0.1"
    port: int = 25
    security: Literal["none", "starttls", "tls"] = "starttls"
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password_env: str | None = None  # the environment variable that holds the password
    timeout: float = 30.0

    def message(self, digest, links: FeedbackLinks | None = None) -> EmailMessage:
        """The mail: plain text and HTML, each pick with its signed feedback ``links`` when given."""
        msg = EmailMessage()
        msg["Subject"] = digest.subject()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        # The same id on every try: a message that did arrive although the server's answer was lost
        # (the one window a retry cannot close) is a duplicate mail clients recognise.
        msg["Message-ID"] = f"<papersift-daily-{digest.id}.{digest.day}@papersift.local>"
        msg.set_content(digest.text(links))
        msg.add_alternative(digest.html(links), subtype="html")
        return msg

    def _password(self) -> str | None:
        if not self.password_env:
            return None
        password = os.environ.get(self.password_env)
        if password is None:
            raise DeliveryError(f"email: the environment variable {self.password_env} (password_env) is not set")
        return password

    def send(self, digest, context) -> None:
        password = self._password()
        tls = ssl.create_default_context()
        try:
            if self.security == "tls":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=tls)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=tls)
                if self.username:
                    smtp.login(self.username, password or "")
                smtp.send_message(self.message(digest, feedback_links(context)))
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"email via {self.host}:{self.port}: {exc}") from exc


def feedback_links(context) -> FeedbackLinks | None:
    """The reader's own mail carries signed feedback links, where the config says the web app is (``web_url``)."""
    url = context.settings.web_url
    return FeedbackLinks.of(context.store, url) if url else None
