"""Contacts and accounts: creation with duplicate detection, updates, lookups and filtered lists."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select

from ..db import UnitOfWork
from ..errors import Conflict, Forbidden, InvalidArguments
from ..formats import EMAIL_PATTERN
from ..ids import new_id
from ..models import Account, ConsentEvent, Contact, Tagging, User, utcnow
from ..queries import TENANT
from . import tags as tag_service
from .paging import Listing, at_least, eq, named
from .records import apply_changes, get_or_404

__all__ = [
    "CONSENT_VALUES",
    "CONTACT_NAMES",
    "change_consent",
    "create_contact",
    "list_contacts",
    "normalize_email",
    "normalize_phone",
    "update_contact",
]

CONSENT_VALUES = {
    "email": ("unknown", "subscribed", "unsubscribed", "bounced"),
    "sms": ("unknown", "opted_in", "opted_out"),
    "call": ("unknown", "opted_in", "opted_out"),
}
CONTACT_FIELDS = (
    "first_name", "last_name", "email", "phone", "account_id", "title", "owner_id", "timezone", "source",
    "email_consent", "sms_consent", "call_consent", "dnd", "dnd_channels", "custom_fields",
)  # fmt: skip


# --- consent (SPEC §11) -----------------------------------------------------------------------------------------
# Opting out is always allowed, to anyone, on any channel. Granting consent (SMS or call `opted_in`, email
# `subscribed`) or moving away from an opt-out is a person's act: someone in the web UI (`ui`), an integration over
# REST (`api`) or the owner at the server (`cli`), with the source of the consent. Never the agent over MCP, never
# a workflow. After the contact texted STOP, only their own START re-opens SMS (carriers block the number until
# then anyway). Every change is appended to `consent_events`; nothing rewrites that history.
OPT_OUTS = {"email": ("unsubscribed", "bounced"), "sms": ("opted_out",), "call": ("opted_out",)}
GRANTED = {"email": "subscribed", "sms": "opted_in", "call": "opted_in"}
PEOPLE_CHANNELS = ("ui", "api", "cli")


def change_consent(
    uow: UnitOfWork,
    contact: Contact,
    channel: str,
    value: str,
    *,
    source: str | None,
    given_at: datetime | None = None,
    inbound: bool = False,
) -> str | None:
    """Move `contact`'s consent on `channel` to `value` if the rules allow, recording the change. `inbound`: the
    contact's own message or their provider's report (a STOP, a START, a bounce). Returns the value before, or None
    when nothing changed."""
    if value not in CONSENT_VALUES[channel]:
        raise InvalidArguments(f"{channel}_consent must be one of {', '.join(CONSENT_VALUES[channel])}")
    current = getattr(contact, f"{channel}_consent")
    if value == current:
        return None
    raises = value == GRANTED[channel] or current in OPT_OUTS[channel]
    if raises and value not in OPT_OUTS[channel] and not inbound:
        if uow.actor.channel not in PEOPLE_CHANNELS:
            raise Forbidden(
                f"{channel}_consent cannot be raised to {value} through {uow.actor.channel}: only a person records an "
                "opt-in, in the web UI or over REST with its source and date (an opt-out is always accepted)"
            )
        if not (source or "").strip():
            raise InvalidArguments(
                f"say where this {channel} opt-in comes from: consent_source (e.g. 'signed application form'), "
                "and consent_given_at if it was not today",
                field="consent_source",
            )
        if channel == "sms" and current == "opted_out" and _last_was_inbound_stop(uow, contact.id):
            raise Forbidden(
                "this contact texted STOP; only their texting START (or UNSTOP) opens SMS again. Their STOP stays on "
                "record"
            )
    now = uow.now()
    setattr(contact, f"{channel}_consent", value)
    source = (source or f"set via {uow.actor.channel}").strip()[:300]
    uow.session.add(ConsentEvent(id=new_id("consent_event"), contact_id=contact.id, channel=channel,
                                 from_value=current, to_value=value, source=source, given_at=given_at or now, at=now,
                                 via=uow.actor.channel, user_id=uow.actor.user_id,
                                 client=uow.actor.client))  # fmt: skip
    log = dict(contact.consent_log or {})  # the latest per channel, for display; the history is consent_events
    log[channel] = {"at": now.isoformat(), "how": source, "given_at": (given_at or now).isoformat()}
    contact.consent_log = log
    uow.emit("consent_changed", subject=("contact", contact.id), channel=channel, before=current, after=value)
    return str(current)


def _last_was_inbound_stop(uow: UnitOfWork, contact_id: str) -> bool:
    last = uow.session.scalar(
        select(ConsentEvent).where(ConsentEvent.contact_id == contact_id, ConsentEvent.channel == "sms")
        .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc()).limit(1)
    )  # fmt: skip
    return last is not None and last.to_value == "opted_out" and last.source.startswith("inbound")


def consent_history(uow: UnitOfWork, contact_id: str) -> list[ConsentEvent]:
    return list(uow.session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id)
                                    .order_by(ConsentEvent.at, ConsentEvent.id)))  # fmt: skip


def normalize_email(email: str | None) -> str | None:
    if email is None:
        return None
    email = email.strip().lower()
    if not email:
        return None
    if not re.fullmatch(EMAIL_PATTERN, email):
        raise InvalidArguments(f"email {email!r} is not an email address", field="email")
    return email


def normalize_phone(phone: str | None, region: str = "US") -> str | None:
    """E.164 (`+15551234567`). A number that cannot be a real phone number is refused, not stored as typed."""
    if phone is None or not phone.strip():
        return None
    import phonenumbers  # here: only writes need it, and reads start faster without it

    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        raise InvalidArguments(
            f"phone {phone!r} is not a phone number; use E.164 like +15551234567", field="phone"
        ) from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidArguments(
            f"phone {phone!r} is not a possible phone number; use E.164 like +15551234567", field="phone"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _check_refs(uow: UnitOfWork, values: dict[str, Any]) -> None:
    if values.get("account_id"):
        get_or_404(uow, Account, values["account_id"], "account")
    if values.get("owner_id"):
        get_or_404(uow, User, values["owner_id"], "user", field="owner_id")
    for channel in ("email", "sms", "call"):
        value = values.get(f"{channel}_consent")
        if value is not None and value not in CONSENT_VALUES[channel]:
            raise InvalidArguments(f"{channel}_consent must be one of {', '.join(CONSENT_VALUES[channel])}")


def find_duplicate(
    uow: UnitOfWork, email: str | None, phone: str | None, exclude_id: str | None = None
) -> Contact | None:
    conds = []
    if email:
        conds.append(Contact.email == email)
    if phone:
        conds.append(Contact.phone == phone)
    if not conds:
        return None
    stmt = select(Contact).where(or_(*conds))
    if exclude_id:
        stmt = stmt.where(Contact.id != exclude_id)
    return uow.session.scalars(stmt.limit(1)).first()


def _duplicate_error(dup: Contact, email: str | None) -> Conflict:
    what = "email" if email and dup.email == email else "phone"
    return Conflict(
        f"a contact with this {what} already exists: {dup.full_name or '(no name)'} ({dup.id}); "
        "update that contact instead of creating a second one",
        existing_id=dup.id,
    )


def create_contact(
    uow: UnitOfWork, values: dict[str, Any], *, tags: list[str] | None = None, create_tags: bool = False
) -> Contact:
    values = {k: v for k, v in values.items() if v is not None}
    values["email"] = normalize_email(values.get("email"))
    values["phone"] = normalize_phone(values.get("phone"))
    if not (values.get("first_name") or values.get("last_name") or values.get("email") or values.get("phone")):
        raise InvalidArguments("a contact needs at least a name, an email or a phone")
    if values.get("source") == "import":
        # Imported contacts never come with provable SMS/call consent.
        values["sms_consent"] = "unknown"
        values["call_consent"] = "unknown"
    _check_refs(uow, values)
    dup = find_duplicate(uow, values.get("email"), values.get("phone"))
    if dup is not None:
        raise _duplicate_error(dup, values.get("email"))
    now = utcnow()
    contact = Contact(id=new_id("contact"), last_activity_at=now, **values)
    uow.session.add(contact)
    uow.session.flush()
    if tags:
        tag_service.apply(uow, "contact", contact.id, add=tags, remove=[], create=create_tags)
    uow.emit("contact_created", subject=("contact", contact.id), source=contact.source)  # a workflow trigger
    return contact


def update_contact(uow: UnitOfWork, contact: Contact, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply `changes` (only fields given); returns the before-values of what changed, for the audit. Consent
    changes go through `change_consent` (`consent_source`, `consent_given_at` say where an opt-in came from)."""
    source = changes.pop("consent_source", None)
    given_at = changes.pop("consent_given_at", None)
    consent = {ch: changes.pop(f"{ch}_consent") for ch in ("email", "sms", "call") if f"{ch}_consent" in changes}
    columns = Contact.__table__.c
    cannot_clear = sorted(k for k, v in changes.items() if v is None and k in columns and not columns[k].nullable)
    if cannot_clear:
        raise InvalidArguments(f"{', '.join(cannot_clear)} cannot be null; leave a field out to keep its value")
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
    if "phone" in changes:
        changes["phone"] = normalize_phone(changes["phone"])
    _check_refs(uow, changes)
    dup = find_duplicate(uow, changes.get("email"), changes.get("phone"), exclude_id=contact.id)
    if dup is not None:
        raise _duplicate_error(dup, changes.get("email"))
    before = apply_changes(contact, changes)
    if not (contact.first_name or contact.last_name or contact.email or contact.phone):
        raise InvalidArguments(
            "a contact needs at least a name, an email or a phone; this change would remove the last"
        )
    for channel, value in consent.items():
        if value is None:
            raise InvalidArguments(f"{channel}_consent cannot be null; leave it out to keep its value")
        previous = change_consent(uow, contact, channel, value, source=source, given_at=given_at)
        if previous is not None:
            before[f"{channel}_consent"] = previous
    return before


