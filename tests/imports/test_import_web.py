"""Contacts → Import in the web UI: upload, a dry run with the columns and a preview of the rows as stored, a
mapping changed by hand, the run, the job's page with its result, the error file and Undo."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from harmonia.config import Settings
from harmonia.services.people import set_password
from harmonia.surfaces.app import create_app

from ..conftest import Workspace
from ..web import csrf_of

CSV = b"First Name,Last Name,Correo,Phone\nAnn,Lee,ann@lee.example,3055550101\nBob,Ray,bob-at-ray,\n"


@pytest.fixture
def browser(acme: Workspace) -> Iterator[TestClient]:
    set_password(acme.db, acme.slug, acme.owner.email, "a long enough password")
    app = create_app(Settings(database_url=acme.db.url, secret_key="web-import-test-key"), acme.db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/signin")
        signed = client.post("/signin", data={"csrf": csrf_of(page.text), "workspace": acme.slug,
                                              "email": acme.owner.email, "password": "a long enough password"})  # fmt: skip
        assert signed.status_code == 200 and "Signed in" in signed.text
        yield client


def test_a_person_uploads_checks_maps_runs_and_undoes_an_import(browser: TestClient) -> None:
    form = browser.get("/contacts/import")
    assert form.status_code == 200 and "consent <strong>unknown</strong>" in form.text
    review = browser.post("/contacts/import", data={"csrf": csrf_of(form.text), "preset": "auto"},
                          files={"file": ("leads.csv", CSV, "text/csv")})  # fmt: skip
    assert review.status_code == 200, review.text
    assert "2 rows" in review.text and "Correo" in review.text
    # Correo was not recognised: map it to email by hand and check again.
    fields = dict(re.findall(r'name="(col_\d+)" value="([^"]+)"', review.text))
    index = next(k[4:] for k, v in fields.items() if v == "Correo")
    data = {"csrf": csrf_of(review.text), **fields, f"to_{index}": "email", "action": "dry_run",
            "name": "leads.csv", "preset": "auto", "dedupe": "fill_empty"}  # fmt: skip
    action = re.search(r'<form method="post" action="(/contacts/import/[^"]+)"', review.text)
    assert action is not None
    checked = browser.post(action.group(1), data=data)
    assert "1 to create" in checked.text and "1 that cannot be read" in checked.text
    assert "email: ann@lee.example" in checked.text and "email_consent: unknown" in checked.text
    job = browser.post(action.group(1), data={**data, "action": "run"})
    assert "Created 1, updated 0, skipped 0, failed 1" in job.text
    errors = browser.get(re.search(r'href="(/jobs/[^"]+/errors.csv)"', job.text).group(1))  # type: ignore[union-attr]
    assert errors.status_code == 200 and "bob-at-ray" in errors.text and errors.text.splitlines()[0].endswith("reason")
    job_url = str(job.url.path)
    undone = browser.post(f"{job_url}/undo", data={"csrf": csrf_of(job.text)})
    assert "Undone: 1 contacts deleted" in undone.text


def test_an_upload_that_is_not_a_contact_list_is_explained_on_the_page(browser: TestClient) -> None:
    form = browser.get("/contacts/import")
    got = browser.post("/contacts/import", data={"csrf": csrf_of(form.text)},
                       files={"file": ("photo.csv", bytes(range(256)) * 4, "text/csv")})  # fmt: skip
    assert "binary file" in got.text or "binary" in got.text


def test_an_owner_exports_the_whole_workspace_from_the_contacts_page(browser: TestClient) -> None:
    page = browser.get("/contacts")
    assert 'href="/export?format=csv"' in page.text
    got = browser.get("/export?format=jsonl")
    assert got.status_code == 200 and b'"type":"users"' in got.content
