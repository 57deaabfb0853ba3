"""The one door to the outside world. Only this module calls a provider, and only for a message whose `sending`
state it has just committed after re-reading the tenant's outbound switch and checking, in order: the recipient is a
contact of this tenant; not opted out or do-not-disturb on that channel; consent (SMS and calls need opt-in, email
must be subscribed); quiet hours (08:00–21:00 in the recipient's timezone, or the tenant's when unknown); the
tenant's send budget for the channel this hour.

Every refusal names its rule, kept in `messages.rule` (`outbound_off`, `sms_consent`…). A message queued before
the switch went off becomes `held`, and nothing releases it but a person.

Delivery happens in three steps and no transaction is open while a provider works (services/comms.py drives them):
`begin` (a short write: re-check everything, then `queued → sending`), `send` (the provider call, outside any
transaction, every exception caught), and the caller records the outcome in another short write. `begin` locks the
tenant row for share (PostgreSQL; SQLite's BEGIN IMMEDIATE serializes it the same way), so it and the switch's
write are ordered: a message either began before the switch went off, or meets it off and is held. No message
begins after the off is committed, and turning the switch off never waits on a provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ..db import UnitOfWork
from ..models import Contact, Conversation, Message, Tenant
from .providers import Providers
from .providers.base import Delivery, Envelope, Permit, Provider

__all__ = ["Attempt", "Decision", "begin", "check", "send"]

_GATE_TOKEN = object()
QUIET_START, QUIET_END = 21, 8


def _permit_is_valid(permit: Permit, message_id: str) -> bool:
    return permit.token is _GATE_TOKEN and permit.message_id == message_id


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Attempt:
    """A message whose `sending` state is committed: what to hand to which provider, with the gate's permit."""

    message_id: str
    provider: Provider
    envelope: Envelope
    permit: Permit


def check(uow: UnitOfWork, tenant: Tenant, contact: Contact | None, channel: str, now: datetime) -> Decision:
    if not tenant.outbound_enabled:
        return Decision(False, "outbound_off", "outbound is off for this workspace; an owner turns it on in "
                        "Settings → Comms → Outbound (or `harmonia outbound on` at the server)")  # fmt: skip
    if contact is None:
        return Decision(False, "unknown_recipient", "the recipient is not a contact of this workspace")
    if contact.dnd or channel in (contact.dnd_channels or []):
        return Decision(False, f"{channel}_dnd", "the contact is on do-not-disturb")
    if channel == "email":
        if contact.email_consent != "subscribed":
            return Decision(False, "email_consent", f"the contact's email consent is {contact.email_consent}; only "
                            "a person records an opt-in (web UI or REST, with its source)")  # fmt: skip
        if not contact.email:
            return Decision(False, "no_address", "the contact has no email address")
    else:
        consent = contact.sms_consent if channel == "sms" else contact.call_consent
        if consent != "opted_in":
            return Decision(False, f"{channel}_consent", f"{channel} needs opt-in consent and the contact's is "
                            f"{consent}; only a person records an opt-in (web UI or REST, with its source)")  # fmt: skip
        if not contact.phone:
            return Decision(False, "no_address", "the contact has no phone number")
        zone = contact.timezone or tenant.timezone
        local = now.astimezone(ZoneInfo(zone))
        if local.hour >= QUIET_START or local.hour < QUIET_END:
            whose = "the contact's" if contact.timezone else "the workspace's (the contact's is unknown)"
            return Decision(False, "quiet_hours", f"it is {local:%H:%M} in {whose} timezone {zone}; "
                            "SMS and calls go out between 08:00 and 21:00 only")  # fmt: skip
    budget = (tenant.settings or {}).get("send_budget_per_hour", {}).get(channel)
    if budget is not None:
        sent = uow.session.scalar(select(func.count()).select_from(Message).where(
            # created_at is indexed per tenant; a message is sent moments after it is created (or released)
            Message.created_at >= now - timedelta(hours=1), Message.channel == channel,
            Message.direction == "outbound", Message.status.in_(("sending", "sent", "delivered"))))  # fmt: skip
        if (sent or 0) >= budget:
            return Decision(False, "send_budget", f"the workspace's budget of {budget} {channel} per hour is spent")
    return Decision(True)


def begin(uow: UnitOfWork, message_id: str, owner: str, providers: Providers, lease: timedelta) -> Attempt | None:
    """In a short write unit: re-check the switch and the whole gate for a message this dispatcher (`owner`) has
    claimed. Allowed: `sending` (with a lease long enough for the provider's timeout) and an `Attempt` to send once
    this unit commits. Refused: `held`/`blocked` with its rule, and None. Not ours (any more): None, untouched."""
    s = uow.session
    # FOR SHARE on PostgreSQL: the switch's UPDATE and this check are ordered, never interleaved
    tenant = s.scalar(select(Tenant).where(Tenant.id == uow.tenant_id).with_for_update(read=True)
                      .execution_options(populate_existing=True))  # fmt: skip
    msg = s.scalar(select(Message).where(Message.id == message_id).with_for_update()
                   .execution_options(populate_existing=True))  # fmt: skip
    if tenant is None or msg is None or msg.status != "queued" or msg.lease_owner != owner:
        return None
    conv = s.scalar(select(Conversation).where(Conversation.id == msg.conversation_id))
    contact = s.scalar(select(Contact).where(Contact.id == conv.contact_id)) if conv else None
    now = uow.now()
    decision = check(uow, tenant, contact, msg.channel, now)
    msg.lease_owner, msg.leased_until = None, None
    if not decision.allowed:
        msg.status = "held" if decision.rule == "outbound_off" else "blocked"
        msg.rule = decision.rule
        msg.status_reason = f"blocked: {decision.rule}. {decision.reason}"[:300]
        return None
    assert contact is not None
    to = (contact.email if msg.channel == "email" else contact.phone) or ""
    provider = providers.for_channel(msg.channel)
    msg.status, msg.rule, msg.status_reason = "sending", None, None
    msg.lease_owner, msg.leased_until = owner, now + lease
    msg.attempts += 1
    msg.to_addr, msg.provider = to, provider.name
    envelope = Envelope(msg.id, msg.channel, to, msg.from_addr, msg.subject, msg.body, tenant_id=uow.tenant_id)
    return Attempt(msg.id, provider, envelope, Permit(msg.id, _GATE_TOKEN))


def send(attempt: Attempt) -> Delivery:
    """The provider call, with no transaction open. Whatever the provider raises is this one message's failure,
    never the caller's: a poison message fails alone and the dispatcher goes on to the next."""
    try:
        return attempt.provider.send(attempt.envelope, attempt.permit)
    except Exception as exc:  # a bug or bad data in one message must not stop or roll back the others
        return Delivery(status="failed", detail=f"the {attempt.provider.name} provider failed on this message "
                        f"({type(exc).__name__}: {str(exc)[:120]})")  # fmt: skip