_TG = Tagging.__table__.c
MAX_TAG_FILTERS = 20


def _has_tag(c: Any, tag_id: Any) -> Any:
    return exists().where(_TG.tenant_id == TENANT, _TG.tag_id == tag_id, _TG.record_type == "contact",
                          _TG.record_id == c.id)  # fmt: skip


# A contact's owner and account by name, read in the contact's own statement.
CONTACT_NAMES = (
    named(User.__table__, "owner_id", owner_name="name"),
    named(Account.__table__, "account_id", account_name="name"),
)

_CONTACT_LIST = Listing(
    Contact.__table__,
    ("id", "first_name", "last_name", "email", "phone", "title", "account_id", "owner_id", "dnd", "dnd_channels",
     "last_activity_at", "created_at", "updated_at"),
    {
        "owner_id": eq("owner_id"),
        "account_id": eq("account_id"),
        "created_since": at_least("created_at"),
        "updated_since": at_least("updated_at"),
        **{f"{channel}_consent": eq(f"{channel}_consent") for channel in ("email", "sms", "call")},
        **{f"tag_{i}": _has_tag for i in range(MAX_TAG_FILTERS)},
    },
    {
        "updated_desc": ("updated_at", True),
        "created_desc": ("created_at", True),
        "created_asc": ("created_at", False),
        "last_name_asc": ("last_name", False),
    },
    CONTACT_NAMES,
)  # fmt: skip


