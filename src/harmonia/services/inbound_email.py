"""Inbound email: thread a contact's reply into their conversation, and tell a reply from an auto-reply.

An out-of-office must not end a sequence, so every inbound email is classified here once and the `message_received`
event says `auto_reply`. The signals, strongest first: RFC 3834 `Auto-Submitted` (anything but "no"), the
`X-Autoreply` / `X-Autorespond` headers, Exchange's `X-Auto-Response-Suppress`, `Precedence: auto_reply`, and the
usual out-of-office subjects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import select

from ..db import Actor, Database
from ..ids import new_id
from ..models import Contact, Message
from . import audit
from .comms import thread

__all__ = ["is_auto_reply", "receive_email"]

AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|ooo\b|away from (the )?office|"
    r"on (vacation|holiday|leave)|abwesenheit|r[ée]ponse automatique|respuesta autom[áa]tica)",
    re.IGNORECASE,
)


def is_auto_reply(headers: Mapping[str, str], subject: str | None) -> bool:
    h = {k.lower(): (v or "").strip().lower() for k, v in headers.items()}
    if h.get("auto-submitted", "no") != "no":
        return True
    if "x-autoreply" in h or "x-autorespond" in h or "x-auto-response-suppress" in h:
        return True
    if h.get("precedence") == "auto_reply":
        return True
    return bool(subject and AUTO_REPLY_SUBJECT.match(subject))


def receive_email(
    db: Database,
    tenant_id: str,
    from_addr: str,
    subject: str | None,
    body: str,
    headers: Mapping[str, str] | None = None,
    provider_id: str | None = None,
) -> str | None:
    """Record an inbound email from a known contact in their thread; returns the message id (None for a stranger).
    Works whatever the outbound switch says."""
    auto = is_auto_reply(headers or {}, subject)
    actor = Actor(tenant_id=tenant_id, channel="system", client="inbound email")
    with db.unit_of_work(actor) as uow:
        address = from_addr.strip().lower()
        contact = uow.session.scalars(select(Contact).where(Contact.email == address).limit(1)).first()
        if contact is None:
            return None
        conv = thread(uow, contact, "email", subject)
        now = uow.now()
        msg = Message(id=new_id("message"), conversation_id=conv.id, direction="inbound", channel="email",
                      subject=subject, body=body, from_addr=address, status="received", provider_id=provider_id,
                      status_reason="auto-reply" if auto else None, sent_at=now)  # fmt: skip
        uow.session.add(msg)
        conv.unread, conv.last_message_at, conv.status = not auto, now, "open"
        if not auto:
            contact.last_activity_at = now
        audit.append(uow, action="email_received", outcome="ok", target_type="contact", target_id=contact.id,
                     detail="auto-reply" if auto else None)  # fmt: skip
        uow.emit("message_received", subject=("contact", contact.id), message_id=msg.id, channel="email",
                 auto_reply=auto)  # fmt: skip
        return msg.id
