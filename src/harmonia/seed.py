"""`harmonia seed demo`: deterministic, realistic merchant-cash-advance broker data, in bulk.

Same seed and same anchor day ⇒ identical rows, ids included (ids come from the seeded RNG, in the format of
`harmonia.ids`). Dates are relative to the anchor (default: today in the tenant's timezone), so the demo always has
fresh activity: about 15% of open deals idle for 14+ days, activity over the most recent weekend so a Monday
"since Friday 17:00" brief has content, and one rep whose calls fell this week (`reports_activity` has a drop to show
at any hour of the week). Timelines never contradict themselves: each deal's life is laid out first and every note,
task, meeting, submission and message with its contact falls inside it and fits the stage the deal was in then.
Shapes follow research/mca-domain.md §9.

Speed: rows are built as plain dicts and written with SQLAlchemy Core `executemany` in large batches. Core
bypasses the ORM tenant wall, so every row carries the tenant's id explicitly (`_rows` stamps it) — this module is
one of the few places allowed to do that.
"""

from __future__ import annotations

import random
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from faker import Faker
from sqlalchemy import Connection, Table, func, select

from . import bulk, counters, flow_counters, fulltext
from .db import Database
from .errors import Conflict
from .ids import PREFIXES
from .models import (
    Account,
    Calendar,
    CashflowMonth,
    Contact,
    Conversation,
    Event,
    Lender,
    Message,
    Note,
    Opportunity,
    Stage,
    StageChange,
    Submission,
    Task,
    User,
)
from .services.deals import move_direction, recount_stages
from .services.tenancy import get_tenant, system_actor

__all__ = ["seed_demo"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BATCH = 20_000  # rows per transaction: fewer commits (and WAL checkpoints), memory still flat

# (stage name, share of deals) — research/mca-domain.md §9.3
STAGE_MIX = [
    ("New Lead", 18), ("Contacted", 15), ("App Out", 14), ("Docs Pending", 16), ("Ready to Submit", 8),
    ("Submitted", 14), ("Offers In", 10), ("Contracts Out", 6), ("Funded", 10), ("Dead", 6),
]  # fmt: skip
INDUSTRIES = [
    ("Restaurant", "722511", 20), ("General contractor", "236115", 9), ("Plumbing & HVAC", "238220", 6),
    ("Auto repair", "811111", 10), ("Retail store", "445110", 10), ("Trucking", "484121", 8),
    ("Dental office", "621210", 8), ("Beauty salon", "812112", 6), ("Accounting firm", "541211", 6),
    ("E-commerce", "454110", 5), ("Fitness studio", "713940", 4), ("Landscaping", "561730", 4),
    ("Casino & gaming", "713210", 1), ("Dispensary", "453998", 1),
]  # fmt: skip
STATES = [("FL", 16), ("NY", 14), ("TX", 12), ("CA", 12), ("NJ", 8), ("GA", 6), ("IL", 6), ("PA", 6), ("OH", 4),
          ("AZ", 4), ("NC", 4), ("MI", 4), ("CO", 4)]  # fmt: skip
AREA_CODES = {"FL": "305", "NY": "212", "TX": "214", "CA": "213", "NJ": "201", "GA": "404", "IL": "312",
              "PA": "215", "OH": "216", "AZ": "602", "NC": "704", "MI": "313", "CO": "303"}  # fmt: skip
TIMEZONES = {"FL": "America/New_York", "NY": "America/New_York", "TX": "America/Chicago",
             "CA": "America/Los_Angeles", "NJ": "America/New_York", "GA": "America/New_York",
             "IL": "America/Chicago", "PA": "America/New_York", "OH": "America/New_York", "AZ": "America/Phoenix",
             "NC": "America/New_York", "MI": "America/Detroit", "CO": "America/Denver"}  # fmt: skip
ENTITIES = [("llc", 55), ("s_corp", 20), ("sole_prop", 15), ("c_corp", 8), ("partnership", 2)]
FUNDERS = ["BLUEPEAK CAP", "SWIFTLINE FUND", "HARBOR ADVANCE", "NORTHGATE CAP", "RAPIDRIVER FUNDING"]
MAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "biz.example"]
USE_OF_FUNDS = ["inventory", "equipment", "payroll", "expansion", "working capital", "marketing", "renovation"]
DECLINES = [("low_revenue", 30), ("too_many_nsf", 20), ("too_many_positions", 15), ("restricted_industry", 10),
            ("low_fico", 10), ("insufficient_tib", 7), ("other", 8)]  # fmt: skip
LENDER_NAMES = [
    "Summit Ridge Capital", "Granite Harbor Funding", "Bluewater Merchant Partners", "Keystone Advance Group",
    "Ironwood Business Capital", "Cedar Point Funding", "Lakeshore Revenue Partners", "Redstone Merchant Finance",
    "Silverline Advance", "Oakmont Capital Solutions", "Pinecrest Funding", "Copperfield Merchant Capital",
    "Harborview Advance", "Stonebridge Funding", "Meadowlark Capital", "Brightwater Business Funding",
    "Falcon Crest Advance", "Willowbrook Capital", "Northstar Merchant Funding", "Riverbend Capital Partners",
]  # fmt: skip
STALE_SHARE = 0.15  # of open deals, idle 14+ days: what the stale-deal job finds in a brokerage that needs it
# What a deal is about in each stage (a note, a task, a message fits the stage the deal was in at that moment).
PHASES = {"New Lead": "lead", "Contacted": "lead", "App Out": "docs", "Docs Pending": "docs",
          "Ready to Submit": "docs", "Submitted": "lenders", "Offers In": "offers", "Contracts Out": "offers",
          "Funded": "funded"}  # fmt: skip
