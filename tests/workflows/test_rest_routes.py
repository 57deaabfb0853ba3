"""The automation operations over REST: a person with a token (channel api) may activate; the same shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from harmonia.config import Settings
from harmonia.services.tenancy import create_token
from harmonia.surfaces.app import create_app

from ..conftest import Workspace


@pytest.fixture
def api(acme: Workspace) -> Iterator[tuple[TestClient, dict[str, str]]]:
    secret = create_token(acme.db, acme.slug, acme.owner.email, ["mcp:read", "mcp:write", "mcp:comms"]).secret
    app = create_app(Settings(database_url=acme.db.url, inprocess_dispatch=False), acme.db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, {"Authorization": f"Bearer {secret}"}


def test_a_sequence_is_activated_enrolled_listed_and_stopped_over_rest(api: Any, acme: Workspace) -> None:
    client, h = api
    contact = client.post("/api/v1/contacts", json={"first_name": "Ana", "email": "ana@example.com"}, headers=h)
    steps = [{"action": "send_email", "subject": "Hi", "body": "Hello"}, {"action": "wait", "days": 2}]
    saved = client.post("/api/v1/workflows", json={"name": "Intro", "kind": "sequence", "steps": steps,
                                                   "active": True}, headers=h)  # fmt: skip
    assert saved.status_code in (200, 201) and saved.json()["active"] is True
    wf = saved.json()["id"]
    enrolled = client.post(f"/api/v1/workflows/{wf}/enroll", json={"contact_ids": [contact.json()["id"]]}, headers=h)
    assert enrolled.json()["enrolled"] == 1
    run = enrolled.json()["items"][0]["enrollment_id"]
    listed = client.get("/api/v1/enrollments", params={"workflow_id": wf}, headers=h).json()
    assert [e["id"] for e in listed["items"]] == [run]
    stopped = client.post(f"/api/v1/enrollments/{run}/stop", json={}, headers=h)
    assert stopped.json()["status"] == "exited"
    assert client.get(f"/api/v1/workflows/{wf}", headers=h).json()["enrollments"] == {"exited": 1}


def test_a_person_test_runs_a_workflow_and_moves_its_runs_to_a_new_version_over_rest(api: Any, acme: Workspace) -> None:
    client, h = api
    contact = client.post("/api/v1/contacts", json={"first_name": "Ana", "email": "ana@example.com"}, headers=h)
    steps = [{"action": "wait", "days": 2}, {"action": "create_task", "title": "Call Ana"}]
    wf = client.post("/api/v1/workflows", json={"name": "Intro", "kind": "sequence", "steps": steps, "active": True},
                     headers=h).json()["id"]  # fmt: skip
    trial = client.post(f"/api/v1/workflows/{wf}/test-run", json={"contact_id": contact.json()["id"]}, headers=h)
    assert trial.status_code == 200 and trial.json()["result"] == "completed"
    assert [s["outcome"] for s in trial.json()["steps"]] == ["ok", "ok"]

    run = client.post(f"/api/v1/workflows/{wf}/enroll", json={"contact_ids": [contact.json()["id"]]}, headers=h)
    client.post("/api/v1/workflows", json={"workflow_id": wf, "name": "Intro", "kind": "sequence",
                                           "steps": steps[:1], "active": True}, headers=h)  # fmt: skip
    moved = client.post(f"/api/v1/workflows/{wf}/move-runs", json={}, headers=h)
    assert moved.status_code == 200, moved.text
    assert moved.json()["moved"] == 1 and moved.json()["items"][0]["enrollment_id"] == run.json()["items"][0][
        "enrollment_id"]  # fmt: skip
