"""Activity by user: calls, emails, SMS, notes and stage moves in a period so far, against the same span of the
previous one. Counted from the activity counters' buckets (counters.py), plus the rows in the partial edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, bindparam, func, literal, or_, select

from ..counters import SPANS
from ..db import UnitOfWork
from ..models import ActivityCount, Message, Note, StageChange, Tenant, User, utcnow
from ..queries import TENANT, Query

__all__ = ["METRICS", "ActivityCounts", "activity_counts", "split", "tenant_zone"]

METRICS = ("calls", "emails", "sms", "notes", "stage_moves")


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


def _count_rows(uow: UnitOfWork, windows: list[Window]) -> dict[str, dict[str, int]]:
    """Count the events themselves in `windows` (the report's definitions; counters.py mirrors them)."""
    out: dict[str, dict[str, int]] = {}
    for a, b in windows:
        for query in _ROWS:
            for user, what, n in query.rows(uow, a=a, b=b):
                _add(out, user, METRIC_OF[what], n)
    return out


def _floor(t: datetime, span: int) -> datetime:
    return datetime.fromtimestamp(int(t.timestamp()) // span * span, UTC)


def _ceil(t: datetime, span: int) -> datetime:
    down = _floor(t, span)
    return down if down == t else down + timedelta(seconds=span)


def split(
    start: datetime, end: datetime, spans: tuple[int, ...] = SPANS
) -> tuple[list[Window], list[tuple[int, datetime, datetime]]]:
    """[start, end) as the partial quarter-hours at its edges (rows are counted there) and whole buckets, largest in
    the middle: quarter-hours up to the first whole hour, hours up to the first whole day, days, and back down.
    `spans` (seconds, smallest first, each dividing the next) are the counter table's bucket sizes."""
    q0, q1 = _ceil(start, spans[0]), _floor(end, spans[0])
    if q0 >= q1:
        return [(start, end)], []
    edges = [w for w in ((start, q0), (q1, end)) if w[0] < w[1]]
    buckets: list[tuple[int, datetime, datetime]] = []
    lo, hi = q0, q1
    span = spans[-1]
    for smaller, larger in pairwise(spans):
        a, b = _ceil(lo, larger), _floor(hi, larger)
        if a >= b:  # no bucket of the larger size fits: this size covers the rest
            span = smaller
            break
        buckets += [(smaller, lo, a), (smaller, b, hi)]
        lo, hi = a, b
    buckets.append((span, lo, hi))
    return edges, [x for x in buckets if x[1] < x[2]]


def _counts(uow: UnitOfWork, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """Events per user and metric in [start, end): the counters' buckets, plus rows in the partial edges."""
    edges, buckets = split(start, end)
    out = _count_rows(uow, edges)
    for span, a, b in buckets:  # one range each: an OR of ranges made SQLite read every counter of the tenant
        for user, metric, n in _BUCKETS.rows(uow, span=span, a=int(a.timestamp()), b=int(b.timestamp())):
            _add(out, user, metric, n)
    return out


@dataclass
class ActivityCounts:
    timezone: ZoneInfo
    start: datetime  # of this period, in the workspace's time zone
    previous_start: datetime
    span: timedelta  # elapsed of this period: the previous one is compared over the same span
    current: dict[str, dict[str, int]]  # user id → metric → count
    previous: dict[str, dict[str, int]]
    names: dict[str, str]  # user id → name
    active: list[str]  # ids of the active users


def tenant_zone(uow: UnitOfWork) -> ZoneInfo:
    """The workspace's time zone: every report's periods are its local days."""
    tenant = uow.session.get(Tenant, uow.tenant_id)
    return ZoneInfo(tenant.timezone if tenant else "UTC")


def activity_counts(uow: UnitOfWork, period: str, as_of: datetime | None) -> ActivityCounts:
    tz = tenant_zone(uow)
    now = (as_of or utcnow()).astimezone(tz)
    start = _period_start(now, period)
    prev_start = _previous_start(start, period)
    span = now - start  # compare like with like: the same elapsed span of the previous period
    current = _counts(uow, start, now)
    previous = _counts(uow, prev_start, prev_start + span)
    users = list(uow.session.scalars(select(User)))
    return ActivityCounts(tz, start, prev_start, span, current, previous, {u.id: u.name for u in users},
                          [u.id for u in users if u.status == "active"])  # fmt: skip
