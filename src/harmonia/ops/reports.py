"""`reports_activity`: who did how much this period, against the same span of the previous one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from ..services import reports as svc
from ..services.reports import METRICS
from .common import Instant, UserId
from .registry import OpContext, Operation, Scope
from .schema import InputModel, OutputModel

__all__ = ["OPERATIONS"]


class ReportsActivity(InputModel):
    period: Literal["day", "week", "month"] = "week"
    user_id: UserId | None = None
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


def reports_activity(ctx: OpContext, args: ReportsActivity) -> ActivityReport:
    counts = svc.activity_counts(ctx.uow, args.period, args.as_of)
    current, previous, names = counts.current, counts.previous, counts.names
    ids = [args.user_id] if args.user_id else sorted(set(current) | set(previous) | set(counts.active))
    items = []
    for uid in ids:
        cur = current.get(uid, dict.fromkeys(METRICS, 0))
        prev = previous.get(uid, dict.fromkeys(METRICS, 0))
        change = {m: cur[m] - prev[m] for m in METRICS}
        pct = {m: round(100 * change[m] / prev[m], 1) for m in METRICS if prev[m]}
        name = names.get(uid, uid)
        items.append(UserActivity(user_id=uid, name=name, current=cur, previous=prev, change=change, change_pct=pct))
    items.sort(key=lambda u: (u.change["calls"], u.name))
    dropped: list[dict[str, Any]] = [{"user_id": u.user_id, "name": u.name, "metric": m, "from": u.previous[m], "to": u.current[m]}
               for u in items for m in METRICS if u.change[m] < 0]  # fmt: skip
    dropped.sort(key=lambda d: d["to"] - d["from"])
    return ActivityReport(
        period=args.period,
        timezone=str(counts.timezone),
        current_start=counts.start.astimezone(UTC),  # periods follow the workspace's zone; instants are UTC
        previous_start=counts.previous_start.astimezone(UTC),
        compared_span_hours=round(counts.span.total_seconds() / 3600, 1),
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
        "`dropped` ranks the falls (whose calls dropped off this week?). Periods follow the workspace's timezone; "
        "times are UTC.",
        input=ReportsActivity,
        output=ActivityReport,
        handler=reports_activity,
        rest=("GET", "/reports/activity"),
    ),
]
