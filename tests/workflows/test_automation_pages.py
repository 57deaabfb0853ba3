"""The web UI's Automation pages: a person activates an agent's draft and resumes runs paused by the switch."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from harmonia.clock import ManualClock
from harmonia.config import Settings
from harmonia.services.people import set_password
from harmonia.surfaces.app import create_app

from ..conftest import Workspace
from .conftest import drain, enrollment

PASSWORD = "correct horse battery staple"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@pytest.fixture
def browser(acme: Workspace) -> Iterator[TestClient]:
    set_password(acme.db, acme.slug, acme.owner.email, PASSWORD)
    app = create_app(Settings(database_url=acme.db.url, inprocess_dispatch=False), acme.db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get(f"/signin?workspace={acme.slug}")
        form = {"workspace": acme.slug, "email": acme.owner.email, "password": PASSWORD, "csrf": _csrf(page.text)}
        assert client.post("/signin", data=form, follow_redirects=False).status_code == 303
        yield client


def test_a_person_activates_an_agents_draft_and_resumes_the_runs_paused_by_the_switch(
    acme: Workspace, browser: TestClient, clock: ManualClock
) -> None:
    steps = [{"action": "send_email", "subject": "Hello", "body": "Hi"}]
    draft = acme.call("workflows_upsert", name="Agent draft", kind="sequence", steps=steps)
    page = browser.get("/automation")
    assert "Agent draft" in page.text and "inactive" in page.text
    detail = browser.get(f"/automation/{draft['id']}")
    browser.post(f"/automation/{draft['id']}/active", data={"active": "true", "csrf": _csrf(detail.text)})
    assert acme.call("workflows_get", workflow_id=draft["id"])["active"] is True

    contact = acme.call("contacts_create", first_name="Rosa", email="rosa@bakery.example")
    run = acme.call("sequences_enroll", workflow_id=draft["id"], contact_ids=[contact["id"]])["items"][0]
    drain(acme.db)
    page = browser.get("/automation")
    assert "Paused because outbound was off (1)" in page.text
    browser.post("/automation/runs/resume", data={"action": "discard", "csrf": _csrf(page.text)})
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
    done = browser.post(f"/automation/{wf}/move-runs", data={"csrf": _csrf(page.text)})
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
