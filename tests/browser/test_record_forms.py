"""The record forms over HTTP (no browser): a form that does not go through says why in a person's words, keeps what
was typed and writes nothing; the pages that list and show records answer on the demo data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from starlette.testclient import TestClient

from harmonia.config import Settings
from harmonia.seed import seed_demo
from harmonia.services.people import set_password
from harmonia.surfaces.app import create_app

from ..conftest import Workspace
from ..web import csrf_of
from .conftest import PASSWORD

pytestmark = pytest.mark.one_backend


@pytest.fixture
def web(acme: Workspace) -> Iterator[TestClient]:
    seed_demo(acme.db, acme.slug, scale=30, anchor=date.today())
    set_password(acme.db, acme.slug, acme.owner.email, PASSWORD)
    app = create_app(Settings(database_url=acme.db.url, secret_key="record-forms-secret-key"), acme.db)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        page = client.get("/signin")
        client.post("/signin", data={"workspace": acme.slug, "email": acme.owner.email, "password": PASSWORD,
                                     "csrf": csrf_of(page.text)})  # fmt: skip
        yield client


def _post(client: TestClient, path: str, data: dict[str, Any]) -> Any:
    form = client.get(path)
    assert form.status_code == 200, (path, form.text[:300])
    return client.post(path, data={**data, "csrf": csrf_of(form.text)}, follow_redirects=False)


def test_record_forms_refuse_bad_input_in_plain_words_keep_it_and_write_nothing(
    web: TestClient, acme: Workspace
) -> None:
    deals_before = acme.call("pipelines_list")["items"][0]["stages"][0]["open_count"]

    no_name = _post(web, "/deals/new", {"name": "", "amount": "$25,000"})
    assert no_name.status_code == 422 and "Deal name is required." in no_name.text
    assert 'value="$25,000"' in no_name.text  # what was typed stays

    bad_amount = _post(web, "/deals/new", {"name": "Rosa's Bakery", "amount": "twenty grand"})
    assert bad_amount.status_code == 422
    assert "Amount requested must be an amount in dollars, like 25000" in bad_amount.text
    assert 'value="Rosa&#39;s Bakery"' in bad_amount.text

    nobody = _post(web, "/deals/new", {"name": "Rosa's Bakery", "contact": "Zzyzx Nobody"})
    assert nobody.status_code == 422 and "No contact matches “Zzyzx Nobody”" in nobody.text
    assert acme.call("pipelines_list")["items"][0]["stages"][0]["open_count"] == deals_before

    # Two Dana Morrisons: typing the name lists both to choose from (nothing written yet); the one chosen is linked.
    danas = [acme.call("contacts_create", first_name="Dana", last_name="Morrison", email=f"dana{i}@example.com")
             for i in (1, 2)]  # fmt: skip
    ask = _post(web, "/deals/new", {"name": "Morrison Plumbing", "contact": "Morrison"})
    assert ask.status_code == 422 and "Several records match: choose the contact below" in ask.text
    assert ask.text.count('name="contact_id" value="ct_') == 2
    assert not acme.call("opportunities_list", contact_id=danas[1]["id"])["items"]
    chosen = web.post("/deals/new", data={"name": "Morrison Plumbing", "contact_id": danas[1]["id"],
                                          "csrf": csrf_of(ask.text)}, follow_redirects=False)  # fmt: skip
    assert chosen.status_code == 303
    assert [d["name"] for d in acme.call("opportunities_list", contact_id=danas[1]["id"])["items"]] == [
        "Morrison Plumbing"
    ]

    contact = acme.call("contacts_create", first_name="Rosa", last_name="Diaz", phone="+13055550188")
    opt_in = _post(web, f"/contacts/{contact['id']}/edit", {"first_name": "Rosa", "phone": "+13055550188",
                                                             "sms_consent": "opted_in", "call_consent": "unknown"})  # fmt: skip
    assert opt_in.status_code == 422
    assert "Source of consent is required to record an opt-in" in opt_in.text
    assert "consent_source" not in re.sub(r'(name|id|for|aria-describedby)="[^"]*"', "", opt_in.text)
    future = _post(web, f"/contacts/{contact['id']}/edit", {"first_name": "Rosa", "sms_consent": "opted_in",
                                                             "consent_source": "web form",
                                                             "consent_given_at": "2999-01-01"})  # fmt: skip
    assert future.status_code == 422 and "Date given cannot be in the future" in future.text
    assert acme.call("contacts_get", contact_id=contact["id"])["consent"]["sms"] == "unknown"

    fico = _post(web, "/accounts/new", {"name": "Rosa's Bakery LLC", "owner_fico": "nine hundred"})
    assert fico.status_code == 422 and "Owner&#39;s FICO must be a whole number" in fico.text
    too_high = _post(web, "/accounts/new", {"name": "Rosa's Bakery LLC", "owner_fico": "900", "state": "F"})
    assert too_high.status_code == 422 and "Owner&#39;s FICO" in too_high.text and "State" in too_high.text
    assert not acme.call("search", q="Rosa's Bakery LLC", types=["account"])["items"]

    created = _post(web, "/accounts/new", {"name": "Rosa's Bakery LLC", "state": "fl", "owner_fico": "712"})
    assert created.status_code == 303
    account_page = web.get(created.headers["location"])
    assert (
        account_page.status_code == 200 and "Rosa&#39;s Bakery LLC" in account_page.text and "712" in account_page.text
    )

    for path in ("/accounts", "/accounts?q=bakery", "/lenders", "/tasks", "/board"):
        answer = web.get(path)
        assert answer.status_code == 200, path
    lender = acme.call("lenders_list", limit=1)["items"][0]
    assert lender["name"] in web.get(f"/lenders/{lender['id']}").text
    for missing in ("/lenders/ld_00000000000000000000", "/accounts/not-an-id"):
        answer = web.get(missing)
        assert answer.status_code == 404 and "There is no " in answer.text and "list or search" not in answer.text
