"""Composing and sending messages. A send writes the message in the caller's transaction (the outbox row *is*
the message, status `queued`) and is delivered through the gate right after commit, in-process; the gate re-checks
everything at delivery. Refused sends keep the message (status `blocked`) in its thread: nothing is lost."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ..comms import gate
from ..db import UnitOfWork
from ..errors import Conflict, NotFound
from ..ids import new_id
from ..models import Contact, Conversation, Message, Tenant, utcnow
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