def list_contacts(
    uow: UnitOfWork,
    *,
    tag: list[str] | None = None,
    owner_id: str | None = None,
    account_id: str | None = None,
    consent: dict[str, str] | None = None,
    created_since: datetime | None = None,
    updated_since: datetime | None = None,
    sort: str = "updated_desc",
    limit: int | None = None,
    cursor: str | None = None,
) -> tuple[list[Any], str | None]:
    """A page of contacts (rows with the list's fields) and the next cursor."""
    values: dict[str, Any] = {"owner_id": owner_id, "account_id": account_id, "created_since": created_since,
                              "updated_since": updated_since}  # fmt: skip
    values |= {f"{channel}_consent": value for channel, value in (consent or {}).items()}
    if tag:
        tag_ids = list(dict.fromkeys(tag_service.tag_ids_for_names(uow, tag)))
        if len(tag_ids) > MAX_TAG_FILTERS:
            raise InvalidArguments(f"filter by at most {MAX_TAG_FILTERS} tags at once", field="tag")
        values |= {f"tag_{i}": tag_id for i, tag_id in enumerate(tag_ids)}
    return _CONTACT_LIST.page(uow, values, sort=sort, limit=limit, cursor=cursor)


def touch(uow: UnitOfWork, contact_id: str | None, when: datetime | None = None) -> None:
    """Record activity on a contact (a message, note, call…) so "last activity" and staleness stay true."""
    if not contact_id:
        return
    contact = uow.session.scalar(select(Contact).where(Contact.id == contact_id))
    if contact is not None:
        contact.last_activity_at = when or utcnow()


def count_contacts(uow: UnitOfWork) -> int:
    return int(uow.session.scalar(select(func.count()).select_from(Contact)) or 0)
