"""The one door to the outside world. Only this module calls a provider, and only after, inside the delivery
transaction, it has re-read the tenant's outbound switch and checked, in order: the recipient is a contact of this
tenant; not opted out or do-not-disturb on that channel; consent (SMS and calls need opt-in); quiet hours (08:00–21:00
in the recipient's timezone, or the tenant's when unknown); the tenant's send budget for the channel this hour.

Every refusal names its rule (`blocked: outbound_off`, `blocked: sms_consent`…). A message queued before the switch
went off becomes `held`, and nothing releases it but a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ..config import get_settings
from ..db import UnitOfWork
from ..models import Contact, Conversation, Message, Tenant, utcnow
from .providers.base import Delivery, Envelope, Permit, Provider
from .providers.sandbox import SandboxProvider
from .providers.smtp import SmtpProvider
from .providers.twilio import TwilioProvider

__all__ = ["Decision", "check", "deliver", "provider_for"]

_GATE_TOKEN = object()
_SANDBOX = SandboxProvider()
QUIET_START, QUIET_END = 21, 8


def _permit_is_valid(permit: Permit, message_id: str) -> bool:
    return permit.token is _GATE_TOKEN and permit.message_id == message_id


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str | None = None
    reason: str | None = None


def provider_for(channel: str, tenant_id: str = "") -> Provider:
    settings = get_settings()
    if channel == "email" and settings.smtp_url:
        return SmtpProvider(settings.smtp_url)
    if channel in ("sms", "call") and settings.twilio_base_url and settings.twilio_account_sid:
        return TwilioProvider(
            settings.twilio_base_url,
            settings.twilio_account_sid,
            settings.twilio_auth_token or "",
            settings.twilio_from_number or "",
            f"{settings.public_url}/webhooks/twilio/{tenant_id}/status",
        )
    return _SANDBOX


def sandbox() -> SandboxProvider:
    return _SANDBOX


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
            return Decision(False, "email_consent", f"the contact's email is {contact.email_consent}")
        if not contact.email:
            return Decision(False, "no_address", "the contact has no email address")
    else:
        consent = contact.sms_consent if channel == "sms" else contact.call_consent
        if consent != "opted_in":
            return Decision(
                False, f"{channel}_consent", f"{channel} needs opt-in consent and the contact's is {consent}"
            )
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
            Message.direction == "outbound", Message.status.in_(("sent", "delivered"))))  # fmt: skip
        if (sent or 0) >= budget:
            return Decision(False, "send_budget", f"the workspace's budget of {budget} {channel} per hour is spent")
    return Decision(True)


def deliver(uow: UnitOfWork, message_id: str) -> Message | None:
    """Deliver one queued message, inside this (write) unit of work. Returns the message with its new status."""
    s = uow.session
    msg = s.scalar(select(Message).where(Message.id == message_id).with_for_update())
    if msg is None or msg.status != "queued":
        return msg
    tenant = s.get(Tenant, uow.tenant_id, populate_existing=True)  # re-read the switch now, not when queued
    conv = s.scalar(select(Conversation).where(Conversation.id == msg.conversation_id))
    contact = s.scalar(select(Contact).where(Contact.id == conv.contact_id)) if conv else None
    now = utcnow()
    assert tenant is not None
    decision = check(uow, tenant, contact, msg.channel, now)
    msg.attempts += 1
    if not decision.allowed:
        msg.status = "held" if decision.rule == "outbound_off" else "blocked"
        msg.status_reason = f"blocked: {decision.rule}. {decision.reason}"
        return msg
    assert contact is not None
    to = contact.email if msg.channel == "email" else contact.phone
    provider = provider_for(msg.channel, uow.tenant_id)
    envelope = Envelope(msg.id, msg.channel, to or "", msg.from_addr, msg.subject, msg.body)
    result: Delivery = provider.send(envelope, Permit(msg.id, _GATE_TOKEN))
    msg.provider = provider.name
    msg.provider_id = result.provider_id
    msg.to_addr = to
    # "unknown" is kept visible as failed-with-reason and never retried by itself: a person decides.
    msg.status = {"unknown": "failed"}.get(result.status, result.status)
    msg.status_reason = result.detail
    msg.sent_at = now if result.status in ("sent", "delivered") else None
    return msg
