"""The `reports` toolset: pipeline flow per stage and lender outcomes per lender, with exact figures on a small
hand-built history under an injected clock, and the counters the triggers keep equal to a recount from the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, text, update

from harmonia import flow_counters
from harmonia.clock import ManualClock
from harmonia.db import Database
from harmonia.errors import InvalidArguments, NotFound
from harmonia.ids import new_id
from harmonia.models import Lender, Submission, User

from ..conftest import Workspace

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)  # 15:00 on Tuesday 24 November in New York (the workspace's zone)


def at(day: int, hour: int = 15) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def clock(db: Database) -> ManualClock:
    manual = ManualClock(at(12))
    db.clock = manual
    return manual


def _history(acme: Workspace, clock: ManualClock) -> dict[str, str]:
    """Deal A moves in the previous week and this one; B goes forward then back; C (owned by Tess) is lost."""
    tess = acme.call("users_invite", email="tess@acme.test", name="Tess Ortiz")["id"]
    with acme.db.unit_of_work(acme.actor()) as uow:  # she accepted the invitation
        uow.session.execute(update(User).where(User.id == tess).values(status="active"))
    a = acme.call("opportunities_create", name="A")["id"]  # 12 Nov: New Lead
    clock.set(at(14))
    acme.call("opportunities_move_stage", opportunity_id=a, stage="Contacted")  # 2 days in New Lead
    clock.set(at(19))
    b = acme.call("opportunities_create", name="B")["id"]
    c = acme.call("opportunities_create", name="C", owner_id=tess)["id"]
    clock.set(at(20))
    acme.call("opportunities_move_stage", opportunity_id=b, stage="Contacted")  # 1 day
    acme.call("opportunities_move_stage", opportunity_id=c, stage="Dead", reason="no response")  # 1 day
    clock.set(at(23))
    acme.call("opportunities_move_stage", opportunity_id=a, stage="App Out")  # 9 days in Contacted: the 8 band
    clock.set(NOW)
    acme.call("opportunities_move_stage", opportunity_id=b, stage="New Lead")  # back after 4 days
    return {"a": a, "b": b, "c": c, "tess": tess}


def _lenders(acme: Workspace, deal: str) -> dict[str, str]:
    """Bluepeak: an approval in 6 h, a decline in 30 h, a funding in 50 h this week (hour bands 4, 24 and 48: median
    24), a decline in 2 h last week; Cedar: one submission waiting."""
    with acme.db.unit_of_work(acme.actor()) as uow:
        s = uow.session
        bp, cd = new_id("lender"), new_id("lender")
        s.add_all([Lender(id=bp, name="Bluepeak Capital"), Lender(id=cd, name="Cedar Advance")])
        s.flush()

        def sub(i: int, lender: str, sent: datetime, status: str, hours: float | None, **kw: Any) -> None:
            s.add(Submission(id=f"sb_{i:0>20}", opportunity_id=deal, lender_id=lender, status=status,
                             submitted_at=sent, decided_at=sent + timedelta(hours=hours) if hours else None, **kw))  # fmt: skip

        sub(1, bp, at(19, 10), "approved", 6, offer_amount=50_000)
        sub(2, bp, at(20, 10), "declined", 30, decline_reason="low revenue")
        sub(3, bp, at(20, 10), "funded", 50, offer_amount=40_000)
        sub(4, bp, at(12, 10), "declined", 2, decline_reason="too many positions")
        sub(5, cd, at(23, 10), "submitted", None)
    return {"bluepeak": bp, "cedar": cd}


def _stage(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["stages"] if s["name"] == name)


def _counters(conn: Any) -> list[Any]:
    return [sorted(conn.execute(text(f"SELECT * FROM {t} WHERE n <> 0 OR cents <> 0")).all())
            for t in ("stage_flow_counts", "lender_outcome_counts")]  # fmt: skip


def test_the_reports_give_exact_figures_per_stage_and_lender_and_the_counters_equal_a_recount(
    acme: Workspace, rival: Workspace, clock: ManualClock
) -> None:
    ids = _history(acme, clock)
    lenders = _lenders(acme, ids["a"])

    week = acme.call("reports_pipeline", period="week")
    assert (week["timezone"], week["current"], week["previous"]) == (
        "America/New_York", {"since": "2026-11-18", "until": "2026-11-24"},
        {"since": "2026-11-11", "until": "2026-11-17"})  # fmt: skip
    assert week["pipeline"] == "MCA Pipeline" or week["pipeline"]
    new_lead = _stage(week, "New Lead")
    assert {
        k: new_lead[k] for k in ("entered", "exited_forward", "lost", "conversion_pct", "median_days_in_stage")
    } == {"entered": 3, "exited_forward": 1, "lost": 1, "conversion_pct": 50.0, "median_days_in_stage": 1.0}
    assert new_lead["previous"] == {"entered": 1, "exited_forward": 1, "lost": 0, "conversion_pct": 100.0,
                                    "median_days_in_stage": 2.0}  # fmt: skip
    contacted = _stage(week, "Contacted")
    assert (contacted["entered"], contacted["exited_forward"], contacted["median_days_in_stage"]) == (1, 1, 6.0)
    assert (_stage(week, "App Out")["entered"], _stage(week, "Dead")["entered"], _stage(week, "Funded")["entered"]) == (
        1,
        1,
        0,
    )
    assert week["totals"] == {"new_deals": 2, "won": 0, "lost": 1, "previous_new_deals": 1, "previous_won": 0,
                              "previous_lost": 0}  # fmt: skip

    tess = acme.call("reports_pipeline", period="week", owner_id=ids["tess"])
    assert tess["owner"] == "Tess Ortiz"
    assert {(s["name"], s["entered"], s["lost"]) for s in tess["stages"] if s["entered"] or s["lost"]} == {
        ("New Lead", 1, 1), ("Dead", 1, 0)}  # fmt: skip
    custom = acme.call("reports_pipeline", since="2026-11-23", until="2026-11-24")
    assert custom["previous"] == {"since": "2026-11-21", "until": "2026-11-22"}
    assert (_stage(custom, "Contacted")["exited_forward"], _stage(custom, "New Lead")["entered"]) == (1, 1)

    report = acme.call("reports_lenders", period="week")
    bluepeak, cedar = report["lenders"]
    assert bluepeak == {
        "lender_id": lenders["bluepeak"], "name": "Bluepeak Capital", "submissions": 3, "approvals": 2,
        "declines": 1, "decline_reasons": {"low revenue": 1}, "offers": 2, "offered_total": 90_000.0,
        "offered_avg": 45_000.0, "funded": 1, "funded_amount": 40_000.0, "median_hours_to_decision": 24.0,
        "previous": {"submissions": 1, "approvals": 0, "declines": 1, "offers": 0, "offered_total": 0.0, "funded": 0,
                     "funded_amount": 0.0, "median_hours_to_decision": 2.0},
    }  # fmt: skip
    assert (cedar["name"], cedar["submissions"], cedar["declines"], cedar.get("median_hours_to_decision")) == (
        "Cedar Advance", 1, 0, None)  # fmt: skip
    assert (report["totals"]["submissions"], report["more_lenders"]) == (4, 0)
    assert acme.call("reports_lenders", period="week", limit=1)["more_lenders"] == 1

    # Decisions and corrections move the counts: Cedar declines, last week's decline is withdrawn, B is reassigned.
    with acme.db.unit_of_work(acme.actor()) as uow:
        uow.session.execute(update(Submission).where(Submission.id == f"sb_{5:0>20}")
                            .values(status="declined", decided_at=at(24, 12), decline_reason="industry"))  # fmt: skip
        uow.session.execute(delete(Submission).where(Submission.id == f"sb_{4:0>20}"))
    acme.call("opportunities_update", opportunity_id=ids["b"], owner_id=ids["tess"])
    acme.call("opportunities_move_stage", opportunity_id=ids["b"], stage="Contacted")  # now Tess's, 0 days
    later = acme.call("reports_lenders", period="week")
    assert [(x["name"], x["declines"], x["decline_reasons"], x["previous"]["submissions"])
            for x in later["lenders"]] == [("Bluepeak Capital", 1, {"low revenue": 1}, 0),
                                           ("Cedar Advance", 1, {"industry": 1}, 0)]  # fmt: skip
    assert _stage(acme.call("reports_pipeline", period="week", owner_id=ids["tess"]), "New Lead")["exited_forward"] == 1

    with acme.db.unit_of_work(acme.actor()) as uow:  # the tenant's transaction: row-level security on PostgreSQL
        conn = uow.session.connection()
        kept = _counters(conn)
        flow_counters.recount(conn, acme.id)
        assert all(kept) and _counters(conn) == kept

    # Another workspace sees none of it; bad periods and ids say what to do.
    assert rival.call("reports_lenders", period="quarter")["lenders"] == []
    assert all(s["entered"] == 0 for s in rival.call("reports_pipeline", period="quarter")["stages"])
    with pytest.raises(InvalidArguments, match="since"):
        acme.call("reports_pipeline", since="2026-11-24", until="2026-11-01")
    with pytest.raises(NotFound):
        rival.call("reports_lenders", lender_id=lenders["bluepeak"])
