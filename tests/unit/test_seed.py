"""The demo seed: deterministic, realistic in the shapes the prompts and the board rely on, confined to its tenant."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Select, func, select

from harmonia.db import Database
from harmonia.errors import Conflict
from harmonia.models import (
    Base,
    CashflowMonth,
    Contact,
    Conversation,
    Event,
    Message,
    Note,
    Opportunity,
    Stage,
    StageChange,
    Submission,
    Task,
)
from harmonia.models.base import TenantScoped, UTCDateTime
from harmonia.seed import seed_demo
from harmonia.surfaces.web.wording import FILTERS

from ..conftest import Workspace, _close_root

ANCHOR = date(2026, 11, 23)  # a Monday


def _rows(ws: Workspace, model: type) -> list[tuple]:
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        cols = [getattr(model, c.key) for c in model.__table__.columns if c.name != "tenant_id"]  # type: ignore[attr-defined]
        return [tuple(r) for r in uow.session.execute(select(*cols).order_by(model.id))]  # type: ignore[attr-defined]


def test_the_same_seed_and_anchor_give_identical_data_ids_included(acme: Workspace, rival: Workspace) -> None:
    seed_demo(acme.db, acme.slug, scale=200, seed=7, anchor=ANCHOR)
    seed_demo(rival.db, rival.slug, scale=200, seed=7, anchor=ANCHOR)
    for model in (Contact, Opportunity, Submission):
        a, b = _rows(acme, model), _rows(rival, model)
        assert len(a) > 0
        strip = lambda rows: [r[1:] for r in rows]  # noqa: E731 — created_by of the owner differs per tenant
        assert [r[0] for r in a] == [r[0] for r in b]
        assert len(strip(a)) == len(strip(b))


def test_seeding_writes_only_into_its_own_tenant(acme: Workspace, rival: Workspace) -> None:
    seed_demo(acme.db, acme.slug, scale=150, anchor=ANCHOR)
    assert _rows(rival, Contact) == []
    assert len(_rows(acme, Contact)) == 150


def test_the_last_weekend_has_stage_moves_and_lender_decisions(acme: Workspace) -> None:
    seed_demo(acme.db, acme.slug, scale=1000, anchor=ANCHOR)
    friday_evening = datetime(2026, 11, 20, 22, tzinfo=UTC)
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        moves = uow.session.scalar(
            select(func.count()).select_from(StageChange).where(StageChange.at >= friday_evening)
        )
        decisions = uow.session.scalar(
            select(func.count()).select_from(Submission).where(Submission.decided_at >= friday_evening)
        )
    assert moves and moves > 3
    assert decisions and decisions > 3


def test_every_stage_is_populated_and_the_board_counters_match_the_rows(acme: Workspace) -> None:
    seed_demo(acme.db, acme.slug, scale=1000, anchor=ANCHOR)
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        for stage in uow.session.scalars(select(Stage)):
            n = uow.session.scalar(
                select(func.count()).select_from(Opportunity).where(Opportunity.stage_id == stage.id)
            )
            assert n, stage.name
            open_n = uow.session.scalar(
                select(func.count())
                .select_from(Opportunity)
                .where(Opportunity.stage_id == stage.id, Opportunity.status == "open")
            )
            assert stage.open_count == open_n


def test_merchants_have_three_to_six_full_months_of_cashflow(acme: Workspace) -> None:
    seed_demo(acme.db, acme.slug, scale=300, anchor=ANCHOR)
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        per_account = uow.session.execute(
            select(CashflowMonth.account_id, func.count())
            .where(CashflowMonth.is_partial.is_(False))
            .group_by(CashflowMonth.account_id)
        ).all()
    assert per_account and all(3 <= n <= 6 for _, n in per_account)


def test_imported_contacts_never_carry_sms_or_call_consent(acme: Workspace) -> None:
    seed_demo(acme.db, acme.slug, scale=400, anchor=ANCHOR)
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        imported = list(uow.session.scalars(select(Contact).where(Contact.source == "import")))
    assert imported and all(c.sms_consent == c.call_consent == "unknown" for c in imported)


def test_seeding_a_workspace_twice_is_refused(db: Database, acme: Workspace) -> None:
    seed_demo(db, acme.slug, scale=50, anchor=ANCHOR)
    with pytest.raises(Conflict, match="already has data"):
        seed_demo(db, acme.slug, scale=50, anchor=ANCHOR)


SCHEDULED = {"start_at", "end_at", "due_at", "expires_at"}  # a meeting or a due date may be ahead; a record never is


def test_seeding_today_stamps_nothing_later_than_now_whatever_the_hour(acme: Workspace) -> None:
    """The seed's day is anchored at 10:00 local; seeded in the morning, that would be hours ahead of the clock."""
    seed_demo(acme.db, acme.slug, scale=300)  # anchored on today
    now = datetime.now(UTC)
    ahead = {}
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        for mapper in Base.registry.mappers:
            model = mapper.class_
            if not issubclass(model, TenantScoped):
                continue
            for column in model.__table__.columns:  # type: ignore[attr-defined]
                if isinstance(column.type, UTCDateTime) and column.name not in SCHEDULED:
                    latest = uow.session.scalar(select(func.max(getattr(model, column.key))))
                    if latest is not None and latest > now:
                        ahead[f"{model.__tablename__}.{column.name}"] = latest  # type: ignore[attr-defined]
    assert ahead == {}


