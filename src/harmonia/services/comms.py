"""Composing and sending messages. A send writes the message in the caller's transaction (the outbox row *is*
the message, status `queued`) and is delivered through the gate right after commit, in-process; the gate re-checks
everything at delivery. Refused sends keep the message (status `blocked`) in its thread: nothing is lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from ..comms import gate
from ..config import get_settings
from ..db import UnitOfWork
from ..errors import Conflict, NotFound
from ..ids import new_id
from ..models import Contact, Conversation, Message, Tenant, utcnow
from . import audit
from . import contacts as contact_service
from .records import get_or_404

__all__ = ["deliver_now", "find_idempotent", "queue", "thread"]

IDEMPOTENCY_WINDOW = timedelta(hours=24)


def thread(uow: UnitOfWork, contact: Contact, channel: str, subject: str | None = None) -> Conversation:
    conv = uow.session.scalar(select(Conversation).where(Conversation.contact_id == contact.id,
                                                         Conversation.channel == channel))  # fmt: skip
    if conv is None:
        conv = Conversation(id=new_id("conversation"), contact_id=contact.id, channel=channel, subject=subject,
                            assignee_id=contact.owner_id, status="open")  # fmt: skip
        uow.session.add(conv)
        uow.session.flush()
    return conv


def find_idempotent(uow: UnitOfWork, key: str | None, digest: str) -> Message | None:
    """The message a previous call with this key made (within 24 h), or None. Other arguments → refused."""
    if not key:
        return None
    found = uow.session.scalars(
        select(Message).where(Message.idempotency_key == key, Message.created_at >= utcnow() - IDEMPOTENCY_WINDOW)
        .order_by(Message.created_at).limit(1)
    ).first()  # fmt: skip
    if found is not None and found.idempotency_digest != digest:
        raise Conflict(f"idempotency_key {key!r} was already used with other arguments; use a new key for a new send")
    return found


def queue(
    uow: UnitOfWork,
    *,
    contact_id: str,
    channel: str,
    body: str,
    subject: str | None = None,
    key: str | None = None,
    digest: str | None = None,
    draft: Message | None = None,
) -> tuple[Message, gate.Decision]:
    """Write the message (queued, or blocked with its rule) and schedule delivery after commit."""
    contact = get_or_404(uow, Contact, contact_id, "contact")
    tenant = uow.session.get(Tenant, uow.tenant_id)
    assert tenant is not None
    conv = thread(uow, contact, channel, subject)
    now = utcnow()
    decision = gate.check(uow, tenant, contact, channel, now)
    msg = draft or Message(id=new_id("message"), conversation_id=conv.id, direction="outbound", channel=channel)
    msg.subject, msg.body = subject, body
    msg.sent_by = uow.actor.user_id
    msg.idempotency_key, msg.idempotency_digest = key, digest
    msg.queued_at = now
    if decision.allowed:
        msg.status, msg.status_reason = "queued", None
        message_id = msg.id
        if get_settings().inprocess_dispatch:  # otherwise `harmonia worker` delivers it
            uow.after_commit(lambda: deliver_now(uow, message_id))
    else:
        msg.status, msg.status_reason = "blocked", f"blocked: {decision.rule}. {decision.reason}"
    if draft is None:
        uow.session.add(msg)
    conv.last_message_at = now
    conv.status = "open"
    contact_service.touch(uow, contact.id, now)
    uow.session.flush()
    return msg, decision


def deliver_now(uow: UnitOfWork, message_id: str) -> None:
    """In-process dispatch: a new unit of work, so the gate decides inside the delivery transaction."""
    with uow.db.unit_of_work(uow.actor) as delivery:
        gate.deliver(delivery, message_id)


def draft_of(uow: UnitOfWork, draft_id: str) -> Message:
    msg = get_or_404(uow, Message, draft_id, "message", field="draft_id")
    if msg.status != "draft" or msg.channel != "email":
        raise NotFound(f"message {draft_id!r} is not an email draft (its status is {msg.status})", field="draft_id")
    return msg


# --- inbound, provider callbacks, the worker ----------------------------------------------------------------------

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"}
START_WORDS = {"START", "UNSTOP", "YES"}
STATUS_ORDER = {"queued": 0, "sent": 1, "delivered": 2}
STOP_CONFIRMATION = "You are unsubscribed and will receive no more messages. Reply START to resubscribe."


def tenant_for_number(db: Any, number: str) -> str | None:
    """Our own routing table (each workspace's SMS number in its settings), never a claim in the payload."""
    from ..models import Tenant as TenantRow

    with db.system_session(write=False) as s:
        for tenant in s.scalars(select(TenantRow)):
            sender = (tenant.settings or {}).get("sender") or {}
            if sender.get("sms_from") == number:
                return str(tenant.id)
    return None


def receive_sms(db: Any, tenant_id: str, from_number: str, body: str, provider_id: str | None) -> str | None:
    """Thread an inbound SMS into the contact's conversation and honour opt-out keywords. Returns the one reply to
    send back (the STOP confirmation, at most once), or None. Works whatever the outbound switch says."""
    from ..db import Actor

    actor = Actor(tenant_id=tenant_id, channel="system", client="sms webhook")
    keyword = " ".join(body.strip().upper().split())
    reply = None
    with db.unit_of_work(actor) as uow:
        contact = uow.session.scalars(select(Contact).where(Contact.phone == from_number).limit(1)).first()
        if contact is None:  # a stranger texting in becomes a contact with unknown consent
            contact = Contact(id=new_id("contact"), phone=from_number, source="web", sms_consent="unknown")
            uow.session.add(contact)
            uow.session.flush()
        conv = thread(uow, contact, "sms")
        now = utcnow()
        uow.session.add(Message(id=new_id("message"), conversation_id=conv.id, direction="inbound", channel="sms",
                                body=body, from_addr=from_number, status="received", provider_id=provider_id,
                                sent_at=now))  # fmt: skip
        conv.unread, conv.last_message_at, conv.status = True, now, "open"
        log = dict(contact.consent_log or {})
        if keyword in STOP_WORDS:
            if contact.sms_consent != "opted_out":
                reply = STOP_CONFIRMATION
            contact.sms_consent = "opted_out"
            contact.call_consent = "opted_out" if keyword == "STOPALL" else contact.call_consent
            log["sms"] = {"at": now.isoformat(), "how": f"inbound {keyword}"}
        elif keyword in START_WORDS and contact.sms_consent == "opted_out":
            contact.sms_consent = "opted_in"
            log["sms"] = {"at": now.isoformat(), "how": f"inbound {keyword}"}
        contact.consent_log = log
        contact.last_activity_at = now
        uow.emit("message_received", subject=("contact", contact.id), channel="sms", auto_reply=False)
        if keyword in STOP_WORDS:
            uow.emit("contact_opted_out", subject=("contact", contact.id), channel="sms", keyword=keyword)
        audit.append(uow, action="sms_received", outcome="ok", target_type="contact", target_id=contact.id,
                     detail=f"keyword {keyword}" if keyword in STOP_WORDS | START_WORDS else None)  # fmt: skip
    return reply


def provider_status(db: Any, tenant_id: str, provider_id: str, status: str) -> bool:
    """A delivery-status callback moves a message forward only (a late `sent` never undoes `delivered`)."""
    from ..db import Actor

    with db.unit_of_work(Actor(tenant_id=tenant_id, channel="system", client="status callback")) as uow:
        msg = uow.session.scalars(select(Message).where(Message.provider_id == provider_id).limit(1)).first()
        if msg is None:
            return False
        if status in ("failed", "undelivered") and msg.status != "delivered":
            msg.status, msg.status_reason = "failed", f"provider reported {status}"
        elif STATUS_ORDER.get(status, -1) > STATUS_ORDER.get(msg.status, 99):
            msg.status = status
    return True


def email_event(db: Any, tenant_id: str, email: str, kind: str) -> bool:
    """A bounce or an unsubscribe marks the contact's email consent."""
    from ..db import Actor

    with db.unit_of_work(Actor(tenant_id=tenant_id, channel="system", client="email webhook")) as uow:
        contact = uow.session.scalars(select(Contact).where(Contact.email == email.strip().lower()).limit(1)).first()
        if contact is None:
            return False
        contact.email_consent = "bounced" if kind == "bounce" else "unsubscribed"
        log = dict(contact.consent_log or {})
        log["email"] = {"at": utcnow().isoformat(), "how": f"provider {kind}"}
        contact.consent_log = log
        audit.append(uow, action=f"email_{kind}", outcome="ok", target_type="contact", target_id=contact.id)
        uow.emit("message_bounced" if kind == "bounce" else "email_unsubscribed", subject=("contact", contact.id))
    return True


def dispatch_due(db: Any, batch: int = 50) -> int:
    """Deliver queued messages of every tenant; returns how many were attempted. Several workers may run: each
    claims rows with FOR UPDATE SKIP LOCKED (PostgreSQL) inside the tenant's own transaction, so none is sent twice."""
    from ..db import Actor
    from ..models import Tenant as TenantRow

    with db.system_session(write=False) as s:
        tenant_ids = list(s.scalars(select(TenantRow.id)))
    attempted = 0
    for tenant_id in tenant_ids:
        actor = Actor(tenant_id=tenant_id, channel="system", client="harmonia worker")
        with db.unit_of_work(actor) as uow:
            ids = list(uow.session.scalars(select(Message.id).where(Message.status == "queued")
                                           .order_by(Message.queued_at).limit(batch)
                                           .with_for_update(skip_locked=True)))  # fmt: skip
            for message_id in ids:
                gate.deliver(uow, message_id)
                attempted += 1
    return attempted
