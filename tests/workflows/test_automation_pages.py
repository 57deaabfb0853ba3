"""The web UI's Automation pages: a person activates an agent's draft and resumes runs paused by the switch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from harmonia.clock import ManualClock

from ..conftest import Workspace
from ..web import csrf_of, signed_in
from .conftest import drain, enrollment


@pytest.fixture
def browser(acme: Workspace) -> Iterator[TestClient]:
    with signed_in(acme, inprocess_dispatch=False) as client:
        yield client


def test_a_person_activates_an_agents_draft_and_resumes_the_runs_paused_by_the_switch(
    acme: Workspace, browser: TestClient, clock: ManualClock
) -> None:
    steps = [{"action": "send_email", "subject": "Hello", "body": "Hi"}]
    draft = acme.call("workflows_upsert", name="Agent draft", kind="sequence", steps=steps)
    page = browser.get("/automation")
    assert "Agent draft" in page.text and "inactive" in page.text
    detail = browser.get(f"/automation/{draft['id']}")
    browser.post(f"/automation/{draft['id']}/active", data={"active": "true", "csrf": csrf_of(detail.text)})
    assert acme.call("workflows_get", workflow_id=draft["id"])["active"] is True

    contact = acme.call("contacts_create", first_name="Rosa", email="rosa@bakery.example")
    run = acme.call("sequences_enroll", workflow_id=draft["id"], contact_ids=[contact["id"]])["items"][0]
    drain(acme.db)
    page = browser.get("/automation")
    assert "Paused because outbound was off (1)" in page.text
    browser.post("/automation/runs/resume", data={"action": "discard", "csrf": csrf_of(page.text)})
    assert enrollment(acme, run["enrollment_id"])["status"] == "exited"
    assert "Paused because outbound was off" not in browser.get("/automation").text


def test_the_workflow_page_offers_to_move_runs_left_on_an_older_version_and_moves_them(
    acme: Workspace, browser: TestClient, clock: ManualClock
) -> None:
    steps = [{"action": "wait", "days": 1}, {"action": "create_task", "title": "Old"}]
    wf = acme.call("workflows_upsert", acme.actor(channel="cli"), name="Nurture", kind="sequence", steps=steps,
                   active=True)["id"]  # fmt: skip
    contact = acme.call("contacts_create", first_name="Rosa", email="rosa@bakery.example")
    run = acme.call("sequences_enroll", workflow_id=wf, contact_ids=[contact["id"]])["items"][0]["enrollment_id"]
    drain(acme.db)
    assert "Move 1 run(s)" not in browser.get(f"/automation/{wf}").text
    acme.call("workflows_upsert", acme.actor(channel="cli"), workflow_id=wf, name="Nurture", kind="sequence",
              steps=[steps[0], {"action": "create_task", "title": "New"}], active=True)  # fmt: skip

    page = browser.get(f"/automation/{wf}")
    assert "Move 1 run(s) to version 2" in page.text
    done = browser.post(f"/automation/{wf}/move-runs", data={"csrf": csrf_of(page.text)})
    assert "Moved 1 run(s) to version 2." in done.text
    assert enrollment(acme, run)["version"] == 2
    assert "Move 1 run(s)" not in done.text


def test_a_person_test_runs_a_workflow_for_one_contact_and_sees_what_every_step_would_do(
    acme: Workspace, browser: TestClient, clock: ManualClock
) -> None:
    steps = [{"action": "send_email", "subject": "Hello", "body": "Hi {{first_name}}"}, {"action": "wait", "days": 1},
             {"action": "create_task", "title": "Call {{first_name}}"}]  # fmt: skip
    wf = acme.call("workflows_upsert", acme.actor(channel="cli"), name="Nurture", kind="sequence", steps=steps,
                   active=True)["id"]  # fmt: skip
    rosa = acme.call("contacts_create", first_name="Rosa", email="rosa@bakery.example")["id"]
    page = browser.get(f"/automation/{wf}")
    assert f'<option value="{rosa}">Rosa</option>' in page.text

    trial = browser.get(f"/automation/{wf}", params={"test_contact": rosa}).text
    assert "Result: paused" in trial and "outbound is off" in trial  # the workspace starts with outbound off
    assert "until a person resumes it" in trial
    assert acme.call("enrollments_list", workflow_id=wf)["items"] == []
