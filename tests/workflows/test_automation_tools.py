"""The `automation` toolset: an agent drafts, a person activates; enrolling answers per contact; toolsets stay apart."""

from __future__ import annotations

from typing import Any

import pytest

from harmonia.clock import ManualClock
from harmonia.errors import Conflict, InvalidArguments
from harmonia.ops import build_registry

from ..conftest import Workspace
from .conftest import drain, sequence

DRAFT = [{"action": "send_email", "subject": "Hello", "body": "Hi"}, {"action": "wait", "days": 3},
         {"action": "create_task", "title": "Call them"}]  # fmt: skip


def test_the_automation_tools_are_their_own_toolset_and_core_stays_the_37() -> None:
    core = {op.name for op in build_registry().mcp_tools()}
    everything = {op.name for op in build_registry().mcp_tools(toolsets=["core", "automation"])}
    assert len(core) == 37
    assert everything - core == {"workflows_list", "workflows_get", "enrollments_list", "workflows_upsert",
                                 "enrollments_stop", "sequences_enroll"}  # fmt: skip
    assert build_registry().get("sequences_enroll").scope.value == "mcp:comms"  # type: ignore[union-attr]


def test_a_workflow_written_over_mcp_is_saved_inactive_and_cannot_enroll_until_a_person_activates_it(
    acme: Workspace, clock: ManualClock
) -> None:
    wf = acme.call("workflows_upsert", name="Nurture", kind="sequence", steps=DRAFT, active=True)
    assert wf["active"] is False and "person" in wf["note"] and wf["version"] == 1
    contact = acme.call("contacts_create", first_name="Rosa", email="rosa@bakery.example")
    with pytest.raises(Conflict, match="inactive"):
        acme.call("sequences_enroll", workflow_id=wf["id"], contact_ids=[contact["id"]])
    person = acme.actor(channel="ui")
    activated = acme.call("workflows_upsert", person, workflow_id=wf["id"], name="Nurture", kind="sequence",
                          steps=DRAFT, active=True)  # fmt: skip
    assert activated["active"] is True and activated["version"] == 1  # same steps: no new version
    assert acme.call("sequences_enroll", workflow_id=wf["id"], contact_ids=[contact["id"]])["enrolled"] == 1
    edited = acme.call("workflows_upsert", workflow_id=wf["id"], name="Nurture", kind="sequence", steps=DRAFT[:1])
    assert edited["active"] is False and edited["version"] == 2  # an agent's edit goes back to a person
    assert acme.call("workflows_get", workflow_id=wf["id"])["versions"] == [1, 2]


def test_enrolling_answers_per_contact_enrolled_or_why_not(acme: Workspace, clock: ManualClock) -> None:
    wf = sequence(acme, [{"action": "send_sms", "body": "Hi"}])
    ok = acme.call("contacts_create", first_name="Ok", phone="+13055550101")
    acme.call(
        "contacts_update",
        acme.actor(channel="ui"),
        contact_id=ok["id"],
        sms_consent="opted_in",
        consent_source="signed application form",
    )
    unknown = acme.call("contacts_create", first_name="Unknown", phone="+13055550102")
    quiet = acme.call("contacts_create", first_name="Quiet", phone="+13055550103")
    acme.call(
        "contacts_update",
        acme.actor(channel="ui"),
        contact_id=quiet["id"],
        sms_consent="opted_in",
        dnd=True,
        consent_source="signed application form",
    )
    first = acme.call("sequences_enroll", workflow_id=wf, contact_ids=[ok["id"], unknown["id"], quiet["id"]])
    reasons = {i["contact_id"]: i.get("reason") for i in first["items"]}
    assert first["enrolled"] == 1 and first["skipped"] == 2
    assert reasons == {ok["id"]: None, unknown["id"]: "sms needs opt-in consent and the contact's is unknown",
                       quiet["id"]: "do-not-disturb"}  # fmt: skip
    again = acme.call("sequences_enroll", workflow_id=wf, contact_ids=[ok["id"]])
    assert again["items"][0] == {"contact_id": ok["id"], "enrolled": False, "reason": "already enrolled"}


def test_a_stopped_enrollment_runs_no_further_step_and_reentry_never_refuses_a_second_run(
    acme: Workspace, clock: ManualClock
) -> None:
    contact = acme.call("contacts_create", first_name="Rosa", email="rosa@bakery.example")
    wf = sequence(acme, [{"action": "create_task", "title": "Call Rosa"}])
    enrolled = acme.call("sequences_enroll", workflow_id=wf, contact_ids=[contact["id"]])["items"][0]
    stopped = acme.call("enrollments_stop", enrollment_id=enrolled["enrollment_id"])
    assert stopped["status"] == "exited" and stopped["reason"] == "stopped via mcp"
    assert drain(acme.db) == 0
    assert acme.call("tasks_list")["items"] == []
    again = acme.call("sequences_enroll", workflow_id=wf, contact_ids=[contact["id"]])["items"][0]
    assert again["reason"] == "already went through this workflow (re-entry: never)"


