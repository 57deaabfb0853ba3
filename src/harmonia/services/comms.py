"""Composing and sending messages, and delivering them.

A send writes the message in the caller's transaction (the outbox row *is* the message, status `queued`) and emits
`message_queued`; a refused send keeps the message (`blocked`, its rule in `rule`) in its thread, and a refused send
of a draft leaves the draft a draft with the blocked attempt beside it.

Delivery never holds a transaction across a provider call (issue 12). A dispatcher — the in-process handler of
`harmonia serve` (`install_inprocess_dispatch`) or `harmonia worker` (`dispatch_due`) — works in short units:

1. claim: queued rows whose lease has run out get this dispatcher's lease (`lease_owner`, `leased_until`); SKIP
   LOCKED on PostgreSQL, and SQLite's BEGIN IMMEDIATE makes the select-and-update one step. A dispatcher that dies
   here loses nothing: the lease runs out and another claims the row, which provably never began;
2. begin (comms/gate.py): re-check the switch and the whole gate, then commit `sending` — the moment a message
   begins to leave;
3. send, with no transaction open; every failure is this one message's;
4. record the outcome: `sent`, `failed` with its reason, back to `queued` with a back-off when it provably never left
   (`retry`), or `unknown`.

A `sending` row whose lease ran out (the dispatcher died mid-send) becomes `unknown` (rule `outcome_unknown`): it may
have left, so it is never sent again by itself — a person checks and resends. Times come from the database's clock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from ..comms import gate
from ..comms.providers import Providers
from ..comms.providers.base import Delivery
from ..db import Actor, Database, UnitOfWork
from ..errors import Conflict, InvalidArguments, NotFound, OutboundBlocked
from ..events import DomainEvent
from ..ids import new_id
from ..models import Contact, Conversation, Installation, Message, SendConfirmation, Tenant
from . import audit
from . import contacts as contact_service
from .records import get_or_404

__all__ = [
    "CONFIRMATION_TTL",
    "IdempotencyKeyTaken",
    "Providers",
    "claim",
    "confirm_send",
    "deliver_queued",
    "dispatch_due",
    "dispatcher_id",
    "email_webhook_key",
    "find_idempotent",
    "install_inprocess_dispatch",
    "lock_message",
    "messages_by_id",
    "outbound_refusal",
    "preview_send",
    "queue",
    "record",
    "send_digest",
    "sweep",
    "thread",
    "would_send",
]

log = logging.getLogger("harmonia.comms")

IDEMPOTENCY_WINDOW = timedelta(hours=24)
CLAIM_LEASE = timedelta(minutes=2)  # a claimed, not yet begun message is free again after this
MAX_ATTEMPTS = 5
RETRY_BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))


class IdempotencyKeyTaken(Exception):
    """Another call claimed this idempotency key first (concurrently): replay its result."""


def thread(uow: UnitOfWork, contact: Contact, channel: str, subject: str | None = None) -> Conversation:
    def find() -> Conversation | None:
        return uow.session.scalar(select(Conversation).where(Conversation.contact_id == contact.id,
                                                             Conversation.channel == channel))  # fmt: skip

    conv = find()
    if conv is None:
        conv = Conversation(id=new_id("conversation"), contact_id=contact.id, channel=channel, subject=subject,
                            assignee_id=contact.owner_id, status="open")  # fmt: skip
        try:
            with uow.session.begin_nested():  # two first messages at once: one thread, the other uses it
                uow.session.add(conv)
        except IntegrityError:
            conv = find()
            assert conv is not None
    return conv


def find_idempotent(uow: UnitOfWork, key: str | None, digest: str) -> Message | None:
    """The message a previous call with this key made (within 24 h), or None. Other arguments → refused. A key
    older than the window is forgotten on its old message, so it may name a new send."""
    if not key:
        return None
    found = uow.session.scalar(select(Message).where(Message.idempotency_key == key)
                               .execution_options(populate_existing=True))  # fmt: skip
    if found is None:
        return None
    if found.created_at < uow.now() - IDEMPOTENCY_WINDOW:
        found.idempotency_key = None
        uow.session.flush()
        return None
    if found.idempotency_digest != digest:
        raise Conflict(f"idempotency_key {key!r} was already used with other arguments; use a new key for a new send")
    return found


def would_send(uow: UnitOfWork, contact: Contact, channel: str, at: datetime) -> gate.Decision:
    """The gate's verdict on a message to `contact` at `at`, writing nothing (a workflow's test run asks it)."""
    tenant = uow.session.get(Tenant, uow.tenant_id)
    assert tenant is not None
    return gate.check(uow, tenant, contact, channel, at)


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
    """Write the message (queued, or blocked with its rule) and emit `message_queued` when it may go.

    A draft that may go becomes the queued message itself; a draft that may not stays a draft, and the refused
    attempt is a new blocked message pointing at it (`draft_id`). Raises IdempotencyKeyTaken when a concurrent call
    committed the same key first."""
    contact = get_or_404(uow, Contact, contact_id, "contact")
    tenant = uow.session.get(Tenant, uow.tenant_id)
    assert tenant is not None
    conv = thread(uow, contact, channel, subject)
    now = uow.now()
    decision = gate.check(uow, tenant, contact, channel, now)
    if draft is not None and decision.allowed:
        msg = draft
    else:
        msg = Message(id=new_id("message"), conversation_id=conv.id, direction="outbound", channel=channel,
                      draft_id=draft.id if draft is not None else None)  # fmt: skip
    msg.subject, msg.body = subject, body
    msg.sent_by = uow.actor.user_id
    msg.idempotency_key, msg.idempotency_digest = key, digest
    msg.queued_at = now
    if decision.allowed:
        msg.status, msg.status_reason, msg.rule = "queued", None, None
    else:
        msg.status, msg.rule = "blocked", decision.rule
        msg.status_reason = f"blocked: {decision.rule}. {decision.reason}"[:300]
    try:
        with uow.session.begin_nested():  # the atomic claim of the key: the unique index decides who was first
            if msg is not draft:
                uow.session.add(msg)
    except IntegrityError:
        if key:
            raise IdempotencyKeyTaken(key) from None
        raise
    if decision.allowed:
        uow.emit("message_queued", subject=("message", msg.id), channel=channel)
    conv.last_message_at = now
    conv.status = "open"
    contact_service.touch(uow, contact.id, now)
    uow.session.flush()
    return msg, decision


# --- sends to several recipients: a preview first, then the send it names -----------------------------------------

CONFIRMATION_TTL = timedelta(minutes=10)


def send_digest(channel: str, contact_ids: list[str], subject: str | None, body: str) -> str:
    """What a confirmation is bound to: the channel, exactly these recipients (in any order) and the text."""
    data = {"channel": channel, "to": sorted(set(contact_ids)), "subject": subject or "", "body": body}
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def preview_send(
    uow: UnitOfWork, *, channel: str, contact_ids: list[str], subject: str | None, body: str, field: str
) -> tuple[SendConfirmation, list[tuple[Contact, gate.Decision]]]:
    """Store a confirmation for this send (nothing is sent or queued) and the gate's verdict on each recipient now;
    the gate runs again, in full, when the confirmed send is queued and when it is delivered."""
    contacts = [get_or_404(uow, Contact, cid, "contact", field=field) for cid in sorted(set(contact_ids))]
    tenant = uow.session.get(Tenant, uow.tenant_id)
    assert tenant is not None
    now = uow.now()
    confirmation = SendConfirmation(id=new_id("send_confirmation"), channel=channel,
                                    contact_ids=[c.id for c in contacts],
                                    digest=send_digest(channel, contact_ids, subject, body),
                                    token_id=uow.actor.token_id, expires_at=now + CONFIRMATION_TTL)  # fmt: skip
    uow.session.add(confirmation)
    return confirmation, [(c, gate.check(uow, tenant, c, channel, now)) for c in contacts]


def confirm_send(uow: UnitOfWork, confirmation_id: str, digest: str) -> tuple[SendConfirmation, bool]:
    """The confirmation, locked and marked used, and whether it had been used already (then the caller answers with
    what that send wrote and sends nothing). Refused: another caller's or unknown (the same answer), for other
    recipients or text, or expired."""
    found = uow.session.scalar(select(SendConfirmation).where(SendConfirmation.id == confirmation_id)
                               .with_for_update().execution_options(populate_existing=True))  # fmt: skip
    actor = uow.actor
    if found is None or found.created_by != actor.user_id or found.token_id != actor.token_id:
        raise NotFound(f"no confirmation {confirmation_id!r} was given to you; call again without confirmation_id "
                       "for a new preview", field="confirmation_id")  # fmt: skip
    if found.digest != digest:
        raise Conflict("this confirmation was given for other recipients or another subject or body, and sends only "
                       "what was previewed; call again without confirmation_id for a new preview",
                       field="confirmation_id")  # fmt: skip
    if found.used_at is not None:
        return found, True
    if found.expires_at <= uow.now():
        raise InvalidArguments(f"this confirmation expired at {found.expires_at:%H:%M:%S} UTC (they last "
                               f"{CONFIRMATION_TTL.seconds // 60} minutes); nothing was sent: call again without "
                               "confirmation_id for a new preview", field="confirmation_id")  # fmt: skip
    found.used_at = uow.now()
    return found, False


def messages_by_id(uow: UnitOfWork, ids: list[str]) -> list[Message]:
    found = {m.id: m for m in uow.session.scalars(select(Message).where(Message.id.in_(ids)))} if ids else {}
    return [found[i] for i in ids if i in found]


def lock_message(uow: UnitOfWork, message_id: str, field: str = "message_id") -> Message:
    """The message, locked for this transaction: two sends of one draft queue it once, and a release never
    overwrites an outcome a dispatcher is recording at that moment."""
    msg = uow.session.scalar(select(Message).where(Message.id == message_id).with_for_update()
                             .execution_options(populate_existing=True))  # fmt: skip
    if msg is None:
        raise NotFound(f"no message {message_id!r}", field=field)
    return msg


def check_draft(msg: Message) -> None:
    if msg.status != "draft" or msg.channel != "email":
        raise NotFound(f"message {msg.id!r} is not an email draft (its status is {msg.status})", field="draft_id")


def draft_of(uow: UnitOfWork, draft_id: str) -> Message:
    msg = get_or_404(uow, Message, draft_id, "message", field="draft_id")
    check_draft(msg)
    return msg


# --- delivery ---------------------------------------------------------------------------------------------------


def dispatcher_id() -> str:
    """Who holds a lease: host, process and a random part (several dispatchers may share a process)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _actor(tenant_id: str, client: str = "harmonia worker") -> Actor:
    return Actor(tenant_id=tenant_id, channel="system", client=client)


