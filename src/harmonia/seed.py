"""`harmonia seed demo`: deterministic, realistic merchant-cash-advance broker data, in bulk.

Same seed and same anchor day ⇒ identical rows, ids included (ids come from the seeded RNG, in the format of
`harmonia.ids`). Dates are relative to the anchor (default: today in the tenant's timezone), so the demo always has
fresh activity: about 15% of open deals idle for 14+ days, and activity over the most recent weekend so a Monday
"since Friday 17:00" brief has content. Shapes follow research/mca-domain.md §9.

Speed: rows are built as plain dicts and written with SQLAlchemy Core `executemany` in large batches. Core
bypasses the ORM tenant wall, so every row carries the tenant's id explicitly (`_rows` stamps it) — this module is
one of the few places allowed to do that.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
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
NOTES = [
    "Merchant says revenue picked up after the holidays; sending last two statements Monday.",
    "Spoke with owner, wants to pay off the existing position with this advance.",
    "Left voicemail about missing MTD statement.",
    "Owner asked about weekly instead of daily payments.",
    "Application signed; waiting on voided check and ID.",
    "Lender asked for proof of ownership before final approval.",
    "Merchant comparing our offer with a competitor's; follow up Thursday.",
    "Bank statements show two NSFs last month, explained as a one-off timing issue.",
]
SMS_BODIES = ["Hi {f}, just checking in on the bank statements — can you send them today?",
              "Thanks {f}! Got the application. I'll submit to lenders this afternoon.",
              "{f}, good news: we have an approval. Call me when you have 5 minutes.",
              "Sounds good, I'll send them tonight", "Can we talk tomorrow morning?"]  # fmt: skip


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
        yield StageChange.__table__, self._stage_history(deals)  # type: ignore[misc]
        yield Submission.__table__, self._submissions(deals)  # type: ignore[misc]
        conversations = list(self._conversations())
        yield Conversation.__table__, iter(conversations)  # type: ignore[misc]
        yield Message.__table__, self._messages(conversations)  # type: ignore[misc]
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
            if acc_index is not None:
                self.contacts_by_account.setdefault(acc_index, []).append(i)
            created = self._ago(self.rng.uniform(1, 240))
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

    def _deals(self) -> Iterator[dict[str, Any]]:
        order = [name for name, _ in STAGE_MIX]
        for i in range(self.n_deals):
            stage_name = _weighted(self.rng, STAGE_MIX) if i >= len(order) else order[i]
            stage = self.stages[stage_name]
            acc_index = i % len(self.account_ids)
            acc = self.account_rows[acc_index]
            people = self.contacts_by_account.get(acc_index) or [i % len(self.contact_ids)]
            contact_id = self.contact_ids[people[0]]
            requested = round(min(500_000, acc["revenue"] * self.rng.uniform(0.5, 1.5)) / 500) * 500
            status = stage.kind
            created = self._ago(self.rng.uniform(3, 90))
            r = self.rng.random()
            if status != "open":
                idle = self.rng.uniform(0, 30)
            elif r < 0.15:
                idle = self.rng.uniform(14, 45)  # stale
            elif r < 0.25:
                idle = self.rng.uniform(7, 13.5)
            else:
                idle = self.rng.uniform(0, 6)
            last_activity = max(created, self._ago(idle))
            positions = [
                {"funder": self.rng.choice(FUNDERS),
                 "payment": round(acc["revenue"] * self.rng.uniform(0.005, 0.02), 2),
                 "frequency": self.rng.choice(["daily", "daily", "weekly"]),
                 "balance": round(acc["revenue"] * self.rng.uniform(0.2, 0.8), 2)}
                for _ in range(_weighted(self.rng, [(0, 45), (1, 25), (2, 15), (3, 10), (4, 5)]))
            ]  # fmt: skip
            funded = status == "won"
            yield self._row(
                id=self.ids("opportunity"),
                name=f"{acc['name']} — ${requested:,.0f} {self.rng.choice(['MCA', 'advance', 'renewal'])}",
                contact_id=contact_id,
                account_id=acc["id"],
                pipeline_id=self.pipeline_id,
                stage_id=stage.id,
                status=status,
                amount=requested,
                owner_id=self.rng.choice(self.users),
                source=self.rng.choice(["web form", "referral", "ISO partner", "cold call", "renewal"]),
                expected_close=self.anchor + timedelta(days=self.rng.randint(3, 45)),
                stage_entered_at=last_activity,
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

    def _documents(self, position: int) -> dict[str, Any]:
        months = [(self.anchor.replace(day=1) - timedelta(days=28 * k + 1)).strftime("%Y-%m") for k in (4, 3, 2, 1)]
        if position < 3:
            return {}
        return {"application_signed": (self.anchor - timedelta(days=self.rng.randint(2, 40))).isoformat(),
                "statements": months[-self.rng.randint(2, 4):], "id": position > 3,
                "voided_check": position > 4 or self.rng.random() < 0.5}  # fmt: skip

    def _stage_history(self, deals: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        ordered = sorted(self.stages.values(), key=lambda s: s.position)
        weekend = _last_weekend(self.anchor)
        for d in deals:
            target = next(s for s in ordered if s.id == d["stage_id"])
            path = [s for s in ordered if s.kind == "open" and s.position < target.position]
            if target.kind == "lost":
                path = path[: self.rng.randint(1, 6)]
            steps = [*path, target]
            start, end = d["created_at"], d["stage_entered_at"]
            # some moves happen on the most recent weekend / Friday evening: the "since Friday" brief
            if (d["status"] != "open" or self.rng.random() < 0.2) and self.rng.random() < 0.35:
                end = max(start, weekend[self.rng.randrange(3)])
                d["stage_entered_at"] = d["last_activity_at"] = d["updated_at"] = end
            span = (end - start) / max(1, len(steps))
            prev: Stage | None = None
            prev_at = start
            for k, s in enumerate(steps):
                at = start + span * k if s is not target else end
                yield self._row(id=self.ids("stage_change"), opportunity_id=d["id"],
                                from_stage_id=prev.id if prev else None, to_stage_id=s.id,
                                reason=d.get("closed_reason") if s is target and s.kind != "open" else None,
                                at=at, created_at=at, created_by=d["owner_id"], owner_id=d["owner_id"],
                                direction=move_direction(prev, s),
                                days_in_from_stage=int((at - prev_at).total_seconds() // 86400) if prev else None)  # fmt: skip
                prev, prev_at = s, at

    def _submissions(self, deals: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        submitted = self.stages["Submitted"].position
        weekend = _last_weekend(self.anchor)
        for d in deals:
            stage = next(s for s in self.stages.values() if s.id == d["stage_id"])
            lost_after_submit = stage.kind == "lost" and self.rng.random() < 0.5
            if not lost_after_submit and (stage.position < submitted or stage.kind == "lost"):
                continue
            chosen = self.rng.sample(self.lender_ids, self.rng.randint(1, 5))
            for k, lid in enumerate(chosen):
                at = d["stage_entered_at"] - timedelta(days=self.rng.uniform(0.5, 6))
                if stage.name == "Submitted":
                    status = _weighted(self.rng, [("submitted", 60), ("declined", 40)])
                elif stage.kind == "won" and k == 0:
                    status = "funded"
                elif stage.kind == "lost":
                    status = "declined"
                else:
                    status = _weighted(self.rng, [("approved", 45), ("declined", 55)])
                decided = (
                    None if status == "submitted" else min(self.now, at + timedelta(hours=self.rng.uniform(2, 40)))
                )
                if decided and self.rng.random() < 0.3:
                    decided = max(at, weekend[self.rng.randrange(3)])
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

    def _conversations(self) -> Iterator[dict[str, Any]]:
        seen: set[tuple[int, str]] = set()
        for _ in range(self.n_conversations):
            ci = self.rng.randrange(len(self.contact_ids))
            channel = _weighted(self.rng, [("email", 45), ("sms", 35), ("call", 20)])
            if (ci, channel) in seen:
                continue
            seen.add((ci, channel))
            last = self._ago(self.rng.uniform(0, 40))
            yield self._row(id=self.ids("conversation"), contact_id=self.contact_ids[ci], channel=channel,
                            subject="Your funding application" if channel == "email" else None,
                            assignee_id=self.rng.choice(self.users), status="open" if self.rng.random() < 0.7
                            else "closed", unread=self.rng.random() < 0.2, last_message_at=last,
                            created_at=last - timedelta(days=self.rng.uniform(1, 30)), updated_at=last)  # fmt: skip

    def _messages(self, conversations: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        weekend = _last_weekend(self.anchor)
        for conv in conversations:
            n = self.rng.randint(1, 5)
            start, end = conv["created_at"], conv["last_message_at"]
            for k in range(n):
                at = start + (end - start) * (k + 1) / n
                if self.rng.random() < 0.05:
                    at = weekend[self.rng.randrange(3)]
                inbound = self.rng.random() < 0.35
                user = conv["assignee_id"] if not inbound else None
                channel = conv["channel"]
                first = "there"
                body = (self.rng.choice(SMS_BODIES).format(f=first) if channel == "sms" else
                        self.rng.choice(NOTES) if channel == "email" else "")  # fmt: skip
                call = channel == "call"
                yield self._row(
                    id=self.ids("message"), conversation_id=conv["id"], direction="inbound" if inbound else "outbound",
                    channel=channel, subject=conv["subject"] if channel == "email" else None, body=body,
                    status="received" if inbound else ("delivered" if channel != "call" else "sent"),
                    provider="seed", sent_by=user, created_by=user, created_via="ui" if user else "system",
                    duration_seconds=self.rng.randint(20, 900) if call else None,
                    outcome=_weighted(self.rng, [("answered", 55), ("voicemail", 30), ("no_answer", 15)])
                    if call else None, sent_at=at, created_at=at, updated_at=at,
                )  # fmt: skip

    def _tasks(self, deals: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for _ in range(max(30, self.scale // 5)):
            d = self.rng.choice(deals)
            done = self.rng.random() < 0.4
            due = self.now + timedelta(days=self.rng.uniform(-10, 14))
            yield self._row(
                id=self.ids("task"), title=self.rng.choice(["Chase bank statements", "Call merchant back",
                "Send application link", "Request MTD statement", "Follow up with lender", "Collect voided check"]),
                due_at=due, assignee_id=d["owner_id"], status="done" if done else "open",
                completed_at=min(due, self.now) if done else None, record_type="opportunity", record_id=d["id"],
                created_at=min(due - timedelta(days=self.rng.uniform(1, 10)), self.now), created_by=d["owner_id"],
            )  # fmt: skip

    def _notes(self, deals: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for _ in range(max(40, self.scale // 4)):
            d = self.rng.choice(deals)
            at = min(self.now, d["last_activity_at"] - timedelta(days=self.rng.uniform(0, 5)))
            on_deal = self.rng.random() < 0.7
            yield self._row(id=self.ids("note"), body=self.rng.choice(NOTES), author_id=d["owner_id"],
                            record_type="opportunity" if on_deal else "contact",
                            record_id=d["id"] if on_deal else d["contact_id"], created_at=at,
                            created_by=d["owner_id"], created_via="ui")  # fmt: skip

    def _events(self, deals: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for _ in range(max(10, self.scale // 20)):
            d = self.rng.choice(deals)
            start = self.now + timedelta(days=self.rng.uniform(-14, 14))
            start = start.replace(minute=0 if self.rng.random() < 0.5 else 30, second=0, microsecond=0)
            yield self._row(
                id=self.ids("event"), calendar_id=self.calendars[d["owner_id"]],
                title=self.rng.choice(["Funding call", "Review offers", "Application walkthrough"]), start_at=start,
                end_at=start + timedelta(minutes=30), contact_id=d["contact_id"], opportunity_id=d["id"],
                status=_weighted(self.rng, [("booked", 50), ("confirmed", 35), ("cancelled", 10), ("no_show", 5)]),
                created_at=min(start - timedelta(days=3), self.now),
            )  # fmt: skip


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