NOTES = {
    "lead": ["Spoke with owner, wants to pay off the existing position with this advance.",
             "Owner asked about weekly instead of daily payments.",
             "Left voicemail; merchant asked to be called back after the lunch rush."],
    "docs": ["Merchant says revenue picked up after the holidays; sending last two statements Monday.",
             "Left voicemail about missing MTD statement.",
             "Application signed; waiting on voided check and ID.",
             "Bank statements show two NSFs last month, explained as a one-off timing issue."],
    "lenders": ["Lender asked for proof of ownership before final approval.",
                "Submitted to three lenders; two usually answer same day."],
    "offers": ["Merchant comparing our offer with a competitor's; follow up Thursday.",
               "Walked the owner through the offers; leaning toward the longer term."],
    "funded": ["Funded. Owner happy with the process; ask about a renewal in 60 days."],
}  # fmt: skip
TASKS = {
    "lead": ["Call merchant back", "Send application link"],
    "docs": ["Chase bank statements", "Request MTD statement", "Collect voided check"],
    "lenders": ["Follow up with lender", "Call merchant back"],
    "offers": ["Review offers with merchant", "Send contract for signature"],
    "funded": ["Schedule renewal check-in"],
}
TEXTS = {
    "lead": ["Hi {f}, thanks for your interest in funding. When is a good time for a quick call?"],
    "docs": ["Hi {f}, just checking in on the bank statements — can you send them today?",
             "Thanks {f}! Got the application. I'll get it to our lenders as soon as the statements are in."],
    "lenders": ["{f}, your file is with our lenders now. I'll text you as soon as we hear back."],
    "offers": ["{f}, good news: we have an approval. Call me when you have 5 minutes."],
    "funded": ["{f}, the funds are on their way. Thanks for working with us!"],
}  # fmt: skip
EMAILS = {  # short, like the rest: every body goes through the search index (and the seed's time)
    "lead": ["Hi {f}, thanks for reaching out about funding. When can we walk through the application?"],
    "docs": ["Hi {f}, please send your last four months of bank statements and a voided check."],
    "lenders": ["Hi {f}, your application is with our lenders; I'll be in touch when offers come in."],
    "offers": ["Hi {f}, we have offers back. Do you have ten minutes today to go through them?"],
    "funded": ["Hi {f}, your advance has been funded. Thank you for working with us."],
}  # fmt: skip
INBOUND = {
    "lead": ["Can we talk tomorrow morning?", "What would the payments look like?"],
    "docs": ["Sounds good, I'll send them tonight", "Which months do you need?"],
    "lenders": ["Any news from the lenders?"],
    "offers": ["Can we talk tomorrow morning?", "Is there any room on the rate?"],
    "funded": ["Got it, thank you!"],
}  # fmt: skip


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self, kind: str) -> str:
        value = self.rng.getrandbits(100)
        pairs = []
        for _ in range(10):  # two base32 characters at a time, lowest bits first
            pairs.append(_PAIRS[value & 1023])
            value >>= 10
        return f"{PREFIXES[kind]}_{''.join(pairs)}"


_PAIRS = [_ALPHABET[i & 31] + _ALPHABET[i >> 5] for i in range(1024)]


def _weighted(rng: random.Random, table: list[tuple[Any, ...]]) -> Any:
    items = [t[:-1] if len(t) > 2 else t[0] for t in table]
    return rng.choices(items, weights=[t[-1] for t in table], k=1)[0]


def seed_demo(
    db: Database,
    tenant: str,
    *,
    scale: int = 500,
    seed: int = 42,
    progress: bool = False,
    anchor: date | None = None,
) -> dict[str, Any]:
    """Fill `tenant` with a demo brokerage of `scale` contacts. Returns counts and the time taken."""
    started = time.perf_counter()
    if scale < 1:
        raise Conflict("--scale must be at least 1")
    t = get_tenant(db, tenant)
    tz = ZoneInfo(t.timezone)
    anchor = anchor or datetime.now(tz).date()
    actor = system_actor(t.id, "cli")
    with db.unit_of_work(actor, write=False) as uow:
        if uow.session.scalar(select(func.count()).select_from(Lender)):
            raise Conflict(f"workspace {t.slug!r} already has data; seed a new workspace instead")
        owner = uow.session.scalar(select(User).where(User.role == "owner").limit(1))
        stages = list(uow.session.scalars(select(Stage).order_by(Stage.position)))
    gen = _Generator(t.id, t.slug, scale, seed, anchor, tz, owner.id if owner else None, stages)
    counts: dict[str, int] = {}
    bar = _progress(progress, gen.total_estimate())
    # One transaction per table chunk keeps memory flat at 1M and lets readers in between. The search index and the
    # activity counters are built once at the end (SQLite): per-row triggers cost 3× as much (bulk.py).
    with bulk.deferred():
        for table, rows in gen.tables():
            for chunk in _chunks(rows, BATCH):
                with db.unit_of_work(actor) as uow:
                    _insert(uow.session.connection(), table, chunk)
                counts[table.name] = counts.get(table.name, 0) + len(chunk)
                bar(len(chunk))
    with db.unit_of_work(actor) as uow:
        recount_stages(uow)
        if db.is_sqlite:  # what bulk.deferred() left to do, in set statements
            fulltext.index_missing(uow.session.connection(), t.id)
            counters.recount(uow.session.connection(), t.id)
            flow_counters.recount(uow.session.connection(), t.id)
    db.analyze()  # fresh statistics, or SQLite's planner scans whole tenants (docs/benchmarks.md)
    bar(0, done=True)
    counts["seconds"] = round(time.perf_counter() - started, 2)  # type: ignore[assignment]
    return {"tenant": t.slug, "scale": scale, "seed": seed, "anchor": anchor.isoformat(), **counts}


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """One executemany on the driver, each column converted by its own type (and defaulted) column by column.

    SQLAlchemy's Core executemany does the same conversions per row and per parameter, building a dict for each;
    over a million-contact seed that was a third of the time. Rows of uneven keys go through SQLAlchemy instead."""
    keys = rows[0].keys()
    if any(r.keys() != keys for r in rows):
        conn.execute(table.insert(), rows)
        return
    dialect = conn.dialect
    given = [table.c[k] for k in keys]
    defaulted = [c for c in table.c if c.key not in keys and c.default is not None and not c.default.is_sequence]
    columns: list[list[Any]] = []
    for c in given + defaulted:
        if c.key in keys:
            values = [r[c.key] for r in rows]
        else:
            default: Any = c.default
            values = [default.arg] * len(rows) if default.is_scalar else [default.arg(None) for _ in rows]
        process = c.type.dialect_impl(dialect).bind_processor(dialect)  # the type as this dialect runs it
        columns.append(list(map(process, values)) if process else values)
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(quote(c.name) for c in given + defaulted)
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join([mark] * len(columns))})"
    conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _progress(enabled: bool, total: int) -> Callable[..., None]:
    if not enabled:
        return lambda n, done=False: None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("seeding"), BarColumn(), TextColumn("{task.completed:,} rows"), TimeElapsedColumn())
    bar.start()
    task = bar.add_task("seed", total=total)

    def advance(n: int, done: bool = False) -> None:
        bar.advance(task, n)
        if done:
            bar.stop()

    return advance


