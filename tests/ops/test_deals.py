"""Deals, accounts, tags and assignment through the registry, as an AI client would call them."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from harmonia.errors import InvalidArguments, NotFound
from harmonia.models import Opportunity, Stage, utcnow
from harmonia.services.deals import recount_stages

from ..conftest import Workspace


def _deal(ws: Workspace, **kw: object) -> dict:
    contact = ws.call("contacts_create", first_name="Maria", email=f"m{random.random()}@example.com")
    return ws.call("opportunities_create", name="Maria's Tacos — $40k", contact_id=contact["id"], amount=40_000, **kw)


def test_a_new_deal_starts_in_the_first_open_stage_of_the_first_pipeline(acme: Workspace) -> None:
    d = _deal(acme)
    assert (d["stage"], d["status"]) == ("New Lead", "open")


def test_moving_to_an_unknown_stage_is_refused_with_the_list_of_stages(acme: Workspace) -> None:
    d = _deal(acme)
    with pytest.raises(NotFound) as info:
        acme.call("opportunities_move_stage", opportunity_id=d["id"], stage="Fundd")
    assert "stages are: New Lead, Contacted" in info.value.message and "Funded" in info.value.message


def test_moving_records_history_and_winning_needs_a_reason(acme: Workspace) -> None:
    d = _deal(acme)
    moved = acme.call("opportunities_move_stage", opportunity_id=d["id"], stage="app out")
    assert (moved["stage"], moved["moved"], moved["from_stage"]) == ("App Out", True, "New Lead")
    with pytest.raises(InvalidArguments, match="reason"):
        acme.call("opportunities_move_stage", opportunity_id=d["id"], stage="Funded")
    won = acme.call("opportunities_move_stage", opportunity_id=d["id"], stage="Funded", reason="Funded by Summit")
    assert won["status"] == "won"
    again = acme.call("opportunities_move_stage", opportunity_id=d["id"], stage="Funded", reason="x")
    assert again["moved"] is False
    full = acme.call("opportunities_get", opportunity_id=d["id"])
    assert [h["to"] for h in full["stage_history"]] == ["New Lead", "App Out", "Funded"]
    assert full["stage_history"][-1]["via"] == "mcp"


def test_the_board_counters_follow_every_change_and_equal_a_recount(acme: Workspace) -> None:
    rng = random.Random(3)
    deals = [_deal(acme) for _ in range(8)]
    stages = ["Contacted", "App Out", "Docs Pending", "Submitted", "Dead", "Funded"]
    for _ in range(25):
        d = rng.choice(deals)
        if rng.random() < 0.6:
            acme.call("opportunities_move_stage", opportunity_id=d["id"], stage=rng.choice(stages), reason="r")
        else:
            acme.call("opportunities_update", opportunity_id=d["id"], amount=rng.randrange(5_000, 90_000, 500))
    board = {s["name"]: (s["open_count"], s["open_amount"]) for s in acme.call("pipelines_list")["items"][0]["stages"]}
    with acme.db.unit_of_work(acme.actor()) as uow:
        recount_stages(uow)
        recounted = {s.name: (s.open_count, s.open_amount) for s in uow.session.scalars(select(Stage))}
    assert board == recounted
    assert sum(n for n, _ in board.values()) == sum(
        1 for d in deals if acme.call("opportunities_get", opportunity_id=d["id"])["status"] == "open"
    )


def test_stale_days_lists_only_open_deals_idle_that_long_oldest_first(acme: Workspace) -> None:
    fresh, old, older = _deal(acme), _deal(acme), _deal(acme)
    with acme.db.unit_of_work(acme.actor()) as uow:
        for d, days in ((old, 15), (older, 30)):
            uow.session.execute(
                update(Opportunity)
                .where(Opportunity.id == d["id"])
                .values(last_activity_at=utcnow() - timedelta(days=days))
            )
    stale = acme.call("opportunities_list", stale_days=14)["items"]
    assert [d["id"] for d in stale] == [older["id"], old["id"]]
    assert stale[0]["days_idle"] >= 29
    assert fresh["id"] not in [d["id"] for d in stale]


def test_updated_since_gives_what_changed(acme: Workspace) -> None:
    before = utcnow()
    _deal(acme)
    assert len(acme.call("opportunities_list", updated_since=before.isoformat())["items"]) == 1
    assert acme.call("opportunities_list", updated_since=(utcnow() + timedelta(seconds=5)).isoformat())["items"] == []


def test_accounts_upsert_creates_then_updates_by_domain(acme: Workspace) -> None:
    a = acme.call("accounts_upsert", name="Rosa's Bakery", domain="https://www.rosasbakery.com/", state="fl")
    assert a["created"] and a["domain"] == "rosasbakery.com" and a["state"] == "FL"
    b = acme.call("accounts_upsert", domain="rosasbakery.com", industry="Bakery")
    assert (b["id"], b["created"], b["industry"]) == (a["id"], False, "Bakery")
    with pytest.raises(InvalidArguments, match="name"):
        acme.call("accounts_upsert", domain="nobody.example")


def test_tags_apply_and_records_assign_work_on_a_deal(acme: Workspace) -> None:
    d = _deal(acme)
    tagged = acme.call("tags_apply", record_type="opportunity", record_id=d["id"], add=["Renewal"], create_missing=True)
    assert tagged["tags"] == ["Renewal"]
    assert acme.call("opportunities_list", stage="New Lead")["items"][0]["tags"] == ["Renewal"]
    assigned = acme.call("records_assign", record_type="opportunity", record_id=d["id"], user_id=acme.owner.id)
    assert assigned["user_id"] == acme.owner.id


def test_a_deal_of_another_tenant_cannot_be_moved_or_tagged(acme: Workspace, rival: Workspace) -> None:
    theirs = _deal(rival)
    with pytest.raises(NotFound):
        acme.call("opportunities_move_stage", opportunity_id=theirs["id"], stage="Contacted")
    with pytest.raises(NotFound):
        acme.call("tags_apply", record_type="opportunity", record_id=theirs["id"], add=["x"], create_missing=True)
    assert rival.call("opportunities_get", opportunity_id=theirs["id"])["stage"] == "New Lead"


def test_a_deal_touched_a_moment_ahead_of_this_clock_is_idle_zero_days_never_minus_one(acme: Workspace) -> None:
    d = _deal(acme)
    with acme.db.unit_of_work(acme.actor()) as uow:
        uow.session.execute(update(Opportunity).values(last_activity_at=utcnow() + timedelta(seconds=30)))
    assert acme.call("opportunities_get", opportunity_id=d["id"])["days_idle"] == 0
    assert acme.call("opportunities_list")["items"][0]["days_idle"] == 0


def test_a_contacts_open_deals_name_their_stage(acme: Workspace) -> None:
    d = _deal(acme)
    contact = acme.call("contacts_get", contact_id=d["contact_id"])
    assert [(x["id"], x["stage"]) for x in contact["open_deals"]] == [(d["id"], "New Lead")]