def claim(db: Database, tenant_id: str, owner: str, batch: int = 50, only: str | None = None) -> list[str]:
    """Lease up to `batch` due messages of one tenant to `owner` in one short transaction; their ids."""
    with db.unit_of_work(_actor(tenant_id)) as uow:
        now = uow.now()
        due = (Message.status == "queued", or_(Message.leased_until.is_(None), Message.leased_until <= now))
        stmt = select(Message.id).where(*due).order_by(Message.queued_at, Message.id).limit(batch)
        if only is not None:  # one named message: wait out a short lock on it (a replayed send) rather than skip it
            stmt = stmt.where(Message.id == only).with_for_update()
        else:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(uow.session.scalars(stmt))
        if not ids:
            return []
        uow.session.execute(update(Message).where(Message.id.in_(ids), *due)
                            .values(lease_owner=owner, leased_until=now + CLAIM_LEASE)
                            .execution_options(synchronize_session=False))  # fmt: skip
        return list(uow.session.scalars(select(Message.id).where(Message.id.in_(ids), Message.lease_owner == owner)))


def sweep(db: Database, tenant_id: str) -> int:
    """`sending` rows whose lease ran out: their dispatcher died mid-send. Marked `unknown`, never resent by itself.
    The lease owner is kept, so a dispatcher that was only slow can still record what truly happened."""
    with db.unit_of_work(_actor(tenant_id)) as uow:
        result: Any = uow.session.execute(
            update(Message).where(Message.status == "sending", Message.leased_until <= uow.now())
            .values(status="unknown", rule="outcome_unknown", leased_until=None,
                    status_reason="the dispatcher stopped while sending; it may or may not have left. Check with the "
                    "recipient or the provider, then resend if it did not arrive")
            .execution_options(synchronize_session=False))  # fmt: skip
        return int(result.rowcount or 0)


