"""Records by hand in a real browser: a broker creates a deal, records a contact's opt-in with its source, reads the
lender match and prints the submission brief, and finds their way through accounts, lenders, tasks and the board."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from .conftest import Site, screenshot
from .test_web_polish import _UNLABELLED

pytestmark = pytest.mark.one_backend


def _deal_with_statements(site: Site) -> dict[str, Any]:
    """An open deal whose account has bank statements: the match has numbers to judge."""
    for item in site.ws.call("opportunities_list", status="open", limit=100)["items"]:
        if item.get("account_id") and site.ws.call("accounts_get", account_id=item["account_id"]).get("cashflow"):
            return item
    raise AssertionError("the demo seed has no open deal with bank statements")


def test_a_broker_creates_a_deal_reads_its_lender_match_and_prints_the_brief(site: Site, browser: Browser) -> None:
    contact = site.ws.call("contacts_create", first_name="Rosa", last_name="Diaz", email="rosa@bakery.example")
    page = site.sign_in(browser)
    page.goto(f"/contacts/{contact['id']}")
    page.get_by_role("link", name="New deal").click()
    expect(page.get_by_role("heading", name="New deal")).to_be_visible()
    expect(page.locator(".picker").first).to_contain_text("Rosa Diaz")  # started from the contact: it is chosen
    page.get_by_label("Deal name").fill("Rosa's Bakery – working capital")
    page.get_by_label("Amount requested (dollars)").fill("$48,000")
    screenshot(page, "deal-new")
    page.get_by_role("button", name="Create deal").click()
    expect(page.get_by_role("status")).to_contain_text("Created Rosa's Bakery – working capital")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rosa's Bakery – working capital")
    expect(page.get_by_test_id("deal-facts")).to_contain_text("$48,000")
    expect(page.locator("main .sub").first).to_contain_text("Rosa Diaz")
    created = site.ws.call("opportunities_list", contact_id=contact["id"])["items"][0]
    assert created["amount"] == 48000 and created["owner_id"] == site.ws.owner.id

    # The lender match of a deal with statements: the same ranking as lenders_list, each rule pass / fail / unknown.
    deal = _deal_with_statements(site)
    ranked = site.ws.call("lenders_list", opportunity_id=deal["id"], limit=25)["items"]
    page.goto(f"/deals/{deal['id']}")
    rows = page.get_by_test_id("lender-match").locator("li.match")
    expect(rows).to_have_count(len(ranked))
    expect(rows.locator(".match-name")).to_have_text([r["name"] for r in ranked])
    first = rows.first
    first.locator("summary").click()
    results = set(first.locator("table.rules tbody tr td:nth-child(2)").all_inner_texts())
    assert results and {r.split()[-1] for r in results} <= {"pass", "fail", "unknown"}, results
    expected = {"fail" for _ in ranked[0].get("fails") or []} | {"pass" for _ in ranked[0].get("passes") or []}
    assert expected <= {r.split()[-1] for r in results}
    screenshot(page, "deal-lender-match")

    # The one-page brief for the best match, printable: the print stylesheet leaves out the navigation.
    page.get_by_role("link", name="Submission brief for the best match").click()
    brief = page.get_by_test_id("brief")
    expect(brief.get_by_role("heading", level=1)).to_contain_text(f"submission to {ranked[0]['name']}")
    expect(brief.get_by_role("heading", name="Guideline check")).to_be_visible()
    expect(brief.get_by_role("heading", name="Cashflow")).to_be_visible()
    screenshot(page, "deal-brief")
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(brief).to_be_visible()
    screenshot(page, "deal-brief-print")
    page.emulate_media(media="screen")
    assert site.console_errors == []


def test_an_opt_in_recorded_with_its_source_shows_on_the_contact_and_stays_in_the_audit_log(
    site: Site, browser: Browser
) -> None:
    contact = site.ws.call("contacts_create", first_name="Luis", last_name="Ortega", phone="+13055550177")
    page = site.sign_in(browser)
    page.goto(f"/contacts/{contact['id']}")
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("SMS", exact=True).select_option("opted_in")
    page.get_by_role("button", name="Save contact").click()  # an opt-in without its source is refused
    expect(page.get_by_role("alert")).to_contain_text("Source of consent is required")
    expect(page.get_by_label("SMS", exact=True)).to_have_value("opted_in")  # what was chosen stays
    screenshot(page, "contact-edit-refused")
    given = date.today() - timedelta(days=3)
    page.get_by_label("Source of consent").fill("signed application form")
    page.get_by_label("Date given").fill(given.isoformat())
    page.get_by_role("button", name="Save contact").click()
    expect(page.get_by_role("status")).to_contain_text("Saved Luis Ortega")
    sms = page.get_by_test_id("consent-sms")
    expect(sms).to_contain_text("opted in")
    expect(sms).to_contain_text("signed application form")
    expect(sms).to_contain_text(given.strftime("%b %-d, %Y"))
    screenshot(page, "contact-consent")

    site.ws.flush_reads()
    entries = site.ws.call("audit_list", target_id=contact["id"], action="contacts_update", outcome="ok")["items"]
    assert [(e["channel"], e["before"], e["after"]["sms_consent"], e["after"]["consent_source"]) for e in entries] == [
        ("ui", {"sms_consent": "unknown"}, "opted_in", "signed application form")
    ]
    page.goto(f"/audit?target_id={contact['id']}")
    screenshot(page, "audit-consent")


def test_accounts_lenders_tasks_and_the_board_are_found_by_hand(site: Site, browser: Browser) -> None:
    # A column longer than the board shows at first, whatever the demo data's spread of deals over stages.
    for n in range(9):
        site.ws.call("opportunities_create", name=f"Show-more check {n + 1}")
    page = site.sign_in(browser)
    page.set_viewport_size({"width": 1440, "height": 900})
    # The board: eight stages usable at 1440 px, each card names its contact and owner, a long column shows more.
    page.goto("/board")
    open_columns = page.locator(".board > section.column.kind-open")
    assert open_columns.count() == 8
    for i in range(8):  # the eight working stages side by side; won and lost a scroll away
        box = open_columns.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 1440, f"stage {i + 1} is off screen"
        assert box["width"] >= 150, f"stage {i + 1} is too narrow to use"
    expect(page.get_by_test_id("card-owner").first).to_be_visible()
    expect(page.get_by_test_id("card-contact").first).to_be_visible()
    more = page.get_by_test_id("show-more").first
    column = page.locator("section.column", has=more)
    shown = column.locator(".deal-card").count()
    more.click()
    expect(column.locator(".deal-card")).not_to_have_count(shown)
    screenshot(page, "board-1440")

    # Accounts: search, the account page with contacts, deals and cashflow, and an edit.
    page.goto("/accounts")
    expect(page.get_by_test_id("accounts").locator("tbody tr")).not_to_have_count(0)
    screenshot(page, "accounts")
    deal = _deal_with_statements(site)
    account = site.ws.call("accounts_get", account_id=deal["account_id"])
    page.get_by_label("Search accounts").fill(account["name"].split()[0])
    page.get_by_role("button", name="Search").click()
    page.get_by_test_id("hits").get_by_role("link", name=account["name"]).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(account["name"])
    expect(page.get_by_test_id("cashflow")).to_contain_text("$")
    expect(page.get_by_test_id("account-deals")).to_contain_text(deal["name"])
    screenshot(page, "account")
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("NAICS code").fill("72x")
    page.get_by_role("button", name="Save account").click()
    expect(page.get_by_role("alert")).to_contain_text("NAICS code")
    site.console_errors.clear()  # the refused form's 422, on purpose
    page.get_by_label("NAICS code").fill("722511")
    page.get_by_role("button", name="Save account").click()
    expect(page.get_by_role("status")).to_contain_text(f"Saved {account['name']}")
    expect(page.get_by_test_id("account-facts")).to_contain_text("722511")

    # Lenders: the grid, and a lender's guidelines with its latest submissions and their outcomes.
    page.goto("/lenders")
    screenshot(page, "lenders")
    lenders = site.ws.call("lenders_list", limit=100)["items"]
    busy = next(x for x in lenders if site.ws.call("lenders_get", lender_id=x["id"])["submissions"])
    page.get_by_test_id("lenders").get_by_role("link", name=busy["name"], exact=True).click()
    expect(page.get_by_role("heading", name="Guidelines")).to_be_visible()
    expect(page.get_by_test_id("lender-submissions").locator("tbody tr")).not_to_have_count(0)
    screenshot(page, "lender")

    # Tasks name the deal or contact they belong to, linked.
    site.ws.call("tasks_create", title="Chase the voided check", due_at=(date.today() + timedelta(days=1)).isoformat()
                 + "T15:00:00+00:00", record_type="opportunity", record_id=deal["id"])  # fmt: skip
    page.goto("/tasks?who=all")
    row = page.get_by_role("row").filter(has_text="Chase the voided check")
    row.get_by_role("link", name=deal["name"]).click()
    expect(page).to_have_url(re.compile(f"/deals/{deal['id']}$"))
    page.goto("/tasks?who=all")
    screenshot(page, "tasks")

    # A phone: the new pages fit 390 px.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in (f"/accounts/{account['id']}/edit", "/lenders", f"/lenders/{busy['id']}", f"/deals/{deal['id']}/brief",
                 f"/deals/{deal['id']}/edit"):  # fmt: skip
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate(
            """[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 391 && !e.closest('.table-wrap')).slice(0, 4).map(e => e.tagName + '.' + e.className + ':' + e.textContent.slice(0, 60))"""
        )
        assert width <= 390, f"{path} is {width}px wide on a phone: {wide}"
        assert page.evaluate(_UNLABELLED) == [], path
    screenshot(page, "lender-phone")
    assert site.console_errors == []
