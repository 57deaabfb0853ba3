"""Admin operations: users, the audit log, workspace settings (outbound may be turned off here, never on)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from ..errors import Conflict, InvalidArguments
from ..formats import EMAIL_PATTERN
from ..models import Tenant, User
from ..services import admin as svc
from ..services import tenancy
from ..services.records import apply_changes, get_or_404
from .common import ActorChannel, MessageChannel, Page, PageArgs, RecordId, RoleName, Since, TimeZoneName, UserId
from .policies import settings_never_turn_outbound_on, users_change_within_your_role
from .registry import OpContext, Operation, Scope
from .schema import MCP_OMITS, REST_ONLY, InputModel, OutputModel, rest_only

__all__ = ["OPERATIONS"]

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
Budget = Annotated[int, Field(ge=0, le=10_000_000, json_schema_extra={MCP_OMITS: ["maximum"]})]  # sends per hour
EMAIL = EMAIL_PATTERN


class UserOut(OutputModel):
    id: str
    email: str
    name: str
    role: str
    status: str
    last_seen_at: datetime | None = None


def user_out(u: User) -> UserOut:
    return UserOut(id=u.id, email=u.email, name=u.name, role=u.role, status=u.status, last_seen_at=u.last_seen_at)


class UsersList(PageArgs):
    status: Literal["invited", "active", "deactivated"] | None = None
    role: RoleName | None = None


def users_list(ctx: OpContext, args: UsersList) -> Page[UserOut]:
    rows, cursor = svc.list_users(ctx.uow, status=args.status, role=args.role, limit=args.limit, cursor=args.cursor)
    return Page[UserOut](items=[user_out(u) for u in rows], next_cursor=cursor)


class UsersInvite(InputModel):
    email: str = Field(
        min_length=3, max_length=320, pattern=EMAIL_PATTERN, description="their sign-in email",
        json_schema_extra={MCP_OMITS: ["pattern", "maxLength", "minLength"]},  # RFC 5321's bounds: no address nears them
    )  # fmt: skip
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "member"] = "member"


def users_invite(ctx: OpContext, args: UsersInvite) -> UserOut:
    user = svc.invite_user(ctx.uow, email=args.email, name=args.name, role=args.role)
    ctx.audit_target("user", user.id, after={"email": user.email, "role": args.role, "status": "invited"})
    return user_out(user)


class UsersUpdate(InputModel):
    user_id: UserId
    name: str | None = Field(None, min_length=1, max_length=200)
    role: RoleName | None = None
    status: Literal["active", "deactivated"] | None = Field(
        None, json_schema_extra=rest_only(description="deactivate or reactivate")
    )


def users_update(ctx: OpContext, args: UsersUpdate) -> UserOut:
    user = get_or_404(ctx.uow, User, args.user_id, "user")
    changes = args.model_dump(exclude={"user_id"}, exclude_none=True)
    losing_owner = (
        user.role == "owner"
        and user.status == "active"
        and (changes.get("role", "owner") != "owner" or changes.get("status") == "deactivated")
    )
    if losing_owner and svc.count_active_owners(ctx.uow) <= 1:
        raise Conflict("this is the workspace's last active owner; make someone else owner first")
    before = apply_changes(user, changes)
    ctx.audit_target("user", user.id, before=before, after={k: getattr(user, k) for k in before})
    return user_out(user)


class AuditOut(OutputModel):
    seq: int
    at: datetime
    action: str
    outcome: str
    channel: str
    actor_user_id: str | None = None
    client: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    detail: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditList(PageArgs):
    action: str | None = Field(None, max_length=64, description="tool name, e.g. email_send")
    actor_user_id: UserId | None = None
    channel: ActorChannel | None = None
    outcome: Literal["ok", "denied", "blocked", "error"] | None = None
    target_id: RecordId | None = Field(None, description="any record's id")
    since: Since | None = None
    until: Since | None = None
    # The name says it to a model; the REST document spells it out (the MCP catalogue has a byte budget).
    reads: bool | None = Field(
        None,
        json_schema_extra=rest_only(
            description="false: only changes and refusals, without the successful reads (page views, gets, lists)"
        ),
    )


def audit_list(ctx: OpContext, args: AuditList) -> Page[AuditOut]:
    filters = {f: getattr(args, f) for f in ("action", "actor_user_id", "channel", "outcome", "target_id")}
    reads = None if args.reads is not False else [op.name for op in ctx.registry if op.read_only]
    rows, cursor = svc.list_audit(ctx.uow, filters, since=args.since, until=args.until, limit=args.limit,
                                  cursor=args.cursor, leave_out_reads_of=reads)  # fmt: skip
    return Page[AuditOut](items=[AuditOut(seq=a.seq, at=a.at, action=a.action, outcome=a.outcome, channel=a.channel,
                                          actor_user_id=a.actor_user_id, client=a.client, target_type=a.target_type,
                                          target_id=a.target_id, detail=a.detail, before=a.before, after=a.after)
                                 for a in rows], next_cursor=cursor)  # fmt: skip


class SettingsOut(OutputModel):
    name: str
    slug: str
    timezone: str
    business_hours: dict[str, Any] | None = None
    quiet_hours: dict[str, Any] | None = None
    sender: dict[str, Any] | None = None
    send_budget_per_hour: dict[str, Any] | None = None
    outbound_enabled: bool
    outbound_changed_at: datetime | None = None
    outbound_changed_by: str | None = None
    outbound_reason: str | None = None


def settings_out(t: Tenant) -> SettingsOut:
    s = t.settings or {}
    return SettingsOut(name=t.name, slug=t.slug, timezone=t.timezone, business_hours=s.get("business_hours"),
                       quiet_hours=s.get("quiet_hours"), sender=s.get("sender"),
                       send_budget_per_hour=s.get("send_budget_per_hour"), outbound_enabled=t.outbound_enabled,
                       outbound_changed_at=t.outbound_changed_at, outbound_changed_by=t.outbound_changed_by,
                       outbound_reason=t.outbound_reason)  # fmt: skip


class SettingsGet(InputModel):
    pass


def settings_get(ctx: OpContext, args: SettingsGet) -> SettingsOut:
    tenant = svc.current_tenant(ctx.uow)
    return settings_out(tenant)


class Hours(InputModel):
    start: str = Field(pattern=HHMM)
    end: str = Field(pattern=HHMM)


class SettingsUpdate(InputModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    timezone: TimeZoneName | None = None
    business_hours: Hours | None = None
    sender_name: str | None = Field(None, max_length=120)
    sender_email: str | None = Field(
        None,
        max_length=320,
        description="From: address",
        json_schema_extra={REST_ONLY: {"pattern": EMAIL}, MCP_OMITS: ["maxLength"]},
    )
    send_budget_per_hour: dict[MessageChannel, Budget] | None = None
    outbound_enabled: bool | None = Field(
        None, json_schema_extra=rest_only(description="false turns outbound off; it can never be turned on here")
    )
    reason: str | None = Field(None, max_length=500, description="why (kept in the audit log)")


def settings_update(ctx: OpContext, args: SettingsUpdate) -> SettingsOut:
    tenant = svc.current_tenant(ctx.uow)
    before: dict[str, Any] = {}
    settings = dict(tenant.settings or {})
    if args.name is not None and args.name != tenant.name:
        before["name"], tenant.name = tenant.name, args.name
    if args.timezone is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidArguments(f"timezone {args.timezone!r} is not an IANA name like America/Chicago") from None
        before["timezone"], tenant.timezone = tenant.timezone, args.timezone
    if args.business_hours is not None:
        before["business_hours"] = settings.get("business_hours")
        settings["business_hours"] = {**settings.get("business_hours", {}), **args.business_hours.model_dump()}
    if args.sender_name is not None or args.sender_email is not None:
        if args.sender_email is not None and not re.match(EMAIL, args.sender_email):
            raise InvalidArguments(f"sender_email {args.sender_email!r} is not an email address")
        before["sender"] = settings.get("sender")
        sender = dict(settings.get("sender") or {})
        sender.update({k: v for k, v in (("name", args.sender_name), ("email_from", args.sender_email)) if v})
        settings["sender"] = sender
    if args.send_budget_per_hour is not None:
        if any(v < 0 for v in args.send_budget_per_hour.values()):
            raise InvalidArguments("send budgets are counts per hour, 0 or more")
        before["send_budget_per_hour"] = settings.get("send_budget_per_hour")
        settings["send_budget_per_hour"] = {**settings.get("send_budget_per_hour", {}), **args.send_budget_per_hour}
    tenant.settings = settings
    if args.outbound_enabled is False and tenant.outbound_enabled:
        before["outbound_enabled"] = True
        tenancy.apply_outbound(tenant, False, ctx.actor, args.reason or f"turned off via {ctx.actor.channel}")
    ctx.audit_target("tenant", tenant.id, before=before, after={k: _now_value(tenant, k) for k in before})
    ctx.detail = args.reason
    return settings_out(tenant)


def _now_value(t: Tenant, key: str) -> Any:
    return getattr(t, key) if hasattr(t, key) else (t.settings or {}).get(key)


OPERATIONS = [
    Operation(
        name="users_list",
        title="List users",
        scope=Scope.ADMIN,
        read_only=True,
        idempotent=True,
        description="The workspace's users with their role and status.",
        input=UsersList,
        output=Page[UserOut],
        handler=users_list,
        rest=("GET", "/users"),
    ),
    Operation(
        name="users_invite",
        title="Invite a user",
        scope=Scope.ADMIN,
        read_only=False,
        description="Invite a person by email; refuses an email that already has a user.",
        input=UsersInvite,
        output=UserOut,
        handler=users_invite,
        rest=("POST", "/users"),
    ),
    Operation(
        name="users_update",
        title="Update a user",
        scope=Scope.ADMIN,
        read_only=False,
        idempotent=True,
        description="Change a user's name, role or status (deactivate, reactivate). The last active owner cannot be "
        "demoted or deactivated.",
        input=UsersUpdate,
        output=UserOut,
        handler=users_update,
        policy=users_change_within_your_role,
        rest=("PATCH", "/users/{user_id}"),
    ),
    Operation(
        name="audit_list",
        title="Audit log",
        scope=Scope.ADMIN,
        read_only=True,
        idempotent=True,
        description="Tamper-evident audit log, newest first: who (person or AI client) did what, via which channel, "
        "and the outcome.",
        input=AuditList,
        output=Page[AuditOut],
        handler=audit_list,
        reads_audit=True,
        rest=("GET", "/audit"),
    ),
    Operation(
        name="settings_get",
        title="Workspace settings",
        scope=Scope.ADMIN,
        read_only=True,
        idempotent=True,
        description="Workspace settings and the outbound switch (on or off, who changed it, when, why).",
        input=SettingsGet,
        output=SettingsOut,
        handler=settings_get,
        rest=("GET", "/settings"),
    ),
    Operation(
        name="settings_update",
        title="Update workspace settings",
        scope=Scope.ADMIN,
        read_only=False,
        idempotent=True,
        description="Change workspace settings. May turn outbound off (outbound_enabled false, with a reason); "
        "never on.",
        input=SettingsUpdate,
        output=SettingsOut,
        handler=settings_update,
        policy=settings_never_turn_outbound_on,
        rest=("PATCH", "/settings"),
    ),
]