def test_after_days_reentry_lets_a_contact_in_again_once_the_days_have_passed(
    acme: Workspace, clock: ManualClock
) -> None:
    contact = acme.call("contacts_create", first_name="Rosa", email="rosa@bakery.example")
    wf = sequence(acme, [{"action": "create_task", "title": "Call Rosa"}],
                  settings={"reentry": "after_days", "reentry_days": 30})  # fmt: skip
    acme.call("sequences_enroll", workflow_id=wf, contact_ids=[contact["id"]])
    drain(acme.db)
    assert acme.call("sequences_enroll", workflow_id=wf, contact_ids=[contact["id"]])["enrolled"] == 0
    clock.advance(days=31)
    assert acme.call("sequences_enroll", workflow_id=wf, contact_ids=[contact["id"]])["enrolled"] == 1


def test_a_bad_step_is_refused_naming_the_step_forms(acme: Workspace) -> None:
    with pytest.raises(InvalidArguments) as error:
        acme.call("workflows_upsert", name="X", kind="sequence", steps=[{"action": "send_fax", "body": "hi"}])
    assert "steps.0" in error.value.message


def test_an_automation_enrolls_a_contact_when_its_tag_is_applied(acme: Workspace, clock: ManualClock) -> None:
    person = acme.actor(channel="ui")
    acme.call("workflows_upsert", person, name="Hot leads", kind="automation", active=True,
              trigger={"event": "tag_applied", "tag": "hot"},
              steps=[{"action": "create_task", "title": "Call {{first_name}} today"}])  # fmt: skip
    contact = acme.call("contacts_create", first_name="Rosa", email="rosa@bakery.example")
    acme.call("tags_apply", record_type="contact", record_id=contact["id"], add=["hot"], create_missing=True)
    drain(acme.db)
    assert [t["title"] for t in acme.call("tasks_list")["items"]] == ["Call Rosa today"]


def _items(result: dict[str, Any]) -> list[dict[str, Any]]:
    return list(result["items"])


def test_workflows_list_shows_runs_per_status(acme: Workspace, clock: ManualClock) -> None:
    contact = acme.call("contacts_create", first_name="Rosa", email="rosa@bakery.example")
    wf = sequence(acme, [{"action": "wait", "days": 1}, {"action": "create_task", "title": "t"}])
    acme.call("sequences_enroll", workflow_id=wf, contact_ids=[contact["id"]])
    drain(acme.db)
    (listed,) = _items(acme.call("workflows_list"))
    assert listed["enrollments"] == {"waiting": 1} and listed["active"] is True


def test_a_deal_idle_for_n_days_enrolls_its_contact_once(acme: Workspace, clock: ManualClock) -> None:
    from datetime import timedelta

    person = acme.actor(channel="ui")
    acme.call("workflows_upsert", person, name="Revive", kind="automation", active=True,
              trigger={"event": "deal_idle", "days": 14}, steps=[{"action": "create_task", "title": "Revive {{first_name}}"}])  # fmt: skip
    contact = acme.call("contacts_create", first_name="Rosa", email="rosa@bakery.example")
    acme.call("opportunities_create", name="Bakery", contact_id=contact["id"], amount=10_000)
    clock.set(clock.now() + timedelta(days=13))  # deals start at uow.now()
    drain(acme.db)
    assert acme.call("tasks_list")["items"] == []
    clock.advance(days=2)
    drain(acme.db)
    clock.advance(minutes=5)
    drain(acme.db)
    assert [t["title"] for t in acme.call("tasks_list")["items"]] == ["Revive Rosa"]


def test_a_date_field_trigger_enrolls_the_deal_days_before_its_expected_close(
    acme: Workspace, clock: ManualClock
) -> None:
    from datetime import timedelta

    person = acme.actor(channel="ui")
    acme.call("workflows_upsert", person, name="Closing soon", kind="automation", active=True,
              trigger={"event": "date_reached", "field": "expected_close", "days": 3},
              steps=[{"action": "create_task", "title": "Chase the close"}])  # fmt: skip
    contact = acme.call("contacts_create", first_name="Rosa", email="rosa@bakery.example")
    close = (clock.now() + timedelta(days=3)).date().isoformat()
    acme.call("opportunities_create", name="Bakery", contact_id=contact["id"], amount=10_000, expected_close=close)
    drain(acme.db)
    assert [t["title"] for t in acme.call("tasks_list")["items"]] == ["Chase the close"]
