"""The `reports` toolset's reads: pipeline flow per stage and lender outcomes per lender over whole local days,
against the same number of days just before. Read from the flow counters' buckets (flow_counters.py): a window
of up to a year is a few dozen buckets whatever the table sizes, and no row of the period is counted."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, bindparam, func, select

from ..db import UnitOfWork
from ..errors import InvalidArguments
from ..flow_counters import SPANS
from ..models import Lender, LenderOutcomeCount, Stage, StageFlowCount, User
from ..queries import TENANT, Query
from .deals import resolve_pipeline
from .records import get_or_404
from .reports import split, tenant_zone

__all__ = ["PERIOD_DAYS", "Flow", "Window", "lender_outcomes", "pipeline_flow", "window"]

PERIOD_DAYS = {"week": 7, "month": 30, "quarter": 90}
MAX_DAYS = 366

_A: BindParameter[Any] = bindparam("a")
_B: BindParameter[Any] = bindparam("b")
_SPAN: BindParameter[Any] = bindparam("span")
_SF, _LO = StageFlowCount.__table__, LenderOutcomeCount.__table__
_STAGE_BUCKETS = Query(
    select(_SF.c.stage_id, _SF.c.metric, func.sum(_SF.c.n).label("n"))
    .where(_SF.c.tenant_id == TENANT, _SF.c.owner_id == bindparam("owner"), _SF.c.span == _SPAN,
           _SF.c.bucket >= _A, _SF.c.bucket < _B)
    .group_by(_SF.c.stage_id, _SF.c.metric)
)  # fmt: skip
_LENDER_BUCKETS = Query(
    select(_LO.c.lender_id, _LO.c.metric, func.sum(_LO.c.n).label("n"), func.sum(_LO.c.cents).label("cents"))
    .where(_LO.c.tenant_id == TENANT, _LO.c.span == _SPAN, _LO.c.bucket >= _A, _LO.c.bucket < _B)
    .group_by(_LO.c.lender_id, _LO.c.metric)
)


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
    tz = tenant_zone(uow)
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


def _sum(uow: UnitOfWork, query: Query, start: datetime, end: datetime, **params: Any) -> list[Any]:
    """The counters' rows over [start, end), bucket size by bucket size. Local midnights fall on UTC quarter-hours
    in every zone in use, so the window is whole buckets (`split`'s partial edges are empty)."""
    _, buckets = split(start, end, SPANS)
    rows: list[Any] = []
    for span, a, b in buckets:  # one range each: an OR of ranges made SQLite read every counter of the tenant
        rows += query.rows(uow, span=span, a=int(a.timestamp()), b=int(b.timestamp()), **params)
    return rows


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
    stages: list[Stage]
    current: Flow
    previous: Flow


def pipeline_flow(uow: UnitOfWork, win: Window, pipeline: str | None, owner_id: str | None) -> PipelineFlow:
    p = resolve_pipeline(uow, pipeline)
    owner = None
    if owner_id:
        user = get_or_404(uow, User, owner_id, "user", field="owner_id")
        owner = (user.id, user.name)
    stages = list(uow.session.scalars(select(Stage).where(Stage.pipeline_id == p.id).order_by(Stage.position)))
    ours = {s.id for s in stages}
    flows = []
    for previous in (False, True):
        flow = Flow()
        for stage_id, metric, n in _sum(uow, _STAGE_BUCKETS, *win.bounds(previous), owner=owner_id or ""):
            if stage_id in ours:
                flow.add(stage_id, metric, n)
        flows.append(flow)
    return PipelineFlow(win, (p.id, p.name), owner, stages, flows[0], flows[1])


@dataclass
class LenderOutcomes:
    window: Window
    names: dict[str, str]  # lender id → name
    current: Flow
    previous: Flow


def lender_outcomes(uow: UnitOfWork, win: Window, lender_id: str | None) -> LenderOutcomes:
    if lender_id:
        lender = get_or_404(uow, Lender, lender_id, "lender", field="lender_id")
        names = {lender.id: lender.name}
    else:
        names = {lid: name for lid, name in uow.session.execute(select(Lender.id, Lender.name))}
    flows = []
    for previous in (False, True):
        flow = Flow()
        for lid, metric, n, cents in _sum(uow, _LENDER_BUCKETS, *win.bounds(previous)):
            if lid in names:
                flow.add(lid, metric, n, cents)
        flows.append(flow)
    return LenderOutcomes(win, names, flows[0], flows[1])
