"""The `reports` toolset's reads: pipeline flow per stage and lender outcomes per lender over whole local days,
against the same number of days just before. Read from the flow counters' buckets (flow_counters.py): a window
of up to a year is a few dozen buckets whatever the table sizes, and no row of the period is counted."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, literal, select, union_all

from ..db import UnitOfWork
from ..errors import InvalidArguments, NotFound
from ..flow_counters import SPANS
from ..models import Lender, LenderOutcomeCount, Pipeline, Stage, StageFlowCount, Tenant, User
from ..queries import TENANT, Query
from .records import not_found
from .reports import split

__all__ = ["PERIOD_DAYS", "Flow", "Window", "lender_outcomes", "median_of_bins", "pipeline_flow", "window"]

PERIOD_DAYS = {"week": 7, "month": 30, "quarter": 90}
MAX_DAYS = 366

_SF, _LO = StageFlowCount.__table__, LenderOutcomeCount.__table__
_ST, _PL, _US, _LN, _TN = (m.__table__ for m in (Stage, Pipeline, User, Lender, Tenant))
# A window splits into at most 2 × (spans − 1) + 1 ranges of whole buckets (`split`): both windows' ranges are the
# branches of one statement, each an index range of the counters' primary key (unused ones get span 0: no rows).
RANGES = 2 * (2 * (len(SPANS) - 1) + 1)


def _buckets(table: Any, key: str, owner: bool) -> Query:
    branches = []
    for i in range(RANGES):
        where = [table.c.tenant_id == TENANT, table.c.span == bindparam(f"s{i}"), table.c.bucket >= bindparam(f"a{i}"),
                 table.c.bucket < bindparam(f"b{i}")]  # fmt: skip
        if owner:
            where.append(table.c.owner_id == bindparam(f"o{i}"))
        branches.append(select(literal(i // (RANGES // 2)).label("w"), table.c[key].label("k"), table.c.metric,
                               table.c.n, table.c.cents).where(*where))  # fmt: skip
    u = union_all(*branches).subquery()
    return Query(select(u.c.w, u.c.k, u.c.metric, func.sum(u.c.n).label("n"), func.sum(u.c.cents).label("cents"))
                 .group_by(u.c.w, u.c.k, u.c.metric))  # fmt: skip


_STAGE_BUCKETS = _buckets(_SF, "stage_id", owner=True)
_LENDER_BUCKETS = _buckets(_LO, "lender_id", owner=False)
_ZONE = Query(select(_TN.c.timezone).where(_TN.c.id == TENANT))
_STAGES = Query(
    select(_ST.c.id, _ST.c.name, _ST.c.kind, _ST.c.pipeline_id, _PL.c.name.label("pipeline"))
    .join(_PL, (_PL.c.tenant_id == _ST.c.tenant_id) & (_PL.c.id == _ST.c.pipeline_id))
    .where(_ST.c.tenant_id == TENANT, _PL.c.tenant_id == TENANT)
    .order_by(_PL.c.position, _PL.c.name, _ST.c.position)
)
_USER = Query(select(_US.c.id, _US.c.name).where(_US.c.tenant_id == TENANT, _US.c.id == bindparam("id")))
_LENDERS = Query(select(_LN.c.id, _LN.c.name).where(_LN.c.tenant_id == TENANT))


@dataclass
class Window:
    """Whole local days [first, last] and the same number of days just before."""

    timezone: ZoneInfo
    first: date
    last: date
    previous_first: date
    previous_last: date

    def bounds(self, previous: bool = False) -> tuple[datetime, datetime]:
        first, last = (self.previous_first, self.previous_last) if previous else (self.first, self.last)
        start = datetime.combine(first, time.min, self.timezone)
        return start, datetime.combine(last + timedelta(days=1), time.min, self.timezone)


def window(uow: UnitOfWork, period: str, since: date | None, until: date | None) -> Window:
    zone = _ZONE.first(uow)
    tz = ZoneInfo(zone.timezone if zone else "UTC")
    last = until or uow.now().astimezone(tz).date()
    first = since or last - timedelta(days=PERIOD_DAYS[period] - 1)
    for name, day in (("since", first), ("until", last)):
        if not 1900 <= day.year <= 2999:
            raise InvalidArguments(f"`{name}` ({day}) is outside the years 1900-2999",
                                   errors=[{"field": name, "type": "value_error"}])  # fmt: skip
    if first > last:
        raise InvalidArguments(f"`since` ({first}) is after `until` ({last}); give since ≤ until",
                               errors=[{"field": "since", "type": "value_error"}])  # fmt: skip
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise InvalidArguments(f"a report covers at most {MAX_DAYS} days; {first} to {last} is {days}",
                               errors=[{"field": "since", "type": "value_error", "limit": MAX_DAYS}])  # fmt: skip
    return Window(tz, first, last, first - timedelta(days=days), first - timedelta(days=1))


def _sum(uow: UnitOfWork, query: Query, win: Window, owner: str | None = None) -> list[Any]:
    """The counters' rows of both windows (w = 0 this one, 1 the previous), summed per key and metric. Local
    midnights fall on UTC quarter-hours in every zone in use, so a window is whole buckets (no partial edges)."""
    params: dict[str, Any] = {}
    half = RANGES // 2
    for w, previous in enumerate((False, True)):
        _, buckets = split(*win.bounds(previous), SPANS)
        ranges = [(span, int(a.timestamp()), int(b.timestamp())) for span, a, b in buckets]
        ranges += [(0, 0, 0)] * (half - len(ranges))
        for j, (span, a, b) in enumerate(ranges):
            i = w * half + j
            params |= {f"s{i}": span, f"a{i}": a, f"b{i}": b} | ({f"o{i}": owner} if owner is not None else {})
    return query.rows(uow, **params)


def median_of_bins(bins: dict[int, int]) -> float | None:
    """The median of a histogram {value: count}: the middle value, or the mean of the two middle ones."""
    total = sum(bins.values())
    if total <= 0:
        return None
    ordered = sorted((v, n) for v, n in bins.items() if n > 0)

    def nth(k: int) -> int:  # the k-th smallest value, 0-based
        seen = 0
        for v, n in ordered:
            seen += n
            if k < seen:
                return v
        return ordered[-1][0]

    return (nth((total - 1) // 2) + nth(total // 2)) / 2


@dataclass
class Flow:
    """Counts per key (stage or lender): metric → n, cents per metric, and the histogram of each binned metric."""

    counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    cents: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    bins: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    reasons: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))

    def add(self, key: str, metric: str, n: int, cents: int = 0) -> None:
        prefix, _, rest = metric.partition(":")
        if prefix in ("d", "h") and rest:
            self.bins[key][int(rest)] += int(n)
        elif prefix == "r" and rest:
            self.reasons[key][rest] += int(n)
        else:
            self.counts[key][metric] += int(n)
            self.cents[key][metric] += int(cents or 0)


@dataclass
class PipelineFlow:
    window: Window
    pipeline: tuple[str, str]  # id, name
    owner: tuple[str, str] | None
    stages: list[Any]  # rows: id, name, kind, pipeline_id, pipeline
    current: Flow
    previous: Flow


def pipeline_flow(uow: UnitOfWork, win: Window, pipeline: str | None, owner_id: str | None) -> PipelineFlow:
    rows = _STAGES.rows(uow)
    if not rows:
        raise NotFound("this workspace has no pipeline yet")
    chosen = rows[0].pipeline_id
    if pipeline is not None:
        wanted = pipeline.strip().lower()
        match = next((r.pipeline_id for r in rows if r.pipeline_id == pipeline or r.pipeline.lower() == wanted), None)
        if match is None:
            names = ", ".join(dict.fromkeys(r.pipeline for r in rows))
            raise NotFound(f"pipeline {pipeline!r} not found; pipelines are: {names}")
        chosen = match
    stages = [r for r in rows if r.pipeline_id == chosen]
    owner = None
    if owner_id:
        user = _USER.first(uow, id=owner_id)
        if user is None:
            raise not_found(owner_id, "user", field="owner_id")
        owner = (user.id, user.name)
    ours = {s.id for s in stages}
    flows = (Flow(), Flow())
    for w, stage_id, metric, n, _ in _sum(uow, _STAGE_BUCKETS, win, owner_id or ""):
        if stage_id in ours:
            flows[w].add(stage_id, metric, n)
    return PipelineFlow(win, (chosen, stages[0].pipeline), owner, stages, flows[0], flows[1])


@dataclass
class LenderOutcomes:
    window: Window
    names: dict[str, str]  # lender id → name
    current: Flow
    previous: Flow


def lender_outcomes(uow: UnitOfWork, win: Window, lender_id: str | None) -> LenderOutcomes:
    names = {r.id: r.name for r in _LENDERS.rows(uow)}
    if lender_id:
        if lender_id not in names:
            raise not_found(lender_id, "lender", field="lender_id")
        names = {lender_id: names[lender_id]}
    flows = (Flow(), Flow())
    for w, lid, metric, n, cents in _sum(uow, _LENDER_BUCKETS, win):
        if lid in names:
            flows[w].add(lid, metric, n, cents)
    return LenderOutcomes(win, names, flows[0], flows[1])
