"""The REST API: the registry's operations over HTTP with the same tokens, scopes, validation and audit as MCP;
problem+json errors; an OpenAPI document generated from the models."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from harmonia.config import Settings
from harmonia.models import AuditEvent
from harmonia.services.tenancy import create_token
from harmonia.surfaces.app import create_app

from ..conftest import Workspace


@pytest.fixture
def api(acme: Workspace) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tokens = {
        "all": create_token(
            acme.db, acme.slug, acme.owner.email, ["mcp:read", "mcp:write", "mcp:comms", "mcp:admin"]
        ).secret,
        "read": create_token(acme.db, acme.slug, acme.owner.email, ["mcp:read"]).secret,
    }
    app = create_app(Settings(database_url=acme.db.url), acme.db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, tokens


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_contacts_can_be_created_read_listed_and_updated_over_rest(api: Any, acme: Workspace) -> None:
    client, tokens = api
    created = client.post("/api/v1/contacts", json={"first_name": "Ana", "email": "ana@example.com"},
                          headers=_h(tokens["all"]))  # fmt: skip
    assert created.status_code == 201
    cid = created.json()["id"]
    assert client.get(f"/api/v1/contacts/{cid}", headers=_h(tokens["read"])).json()["email"] == "ana@example.com"
    listed = client.get("/api/v1/contacts", params={"limit": 5}, headers=_h(tokens["read"])).json()
    assert [c["id"] for c in listed["items"]] == [cid]
    patched = client.patch(f"/api/v1/contacts/{cid}", json={"title": "Owner"}, headers=_h(tokens["all"]))
    assert patched.json()["title"] == "Owner"
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        channels = {
            a.channel for a in uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "contacts_create"))
        }
    assert channels == {"api"}


def test_errors_are_problem_json_with_the_status_of_the_error(api: Any) -> None:
    client, tokens = api
    r = client.get("/api/v1/contacts/ct_00000000000000000000", headers=_h(tokens["read"]))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert "no contact" in r.json()["detail"]
    r = client.get("/api/v1/contacts/Rosa", headers=_h(tokens["read"]))
    assert r.status_code == 422 and "'contact_id' is not a Harmonia id" in r.json()["detail"]
    r = client.post("/api/v1/contacts", json={"first_name": "x"}, headers=_h(tokens["read"]))
    assert r.status_code == 403 and 'scope="mcp:write"' in r.headers["www-authenticate"]
    r = client.get("/api/v1/contacts", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = client.post(
        "/api/v1/contacts", content=b"{not json", headers=_h(tokens["all"]) | {"content-type": "application/json"}
    )
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    r = client.get("/api/v1/opportunities", params={"stage": "Nope"}, headers=_h(tokens["read"]))
    assert r.status_code == 404 and "stages are" in r.json()["detail"]


def test_a_send_refused_by_the_switch_is_a_409_and_the_idempotency_key_header_is_honoured(api: Any) -> None:
    client, tokens = api
    cid = client.post("/api/v1/contacts", json={"first_name": "Ana", "email": "ana@example.com"},
                      headers=_h(tokens["all"])).json()["id"]  # fmt: skip
    body = {"contact_id": cid, "subject": "Hi", "body": "Offer"}
    r = client.post("/api/v1/messages/email", json=body, headers=_h(tokens["all"]) | {"Idempotency-Key": "key-000001"})
    assert r.status_code == 409 and r.json()["rule"] == "outbound_off"


def test_the_openapi_document_lists_every_rest_operation_with_its_scope(api: Any) -> None:
    client, _ = api
    doc = client.get("/api/openapi.json").json()
    ops = {op["operationId"]: op for path in doc["paths"].values() for op in path.values()}
    assert {"contacts_list", "opportunities_move_stage", "email_send", "outbound_set", "search"} <= set(ops)
    assert ops["email_send"]["security"] == [{"bearer": ["mcp:comms"]}]
    assert any(p["name"] == "Idempotency-Key" for p in ops["email_send"]["parameters"])


def test_a_wrong_method_gets_405_with_exactly_the_methods_of_the_path(api: Any) -> None:
    client, tokens = api
    r = client.request("OPTIONS", "/api/v1/contacts", headers=_h(tokens["read"]))
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    r = client.delete("/api/v1/contacts", headers=_h(tokens["all"]))
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"


def test_the_openapi_document_publishes_every_constraint_the_server_enforces(api: Any) -> None:
    client, tokens = api
    doc = client.get("/api/openapi.json").json()
    get_contact = doc["paths"]["/api/v1/contacts/{contact_id}"]["get"]
    id_pattern = get_contact["parameters"][0]["schema"]["pattern"]
    assert re.search(id_pattern, "\u2003ct_01JD8X2M5Q7R9T1V3W5Y ") and not re.search(id_pattern, "ct_01JD8X")
    # Text is trimmed before it is checked, and the published pattern says so: " NY " is a valid two-letter state.
    state = next(p for p in doc["paths"]["/api/v1/accounts"]["get"]["parameters"] if p["name"] == "state")
    assert re.search(state["schema"]["pattern"], " NY ") and not re.search(state["schema"]["pattern"], "NYC")
    assert client.get("/api/v1/accounts", params={"state": " NY "}, headers=_h(tokens["read"])).status_code == 200
    # Rules between fields, where JSON Schema can say them (REST only: MCP clients refuse top-level oneOf).
    send = doc["paths"]["/api/v1/messages/email"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert len(send["oneOf"]) == 2
    limit = next(p for p in doc["paths"]["/api/v1/contacts"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)
