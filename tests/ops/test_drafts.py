"""Reviewing what an AI client drafted: who wrote it for whom, editing, discarding, retrying what the gate refused,
the inbox's previews, and the audit log's view of changes without the reads."""

from __future__ import annotations

import pytest

from harmonia.errors import InvalidArguments, NotFound, OutboundBlocked

from ..conftest import Workspace


def test_a_draft_is_listed_with_its_ai_author_recipient_company_and_deal_and_can_be_edited_and_discarded(
    acme: Workspace, rival: Workspace
) -> None:
    account = acme.call("accounts_upsert", name="Rosa's Bakery")
    contact = acme.call("contacts_create", first_name="Rosa", last_name="Diaz", email="rosa@bakery.example",
                        account_id=account["id"])  # fmt: skip
    deal = acme.call("opportunities_create", name="Bakery expansion", contact_id=contact["id"])
    claude = acme.actor(channel="mcp", client="Claude Desktop")
    draft = acme.call("email_draft", claude, contact_id=contact["id"], subject="Checking in", body="Hi Rosa, any news?")

    (listed,) = acme.call("drafts_list", opportunity_id=deal["id"])["items"]
    assert listed["id"] == draft["id"]
    assert (listed["to"], listed["contact_name"], listed["account_name"]) == (
        "rosa@bakery.example", "Rosa Diaz", "Rosa's Bakery")  # fmt: skip
    assert (listed["opportunity_name"], listed["via"], listed["client"]) == ("Bakery expansion", "mcp",
                                                                             "Claude Desktop")  # fmt: skip
    assert listed["author_name"] == acme.owner.name
    assert acme.call("review_counts") == {"drafts": 1, "blocked": 0}
    assert rival.call("drafts_list")["items"] == []
    with pytest.raises(NotFound):
        rival.call("drafts_update", draft_id=draft["id"], body="hijacked")

    with pytest.raises(InvalidArguments, match="a new subject, a new body"):
        acme.call("drafts_update", draft_id=draft["id"])
    edited = acme.call("drafts_update", acme.actor(channel="ui"), draft_id=draft["id"], body="Hi Rosa, two offers.")
    assert (edited["status"], edited["body"], edited["subject"]) == ("draft", "Hi Rosa, two offers.", "Checking in")

    discarded = acme.call("drafts_discard", acme.actor(channel="ui"), draft_id=draft["id"])
    assert (discarded["status"], discarded["rule"]) == ("failed", "discarded")
    assert acme.call("drafts_list")["items"] == []
    with pytest.raises(NotFound, match="not an email draft"):
        acme.call("email_send", draft_id=draft["id"])
    (audited,) = acme.call("audit_list", action="drafts_discard")["items"]
    assert audited["before"]["subject"] == "Checking in" and audited["channel"] == "ui"


def test_a_refused_draft_is_listed_as_blocked_with_its_rule_and_a_retry_sends_it_once_the_switch_is_on(
    acme: Workspace,
) -> None:
    contact = acme.call("contacts_create", first_name="Dan", last_name="Morrison", email="dan@example.com")
    draft = acme.call("email_draft", contact_id=contact["id"], subject="Offer", body="Dan, the offer.")
    for _ in range(2):  # tried twice while outbound is off: one thing to retry
        with pytest.raises(OutboundBlocked):
            acme.call("email_send", draft_id=draft["id"])
    (blocked,) = acme.call("blocked_list")["items"]
    assert (blocked["rule"], blocked["to"], blocked["draft_id"]) == ("outbound_off", "dan@example.com", draft["id"])
    assert acme.call("drafts_list")["items"][0]["rule"] == "outbound_off"
    with pytest.raises(OutboundBlocked, match="stays blocked"):
        acme.call("messages_retry", message_id=blocked["id"])
    previews = acme.call("conversations_previews", conversation_ids=[draft["conversation_id"]])["items"]
    assert previews == [{"conversation_id": draft["conversation_id"], "last_message": "Dan, the offer.",
                         "last_direction": "outbound", "drafts": 1, "blocked": 1}]  # fmt: skip

    acme.call("outbound_set", acme.actor(channel="ui"), enabled=True, reason="templates reviewed")
    sent = acme.call("messages_retry", message_id=blocked["id"])
    assert (sent["id"], sent["status"]) == (draft["id"], "queued")  # the draft itself goes, not a copy
    assert acme.call("blocked_list")["items"] == []
    assert acme.call("review_counts") == {"drafts": 0, "blocked": 0}
    with pytest.raises(InvalidArguments, match="only a blocked message"):
        acme.call("messages_retry", message_id=draft["id"])


def test_the_audit_log_without_reads_keeps_changes_and_refusals_and_leaves_out_successful_reads(
    acme: Workspace,
) -> None:
    contact = acme.call("contacts_create", first_name="Rosa")
    acme.call("contacts_get", contact_id=contact["id"])
    with pytest.raises(NotFound):
        acme.call("contacts_get", contact_id="ct_01JD8X2M5Q7R9T1V3W5Y")
    acme.flush_reads()
    everything = [(e["action"], e["outcome"]) for e in acme.call("audit_list")["items"]]
    assert ("contacts_get", "ok") in everything
    changes = [(e["action"], e["outcome"]) for e in acme.call("audit_list", reads=False)["items"]]
    assert ("contacts_create", "ok") in changes
    assert ("contacts_get", "ok") not in changes and ("contacts_get", "error") in changes
