"""Contacts and accounts: creation with duplicate detection, updates, lookups and filtered lists."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select

from ..db import UnitOfWork
from ..errors import Conflict, InvalidArguments
from ..formats import EMAIL_PATTERN
from ..ids import new_id
from ..models import Account, Contact, Tagging, User, utcnow
from ..queries import TENANT
from . import tags as tag_service
from .paging import Listing, at_least, eq
from .records import apply_changes, get_or_404

__all__ = [
    "CONSENT_VALUES",
    "create_contact",
    "list_contacts",
    "normalize_email",
    "normalize_phone",
    "update_contact",
]

CONSENT_VALUES = {
    "email": ("subscribed", "unsubscribed", "bounced"),
    "sms": ("unknown", "opted_in", "opted_out"),
    "call": ("unknown", "opted_in", "opted_out"),
}
CONTACT_FIELDS = (
    "first_name", "last_name", "email", "phone", "account_id", "title", "owner_id", "timezone", "source",
    "email_consent", "sms_consent", "call_consent", "dnd", "dnd_channels", "custom_fields",
)  # fmt: skip


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
    return contact


def update_contact(uow: UnitOfWork, contact: Contact, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply `changes` (only fields given); returns the before-values of what changed, for the audit."""
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
    for channel in ("email", "sms", "call"):
        if f"{channel}_consent" in before:
            log = dict(contact.consent_log or {})
            log[channel] = {"at": utcnow().isoformat(), "how": f"set via {uow.actor.channel}"}
            contact.consent_log = log
    return before


_TG = Tagging.__table__.c
MAX_TAG_FILTERS = 20


def _has_tag(c: Any, tag_id: Any) -> Any:
    return exists().where(_TG.tenant_id == TENANT, _TG.tag_id == tag_id, _TG.record_type == "contact",
                          _TG.record_id == c.id)  # fmt: skip


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
