"""Contact operations: create (refusing duplicates), update, get with context, filtered list."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field
from sqlalchemy import bindparam, func, select

from ..formats import EMAIL_CORE
from ..models import Account, Contact, Conversation, Message, Note, Opportunity, Stage, Tag, Tagging, Task, User
from ..queries import TENANT, Query, json_fields, json_rows, parse_instant
from ..services import contacts as svc
from ..services import tags as tag_service
from ..services.records import get_or_404, not_found, snapshot
from ..untrusted import Fence
from .common import AccountId, ContactId, Instant, Page, PageArgs, Since, TimeZoneName, UserId
from .registry import OpContext, Operation, Scope
from .schema import MCP_OMITS, NOT_BLANK, REST_ONLY, InputModel, OutputModel, rest_only

__all__ = ["OPERATIONS", "ContactOut", "contact_out"]

EmailConsent = Literal["unknown", "subscribed", "unsubscribed", "bounced"]
PhoneConsent = Literal["unknown", "opted_in", "opted_out"]
Channel = Literal["email", "sms", "call"]


class ContactOut(OutputModel):
    id: str
    name: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    account_id: str | None = None
    account_name: str | None = None
    owner_id: str | None = None
    owner_name: str | None = None
    tags: list[str] | None = None
    consent: dict[str, str] | None = None
    dnd: bool | None = None
    dnd_channels: list[str] | None = None
    timezone: str | None = None
    source: str | None = None
    last_activity_at: datetime | None = None
    updated_at: datetime | None = None


def contact_out(c: Any, tags: list[str] | None = None, *, full: bool = True) -> ContactOut:
    """`c`: a Contact, or a compiled query's row with the same fields."""
    name = f"{c.first_name} {c.last_name}".strip()
    return ContactOut(
        id=c.id,
        name=name or c.email or c.phone or c.id,
        first_name=c.first_name or None if full else None,
        last_name=c.last_name or None if full else None,
        email=c.email,
        phone=c.phone,
        title=c.title,
        account_id=c.account_id,
        account_name=getattr(c, "account_name", None),
        owner_id=c.owner_id,
        owner_name=getattr(c, "owner_name", None),
        tags=tags or None,
        consent={"email": c.email_consent, "sms": c.sms_consent, "call": c.call_consent} if full else None,
        dnd=c.dnd or None,
        dnd_channels=c.dnd_channels or None,
        timezone=c.timezone if full else None,
        source=c.source if full else None,
        last_activity_at=c.last_activity_at,
        updated_at=c.updated_at,
    )


class _ContactFields(InputModel):
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    email: str | None = Field(
        None, max_length=320, description="unique",
        json_schema_extra={REST_ONLY: {"pattern": f"^(?:|{EMAIL_CORE})$"}, MCP_OMITS: ["maxLength"]},
    )  # fmt: skip
    phone: str | None = Field(None, max_length=32, description="E.164, e.g. +15551234567")
    title: str | None = Field(None, max_length=120)
    account_id: AccountId | None = None
    owner_id: UserId | None = None
    timezone: TimeZoneName | None = None
    custom_fields: dict[str, str | int | float | bool] | None = None


class ContactsCreate(_ContactFields):
    model_config = ConfigDict(json_schema_extra={REST_ONLY: {"anyOf": [
        {"required": [f], "properties": {f: {"type": "string", "pattern": NOT_BLANK}}}
        for f in ("first_name", "last_name", "email", "phone")
    ]}})  # fmt: skip
    source: Literal["manual", "import", "api", "web"] | None = None
    tags: list[str] | None = Field(None, max_length=20)
    create_missing_tags: bool = Field(False, description="unknown tags are refused unless true")


def contacts_create(ctx: OpContext, args: ContactsCreate) -> ContactOut:
    values = args.model_dump(exclude={"tags", "create_missing_tags"}, exclude_none=True)
    values.setdefault("source", "api" if ctx.actor.channel in ("api", "mcp") else "manual")
    contact = svc.create_contact(ctx.uow, values, tags=args.tags, create_tags=args.create_missing_tags)
    ctx.audit_target("contact", contact.id, after=snapshot(contact, ("first_name", "last_name", "email", "phone")))
    return contact_out(contact, tag_service.names_for(ctx.uow, "contact", [contact.id]).get(contact.id))


class ContactsUpdate(_ContactFields):
    contact_id: ContactId
    email_consent: EmailConsent | None = None
    sms_consent: PhoneConsent | None = None
    call_consent: PhoneConsent | None = None
    dnd: bool | None = Field(None, description="do not disturb, every channel")
    dnd_channels: list[Channel] | None = None
    # SPEC §11: an opt-in is recorded by a person (web UI, REST) with where it came from; over MCP only opt-outs
    consent_source: str | None = Field(
        None, max_length=300, json_schema_extra=rest_only(description="where an opt-in came from (required for one)")
    )
    consent_given_at: Instant | None = Field(
        None, json_schema_extra=rest_only(description="when the contact gave it (default: now)")
    )


