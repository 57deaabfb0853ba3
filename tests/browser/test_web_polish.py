"""The web UI reads like a product: formatted values, paged lists, plain errors that keep what was typed, labels for
every control, and no page wider than a phone."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from harmonia.models import Opportunity, utcnow
from harmonia.services.tenancy import system_actor

from .conftest import Site, first_contact_with_email, screenshot

RAW = re.compile(r"\[\{'|\{'|': |\bNone\b|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")  # a Python repr, "None", or an ISO stamp


def _visible_text(page: Page) -> str:
    return page.locator("main").inner_text()


def _deal_with_positions(site: Site) -> dict[str, Any]:
    for item in site.ws.call("opportunities_list", status="open", limit=100)["items"]:
        deal = site.ws.call("opportunities_get", opportunity_id=item["id"])
        if deal.get("mca", {}).get("existing_positions"):
            return deal
    raise AssertionError("the demo seed has no deal with existing positions")


def test_a_deal_page_shows_existing_positions_as_a_table_with_dollar_amounts(site: Site, browser: Browser) -> None:
    deal = _deal_with_positions(site)
    first = deal["mca"]["existing_positions"][0]
    page = site.sign_in(browser)
    page.goto(f"/deals/{deal['id']}")
    table = page.get_by_test_id("positions")
    expect(table.get_by_role("columnheader")).to_have_text(["Funder", "Balance", "Payment", "Frequency"])
    row = table.get_by_role("row").nth(1)
    expect(row).to_contain_text(first["funder"])
    expect(row).to_contain_text(f"${first['balance']:,.2f}")
    expect(row).to_contain_text(f"${first['payment']:,.2f}")
    text = _visible_text(page)
    assert not RAW.search(text), RAW.search(text)
    expect(page.get_by_test_id("deal-facts")).to_contain_text(f"${deal['amount']:,.0f}")
    screenshot(page, "deal-positions")


def test_every_record_page_shows_no_raw_values(site: Site, browser: Browser) -> None:
    """No Python repr, no "None", no ISO timestamp on the pages a broker reads all day."""
    contact = first_contact_with_email(site.ws)
    won = site.ws.call("opportunities_list", status="won", limit=1)["items"][0]
    conversation = site.ws.call("conversations_list", limit=1)["items"][0]
    page = site.sign_in(browser)
    paths = ["/board", f"/deals/{won['id']}", f"/contacts/{won['contact_id']}", f"/contacts/{contact['id']}",
             "/contacts", f"/inbox?conversation={conversation['id']}", "/tasks?who=all", "/settings/comms",
             "/settings/users", "/settings/tokens", "/audit"]  # fmt: skip
    for path in paths:
        page.goto(path)
        text = _visible_text(page)
        assert not RAW.search(text), (path, RAW.search(text))
    screenshot(page, "audit-owner")


def test_board_cards_never_show_a_negative_idle_time(site: Site, browser: Browser) -> None:
    """A last activity stamped later than now (the seed anchors its day at 10:00 local) reads "active today"."""
    deal = site.ws.call("opportunities_list", status="open", limit=1)["items"][0]
    with site.ws.db.unit_of_work(system_actor(site.ws.id)) as uow:
        uow.session.execute(
            update(Opportunity)
            .where(Opportunity.id == deal["id"])
            .values(last_activity_at=utcnow() + timedelta(hours=5))
        )
    assert site.ws.call("opportunities_get", opportunity_id=deal["id"])["days_idle"] == 0  # the operation agrees
    page = site.sign_in(browser)
    card = page.locator(f'.deal-card[data-deal="{deal["id"]}"]')
    expect(card.locator(".idle")).to_have_text("active today")
    assert not re.search(r"-\d+d idle", page.locator(".board").inner_text())
    page.goto(f"/deals/{deal['id']}")
    expect(page.get_by_test_id("deal-facts")).to_contain_text("just now")
    expect(page.get_by_test_id("deal-facts")).not_to_contain_text("-1")


def test_the_inbox_pages_older_conversations(site: Site, browser: Browser) -> None:
    page = site.sign_in(browser)
    page.goto("/inbox")
    threads = page.get_by_test_id("threads").locator("li")
    expect(threads).to_have_count(25)
    first_page = threads.all_inner_texts()
    page.get_by_role("link", name="Older conversations →").click()
    expect(page).to_have_url(re.compile(r"cursor="))
    second_page = page.get_by_test_id("threads").locator("li").all_inner_texts()
    assert second_page and not set(second_page) & set(first_page)
    # Opening a conversation from an older page keeps that page of the list beside it.
    page.get_by_test_id("threads").locator("a").first.click()
    expect(page.locator(".messages .msg").first).to_be_visible()
    assert page.get_by_test_id("threads").locator("li").all_inner_texts() == second_page
    page.get_by_role("link", name="← Newest conversations").click()
    assert page.get_by_test_id("threads").locator("li").all_inner_texts()[0] == first_page[0]


def test_a_long_thread_shows_the_newest_messages_and_the_earlier_ones_on_request(site: Site, browser: Browser) -> None:
    contact = first_contact_with_email(site.ws)
    for n in range(1, 46):
        site.ws.call("email_draft", contact_id=contact["id"], subject="Renewal terms", body=f"Draft number {n}")
    conversation = site.ws.call("conversations_list", contact_id=contact["id"], channel="email")["items"][0]
    page = site.sign_in(browser)
    page.goto(f"/inbox?conversation={conversation['id']}")
    messages = page.get_by_test_id("messages").locator(".msg")
    expect(messages).to_have_count(30)
    expect(messages.last).to_contain_text("Draft number 45")  # the newest at the bottom, next to the reply box
    expect(page.get_by_test_id("messages")).not_to_contain_text("Draft number 15\n")
    screenshot(page, "inbox-long-thread")
    page.get_by_role("link", name="Show earlier messages").click()
    expect(messages.first).to_contain_text("Draft number 1")
    expect(messages).to_have_count(15)
    page.get_by_role("link", name="Back to the latest messages ↓").click()
    expect(messages.last).to_contain_text("Draft number 45")


def test_a_reply_while_outbound_is_off_says_so_and_keeps_the_message(site: Site, browser: Browser) -> None:
    contact = first_contact_with_email(site.ws)
    site.ws.call("email_draft", contact_id=contact["id"], subject="Your offer", body="First draft")
    conversation = site.ws.call("conversations_list", contact_id=contact["id"], channel="email")["items"][0]
    page = site.sign_in(browser)
    page.goto(f"/inbox?conversation={conversation['id']}")
    expect(page.get_by_role("note")).to_contain_text("Outbound is off")
    page.get_by_label("Reply").fill("Rosa, the offer is attached.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("alert")).to_contain_text("Outbound is off for this workspace, so nothing was sent")
    expect(page.get_by_label("Reply")).to_have_value("Rosa, the offer is attached.")
    blocked = page.get_by_test_id("messages").locator(".msg").last
    expect(blocked).to_contain_text("Rosa, the offer is attached.")
    expect(blocked.locator(".badge")).to_have_text("blocked")
    # An empty reply is refused in words, not with the operation's argument names.
    page.get_by_label("Reply").fill("")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("alert")).to_have_text("Reply is required.")


def test_failed_forms_say_why_in_plain_words_and_keep_what_was_typed(site: Site, browser: Browser) -> None:
    contact = first_contact_with_email(site.ws)
    page = site.sign_in(browser)
    page.goto(f"/contacts/{contact['id']}")
    page.get_by_label("Task").fill("Call about the renewal")
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_role("alert")).to_have_text("Due is required: pick a date and a time.")
    expect(page.get_by_label("Task")).to_have_value("Call about the renewal")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("alert")).to_have_text("Note is required.")

    page.goto("/settings/tokens")
    page.get_by_label("mcp:read").uncheck()
    page.get_by_label("Name").fill("Cursor at the office")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("alert")).to_have_text("Scopes needs at least one choice.")
    expect(page.get_by_label("Name")).to_have_value("Cursor at the office")

    # Closing a deal needs a reason: the deal page says so and keeps the stage that was chosen.
    deal = site.ws.call("opportunities_list", status="open", limit=1)["items"][0]
    page.goto(f"/deals/{deal['id']}")
    dead = next(s for p in site.ws.call("pipelines_list")["items"] for s in p["stages"] if s["kind"] == "lost")
    page.get_by_label("Stage").select_option(dead["id"])
    page.get_by_role("button", name="Move").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Not moved: Moving to '{dead['name']}' closes the deal as lost")
    expect(page.get_by_role("alert")).not_to_contain_text("`")
    expect(page.get_by_label("Stage")).to_have_value(dead["id"])
    page.get_by_label("Reason").fill("Merchant went with another broker")
    page.get_by_role("button", name="Move").click()
    expect(page.get_by_role("status")).to_contain_text(f"to {dead['name']}")
    screenshot(page, "deal-closed")


def test_an_unknown_or_mistyped_id_is_a_plain_not_found_page(site: Site, browser: Browser) -> None:
    page = site.sign_in(browser)
    for path, back in (("/deals/op_00000000000000000000", "Back to the pipeline"),
                       ("/deals/not-a-deal", "Back to the pipeline"),
                       ("/contacts/ct_00000000000000000000", "Back to contacts"),
                       ("/inbox?conversation=cv_00000000000000000000", "Back to the inbox")):  # fmt: skip
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page).to_have_title("Not found · Harmonia")
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
        expect(page.locator("main")).not_to_contain_text("Invalid arguments")
        expect(page.get_by_role("link", name=back)).to_be_visible()
    screenshot(page, "not-found")


def test_contact_search_finds_people_and_says_plainly_when_nobody_matches(site: Site, browser: Browser) -> None:
    first_contact_with_email(site.ws)
    page = site.sign_in(browser)
    page.goto("/contacts")
    page.get_by_label("Search contacts").fill("Rosa")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("hits")).to_contain_text("Rosa Diaz")
    page.get_by_label("Search contacts").fill("zzqxv")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".empty")).to_contain_text("No contact matches “zzqxv”")
    expect(page.get_by_label("Search contacts")).to_have_value("zzqxv")
    screenshot(page, "contacts-search-empty")


def test_a_member_is_told_which_settings_need_an_owner_or_admin(site: Site, browser: Browser) -> None:
    page = site.sign_in(browser, site.member_email)
    page.goto("/settings/users")
    expect(page.get_by_role("note")).to_contain_text("needs the owner or admin role")
    page.goto("/audit")
    expect(page.get_by_role("note")).to_contain_text("needs the owner or admin role")
    page.goto("/settings/tokens")
    expect(page.get_by_label(re.compile("^mcp:admin"))).to_be_disabled()
    screenshot(page, "member-tokens")


def test_the_audit_log_filters_by_day_and_refuses_a_mistyped_record_id_plainly(site: Site, browser: Browser) -> None:
    page = site.sign_in(browser)
    page.goto("/audit")
    page.get_by_label("Record id").fill("abc")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("alert")).to_contain_text("That record id is not one Harmonia makes")
    expect(page.get_by_label("Record id")).to_have_value("abc")
    page.get_by_label("Record id").fill("")
    page.get_by_label("Action").fill("sign_in")
    page.get_by_label("From", exact=True).fill("2001-01-01")
    page.get_by_label("To", exact=True).fill("2001-01-31")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".empty")).to_have_text("No events match these filters.")
    page.get_by_label("To", exact=True).fill("")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.audit")).to_contain_text("sign_in")
    expect(page.get_by_label("From", exact=True)).to_have_value("2001-01-01")


PAGES = ("/board", "/contacts", "/contacts?q=zzqxv", "/contacts/new", "/inbox", "/tasks?who=all", "/settings/comms",
         "/settings/users", "/settings/tokens", "/settings/connect", "/settings/tools", "/audit")  # fmt: skip

_UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(e => e.offsetParent !== null)
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')
               && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.outerHTML.slice(0, 120))"""


