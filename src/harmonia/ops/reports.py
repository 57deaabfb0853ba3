"""`reports_activity`: who did how much this period, against the same span of the previous one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import func, select

from ..models import Message, Note, StageChange, Tenant, User, utcnow
from .common import Instant, RecordId
from .registry import OpContext, Operation, Scope
from .schema import InputModel, OutputModel

__all__ = ["OPERATIONS"]

METRICS = ("calls", "emails", "sms", "notes", "stage_moves")


class ReportsActivity(InputModel):
    period: Literal["day", "week", "month"] = "week"
    user_id: RecordId | None = None
    as_of: Instant | None = Field(None, description="default now")


class UserActivity(OutputModel):
    user_id: str
    name: str
    current: dict[str, int]
    previous: dict[str, int]
    change: dict[str, int]
    change_pct: dict[str, float]


class ActivityReport(OutputModel):
    period: str
    timezone: str
    current_start: datetime
    previous_start: datetime
    compared_span_hours: float
    items: list[UserActivity]
    dropped: list[dict[str, Any]]


def _period_start(local: datetime, period: str) -> datetime:
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _previous_start(start: datetime, period: str) -> datetime:
    if period == "day":
        return start - timedelta(days=1)
    if period == "week":
        return start - timedelta(days=7)
    return (start - timedelta(days=1)).replace(day=1)


def _counts(ctx: OpContext, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}

    def add(user: str | None, metric: str, n: int) -> None:
        if user:
            out.setdefault(user, dict.fromkeys(METRICS, 0))[metric] += n

    s = ctx.session
    for user, channel, n in s.execute(
        select(Message.sent_by, Message.channel, func.count())
        .where(Message.created_at >= start, Message.created_at < end, Message.direction == "outbound",
               Message.status.in_(("sent", "delivered")))
        .group_by(Message.sent_by, Message.channel)
    ):  # fmt: skip
        add(user, {"call": "calls", "email": "emails", "sms": "sms"}[channel], n)
    for user, n in s.execute(
        select(Note.author_id, func.count()).where(Note.created_at >= start, Note.created_at < end)
        .group_by(Note.author_id)
    ):  # fmt: skip
        add(user, "notes", n)
    for user, n in s.execute(
        select(StageChange.created_by, func.count()).where(StageChange.at >= start, StageChange.at < end,
                                                            StageChange.from_stage_id.is_not(None))
        .group_by(StageChange.created_by)
    ):  # fmt: skip
        add(user, "stage_moves", n)
    return out


def reports_activity(ctx: OpContext, args: ReportsActivity) -> ActivityReport:
    tenant = ctx.session.get(Tenant, ctx.tenant_id)
    tz = ZoneInfo(tenant.timezone if tenant else "UTC")
    now = (args.as_of or utcnow()).astimezone(tz)
    start = _period_start(now, args.period)
    prev_start = _previous_start(start, args.period)
    span = now - start  # compare like with like: the same elapsed span of the previous period
    current = _counts(ctx, start, now)
    previous = _counts(ctx, prev_start, prev_start + span)
    users = {u.id: u for u in ctx.session.scalars(select(User))}
    ids = (
        [args.user_id]
        if args.user_id
        else sorted(set(current) | set(previous) | {u.id for u in users.values() if u.status == "active"})
    )
    items = []
    for uid in ids:
        cur = current.get(uid, dict.fromkeys(METRICS, 0))
        prev = previous.get(uid, dict.fromkeys(METRICS, 0))
        change = {m: cur[m] - prev[m] for m in METRICS}
        pct = {m: round(100 * change[m] / prev[m], 1) for m in METRICS if prev[m]}
        name = users[uid].name if uid in users else uid
        items.append(UserActivity(user_id=uid, name=name, current=cur, previous=prev, change=change, change_pct=pct))
    items.sort(key=lambda u: (u.change["calls"], u.name))
    dropped: list[dict[str, Any]] = [{"user_id": u.user_id, "name": u.name, "metric": m, "from": u.previous[m], "to": u.current[m]}
               for u in items for m in METRICS if u.change[m] < 0]  # fmt: skip
    dropped.sort(key=lambda d: d["to"] - d["from"])
    return ActivityReport(
        period=args.period,
        timezone=str(tz),
        current_start=start,
        previous_start=prev_start,
        compared_span_hours=round(span.total_seconds() / 3600, 1),
        items=items,
        dropped=dropped[:20],
    )


OPERATIONS = [
    Operation(
        name="reports_activity",
        title="Activity by user",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Calls, emails, SMS, notes and stage moves per user this period so far vs the same span before; "
        "`dropped` ranks the falls (whose calls dropped off this week?).",
        input=ReportsActivity,
        output=ActivityReport,
        handler=reports_activity,
        rest=("GET", "/reports/activity"),
    ),
]