def contacts_update(ctx: OpContext, args: ContactsUpdate) -> ContactOut:
    contact = get_or_404(ctx.uow, Contact, args.contact_id, "contact")
    changes = args.model_dump(exclude={"contact_id"}, exclude_unset=True)
    before = svc.update_contact(ctx.uow, contact, changes)
    after = {k: getattr(contact, k) for k in before}
    if args.consent_source and any(k.endswith("_consent") for k in before):  # the audit keeps where an opt-in came from
        after["consent_source"] = args.consent_source
        after["consent_given_at"] = args.consent_given_at
    ctx.audit_target("contact", contact.id, before=before, after=after)
    return contact_out(contact, tag_service.names_for(ctx.uow, "contact", [contact.id]).get(contact.id))


class ContactsGet(InputModel):
    contact_id: ContactId


class ContactDetail(ContactOut):
    consent_sources: dict[str, dict[str, Any]] | None = Field(
        None, description="per channel, the latest change: how (its source), at, given_at"
    )
    owner_name: str | None = None
    account_name: str | None = None
    open_deals: list[dict[str, Any]] = []
    recent_messages: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    open_tasks: list[dict[str, Any]] = []


# contacts_get is the most called read: ONE compiled statement (queries.py), no ORM. The contact's row, its owner's
# and account's names, and each related list as a JSON array built by the database (queries.json_rows).
_C, _O, _S, _CV, _M, _N, _T, _U, _A, _G, _TG = (
    m.__table__.c for m in (Contact, Opportunity, Stage, Conversation, Message, Note, Task, User, Account, Tagging, Tag)
)
_ID: Any = bindparam("contact_id")
_CONTACT_FIELDS = (
    "id", "first_name", "last_name", "email", "phone", "title", "account_id", "owner_id", "email_consent",
    "sms_consent", "call_consent", "dnd", "dnd_channels", "timezone", "source", "consent_log", "last_activity_at",
    "updated_at",
)  # fmt: skip
_CONTACT = Query(
    select(
        *(_C[k] for k in _CONTACT_FIELDS),
        select(_U.name).where(_U.tenant_id == TENANT, _U.id == _C.owner_id).scalar_subquery().label("owner_name"),
        select(_A.name).where(_A.tenant_id == TENANT, _A.id == _C.account_id).scalar_subquery().label("account_name"),
        json_rows(
            select(json_fields(name=_TG.name))
            .join_from(Tagging.__table__, Tag.__table__, (_TG.tenant_id == _G.tenant_id) & (_TG.id == _G.tag_id))
            .where(_G.tenant_id == TENANT, _TG.tenant_id == TENANT, _G.record_type == "contact", _G.record_id == _ID)
            .order_by(_TG.name)
        ).label("tag_rows"),
        json_rows(
            select(json_fields(id=_O.id, name=_O.name, amount=_O.amount, stage_id=_O.stage_id, stage=_S.name,
                               updated_at=_O.updated_at))
            .join_from(Opportunity.__table__, Stage.__table__, (_S.tenant_id == _O.tenant_id) & (_S.id == _O.stage_id))
            .where(_O.tenant_id == TENANT, _S.tenant_id == TENANT, _O.contact_id == _ID, _O.status == "open")
            .order_by(_O.updated_at.desc())
            .limit(10)
        ).label("open_deals"),
        # The contact's threads first, then their newest messages; `+created_at` keeps SQLite from walking the
        # tenant's whole message index by date (63 ms at 100k contacts) instead of the contact's few threads.
        json_rows(
            select(json_fields(id=_M.id, channel=_M.channel, direction=_M.direction, status=_M.status,
                               subject=_M.subject, body=func.substr(_M.body, 1, 200), at=_M.created_at))
            .where(_M.tenant_id == TENANT, _M.conversation_id.in_(
                select(_CV.id).where(_CV.tenant_id == TENANT, _CV.contact_id == _ID)))
            .order_by(_M.created_at.desc())
            .limit(5)
        ).label("messages"),
        json_rows(
            select(json_fields(id=_N.id, body=func.substr(_N.body, 1, 300), at=_N.created_at))
            .where(_N.tenant_id == TENANT, _N.record_type == "contact", _N.record_id == _ID)
            .order_by(_N.created_at.desc())
            .limit(5)
        ).label("notes"),
        json_rows(
            select(json_fields(id=_T.id, title=_T.title, due_at=_T.due_at))
            .where(_T.tenant_id == TENANT, _T.record_type == "contact", _T.record_id == _ID, _T.status == "open")
            .order_by(_T.due_at)
            .limit(10)
        ).label("open_tasks"),
    ).where(_C.tenant_id == TENANT, _C.id == _ID)
)  # fmt: skip


