"""`reports_activity`: who did how much this period, against the same span of the previous one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import BindParameter, bindparam, func, literal, or_, select

from ..counters import QUARTER, SPANS
from ..models import ActivityCount, Message, Note, StageChange, Tenant, User, utcnow
from ..queries import TENANT, Query
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


Window = tuple[datetime, datetime]

# Compiled once (queries.py): the report runs up to a dozen of these, and the ORM's per-statement cost was most of it.
_MSG, _NOTE, _SC, _AC = (m.__table__ for m in (Message, Note, StageChange, ActivityCount))
_A: BindParameter[Any] = bindparam("a")
_B: BindParameter[Any] = bindparam("b")
_ROWS = (
    Query(
        select(_MSG.c.sent_by.label("user"), _MSG.c.channel.label("what"), func.count().label("n"))
        .where(_MSG.c.tenant_id == TENANT, _MSG.c.created_at >= _A, _MSG.c.created_at < _B,
               _MSG.c.direction == "outbound", or_(_MSG.c.status == "sent", _MSG.c.status == "delivered"),
               or_(*(_MSG.c.channel == c for c in ("call", "email", "sms"))))
        .group_by(_MSG.c.sent_by, _MSG.c.channel)
    ),
    Query(
        select(_NOTE.c.author_id.label("user"), literal("note").label("what"), func.count().label("n"))
        .where(_NOTE.c.tenant_id == TENANT, _NOTE.c.created_at >= _A, _NOTE.c.created_at < _B)
        .group_by(_NOTE.c.author_id)
    ),
    Query(
        select(_SC.c.created_by.label("user"), literal("stage_move").label("what"), func.count().label("n"))
        .where(_SC.c.tenant_id == TENANT, _SC.c.at >= _A, _SC.c.at < _B, _SC.c.from_stage_id.is_not(None))
        .group_by(_SC.c.created_by)
    ),
)  # fmt: skip
_BUCKETS = Query(
    select(_AC.c.user_id, _AC.c.metric, func.sum(_AC.c.n).label("n"))
    .where(_AC.c.tenant_id == TENANT, _AC.c.span == bindparam("span"), _AC.c.bucket >= _A, _AC.c.bucket < _B)
    .group_by(_AC.c.user_id, _AC.c.metric)
)
METRIC_OF = {"call": "calls", "email": "emails", "sms": "sms", "note": "notes", "stage_move": "stage_moves"}


def _add(out: dict[str, dict[str, int]], user: str | None, metric: str, n: int) -> None:
    if user and n:
        out.setdefault(user, dict.fromkeys(METRICS, 0))[metric] += int(n)


def _count_rows(ctx: OpContext, windows: list[Window]) -> dict[str, dict[str, int]]:
    """Count the events themselves in `windows` (the report's definitions; counters.py mirrors them)."""
    out: dict[str, dict[str, int]] = {}
    for a, b in windows:
        for query in _ROWS:
            for user, what, n in query.rows(ctx.uow, a=a, b=b):
                _add(out, user, METRIC_OF[what], n)
    return out


def _floor(t: datetime, span: int) -> datetime:
    return datetime.fromtimestamp(int(t.timestamp()) // span * span, UTC)


def _ceil(t: datetime, span: int) -> datetime:
    down = _floor(t, span)
    return down if down == t else down + timedelta(seconds=span)


def _split(start: datetime, end: datetime) -> tuple[list[Window], list[tuple[int, datetime, datetime]]]:
    """[start, end) as the partial quarter-hours at its edges (rows are counted there) and whole buckets, largest in
    the middle: quarter-hours up to the first whole hour, hours up to the first whole day, days, and back down."""
    q0, q1 = _ceil(start, QUARTER), _floor(end, QUARTER)
    if q0 >= q1:
        return [(start, end)], []
    edges = [w for w in ((start, q0), (q1, end)) if w[0] < w[1]]
    buckets: list[tuple[int, datetime, datetime]] = []
    lo, hi = q0, q1
    span = SPANS[-1]
    for smaller, larger in pairwise(SPANS):
        a, b = _ceil(lo, larger), _floor(hi, larger)
        if a >= b:  # no bucket of the larger size fits: this size covers the rest
            span = smaller
            break
        buckets += [(smaller, lo, a), (smaller, b, hi)]
        lo, hi = a, b
    buckets.append((span, lo, hi))
    return edges, [x for x in buckets if x[1] < x[2]]


def _counts(ctx: OpContext, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """Events per user and metric in [start, end): the counters' buckets, plus rows in the partial edges."""
    edges, buckets = _split(start, end)
    out = _count_rows(ctx, edges)
    for span, a, b in buckets:  # one range each: an OR of ranges made SQLite read every counter of the tenant
        for user, metric, n in _BUCKETS.rows(ctx.uow, span=span, a=int(a.timestamp()), b=int(b.timestamp())):
            _add(out, user, metric, n)
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