def record(db: Database, tenant_id: str, owner: str, message_id: str, delivery: Delivery) -> str | None:
    """Write a provider's outcome in a short transaction; the message's new status (None: no longer ours)."""
    with db.unit_of_work(_actor(tenant_id)) as uow:
        msg = uow.session.scalar(select(Message).where(Message.id == message_id).with_for_update()
                                 .execution_options(populate_existing=True))  # fmt: skip
        if msg is None or msg.lease_owner != owner or msg.status not in ("sending", "unknown"):
            return None
        now = uow.now()
        msg.lease_owner, msg.leased_until = None, None
        detail = (delivery.detail or "")[:200] or None
        if delivery.status in ("sent", "delivered"):
            msg.status, msg.rule, msg.status_reason = delivery.status, None, None
            msg.provider_id, msg.sent_at = delivery.provider_id, now
            uow.emit("message_sent", subject=("message", msg.id), channel=msg.channel)
        elif delivery.status == "retry" and msg.attempts < MAX_ATTEMPTS:
            wait = RETRY_BACKOFF[min(msg.attempts, len(RETRY_BACKOFF)) - 1]
            msg.status, msg.rule, msg.leased_until = "queued", None, now + wait  # not claimable before then
            msg.status_reason = f"not sent yet, retrying after {_when(now + wait)}: {detail}"
        elif delivery.status == "retry":
            msg.status, msg.rule = "failed", "retries_exhausted"
            msg.status_reason = f"gave up after {msg.attempts} attempts; nothing was sent: {detail}"
        elif delivery.status == "failed" and delivery.recipient_opted_out:
            msg.status, msg.rule, msg.status_reason = "failed", "recipient_opted_out", detail
            _carrier_opt_out(uow, msg)
        elif delivery.status == "failed":
            msg.status, msg.rule, msg.status_reason = "failed", "provider_refused", detail
        else:
            msg.status, msg.rule = "unknown", "outcome_unknown"
            msg.status_reason = f"{detail}. Never resent by itself: check, then resend if it did not arrive"[:300]
        return msg.status