def _at(value: str | None) -> str | None:
    at = parse_instant(value)
    return at.isoformat().replace("+00:00", "Z") if at else None  # one time format: UTC, `Z`


def contacts_get(ctx: OpContext, args: ContactsGet) -> ContactDetail:
    contact = _CONTACT.first(ctx.uow, contact_id=args.contact_id)
    if contact is None:
        raise not_found(args.contact_id, "contact")
    base = contact_out(contact, [t["name"] for t in contact.tag_rows or ()])
    fence = Fence.for_channel(ctx.actor.channel)  # inbound bodies and subjects are the sender's words, not ours
    # Built without a second validation: every value comes typed from the statement above (registry.invoke
    # accepts an instance of the declared output as it is).
    fields = {k: v for k, v in base if v is not None}
    fields.update(owner_name=contact.owner_name, account_name=contact.account_name,
                  consent_sources=dict(contact.consent_log) if contact.consent_log else None)  # fmt: skip
    return ContactDetail.model_construct(
        **fields,
        open_deals=[
            _drop_none({"id": d["id"], "name": d["name"], "amount": None if d["amount"] is None else d["amount"] / 100,
                        "stage_id": d["stage_id"], "stage": d["stage"], "updated_at": _at(d["updated_at"])})
            for d in contact.open_deals or ()
        ],
        recent_messages=[
            _drop_none({"id": m["id"], "channel": m["channel"], "direction": m["direction"], "status": m["status"],
                        "subject": fence.mark_inbound(m["subject"], m["direction"], m["channel"]),
                        "body": fence.mark_inbound(m["body"], m["direction"], m["channel"]), "at": _at(m["at"])})
            for m in sorted(contact.messages or (), key=lambda m: parse_instant(m["at"]), reverse=True)  # type: ignore[arg-type,return-value]
        ],
        notes=[{"id": n["id"], "body": n["body"], "at": _at(n["at"])} for n in contact.notes or ()],
        open_tasks=[_drop_none({"id": t["id"], "title": t["title"], "due_at": _at(t["due_at"])})
                    for t in contact.open_tasks or ()],
    )  # fmt: skip


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


class ContactsList(PageArgs):
    tag: list[str] | None = Field(None, description="all must match")
    owner_id: UserId | None = None
    account_id: AccountId | None = None
    email_consent: EmailConsent | None = None
    sms_consent: PhoneConsent | None = None
    call_consent: PhoneConsent | None = None
    created_since: Since | None = None
    updated_since: Since | None = None
    sort: Literal["updated_desc", "created_desc", "created_asc", "last_name_asc"] = "updated_desc"


def contacts_list(ctx: OpContext, args: ContactsList) -> Page[ContactOut]:
    consent = {ch: v for ch in ("email", "sms", "call") if (v := getattr(args, f"{ch}_consent"))}
    rows, next_cursor = svc.list_contacts(
        ctx.uow,
        tag=args.tag,
        owner_id=args.owner_id,
        account_id=args.account_id,
        consent=consent,
        created_since=args.created_since,
        updated_since=args.updated_since,
        sort=args.sort,
        limit=args.limit,
        cursor=args.cursor,
    )
    tags = tag_service.names_for(ctx.uow, "contact", [c.id for c in rows])
    return Page[ContactOut](items=[contact_out(c, tags.get(c.id), full=False) for c in rows], next_cursor=next_cursor)


OPERATIONS = [
    Operation(
        name="contacts_list",
        title="List contacts",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Contacts, newest activity first. To find someone by name, email or phone, use `search`.",
        input=ContactsList,
        output=Page[ContactOut],
        handler=contacts_list,
        rest=("GET", "/contacts"),
    ),
    Operation(
        name="contacts_get",
        title="Get a contact",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="One contact with consent, tags, open deals, latest messages and notes, and open tasks.",
        input=ContactsGet,
        output=ContactDetail,
        handler=contacts_get,
        rest=("GET", "/contacts/{contact_id}"),
    ),
    Operation(
        name="contacts_create",
        title="Create a contact",
        scope=Scope.WRITE,
        read_only=False,
        description="Create a contact. A duplicate (same email or phone) is refused, naming the existing contact. "
        "SMS and call consent start unknown.",
        input=ContactsCreate,
        output=ContactOut,
        handler=contacts_create,
        rest=("POST", "/contacts"),
    ),
    Operation(
        name="contacts_update",
        title="Update a contact",
        scope=Scope.WRITE,
        read_only=False,
        idempotent=True,
        description="Change the given fields of a contact. Refuses an email or phone another contact already has.",
        input=ContactsUpdate,
        output=ContactOut,
        handler=contacts_update,
        rest=("PATCH", "/contacts/{contact_id}"),
    ),
]
