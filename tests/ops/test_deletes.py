"""Deleting a note or a task: its author or an admin may; another workspace cannot even see it."""

from __future__ import annotations

import pytest

from harmonia.errors import Forbidden, NotFound
from harmonia.services.tenancy import ROLE_SCOPES

from ..conftest import Workspace


def test_a_note_is_deleted_by_its_author_and_the_audit_log_keeps_what_it_said(acme: Workspace) -> None:
    contact = acme.call("contacts_create", first_name="Rosa")
    note = acme.call("notes_create", record_type="contact", record_id=contact["id"], body="wrong contact, sorry")
    assert acme.call("notes_delete", note_id=note["id"]) == {"id": note["id"], "deleted": True}
    assert acme.call("notes_list", record_type="contact", record_id=contact["id"])["items"] == []
    (event,) = acme.call("audit_list", action="notes_delete")["items"]
    assert event["before"]["body"] == "wrong contact, sorry"


def test_a_member_cannot_delete_someone_elses_task_and_another_workspace_cannot_find_it(
    acme: Workspace, rival: Workspace
) -> None:
    task = acme.call("tasks_create", title="Call back", due_at="2026-12-01T15:00:00Z")
    member_user = acme.call("users_invite", email="mia@acme.test", name="Mia")
    member = acme.actor(user_id=member_user["id"], role="member", scopes=ROLE_SCOPES["member"])
    with pytest.raises(Forbidden):
        acme.h.invoke(member, "tasks_delete", {"task_id": task["id"]})
    with pytest.raises(NotFound):
        rival.call("tasks_delete", task_id=task["id"])
    assert acme.call("tasks_delete", task_id=task["id"])["deleted"] is True