def _carrier_opt_out(uow: UnitOfWork, msg: Message) -> None:
    """The provider refused a text because its recipient texted STOP to this number (possibly before the workspace
    knew them, or on another tool): their SMS consent is opted_out from now on, as if the STOP had reached our
    webhook — so the gate blocks every later text, and only their START opens SMS again."""
    contact = uow.session.scalar(
        select(Contact).join(Conversation, (Conversation.contact_id == Contact.id)
                             & (Conversation.tenant_id == Contact.tenant_id))
        .where(Conversation.id == msg.conversation_id)
    )  # fmt: skip
    if contact is None or contact.sms_consent == "opted_out":
        return
    contact_service.change_consent(uow, contact, "sms", "opted_out", source="inbound STOP, reported by the carrier",
                                   inbound=True)  # fmt: skip
    uow.emit("contact_opted_out", subject=("contact", contact.id), channel="sms", keyword="STOP")
    audit.append(uow, action="consent_carrier_opt_out", outcome="ok", target_type="contact", target_id=contact.id,
                 detail=f"{msg.channel} {msg.id} refused by the carrier: the recipient texted STOP")  # fmt: skip


def _when(at: datetime) -> str:
    return f"{at:%H:%M} UTC"


def _deliver_claimed(db: Database, providers: Providers, tenant_id: str, owner: str, message_id: str) -> str | None:
    """Begin, send, record: three steps, two short transactions, none open while the provider works. A failure of
    our own (the database went away) leaves the row to its lease: claimed rows are claimed again, `sending` ones
    become `unknown`."""
    try:
        with db.unit_of_work(_actor(tenant_id)) as uow:
            attempt = gate.begin(uow, message_id, owner, providers, providers.send_lease)
        if attempt is None:
            return None
        delivery = gate.send(attempt)
        return record(db, tenant_id, owner, message_id, delivery)
    except Exception:
        log.exception("delivering message %s failed; its lease decides what happens next", message_id)
        return None


def deliver_queued(db: Database, providers: Providers, tenant_id: str, message_id: str) -> str | None:
    """Deliver one queued message now (the in-process dispatch). Its new status, or None if another dispatcher
    has it or it is not due."""
    owner = dispatcher_id()
    try:
        claimed = claim(db, tenant_id, owner, batch=1, only=message_id)
    except Exception:
        log.exception("could not claim message %s; the worker will", message_id)
        return None
    return _deliver_claimed(db, providers, tenant_id, owner, message_id) if claimed else None


def dispatch_due(db: Database, providers: Providers, batch: int = 50, owner: str | None = None) -> int:
    """One pass of `harmonia worker` over every tenant: mark dead `sending` rows unknown, claim up to `batch` due
    messages per tenant, deliver each on its own. Returns how many were attempted. Several workers may run."""
    owner = owner or dispatcher_id()
    with db.system_session(write=False) as s:
        tenant_ids = list(s.scalars(select(Tenant.id)))
    attempted = 0
    for tenant_id in tenant_ids:
        try:
            sweep(db, tenant_id)
            ids = claim(db, tenant_id, owner, batch)
        except Exception:  # one workspace's trouble never stops the others'
            log.exception("dispatch for tenant %s failed; next tenant", tenant_id)
            continue
        for message_id in ids:
            _deliver_claimed(db, providers, tenant_id, owner, message_id)
            attempted += 1
    return attempted