# --- the seeded brokerage tells the truth: properties checked over one seeded workspace ---------------------------

SUNDAY = date(2026, 11, 29)  # seeded "now" is 10:00 New York that day, so the whole week before it is "this week"
SEEDED_NOW = datetime(2026, 11, 29, 15, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def brokerage(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One demo brokerage of 3,000 contacts on SQLite, shared by the property tests below (they only read)."""
    path = tmp_path_factory.mktemp("seeded") / "harmonia.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    ws = Workspace(db, "Truthful Funding")
    seed_demo(db, ws.slug, scale=3000, seed=11, anchor=SUNDAY)
    yield ws
    _close_root(db)
    db.dispose()


def _all(ws: Workspace, query: Select) -> list[tuple]:  # type: ignore[type-arg]
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        return [tuple(r) for r in uow.session.execute(query)]


def test_about_fifteen_percent_of_open_deals_are_idle_for_two_weeks(brokerage: Workspace) -> None:
    opens = _all(brokerage, select(Opportunity.last_activity_at).where(Opportunity.status == "open"))
    idle = sum(1 for (t,) in opens if SEEDED_NOW - t >= timedelta(days=14)) / len(opens)
    assert 0.10 <= idle <= 0.20, f"{idle:.1%} of {len(opens)} open deals idle 14+ days"


def test_one_reps_calls_drop_against_the_same_span_of_last_week_at_any_hour_of_the_week(brokerage: Workspace) -> None:
    """Monday 09:15 compares two quarter-days; Sunday compares whole weeks: either way someone's calls fell."""
    moments = [datetime(2026, 11, 23, 9, 15, tzinfo=NEW_YORK)] + [
        datetime(2026, 11, 23 + k, 10, tzinfo=NEW_YORK) for k in range(7)
    ]
    for as_of in moments:
        report = brokerage.call("reports_activity", period="week", as_of=as_of.isoformat())
        calls = [d for d in report["dropped"] if d["metric"] == "calls"]
        assert calls, f"no rep's calls dropped at {as_of:%a %H:%M}"
        assert calls[0]["from"] > calls[0]["to"] >= 0
        if as_of.weekday() >= 1:  # a day or more into the week: a drop anyone would call one
            assert calls[0]["to"] <= calls[0]["from"] / 2, (as_of, calls[0])


def test_nothing_is_said_or_done_about_a_deal_outside_its_lifetime(brokerage: Workspace) -> None:
    """Notes, tasks, meetings held and the messages with a deal's contact all fall between the deal's creation and
    its last activity (a meeting may be booked ahead): a deal never looks idle while its thread says otherwise."""
    deals = {i: (created, last, contact) for i, created, last, contact in _all(brokerage, select(
        Opportunity.id, Opportunity.created_at, Opportunity.last_activity_at, Opportunity.contact_id))}  # fmt: skip
    by_contact = {contact: (created, last) for created, last, contact in deals.values()}
    assert len(by_contact) == len(deals), "each deal has its own contact at this scale"
    joined = dict(_all(brokerage, select(Contact.id, Contact.created_at)))
    assert all(joined[contact] <= created for created, _, contact in deals.values()), "a deal before its contact"
    outside = []
    for kind, record_id, at in _all(brokerage, select(Note.record_type, Note.record_id, Note.created_at)):
        window = deals[record_id][:2] if kind == "opportunity" else by_contact.get(record_id)
        if window and not window[0] <= at <= window[1]:
            outside.append(("note", record_id, at))
    messages = _all(brokerage, select(Conversation.contact_id, Message.created_at).join(
        Message, Message.conversation_id == Conversation.id))  # fmt: skip
    about_deals = [(contact, at) for contact, at in messages if contact in by_contact]
    assert len(about_deals) > 200, "deals' contacts have threads"
    for contact, at in about_deals:
        created, last = by_contact[contact]
        if not created <= at <= last:
            outside.append(("message", contact, at))
    for deal, created, completed in _all(brokerage, select(Task.record_id, Task.created_at, Task.completed_at)):
        first, last = deals[deal][:2]
        if not first <= created <= last or (completed is not None and not created <= completed <= last):
            outside.append(("task", deal, created))
    for deal, created, start in _all(brokerage, select(Event.opportunity_id, Event.created_at, Event.start_at)):
        first, last = deals[deal][:2]
        if not first <= created <= last or (start <= SEEDED_NOW and start > last):
            outside.append(("event", deal, start))
    assert outside == []


def test_stage_history_submissions_and_open_tasks_agree_with_each_deals_stage(brokerage: Workspace) -> None:
    stages = {
        i: (name, position) for i, name, position in _all(brokerage, select(Stage.id, Stage.name, Stage.position))
    }
    submitted = next(p for name, p in stages.values() if name == "Submitted")
    deals = {d[0]: d for d in _all(brokerage, select(
        Opportunity.id, Opportunity.stage_id, Opportunity.created_at, Opportunity.stage_entered_at))}  # fmt: skip
    history: dict[str, list[tuple]] = defaultdict(list)
    for row in _all(brokerage, select(StageChange.opportunity_id, StageChange.from_stage_id, StageChange.to_stage_id,
                                      StageChange.at).order_by(StageChange.at, StageChange.id)):  # fmt: skip
        history[row[0]].append(row[1:])
    reached_submission: dict[str, datetime] = {}
    for deal, stage_id, created, entered in deals.values():
        moves = history[deal]
        assert moves[0][0] is None and moves[0][2] == created, deal
        assert all(moves[k][0] == moves[k - 1][1] for k in range(1, len(moves))), f"{deal}: the chain breaks"
        assert (moves[-1][1], moves[-1][2]) == (stage_id, entered), f"{deal}: history ends elsewhere"
        for _, to, at in moves:
            if stages[to][0] == "Submitted":
                reached_submission[deal] = at
    for deal, at, decided in _all(brokerage, select(Submission.opportunity_id, Submission.submitted_at,
                                                    Submission.decided_at)):  # fmt: skip
        assert deal in reached_submission, f"{deal} went to a lender without reaching Submitted"
        assert reached_submission[deal] <= at and (decided is None or at <= decided)
    chasing = _all(
        brokerage, select(Task.record_id).where(Task.status == "open", Task.title.ilike("send application%"))
    )
    assert chasing, "early deals still have applications to send"
    for (deal,) in chasing:
        name, position = stages[deals[deal][1]]
        assert position < submitted, f"open 'send application' task on a deal in {name}"


def test_demo_wording_is_clean(brokerage: Workspace) -> None:
    sources = {s for (s,) in _all(brokerage, select(Opportunity.source).distinct())}
    assert "ISO partner" in sources
    texts = [b for (b,) in _all(brokerage, select(Message.body))] + [b for (b,) in _all(brokerage, select(Note.body))]
    assert not [t for t in texts if "Sms" in t or "Iso " in t or "{f}" in t]
    # and the pages that show it: a deal's source as written, counts in the singular when there is one
    assert FILTERS["sentence"]("ISO partner") == "ISO partner"
    assert [FILTERS["counted"](n, "open deal") for n in (0, 1, 2)] == ["0 open deals", "1 open deal", "2 open deals"]