def test_every_page_fits_a_phone_labels_every_control_and_has_its_own_title(site: Site, browser: Browser) -> None:
    contact = first_contact_with_email(site.ws)
    deal = _deal_with_positions(site)
    conversation = site.ws.call("conversations_list", limit=1)["items"][0]
    page = site.sign_in(browser)
    page.set_viewport_size({"width": 390, "height": 844})
    titles = set()
    for path in (*PAGES, f"/contacts/{contact['id']}", f"/deals/{deal['id']}",
                 f"/inbox?conversation={conversation['id']}"):  # fmt: skip
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide on a 390px phone"
        assert page.evaluate(_UNLABELLED) == [], path
        titles.add(page.title())
        screenshot(page, "phone-" + (re.sub(r"[^a-z]+", "-", path.split("=")[0].split("_")[0]).strip("-") or "home"))
    assert len(titles) >= len(PAGES) - 2  # contacts and its search share one; every other page names itself
    assert all(t.endswith(" · Harmonia") and t != " · Harmonia" for t in titles)


def test_keyboard_focus_is_always_visible(site: Site, browser: Browser) -> None:
    page = site.sign_in(browser)
    page.goto("/board")
    for _ in range(6):
        page.keyboard.press("Tab")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("none", ""), page.evaluate("document.activeElement.outerHTML.slice(0, 80)")
    expect(page.get_by_role("link", name="Skip to content")).to_be_attached()


def test_at_a_laptop_width_every_main_section_sits_on_one_row_of_the_top_bar(site: Site, browser: Browser) -> None:
    """1366 px is the most common laptop width: the nav's ten entries (Settings last) must not wrap under the others."""
    page = site.sign_in(browser)
    for width in (1366, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/board")
        rows = page.evaluate("[...new Set([...document.querySelectorAll('.main-nav a')].map(a => a.offsetTop))]")
        assert len(rows) == 1, f"the main nav wraps onto {len(rows)} rows at {width}px"
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"top-bar-{width}")