def install_inprocess_dispatch(db: Database, providers: Providers) -> Any:
    """`harmonia serve` delivers what it queues: on `message_queued`, right after the commit, in the caller's thread
    (deterministic for tests). Isolated by the bus: a failure is logged, the send stays answered as queued, and the
    worker or the next dispatch picks the row up. Returns the handler (to unsubscribe)."""

    def on_message_queued(event: DomainEvent) -> None:
        if event.subject_id:
            deliver_queued(db, providers, event.tenant_id, event.subject_id)

    db.bus.subscribe("message_queued", on_message_queued)
    return on_message_queued


# --- inbound, provider callbacks ----------------------------------------------------------------------------------

# Opt-out words: Twilio's default set and the FCC's per se reasonable ones. A message opts out when, ignoring case,
# punctuation and spacing, it *is* one of them or starts with one ("Stop.", "STOP please", "Cancel texts"); the
# unambiguous ones opt out anywhere in the text ("please stop texting me"). In doubt, opt out: the law puts the
# burden on the sender, and a missed STOP costs far more than a false one.
STOP_WORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT")
STOP_ANYWHERE = ("STOP", "STOPALL", "UNSUBSCRIBE", "REVOKE", "OPTOUT", "OPT OUT")
START_WORDS = ("START", "UNSTOP", "YES")  # only alone: an opt-in must be unambiguous
# an `unknown` outcome is settled by the provider's own report: its callback says sent, delivered or failed
STATUS_ORDER = {"queued": 0, "sending": 0, "unknown": 0, "sent": 1, "delivered": 2}
STOP_CONFIRMATION = "You are unsubscribed and will receive no more messages. Reply START to resubscribe."


def keyword_of(body: str) -> str:
    return " ".join("".join(ch if ch.isalnum() else " " for ch in body.upper()).split())


def is_opt_out(body: str) -> bool:
    text = keyword_of(body)
    padded = f" {text} "
    return any(text == w or text.startswith(w + " ") for w in STOP_WORDS) or any(
        f" {w} " in padded for w in STOP_ANYWHERE
    )


def is_opt_in(body: str) -> bool:
    return keyword_of(body) in START_WORDS


def tenant_for_number(db: Database, number: str) -> str | None:
    """Our own routing table (each workspace's SMS number in its settings), never a claim in the payload."""
    with db.system_session(write=False) as s:
        for tenant in s.scalars(select(Tenant)):
            sender = (tenant.settings or {}).get("sender") or {}
            if sender.get("sms_from") == number:
                return str(tenant.id)
    return None


def receive_sms(db: Database, tenant_id: str, from_number: str, body: str, provider_id: str | None) -> str | None:
    """Thread an inbound SMS into the contact's conversation and honour opt-out keywords. Returns the one reply to
    send back (the STOP confirmation, at most once), or None. A replayed provider id is stored once and acted on
    once. Works whatever the outbound switch says."""
    reply = None
    with db.unit_of_work(_actor(tenant_id, "sms webhook")) as uow:
        if provider_id and uow.session.scalar(select(Message.id).where(Message.provider_id == provider_id,
                                                                       Message.direction == "inbound")):  # fmt: skip
            audit.append(uow, action="sms_received", outcome="ignored", detail=f"replayed {provider_id}"[:200])
            return None
        contact = uow.session.scalars(select(Contact).where(Contact.phone == from_number).limit(1)).first()
        if contact is None:  # a stranger texting in becomes a contact with unknown consent
            contact = Contact(id=new_id("contact"), phone=from_number, source="web", sms_consent="unknown")
            uow.session.add(contact)
            uow.session.flush()
        conv = thread(uow, contact, "sms")
        now = uow.now()
        try:
            with uow.session.begin_nested():  # the unique index settles a replay racing this one
                uow.session.add(Message(id=new_id("message"), conversation_id=conv.id, direction="inbound",
                                        channel="sms", body=body, from_addr=from_number, status="received",
                                        provider_id=provider_id, sent_at=now))  # fmt: skip
        except IntegrityError:
            return None
        conv.unread, conv.last_message_at, conv.status = True, now, "open"
        keyword = keyword_of(body)
        detail = None
        if is_opt_out(body):
            if contact.sms_consent != "opted_out":
                reply = STOP_CONFIRMATION
            source = f"inbound {keyword[:40]}"
            contact_service.change_consent(uow, contact, "sms", "opted_out", source=source, inbound=True)
            if keyword == "STOPALL":
                contact_service.change_consent(uow, contact, "call", "opted_out", source=source, inbound=True)
            detail = f"opt-out: {keyword[:60]}"
        elif is_opt_in(body) and contact.sms_consent == "opted_out":
            contact_service.change_consent(uow, contact, "sms", "opted_in", source=f"inbound {keyword}", inbound=True)
            detail = f"opt-in: {keyword}"
        contact.last_activity_at = now
        uow.emit("message_received", subject=("contact", contact.id), channel="sms", auto_reply=False)
        if keyword in STOP_WORDS:
            uow.emit("contact_opted_out", subject=("contact", contact.id), channel="sms", keyword=keyword)
        audit.append(uow, action="sms_received", outcome="ok", target_type="contact", target_id=contact.id,
                     detail=detail)  # fmt: skip
        uow.emit("message_received", subject=("contact", contact.id), channel="sms")
    return reply