class _Generator:
    def __init__(
        self, tenant_id: str, slug: str, scale: int, seed: int, anchor: date, tz: ZoneInfo,
        owner_id: str | None, stages: list[Stage],
    ) -> None:  # fmt: skip
        self.tenant_id = tenant_id
        self.slug = slug
        self.scale = scale
        self.rng = random.Random(seed)
        self.ids = _Ids(random.Random(seed * 7919 + 1))
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.tz = tz
        # 10:00 on the anchor day, but never later than the real clock: seeded on a morning, nothing is in the future.
        anchored = datetime.combine(anchor, datetime.min.time(), tz).replace(hour=10).astimezone(UTC)
        self.now = min(anchored, datetime.now(UTC))
        self.anchor = anchor
        self.owner_id = owner_id
        self.stages = {s.name: s for s in stages}
        self.pipeline_id = stages[0].pipeline_id if stages else None
        self.n_accounts = max(30, scale // 10)
        self.n_deals = max(60, scale // 10)
        self.n_conversations = max(60, scale // 4)
        self.first_names = [self.fake.first_name() for _ in range(600)]
        self.last_names = [self.fake.last_name() for _ in range(1500)]
        self.users: list[str] = []
        self.contacts_by_account: dict[int, list[int]] = {}
        self.contact_ids: list[str] = []
        self.account_ids: list[str] = []
        self.account_rows: list[dict[str, Any]] = []
        self.lender_ids: list[str] = []
        self.calendars: dict[str, str] = {}
        self.contact_first: list[str] = []
        self.contact_created = array("d")  # POSIX timestamps: a million floats, not a million datetimes
        self.timelines: dict[str, _Timeline] = {}  # deal id → its life, laid out before anything is said about it
        self.deal_contacts: set[int] = set()
        # conversation id, contact index, channel, the deal it is about, its messages: (when, who[, call outcome])
        self.threads: list[tuple[str, int, str, _Timeline | None, list[tuple[Any, ...]]]] = []

    def total_estimate(self) -> int:
        return self.scale + self.n_accounts * 5 + self.n_deals * 6 + self.n_conversations * 4 + self.scale // 2

    def _row(self, **values: Any) -> dict[str, Any]:
        values["tenant_id"] = self.tenant_id
        values.setdefault("created_via", "system")
        values.setdefault("created_client", "harmonia seed")
        values.setdefault("updated_at", values.get("created_at"))
        return values

    def _not_after_now(self, since: datetime, stamp: datetime) -> datetime:
        """`stamp`, or if it lies ahead of now a moment between `since` and now — not now itself: thousands of rows
        stamped with one instant would be an import, not a brokerage's week."""
        return stamp if stamp <= self.now else since + (self.now - since) * self.rng.random()

    def _ago(self, days: float, hour: int | None = None) -> datetime:
        t = self.now - timedelta(days=days)
        if hour is not None:
            local = t.astimezone(self.tz).replace(hour=hour, minute=self.rng.randrange(60))
            t = local.astimezone(UTC)
        return t

    def tables(self) -> Iterator[tuple[Table, Iterator[dict[str, Any]]]]:
        yield User.__table__, self._users()  # type: ignore[misc]
        yield Calendar.__table__, self._calendars()  # type: ignore[misc]
        yield Lender.__table__, self._lenders()  # type: ignore[misc]
        yield Account.__table__, self._accounts()  # type: ignore[misc]
        yield CashflowMonth.__table__, self._cashflow()  # type: ignore[misc]
        yield Contact.__table__, self._contacts()  # type: ignore[misc]
        deals = list(self._deals())
        yield Opportunity.__table__, iter(deals)  # type: ignore[misc]
        self.deal_contacts = {tl.contact_index for tl in self.timelines.values()}
        yield StageChange.__table__, self._stage_history(deals)  # type: ignore[misc]
        yield Submission.__table__, self._submissions(deals)  # type: ignore[misc]
        yield Conversation.__table__, self._conversations(deals)  # type: ignore[misc]
        yield Message.__table__, self._messages()  # type: ignore[misc]
        yield Task.__table__, self._tasks(deals)  # type: ignore[misc]
        yield Note.__table__, self._notes(deals)  # type: ignore[misc]
        yield Event.__table__, self._events(deals)  # type: ignore[misc]

    # --- people ---------------------------------------------------------------------------------------------

    def _users(self) -> Iterator[dict[str, Any]]:
        if self.owner_id:
            self.users.append(self.owner_id)
        for i in range(4):
            first, last = self.rng.choice(self.first_names), self.rng.choice(self.last_names)
            uid = self.ids("user")
            self.users.append(uid)
            yield self._row(
                id=uid,
                email=f"{first}.{last}{i}@{self.slug}.example".lower(),
                name=f"{first} {last}",
                role="admin" if i == 0 else "member",
                status="active",
                created_at=self._ago(200),
            )

    def _calendars(self) -> Iterator[dict[str, Any]]:
        for uid in self.users:
            self.calendars[uid] = self.ids("calendar")
            yield self._row(id=self.calendars[uid], user_id=uid, name="Calls", created_at=self._ago(200))

    def _lenders(self) -> Iterator[dict[str, Any]]:
        tiers = ["A"] * 4 + ["B"] * 6 + ["C"] * 6 + ["D"] * 4
        spec = {  # fico, tib, revenue, deposits, adb, nsf, neg, positions, min, max, buy, term, withhold, ratio
            "A": (650, 700, 24, 40_000, 60_000, 15, 5_000, 1, 2, 0, 25_000, 500_000, 1.16, 1.28, 9, 18, 0.15, 1.5),
            "B": (575, 620, 12, 20_000, 25_000, 10, 2_500, 3, 4, 1, 10_000, 250_000, 1.27, 1.36, 6, 12, 0.20, 1.2),
            "C": (525, 575, 6, 12_000, 15_000, 6, 1_000, 5, 7, 3, 5_000, 100_000, 1.35, 1.45, 4, 9, 0.25, 1.0),
            "D": (450, 500, 3, 6_000, 10_000, 4, 500, 8, 12, 5, 2_500, 75_000, 1.42, 1.55, 2, 6, 0.35, 0.75),
        }
        for name, tier in zip(LENDER_NAMES, tiers, strict=True):
            (f_lo, f_hi, tib, r_lo, r_hi, dep, adb, nsf, neg, pos, mn, mx, b_lo, b_hi, t_lo, t_hi, wh, ratio) = spec[
                tier
            ]
            lid = self.ids("lender")
            self.lender_ids.append(lid)
            excluded = (
                ["7132", "gambling", "cannabis", "adult"]
                + (["4841"] if tier == "C" and len(self.lender_ids) % 3 == 0 else [])
                + (["5221", "4411"] if tier == "A" else [])
            )
            states = ["TX"] if tier == "A" else (self.rng.sample(["ND", "SD", "VT", "NV"], 1) if tier == "B" else [])
            grades = {"A": ["A"], "B": ["A", "B"], "C": ["B", "C"], "D": ["C", "D"]}[tier]
            yield self._row(
                id=lid,
                name=name,
                status="active" if len(self.lender_ids) != 13 else "paused",
                submission_email=f"submissions@{name.split()[0].lower()}funding.example",
                paper_grades=grades,
                min_monthly_revenue=self.rng.randrange(r_lo, r_hi + 1, 1000),
                min_months_in_business=tib,
                min_fico=self.rng.randrange(f_lo, f_hi + 1, 5) if tier != "D" or self.rng.random() < 0.5 else None,
                max_positions=pos,
                min_avg_daily_balance=adb,
                max_nsf_per_month=nsf,
                max_negative_days=neg,
                min_deposit_count=dep,
                min_deal_size=mn,
                max_deal_size=mx,
                max_withholding_pct=wh,
                max_advance_to_revenue=ratio,
                excluded_industries=excluded,
                excluded_states=states,
                buy_rate_min=b_lo,
                buy_rate_max=b_hi,
                term_min_months=t_lo,
                term_max_months=t_hi,
                max_upsell_points=self.rng.randint(8, 15),
                median_hours_to_decision=round(self.rng.uniform(2, 24), 1),
                statements_required_months=3 if tier == "D" else 4,
                preferred_industries=[["6212"], ["7225"], ["23"]][len(self.lender_ids) % 3]
                if len(self.lender_ids) % 5 == 0
                else [],
                guidelines_updated_at=self.anchor - timedelta(days=self.rng.randint(5, 120)),
                created_at=self._ago(300),
            )

    def _accounts(self) -> Iterator[dict[str, Any]]:
        for i in range(self.n_accounts):
            industry, naics = _weighted(self.rng, INDUSTRIES)
            state = _weighted(self.rng, STATES)
            base = f"{self.rng.choice(self.last_names)} {industry.split()[0]}"
            suffix = self.rng.choice(["LLC", "Inc", "Co", "Group", "& Sons"])
            name = f"{base} {suffix}" if i % 7 else f"{self.rng.choice(self.first_names)}'s {industry}"
            aid = self.ids("account")
            self.account_ids.append(aid)
            tib_months = max(3, min(240, int(self.rng.lognormvariate(3.6, 0.8))))
            risk = "cannabis" if naics == "453998" else None
            grade = _weighted(self.rng, [("A", 20), ("B", 35), ("C", 30), ("D", 15)])
            revenue = max(8_000, min(600_000, self.rng.lognormvariate(10.7, 0.6)))
            row = self._row(
                id=aid,
                name=name,
                legal_name=f"{name} of {state}" if i % 4 == 0 else name,
                domain=_slug(base) + f"{i}.example",
                industry=industry,
                naics=naics,
                state=state,
                phone=self._phone(state, 5_000_000 + i),
                owner_id=self.rng.choice(self.users),
                business_start_date=self.anchor - timedelta(days=int(tib_months * 30.4)),
                entity_type=_weighted(self.rng, ENTITIES),
                owner_fico=None if self.rng.random() < 0.1 else max(450, min(800, int(self.rng.gauss(610, 70)))),
                risk_tags=[risk] if risk else [],
                open_bankruptcy=self.rng.random() < 0.01,
                custom_fields={"paper_grade_estimate": grade},
                created_at=self._ago(self.rng.uniform(20, 200)),
                last_activity_at=self._ago(self.rng.uniform(0, 20)),
            )
            self.account_rows.append({"revenue": revenue, "grade": grade, "id": aid, "state": state, "name": name})
            yield row

    def _cashflow(self) -> Iterator[dict[str, Any]]:
        lam = {"A": (0.1, 0.1), "B": (0.5, 1), "C": (1.5, 3), "D": (4, 8)}
        first_of_month = self.anchor.replace(day=1)
        for acc in self.account_rows:
            months = self.rng.randint(3, 6)
            trend = self.rng.choice([0.0] * 6 + [-0.1, 0.07, 0.25])
            nsf_l, neg_l = lam[acc["grade"]]
            for k in range(months, -1 if self.anchor.day > 15 else 0, -1):
                month = (first_of_month - timedelta(days=28 * k + 1)).replace(day=1) if k else first_of_month
                partial = k == 0
                factor = (1 + trend) ** (months - k) * self.rng.uniform(0.88, 1.12) * (0.5 if partial else 1)
                revenue = acc["revenue"] * factor
                deposits = revenue * self.rng.uniform(1.03, 1.35)
                adb = revenue * self.rng.uniform(0.04, 0.35)
                yield self._row(
                    id=self.ids("cashflow_month"),
                    account_id=acc["id"],
                    month=month.strftime("%Y-%m"),
                    is_partial=partial,
                    deposits_total=round(deposits, 2),
                    deposit_count=self.rng.randint(6, 140),
                    true_revenue=round(revenue, 2),
                    avg_daily_balance=round(adb, 2),
                    ending_balance=round(adb * self.rng.uniform(0.6, 1.4), 2),
                    nsf_count=_poisson(self.rng, nsf_l),
                    negative_days=_poisson(self.rng, neg_l),
                    advance_debits=round(revenue * self.rng.choice([0, 0, 0.05, 0.12, 0.2]), 2),
                    source="manual",
                    created_at=self._ago(self.rng.uniform(1, 30)),
                )

    def _phone(self, state: str, n: int) -> str:
        return f"+1{AREA_CODES.get(state, '646')}{2_000_000 + n % 7_999_999:07d}"

    def _contacts(self) -> Iterator[dict[str, Any]]:
        n_acc = len(self.account_ids)
        for i in range(self.scale):
            first, last = self.rng.choice(self.first_names), self.rng.choice(self.last_names)
            acc_index = i % n_acc if i < int(self.scale * 0.85) or self.scale < 40 else None
            state = self.account_rows[acc_index]["state"] if acc_index is not None else _weighted(self.rng, STATES)
            source = _weighted(self.rng, [("import", 40), ("web", 25), ("manual", 25), ("api", 10)])
            if source == "import":
                sms = call = "unknown"
            else:
                sms = _weighted(self.rng, [("opted_in", 55), ("unknown", 42), ("opted_out", 3)])
                call = _weighted(self.rng, [("opted_in", 60), ("unknown", 38), ("opted_out", 2)])
            email_consent = _weighted(self.rng, [("subscribed", 94), ("unsubscribed", 4), ("bounced", 2)])
            cid = self.ids("contact")
            self.contact_ids.append(cid)
            self.contact_first.append(first)
            if acc_index is not None:
                self.contacts_by_account.setdefault(acc_index, []).append(i)
            created = self._ago(self.rng.uniform(1, 240))
            self.contact_created.append(created.timestamp())
            yield self._row(
                id=cid,
                first_name=first,
                last_name=last,
                email=_slug(first) + "." + _slug(last) + f".{i}@" + self.rng.choice(MAIL_DOMAINS),
                phone=self._phone(state, i) if self.rng.random() < 0.92 else None,
                account_id=self.account_ids[acc_index] if acc_index is not None else None,
                title=self.rng.choice(["Owner", "Owner", "CEO", "Managing Member", "CFO", "Office Manager"]),
                owner_id=self.rng.choice(self.users),
                timezone=TIMEZONES.get(state),
                source=source,
                email_consent=email_consent,
                sms_consent=sms,
                call_consent=call,
                consent_log={"sms": {"at": created.isoformat(), "how": "web form opt-in"}} if sms == "opted_in" else {},
                dnd=self.rng.random() < 0.02,
                dnd_channels=[],
                custom_fields={},
                created_at=created,
                updated_at=self._not_after_now(created, created + timedelta(days=self.rng.uniform(0, 10))),
                last_activity_at=self._ago(self.rng.uniform(0, 60)),
            )

    # --- deals ----------------------------------------------------------------------------------------------
    #
    # Each deal's timeline is laid out first — created, its stage moves, its last activity — and everything about
    # it afterwards (submissions, notes, tasks, messages to its contact, meetings) falls inside that timeline and
    # fits the stage the deal was in at that moment: the demo never contradicts itself.

    def _deals(self) -> Iterator[dict[str, Any]]:
        order = [name for name, _ in STAGE_MIX]
        ordered = sorted(self.stages.values(), key=lambda s: s.position)
        opens = [s for s in ordered if s.kind == "open"]
        weekend = _last_weekend(self.anchor)
        used: set[int] = set()
        spare = iter(range(int(self.scale * 0.85), self.scale))  # contacts of no account, for crowded accounts
        for i in range(self.n_deals):
            stage_name = _weighted(self.rng, STAGE_MIX) if i >= len(order) else order[i]
            stage = self.stages[stage_name]
            acc_index = i % len(self.account_ids)
            acc = self.account_rows[acc_index]
            requested = round(min(500_000, acc["revenue"] * self.rng.uniform(0.5, 1.5)) / 500) * 500
            status = stage.kind
            stale = False
            if status != "open":
                idle = self.rng.uniform(0, 30)
            else:
                r = self.rng.random()
                stale = r < STALE_SHARE
                idle = self.rng.uniform(14.5, 45) if stale else self.rng.uniform(7, 13.5) if r < 0.25 else (
                    self.rng.uniform(0, 6))  # fmt: skip
            created = self._ago(idle + self.rng.uniform(3, 60))
            last_activity = self._ago(idle)
            contact_index = self._deal_contact(acc_index, i, used, spare, created.timestamp())
            # a deal for a person who was not in the CRM yet: only in a crowded account; it starts when they do
            known_since = datetime.fromtimestamp(self.contact_created[contact_index], UTC) + timedelta(hours=1)
            created = max(created, min(known_since, last_activity))
            path = [s for s in opens if s.position < stage.position]
            if status == "lost":
                path = path[: self.rng.randint(1, 6)]
            steps = [*path, stage]
            # A closed deal's last act was closing it; an open one has been worked in its stage since it got there.
            entered = last_activity if status != "open" else last_activity - (last_activity - created) * (
                self.rng.uniform(0, 0.4))  # fmt: skip
            # some moves happen on the most recent weekend / Friday evening: the "since Friday" brief
            if not stale and (status != "open" or self.rng.random() < 0.2) and self.rng.random() < 0.35:
                moved = weekend[self.rng.randrange(3)]
                if created < moved <= self.now:
                    entered = moved
                    last_activity = moved if status != "open" else max(moved, last_activity)
            if len(steps) == 1:
                entered = created  # still in the stage it was created in
            n = len(steps)
            times = [created + (entered - created) * k / (n - 1) for k in range(n - 1)] + [entered] if n > 1 else [
                created]  # fmt: skip
            deal_id = self.ids("opportunity")
            owner = self.rng.choice(self.users)
            self.timelines[deal_id] = _Timeline(created, last_activity, list(zip(steps, times, strict=True)),
                                                contact_index, owner, status)  # fmt: skip
            positions = [
                {"funder": self.rng.choice(FUNDERS),
                 "payment": round(acc["revenue"] * self.rng.uniform(0.005, 0.02), 2),
                 "frequency": self.rng.choice(["daily", "daily", "weekly"]),
                 "balance": round(acc["revenue"] * self.rng.uniform(0.2, 0.8), 2)}
                for _ in range(_weighted(self.rng, [(0, 45), (1, 25), (2, 15), (3, 10), (4, 5)]))
            ]  # fmt: skip
            funded = status == "won"
            yield self._row(
                id=deal_id,
                name=f"{acc['name']} — ${requested:,.0f} {self.rng.choice(['MCA', 'advance', 'renewal'])}",
                contact_id=self.contact_ids[contact_index],
                account_id=acc["id"],
                pipeline_id=self.pipeline_id,
                stage_id=stage.id,
                status=status,
                amount=requested,
                owner_id=owner,
                source=self.rng.choice(["web form", "referral", "ISO partner", "cold call", "renewal"]),
                expected_close=self.anchor + timedelta(days=self.rng.randint(3, 45)),
                stage_entered_at=entered,
                last_activity_at=last_activity,
                created_at=created,
                updated_at=last_activity,
                closed_reason=("funded by " + self.rng.choice(LENDER_NAMES))
                if funded
                else (_weighted(self.rng, DECLINES) if status == "lost" else None),
                requested_amount=requested,
                funded_amount=round(requested * self.rng.uniform(0.7, 1.0), -2) if funded else None,
                factor_rate=round(self.rng.uniform(1.25, 1.49), 2) if funded else None,
                term_days=self.rng.choice([105, 129, 150, 180]) if funded else None,
                payment_frequency=self.rng.choice(["daily", "weekly"]),
                position=len(positions) + 1,
                fico=None if self.rng.random() < 0.1 else max(450, min(800, int(self.rng.gauss(610, 70)))),
                use_of_funds=self.rng.choice(USE_OF_FUNDS),
                existing_positions=positions,
                documents=self._documents(stage.position),
                custom_fields={},
            )

    def _deal_contact(self, acc_index: int, i: int, used: set[int], spare: Iterator[int], created: float) -> int:
        """A person of the deal's account, in the CRM before the deal and on no other deal (their threads are about
        this deal), else a contact of no account, else — only in a tiny workspace — someone already on a deal."""
        for person in self.contacts_by_account.get(acc_index, []):
            if person not in used and self.contact_created[person] < created:
                used.add(person)
                return person
        for person in spare:
            if person not in used:
                used.add(person)
                return person
        return (self.contacts_by_account.get(acc_index) or [i % len(self.contact_ids)])[0]

    def _documents(self, position: int) -> dict[str, Any]:
        months = [(self.anchor.replace(day=1) - timedelta(days=28 * k + 1)).strftime("%Y-%m") for k in (4, 3, 2, 1)]
        if position < 3:
            return {}
        return {"application_signed": (self.anchor - timedelta(days=self.rng.randint(2, 40))).isoformat(),
                "statements": months[-self.rng.randint(2, 4):], "id": position > 3,
                "voided_check": position > 4 or self.rng.random() < 0.5}  # fmt: skip

    def _stage_history(self, deals: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for d in deals:
            prev: Stage | None = None
            prev_at = d["created_at"]
            for s, at in self.timelines[d["id"]].steps:
                closing = s.id == d["stage_id"] and s.kind != "open"
                yield self._row(id=self.ids("stage_change"), opportunity_id=d["id"],
                                from_stage_id=prev.id if prev else None, to_stage_id=s.id,
                                reason=d["closed_reason"] if closing else None, at=at, created_at=at,
                                created_by=d["owner_id"], owner_id=d["owner_id"], direction=move_direction(prev, s),
                                days_in_from_stage=int((at - prev_at).total_seconds() // 86400) if prev else None)  # fmt: skip
                prev, prev_at = s, at

    def _submissions(self, deals: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        weekend = _last_weekend(self.anchor)
        for d in deals:
            tl = self.timelines[d["id"]]
            window = tl.submission_window()
            if window is None:  # never reached "Submitted": nothing went to a lender
                continue
            sent, answered_by = window
            stage = tl.steps[-1][0]
            chosen = self.rng.sample(self.lender_ids, self.rng.randint(1, 5))
            for k, lid in enumerate(chosen):
                at = sent + (answered_by - sent) * self.rng.uniform(0, 0.3)
                if stage.name == "Submitted":
                    status = _weighted(self.rng, [("submitted", 60), ("declined", 40)])
                elif stage.kind == "won" and k == 0:
                    status = "funded"
                elif stage.kind == "lost":
                    status = "declined"
                else:
                    status = _weighted(self.rng, [("approved", 45), ("declined", 55)])
                decided = (
                    None if status == "submitted" else min(answered_by, at + timedelta(hours=self.rng.uniform(2, 40)))
                )
                if decided and self.rng.random() < 0.3:
                    friday_on = weekend[self.rng.randrange(3)]
                    decided = friday_on if at <= friday_on <= answered_by else decided
                approved = status in ("approved", "funded")
                yield self._row(
                    id=self.ids("submission"),
                    opportunity_id=d["id"],
                    lender_id=lid,
                    status=status,
                    submitted_at=at,
                    decided_at=decided,
                    offer_amount=round(d["requested_amount"] * self.rng.uniform(0.7, 1.0), -2) if approved else None,
                    factor_rate=round(self.rng.uniform(1.25, 1.49), 2) if approved else None,
                    term_days=self.rng.choice([105, 129, 150]) if approved else None,
                    decline_reason=_weighted(self.rng, DECLINES) if status == "declined" else None,
                    created_at=at,
                    updated_at=decided or at,
                    created_by=d["owner_id"],
                )

    # --- activity -------------------------------------------------------------------------------------------

    def _conversations(self, deals: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Threads about deals (with the deal's contact, inside its timeline), threads with leads, and the reps'
        call log. Each row's messages are laid out in `self.threads` and written by `_messages`."""
        seen: set[tuple[int, str]] = set()
        for d in deals:
            if self.rng.random() >= 0.7:
                continue
            tl = self.timelines[d["id"]]
            channel = _weighted(self.rng, [("email", 55), ("sms", 45)])
            if (tl.contact_index, channel) in seen:
                continue
            seen.add((tl.contact_index, channel))
            start = tl.created + (tl.last - tl.created) * self.rng.uniform(0, 0.3)
            yield self._thread(tl.contact_index, channel, d["owner_id"], start, tl.last, tl)
        leads = max(0, self.n_conversations - len(seen))
        for _ in range(leads):
            ci = self._lead_contact()
            channel = _weighted(self.rng, [("email", 55), ("sms", 45)])
            if (ci, channel) in seen:
                continue
            seen.add((ci, channel))
            last = self._ago(self.rng.uniform(0, 40))
            yield self._thread(ci, channel, self.rng.choice(self.users), last - timedelta(days=self.rng.uniform(1, 30)),
                               last, None)  # fmt: skip
        for ci, calls in self._call_log().items():
            conv = self._thread(ci, "call", calls[0][1], calls[0][0], calls[-1][0], None)
            self.threads[-1] = (conv["id"], ci, "call", None, calls)
            yield conv

    def _thread(self, ci: int, channel: str, assignee: str, start: datetime, last: datetime,
                tl: _Timeline | None) -> dict[str, Any]:  # fmt: skip
        conv_id = self.ids("conversation")
        n = self.rng.randint(1, 5)
        times = [start + (last - start) * (k + 1) / n for k in range(n)]
        self.threads.append((conv_id, ci, channel, tl, [(t, assignee) for t in times]))
        subject = ("Your funding application" if tl else "Funding for your business") if channel == "email" else None
        return self._row(id=conv_id, contact_id=self.contact_ids[ci], channel=channel, subject=subject,
                         assignee_id=assignee, status="open" if self.rng.random() < 0.7 else "closed",
                         unread=self.rng.random() < 0.2, last_message_at=last, created_at=start,
                         updated_at=last)  # fmt: skip

    def _lead_contact(self) -> int:
        """A contact on no deal (a lead being worked): what is said to them is about no deal."""
        for _ in range(20):
            ci = self.rng.randrange(len(self.contact_ids))
            if ci not in self.deal_contacts:
                return ci
        return self.rng.randrange(len(self.contact_ids))  # a tiny workspace where everyone is on a deal

    def _call_log(self) -> dict[int, list[tuple[datetime, str, str]]]:
        """The reps' dialing on weekdays over the last three weeks, per contact called: (when, who, outcome).

        Every rep's day opens with a call before 09:00 and one rep's calls fall off this week — each day of it is
        the same day of last week with two calls in three gone — so "whose calls dropped off this week?" has an
        answer at any hour of any day, Monday 10:00 included (this week so far vs the same span last week)."""
        local_now = self.now.astimezone(self.tz)
        monday = local_now.date() - timedelta(days=local_now.weekday())
        per_day = max(12, min(40, self.scale // 25))
        slumping = self.users[-1]
        by_contact: dict[int, list[tuple[datetime, str, str]]] = {}
        for user in self.users:
            pace = self.rng.uniform(0.7, 1.3)
            days: dict[date, list[datetime]] = {}
            for offset in range(14, -7, -1):
                day = monday - timedelta(days=offset)
                if day.weekday() >= 5 or day > local_now.date():
                    continue
                opens = datetime.combine(day, datetime.min.time(), self.tz).replace(hour=8, minute=30)
                if user == slumping and day >= monday:
                    last_week = days.get(day - timedelta(days=7), [])
                    days[day] = [t + timedelta(days=7) for t in last_week[1::3]]
                else:
                    first = opens + timedelta(minutes=self.rng.uniform(0, 30))
                    rest = [
                        opens + timedelta(hours=self.rng.uniform(0, 9.5))
                        for _ in range(int(per_day * pace * self.rng.uniform(0.75, 1.25)))
                    ]
                    days[day] = [first, *sorted(rest)]
                for t in days[day]:
                    at = t.astimezone(UTC)
                    if at < self.now:
                        outcome = _weighted(self.rng, [("answered", 45), ("voicemail", 35), ("no_answer", 20)])
                        by_contact.setdefault(self._lead_contact(), []).append((at, user, outcome))
        for calls in by_contact.values():
            calls.sort()
        return by_contact

    def _messages(self) -> Iterator[dict[str, Any]]:
        for conv_id, ci, channel, tl, items in self.threads:
            first = self.contact_first[ci]
            subject = "Your funding application" if tl else "Funding for your business"
            for item in items:
                at, user = item[0], item[1]
                call = channel == "call"
                inbound = not call and self.rng.random() < 0.35
                sender = None if inbound else user
                if call:
                    body, outcome = "", item[2]
                else:
                    phase = tl.phase_at(at) if tl else "lead"
                    lines = (INBOUND if inbound else (EMAILS if channel == "email" else TEXTS))[phase]
                    body, outcome = self.rng.choice(lines).format(f=first), None
                yield self._row(
                    id=self.ids("message"), conversation_id=conv_id, direction="inbound" if inbound else "outbound",
                    channel=channel, subject=subject if channel == "email" else None, body=body,
                    status="received" if inbound else ("delivered" if not call else "sent"),
                    provider="seed", sent_by=sender, created_by=sender, created_via="ui" if sender else "system",
                    duration_seconds=(self.rng.randint(60, 900) if outcome == "answered" else self.rng.randint(15, 45))
                    if call else None, outcome=outcome, sent_at=at, created_at=at, updated_at=at,
                )  # fmt: skip

    def _tasks(self, deals: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for _ in range(max(30, self.scale // 5)):
            d = self.rng.choice(deals)
            tl = self.timelines[d["id"]]
            created = tl.created + (tl.last - tl.created) * self.rng.random()
            done = tl.status != "open" or self.rng.random() < 0.4
            if done:  # finished while the deal was worked: its last activity is not older than that
                completed: datetime | None = created + (tl.last - created) * self.rng.random()
                title = self.rng.choice(TASKS[tl.phase_at(created)])
                due = created + timedelta(days=self.rng.uniform(0.5, 5))
            else:  # what the deal needs next, in the stage it is in now
                completed = None
                title = self.rng.choice(TASKS[tl.phase_at(self.now)])
                due = created + timedelta(days=self.rng.uniform(1, 10))
            yield self._row(
                id=self.ids("task"), title=title, due_at=due, assignee_id=d["owner_id"],
                status="done" if done else "open", completed_at=completed, record_type="opportunity",
                record_id=d["id"], created_at=created, created_by=d["owner_id"],
            )  # fmt: skip

    def _notes(self, deals: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for _ in range(max(40, self.scale // 4)):
            d = self.rng.choice(deals)
            tl = self.timelines[d["id"]]
            at = tl.created + (tl.last - tl.created) * self.rng.random()
            on_deal = self.rng.random() < 0.7
            yield self._row(id=self.ids("note"), body=self.rng.choice(NOTES[tl.phase_at(at)]), author_id=d["owner_id"],
                            record_type="opportunity" if on_deal else "contact",
                            record_id=d["id"] if on_deal else d["contact_id"], created_at=at,
                            created_by=d["owner_id"], created_via="ui")  # fmt: skip

    def _events(self, deals: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for _ in range(max(10, self.scale // 20)):
            d = self.rng.choice(deals)
            tl = self.timelines[d["id"]]
            if tl.status == "open" and self.rng.random() < 0.5:  # booked ahead
                start = self.now + timedelta(days=self.rng.uniform(0.1, 14))
                status = _weighted(self.rng, [("booked", 55), ("confirmed", 35), ("cancelled", 10)])
            else:  # held while the deal was worked
                start = tl.created + (tl.last - tl.created) * self.rng.random()
                status = _weighted(self.rng, [("confirmed", 80), ("cancelled", 12), ("no_show", 8)])
            start = start.replace(minute=0 if self.rng.random() < 0.5 else 30, second=0, microsecond=0)
            yield self._row(
                id=self.ids("event"), calendar_id=self.calendars[d["owner_id"]],
                title=self.rng.choice(["Funding call", "Review offers", "Application walkthrough"]), start_at=start,
                end_at=start + timedelta(minutes=30), contact_id=d["contact_id"], opportunity_id=d["id"],
                status=status, created_at=max(tl.created, min(start - timedelta(days=3), tl.last)),  # booked while worked
            )  # fmt: skip


@dataclass(slots=True)
class _Timeline:
    """A deal's life as the seed lays it out; everything written about the deal fits inside it."""

    created: datetime
    last: datetime  # its last activity
    steps: list[tuple[Stage, datetime]]  # each stage it entered, when
    contact_index: int
    owner: str
    status: str

    def phase_at(self, at: datetime) -> str:
        """What was going on with the deal at `at`: the phase of the last open stage it had entered by then."""
        phase = "lead"
        for stage, entered in self.steps:
            if entered > at:
                break
            phase = PHASES.get(stage.name, phase)
        return phase

    def submission_window(self) -> tuple[datetime, datetime] | None:
        """(when it reached "Submitted", when the lenders had to have answered), or None if it never got there."""
        names = [s.name for s, _ in self.steps]
        if "Submitted" not in names:
            return None
        k = names.index("Submitted")
        return self.steps[k][1], self.steps[k + 1][1] if k + 1 < len(self.steps) else max(self.last, self.steps[k][1])


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _poisson(rng: random.Random, lam: float) -> int:
    k, p, limit = 0, 1.0, pow(2.718281828, -lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _last_weekend(anchor: date) -> list[datetime]:
    """Friday 18:00, Saturday 11:00 and Sunday 15:00 (UTC-ish local times) of the weekend before `anchor`."""
    days_since_sunday = (anchor.weekday() + 1) % 7 or 7
    sunday = anchor - timedelta(days=days_since_sunday)
    friday = sunday - timedelta(days=2)
    return [
        datetime.combine(friday, datetime.min.time(), UTC).replace(hour=22),
        datetime.combine(sunday - timedelta(days=1), datetime.min.time(), UTC).replace(hour=16),
        datetime.combine(sunday, datetime.min.time(), UTC).replace(hour=19),
    ]
