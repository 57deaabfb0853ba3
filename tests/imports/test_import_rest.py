"""Imports over REST: upload the file, start the import, follow the job, download the error file, undo; an admin
exports the workspace. Same tokens and scopes as the rest of /api/v1."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from harmonia.config import Settings
from harmonia.services.tenancy import create_token
from harmonia.surfaces.app import create_app

from ..conftest import Workspace

CSV = b"First Name,Last Name,Email,Phone\nAnn,Lee,ann@lee.example,3055550101\nBob,Ray,bob-at-ray,\n"


@pytest.fixture
def api(acme: Workspace) -> Iterator[tuple[TestClient, dict[str, str]]]:
    def token(*scopes: str) -> dict[str, str]:
        secret = create_token(acme.db, acme.slug, acme.owner.email, list(scopes)).secret
        return {"Authorization": f"Bearer {secret}"}

    tokens = {"write": token("mcp:read", "mcp:write"), "read": token("mcp:read"), "admin": token("mcp:admin")}
    app = create_app(Settings(database_url=acme.db.url, inprocess_dispatch=False), acme.db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, tokens


def test_an_uploaded_file_is_imported_followed_and_its_error_file_downloaded(api: Any) -> None:
    client, h = api
    uploaded = client.post("/api/v1/imports/uploads?filename=leads.csv", content=CSV, headers=h["write"])
    assert uploaded.status_code == 201
    started = client.post("/api/v1/imports", json={"upload_id": uploaded.json()["upload_id"]}, headers=h["write"])
    assert started.status_code == 200, started.text
    body = started.json()
    assert (body["rows"], body["created"], body["failed"]) == (2, 1, 1)
    job = client.get(f"/api/v1/jobs/{body['job_id']}", headers=h["read"]).json()
    assert (job["status"], job["done"], job["percent"]) == ("done", 2, 100)
    errors = client.get(job["error_file"], headers=h["read"])
    assert errors.status_code == 200 and errors.headers["content-type"].startswith("text/csv")
    assert errors.text.splitlines()[1].startswith("Bob,Ray,bob-at-ray,,3,Email,")
    undone = client.post(f"/api/v1/imports/{body['job_id']}/undo", headers=h["write"])
    assert undone.json()["deleted"] == 1


def test_uploading_needs_the_write_scope_and_an_unknown_upload_is_a_clear_error(api: Any) -> None:
    client, h = api
    refused = client.post("/api/v1/imports/uploads", content=CSV, headers=h["read"])
    assert refused.status_code == 403 and "mcp:write" in refused.json()["detail"]
    missing = client.post("/api/v1/imports", json={"upload_id": "../../etc/passwd"}, headers=h["write"])
    assert missing.status_code == 404 and "upload the file again" in missing.json()["detail"]


def test_an_admin_exports_the_workspace_as_a_zip_of_csv_files(api: Any, acme: Workspace) -> None:
    client, h = api
    acme.call("contacts_create", first_name="Ann", email="ann@lee.example")
    assert client.get("/api/v1/export", headers=h["write"]).status_code == 403
    got = client.get("/api/v1/export?format=csv", headers=h["admin"])
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(got.content)) as archive:
        assert "ann@lee.example" in archive.read("contacts.csv").decode()
