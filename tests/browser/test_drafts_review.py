"""Reviewing what an AI client drafted, in a real browser: edit, discard, send while outbound is off (kept, and said
so), then a reviewed selection sent with outbound on (delivered to the test's SMTP server); the audit log's default
view of changes; the inbox's previews; a phone's width."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Browser, expect

from .conftest import Inbox, Site, screenshot
from .test_web_polish import _UNLABELLED as UNLABELLED


def _wait_for_mail(inbox: Inbox, n: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while len(inbox.messages) < n and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the SMTP server's inbox, bounded by the deadline


@pytest.mark.one_backend  # the pages above the operations; the database side is tests/ops/test_drafts.py
def test_an_operator_reviews_ai_drafts_edits_discards_and_sends_them_through_the_gate(
    site: Site, browser: Browser, smtp: Inbox
) -> None:
    ws = site.ws
    ai = ws.actor(channel="mcp", client="Claude Desktop")
    people = [("Rosa", "rosa@bakery.example"), ("Daniel", "dan@trucks.example"), ("Ana", "ana@florist.example")]
    contacts = {}
    for first, email in people:
        contact = ws.call("contacts_create", first_name=first, last_name="Review", email=email)
        contacts[first] = contact["id"]
        ws.call("email_draft", ai, contact_id=contact["id"], subject=f"Next step, {first}",
                                body=f"Hi {first}, the offer is ready.")  # fmt: skip

    page = site.sign_in(browser)
    expect(page.get_by_role("navigation", name="Main").get_by_test_id("drafts-count")).to_be_visible()
    page.get_by_role("link", name=re.compile("^Drafts")).click()
    rosa = page.get_by_test_id("draft").filter(has_text="Next step, Rosa")
    expect(rosa).to_contain_text("by AI client Claude Desktop")
    expect(rosa).to_contain_text("rosa@bakery.example")
    expect(page.get_by_test_id("outbound-off")).to_contain_text("Outbound is off")
    screenshot(page, "drafts")

    # Outbound off: sending keeps the draft a draft, and the page says so plainly.
    rosa.get_by_role("button", name=re.compile("^Send")).click()
    expect(page.get_by_role("alert")).to_contain_text("nothing was sent: the draft is still a draft")
    expect(rosa).to_contain_text("blocked: outbound off")
    blocked = page.get_by_test_id("blocked")
    expect(blocked).to_contain_text("Rosa Review")
    expect(blocked).to_contain_text("outbound off")
    assert smtp.messages == []

    # Editing one.
    daniel = page.get_by_test_id("draft").filter(has_text="Next step, Daniel")
    daniel.get_by_role("link", name=re.compile("^Edit")).click()
    page.get_by_label("Subject").fill("Your approval, Daniel")
    page.get_by_role("textbox", name="Message").fill("Daniel, you are approved for $40,000.")
    screenshot(page, "draft-edit")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("saved")
    expect(page.get_by_test_id("draft").filter(has_text="Your approval, Daniel")).to_contain_text(
        "approved for $40,000"
    )

    # Discarding one, after a confirmation page; the audit log keeps who did it.
    page.get_by_test_id("draft").filter(has_text="Next step, Ana").get_by_role(
        "button", name=re.compile("^Discard")
    ).click()
    expect(page.get_by_role("heading", name="Discard this draft?")).to_be_visible()
    screenshot(page, "draft-discard-confirm")
    page.get_by_role("button", name="Discard draft").click()
    expect(page.get_by_role("status")).to_contain_text("discarded")
    expect(page.get_by_test_id("draft").filter(has_text="Next step, Ana")).to_have_count(0)

    # With outbound on, a reviewed selection: the recipients are listed before the final confirm; each is delivered.
    ws.call("outbound_set", ws.actor(channel="ui"), enabled=True, reason="templates reviewed")
    page.goto("/drafts")
    page.get_by_label(re.compile("^Select the draft to Rosa")).check()
    page.get_by_label(re.compile("^Select the draft to Daniel")).focus()
    page.keyboard.press("Space")  # keyboard-usable: a checkbox ticked without a click
    expect(page.get_by_test_id("send-selected")).to_have_text("Send selected (2)")
    page.get_by_test_id("send-selected").click()
    expect(page.get_by_test_id("confirm-list")).to_contain_text("rosa@bakery.example")
    expect(page.get_by_test_id("confirm-list")).to_contain_text("dan@trucks.example")
    screenshot(page, "drafts-send-confirm")
    page.get_by_role("button", name="Send 2 emails").click()
    expect(page.get_by_role("status")).to_contain_text("Sent 2 emails")
    _wait_for_mail(smtp, 2)
    assert sorted(m["To"] for m in smtp.messages) == ["dan@trucks.example", "rosa@bakery.example"]
    assert {m["Subject"] for m in smtp.messages} == {"Next step, Rosa", "Your approval, Daniel"}
    expect(page.get_by_test_id("blocked")).not_to_contain_text("Rosa Review")  # its attempt is resolved

    # The audit log's default view: changes (the discard, the sends), not the reads of every page above.
    page.goto("/audit")
    table = page.locator("table.audit")
    expect(table).to_contain_text("drafts_discard")
    expect(table).to_contain_text("email_send")
    expect(table).not_to_contain_text("drafts_list")
    expect(page.get_by_test_id("audit-scope")).to_contain_text("reads are hidden")
    screenshot(page, "audit")
    page.get_by_label("Show reads").check()
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.audit")).to_contain_text("drafts_list")

    # The inbox: previews of each thread's last words and the contact's company.
    page.goto("/inbox")
    expect(page.get_by_test_id("threads")).to_contain_text("Daniel, you are approved")
    screenshot(page, "inbox")

    # A contact's page has its drafts section; then a phone's width: the drafts page fits without sideways scrolling.
    again = ws.call("email_draft", ai, contact_id=contacts["Ana"], subject="One more, Ana", body="Hi Ana")
    deal = ws.call("opportunities_create", name="Ana's florist expansion", contact_id=contacts["Ana"])
    for path, name in (
        (f"/contacts/{contacts['Ana']}", "contact-drafts"),
        (f"/deals/{deal['id']}", "deal-drafts"),
        (f"/inbox?conversation={again['conversation_id']}", "inbox-thread-drafts"),
    ):
        page.goto(path)
        expect(page.get_by_role("region", name=re.compile("Drafts to review"))).to_contain_text("One more, Ana")
        screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/drafts")
    wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391 && !e.closest('.main-nav'))
        .slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, wide
    assert page.evaluate(UNLABELLED) == []  # every checkbox and button names what it acts on
    screenshot(page, "drafts-phone")
    assert site.console_errors == []
