"""A schedule trigger: a cron expression in the workspace's time zone enrolls the tagged contacts once per tick,
driven by the injected clock, however many workers scan."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from harmonia.clock import ManualClock
from harmonia.errors import InvalidArguments
from harmonia.workflows import timers

from ..conftest import Workspace
from .conftest import drain

STEPS = [{"action": "create_task", "title": "Weekly check-in with {{first_name}}"}]
MORNING = {"event": "schedule", "cron": "0 9 * * *", "tag": "newsletter"}  # 09:00 every day, New York time


def _automation(ws: Workspace, trigger: dict[str, str]) -> str:
    wf = ws.call("workflows_upsert", ws.actor(channel="cli"), name="Morning check-in", kind="automation",
                 steps=STEPS, trigger=trigger, active=True)  # fmt: skip
    return str(wf["id"])


def _tagged(ws: Workspace, name: str) -> str:
    c = ws.call(
        "contacts_create",
        first_name=name,
        email=f"{name.lower()}@example.com",
        tags=["newsletter"],
        create_missing_tags=True,
    )
    return str(c["id"])


def _runs(ws: Workspace, workflow_id: str) -> list[dict[str, object]]:
    return list(ws.call("enrollments_list", workflow_id=workflow_id)["items"])


def test_a_schedule_enrolls_the_tagged_contacts_at_its_tick_in_the_workspace_time_zone_and_not_before(
    acme: Workspace, clock: ManualClock
) -> None:
    rosa, ben = _tagged(acme, "Rosa"), _tagged(acme, "Ben")
    acme.call("contacts_create", first_name="Untagged", email="u@example.com")
    wf = _automation(acme, MORNING)  # saved Tuesday 15:00 New York: today's 09:00 has passed and does not fire

    drain(acme.db)
    assert _runs(acme, wf) == []

    clock.set(datetime(2026, 11, 25, 13, 59, tzinfo=UTC))  # Wednesday 08:59 New York
    assert timers.scan(acme.db, [acme.id], force=True) == 0
    clock.set(datetime(2026, 11, 25, 14, 0, tzinfo=UTC))  # 09:00 New York (14:00 UTC)
    drain(acme.db)
    runs = _runs(acme, wf)
    assert sorted(str(r["contact_id"]) for r in runs) == sorted([rosa, ben])
    assert {r["status"] for r in runs} == {"completed"}  # and their steps ran


def test_one_tick_enrolls_once_however_often_and_by_however_many_workers_it_is_scanned(
    acme: Workspace, clock: ManualClock
) -> None:
    _tagged(acme, "Rosa")
    wf = _automation(acme, {**MORNING, "cron": "*/15 * * * *"})
    # re-entry after exit, so a second tick could enroll her again: only the tick itself must not repeat
    acme.call("workflows_upsert", acme.actor(channel="cli"), workflow_id=wf, name="Morning check-in",
              kind="automation", steps=STEPS, trigger={**MORNING, "cron": "*/15 * * * *"},
              settings={"reentry": "after_exit"}, active=True)  # fmt: skip
    clock.advance(minutes=16)  # past the 20:15 UTC tick

    counts: list[int] = []
    start = threading.Barrier(2)

    def worker() -> None:
        start.wait(timeout=10)
        counts.append(timers.scan(acme.db, [acme.id], force=True))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(counts) == [0, 1]
    assert timers.scan(acme.db, [acme.id], force=True) == 0  # the same tick, scanned again
    assert len(_runs(acme, wf)) == 1

    drain(acme.db)  # her run completes; the next tick enrolls her again (re-entry: after exit)
    clock.advance(minutes=15)
    assert timers.scan(acme.db, [acme.id], force=True) == 1
    assert len(_runs(acme, wf)) == 2


def test_ticks_missed_while_no_worker_ran_fire_once_not_once_each(acme: Workspace, clock: ManualClock) -> None:
    _tagged(acme, "Rosa")
    wf = _automation(acme, {**MORNING, "cron": "*/5 * * * *"})
    clock.advance(hours=3)  # 36 ticks went by
    assert timers.scan(acme.db, [acme.id], force=True) == 1
    assert timers.scan(acme.db, [acme.id], force=True) == 0
    assert len(_runs(acme, wf)) == 1


def test_the_cron_is_read_in_the_workspace_time_zone(clock: ManualClock) -> None:
    now = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # 09:30 in New York, 15:30 in Paris
    assert timers.last_tick("0 9 * * *", now, "America/New_York") == datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert timers.last_tick("0 9 * * *", now, "Europe/Paris") == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert timers.last_tick("30 14 * * *", now, "UTC") == now  # a tick exactly now has been reached
    assert now - timers.last_tick("*/5 * * * *", now, "UTC") < timedelta(minutes=5)


@pytest.mark.parametrize("trigger, says", [
    ({"event": "schedule", "cron": "every morning", "tag": "newsletter"}, "valid cron expression"),
    ({"event": "schedule", "cron": "0 9 * * *"}, "trigger.tag"),
])  # fmt: skip
def test_a_schedule_without_a_valid_cron_or_a_tag_is_refused_with_what_to_give(
    acme: Workspace, trigger: dict[str, str], says: str
) -> None:
    with pytest.raises(InvalidArguments, match=says):
        _automation(acme, trigger)


def test_creating_a_contact_enrolls_it_in_an_automation_triggered_by_contact_created(
    acme: Workspace, clock: ManualClock
) -> None:
    wf = acme.call("workflows_upsert", acme.actor(channel="cli"), name="Welcome", kind="automation", steps=STEPS,
                   trigger={"event": "contact_created"}, active=True)["id"]  # fmt: skip
    rosa = acme.call("contacts_create", first_name="Rosa", email="rosa@example.com")["id"]
    drain(acme.db)
    assert [(r["contact_id"], r["status"]) for r in _runs(acme, wf)] == [(rosa, "completed")]
