"""The web UI's review pages without a browser: the drafts page, a reviewed selection, discarding with a confirmation
page, the inbox's previews and markers, and the audit log's default of changes without reads."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from ..conftest import Workspace
from ..web import csrf_of, signed_in


@pytest.fixture
def web(acme: Workspace) -> Iterator[TestClient]:
    with signed_in(acme, inprocess_dispatch=False) as client:
        yield client


@pytest.mark.one_backend  # the pages above the operations; the database side is tests/ops/test_drafts.py
def test_a_reviewed_selection_lists_its_recipients_first_and_a_discard_asks_before_it_is_audited(
    acme: Workspace, web: TestClient
) -> None:
    company = acme.call("accounts_upsert", name="Morrison Trucking")
    ai = acme.actor(channel="mcp", client="Claude Desktop")
    drafts = []
    for first, email, account in (("Daniel", "dan@trucks.example", company["id"]), ("Daniel", "dm@cafe.example", None)):
        c = acme.call("contacts_create", first_name=first, last_name="Morrison", email=email, account_id=account)
        drafts.append(acme.call("email_draft", ai, contact_id=c["id"], subject=f"Offer for {email}", body="Hello"))

    page = web.get("/drafts")
    assert page.status_code == 200
    assert "by AI client <strong>Claude Desktop</strong>" in page.text and "Morrison Trucking" in page.text
    assert re.search(r'data-testid="drafts-count">.*?2', page.text)
    csrf = csrf_of(page.text)
    confirm = web.post("/drafts/send", data={"csrf": csrf, "draft": [d["id"] for d in drafts]})
    assert (
        "Send 2 emails?" in confirm.text and "dan@trucks.example" in confirm.text and "dm@cafe.example" in confirm.text
    )
    assert {d["status"] for d in acme.call("messages_list", status="draft")["items"]} == {"draft"}  # nothing yet

    kept = web.post("/drafts/send", data={"csrf": csrf, "draft": [d["id"] for d in drafts], "confirm": "yes"})
    assert "2 not sent" in kept.text and "the draft is still a draft" in kept.text
    assert len(acme.call("drafts_list")["items"]) == 2

    inbox = web.get("/inbox")
    assert "Morrison Trucking ·" in inbox.text and "1 draft" in inbox.text and "1 blocked" in inbox.text

    asked = web.post(f"/drafts/{drafts[0]['id']}/discard", data={"csrf": csrf, "next": "/drafts"})
    assert "Discard this draft?" in asked.text and len(acme.call("drafts_list")["items"]) == 2
    done = web.post(f"/drafts/{drafts[0]['id']}/discard", data={"csrf": csrf, "next": "/drafts", "confirm": "yes"})
    assert "discarded" in done.text and len(acme.call("drafts_list")["items"]) == 1
    assert [e["channel"] for e in acme.call("audit_list", action="drafts_discard")["items"]] == ["ui"]
    again = web.post(f"/drafts/{drafts[0]['id']}/send", data={"csrf": csrf, "next": "/drafts"})
    assert "no longer a draft" in again.text or "not an email draft" in again.text


@pytest.mark.one_backend  # the pages above the operations; the database side is tests/ops/test_drafts.py
def test_the_audit_log_shows_changes_by_default_and_reads_only_when_asked(acme: Workspace, web: TestClient) -> None:
    contact = acme.call("contacts_create", first_name="Rosa")
    web.get(f"/contacts/{contact['id']}")
    acme.flush_reads()
    default = web.get("/audit")
    assert "<code>contacts_create</code>" in default.text and "<code>contacts_get</code>" not in default.text
    assert "reads are hidden" in default.text
    with_reads = web.get("/audit?reads=1")
    assert "<code>contacts_get</code>" in with_reads.text