def provider_status(db: Database, tenant_id: str, provider_id: str, status: str) -> bool:
    """A delivery-status callback moves a message forward only (a late `sent` never undoes `delivered`)."""
    with db.unit_of_work(_actor(tenant_id, "status callback")) as uow:
        msg = uow.session.scalars(select(Message).where(Message.provider_id == provider_id,
                                                        Message.direction == "outbound").limit(1)).first()  # fmt: skip
        if msg is None:
            audit.append(uow, action="sms_status", outcome="ignored", detail=f"unknown {provider_id}"[:200])
            return False
        before = msg.status
        if status in ("failed", "undelivered") and msg.status not in ("delivered", "draft", "held", "blocked"):
            msg.status, msg.rule, msg.status_reason = "failed", "provider_refused", f"provider reported {status}"
        elif STATUS_ORDER.get(status, -1) > STATUS_ORDER.get(msg.status, 99):
            msg.status = status
        # One row per callback, moved or not: "what did the provider tell us, and when?" is an audit question.
        audit.append(uow, action="message_status", outcome="ok", target_type="message", target_id=msg.id,
                     detail=f"provider reported {status[:40]!r}", before={"status": before},
                     after={"status": msg.status})  # fmt: skip
    return True


def email_event(db: Database, tenant_id: str, email: str, kind: str) -> bool:
    """A bounce or an unsubscribe marks the contact's email consent."""
    with db.unit_of_work(_actor(tenant_id, "email webhook")) as uow:
        contact = uow.session.scalars(select(Contact).where(Contact.email == email.strip().lower()).limit(1)).first()
        if contact is None:
            audit.append(uow, action=f"email_{kind}", outcome="ignored", detail="no such contact")
            return False
        value = "bounced" if kind == "bounce" else "unsubscribed"
        contact_service.change_consent(uow, contact, "email", value, source=f"provider {kind}", inbound=True)
        audit.append(uow, action=f"email_{kind}", outcome="ok", target_type="contact", target_id=contact.id)
        uow.emit("message_bounced" if kind == "bounce" else "email_unsubscribed", subject=("contact", contact.id))
    return True


EMAIL_WEBHOOK_KEY = "email_webhook_key"


def email_webhook_key(db: Database) -> str:
    """The HMAC key of the email-event webhook: random per installation, made on first use and kept in the
    `installation` table (never a default anyone can read in the source). Give it to the email provider."""
    with db.system_session(write=False) as s:
        found = s.scalar(select(Installation.value).where(Installation.key == EMAIL_WEBHOOK_KEY))
    if found:
        return str(found)
    try:
        with db.system_session() as s:
            s.add(Installation(key=EMAIL_WEBHOOK_KEY, value=secrets.token_hex(32), created_at=db.clock.now()))
    except IntegrityError:  # another process made it first: theirs stands
        pass
    with db.system_session(write=False) as s:
        return str(s.scalar(select(Installation.value).where(Installation.key == EMAIL_WEBHOOK_KEY)))


def outbound_refusal(uow: UnitOfWork) -> OutboundBlocked | None:
    """The gate's refusal when this workspace's outbound switch is off (for a tool that sends to people outside the
    outbox: a workspace's own tool or an upstream's), worded by the gate itself; None when it is on."""
    tenant = uow.session.get(Tenant, uow.tenant_id)
    assert tenant is not None
    decision = gate.check(uow, tenant, None, "tool", uow.now())
    if decision.rule != "outbound_off":
        return None
    return OutboundBlocked(decision.rule, decision.reason or "outbound is off")
