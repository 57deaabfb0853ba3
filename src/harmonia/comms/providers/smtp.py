"""Email over a real SMTP conversation to `HARMONIA_SMTP_URL` (`smtp://host:port`)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import urlparse

from .base import Delivery, Envelope, Provider

__all__ = ["SmtpProvider"]


class SmtpProvider(Provider):
    name = "smtp"

    def __init__(self, url: str, default_from: str = "noreply@harmonia.local", timeout: float = 10) -> None:
        parsed = urlparse(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 25
        self.default_from = default_from
        self.timeout = timeout

    def _send(self, envelope: Envelope) -> Delivery:
        msg = EmailMessage()
        msg["From"] = envelope.from_ or self.default_from
        msg["To"] = envelope.to
        msg["Subject"] = envelope.subject or ""
        msg["Message-ID"] = f"<{envelope.message_id}@harmonia>"
        msg.set_content(envelope.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(msg)
        except (smtplib.SMTPServerDisconnected, TimeoutError):
            # The server may or may not have taken it: never blindly retry (a duplicate email is worse).
            return Delivery(status="unknown", detail="SMTP connection dropped mid-conversation; outcome unknown")
        except (smtplib.SMTPException, OSError) as exc:
            return Delivery(status="failed", detail=f"SMTP refused: {type(exc).__name__}")
        return Delivery(status="sent", provider_id=msg["Message-ID"])
