"""Email over a real SMTP conversation to `HARMONIA_SMTP_URL` (`smtp://host:port`).

The conversation is driven step by step so each failure is classified by *when* it happened: before the server
accepted the data nothing left (a 4xx or a lost connection there is `retry`, a 5xx is `failed`); once DATA is under
way a dropped or silent connection is `unknown` — the server may have queued it, and a duplicate is worse than a
person checking.
"""

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
        data = msg.as_bytes()
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            return Delivery(status="retry", detail=f"SMTP server unreachable ({type(exc).__name__}); nothing was sent")
        try:
            try:
                smtp.ehlo_or_helo_if_needed()
                code, reply = smtp.mail(str(msg["From"]))
                if code != 250:
                    return _refused("MAIL", code, reply)
                code, reply = smtp.rcpt(envelope.to)
                if code not in (250, 251):
                    return _refused("RCPT", code, reply)
            except smtplib.SMTPResponseException as exc:
                return _refused("MAIL", exc.smtp_code, exc.smtp_error)
            except (OSError, smtplib.SMTPException) as exc:
                return Delivery(status="retry", detail=f"SMTP connection lost before the data ({type(exc).__name__})"
                                "; nothing was sent")  # fmt: skip
            try:
                code, reply = smtp.data(data)
            except smtplib.SMTPResponseException as exc:
                return _refused("DATA", exc.smtp_code, exc.smtp_error)
            except (OSError, smtplib.SMTPException) as exc:
                return Delivery(status="unknown", detail=f"SMTP connection dropped during DATA ({type(exc).__name__})"
                                "; the server may have taken it")  # fmt: skip
            if code != 250:
                return _refused("DATA", code, reply)
            return Delivery(status="sent", provider_id=str(msg["Message-ID"]))
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def _refused(step: str, code: int, reply: bytes | str) -> Delivery:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    detail = f"SMTP {step} refused: {code} {text[:120]}"
    # 4xx: the server says "not now" and took nothing; 5xx: it will never take it
    return Delivery(status="retry" if 400 <= code < 500 else "failed", detail=detail)
