"""The demo seed: deterministic, realistic in the shapes the prompts and the board rely on, confined to its tenant."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from harmonia.db import Database
from harmonia.errors import Conflict
from harmonia.models import Base, CashflowMonth, Contact, Opportunity, Stage, StageChange, Submission
from harmonia.models.base import TenantScoped, UTCDateTime
from harmonia.seed import seed_demo

from ..conftest import Workspace

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


def test_about_fifteen_percent_of_open_deals_are_idle_for_two_weeks(acme: Workspace) -> None:
    seed_demo(acme.db, acme.slug, scale=3000, anchor=ANCHOR)
    now = datetime(2026, 11, 23, 15, tzinfo=UTC)
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        opens = list(uow.session.scalars(select(Opportunity.last_activity_at).where(Opportunity.status == "open")))
    idle = sum(1 for t in opens if now - t >= timedelta(days=14)) / len(opens)
    assert 0.08 <= idle <= 0.25


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
