"""The web UI in a real browser: what an operator and their admin rely on, end to end."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, Page, expect

from harmonia.services import comms, tenancy
from harmonia.vault import Vault

from .conftest import PASSWORD, Inbox, Site, first_contact_with_email, screenshot


def _count(page: Page, stage_id: str) -> int:
    return int(page.locator(f'section[data-stage="{stage_id}"] [data-testid="count"]').inner_text())


def _wait_for_mail(inbox: Inbox, n: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while len(inbox.messages) < n and time.monotonic() < deadline:
        time.sleep(0.05)


def test_signing_in_with_a_wrong_password_is_refused_and_keeps_what_was_typed(site: Site, browser: Browser) -> None:
    page = site.page(browser)
    page.goto("/board")
    expect(page).to_have_url(re.compile(r"/signin\?next=/board"))
    page.get_by_label("Workspace").fill(site.ws.slug)
    page.get_by_label("Email").fill(site.owner_email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")
    expect(page.get_by_label("Email")).to_have_value(site.owner_email)
    expect(page.get_by_label("Workspace")).to_have_value(site.ws.slug)
    screenshot(page, "signin-refused")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/board$"))
    expect(page.get_by_role("status")).to_contain_text("Signed in to Acme Funding")


def test_an_owner_moves_a_deal_on_the_board_and_both_stage_counts_follow(site: Site, browser: Browser) -> None:
    page = site.sign_in(browser)
    pipeline = site.ws.call("pipelines_list")["items"][0]
    source = next(s for s in pipeline["stages"] if s["kind"] == "open" and s["open_count"] > 0)
    target = next(s for s in pipeline["stages"] if s["kind"] == "open" and s["id"] != source["id"])
    before_source, before_target = _count(page, source["id"]), _count(page, target["id"])
    card = page.locator(f'section[data-stage="{source["id"]}"] .deal-card').first
    deal_name = card.locator(".deal-name").inner_text()
    card.get_by_label(re.compile("^Move .* to stage$")).select_option(target["id"])
    card.get_by_role("button", name="Move").click()
    expect(page.get_by_role("status")).to_contain_text(f"Moved {deal_name} from {source['name']} to {target['name']}")
    assert _count(page, source["id"]) == before_source - 1
    assert _count(page, target["id"]) == before_target + 1
    expect(page.locator(f'section[data-stage="{target["id"]}"] .deal-name', has_text=deal_name)).to_be_visible()
    screenshot(page, "board")
    # The move is in the deal's timeline, stamped with the person who made it in the UI.
    page.locator(f'section[data-stage="{target["id"]}"] a.deal-name', has_text=deal_name).click()
    move = page.locator(".tl-stage_move", has_text=f"{source['name']} → {target['name']}").first
    expect(move).to_contain_text("via ui")
    screenshot(page, "deal")


def test_an_email_composed_while_outbound_is_off_is_kept_and_after_the_owner_turns_it_on_one_is_delivered(
    site: Site, browser: Browser, smtp: Inbox
) -> None:
    contact = first_contact_with_email(site.ws)
    page = site.sign_in(browser)
    page.goto(f"/contacts/{contact['id']}")
    page.get_by_label("Subject").fill("Your offer")
    page.get_by_role("textbox", name="Message").fill("Rosa, the offer is ready.")
    page.get_by_role("button", name="Send email").click()
    expect(page.get_by_role("alert")).to_contain_text("Outbound is off for this workspace, so nothing was sent")
    expect(page.get_by_role("textbox", name="Message")).to_have_value(
        "Rosa, the offer is ready."
    )  # what was typed stays
    blocked = page.locator(".tl-message").first
    expect(blocked).to_contain_text("Your offer")
    expect(blocked.locator(".badge")).to_have_text("blocked")
    screenshot(page, "compose-outbound-off")
    assert smtp.messages == []

    page.goto("/settings/comms")
    expect(page.get_by_test_id("outbound-state")).to_contain_text("Outbound is off")
    page.get_by_label("Reason (kept in the audit log)").fill("Compliance reviewed our templates")
    page.get_by_role("button", name="Turn outbound on").click()
    expect(page.get_by_role("alert")).to_contain_text("tick the box")  # the confirmation is not optional
    expect(page.get_by_label("Reason (kept in the audit log)")).to_have_value("Compliance reviewed our templates")
    page.get_by_label("I understand that messages will reach real people from now on.").check()
    page.get_by_role("button", name="Turn outbound on").click()
    expect(page.get_by_role("status")).to_contain_text("Outbound is on")
    expect(page.locator(".pill")).to_have_text("Outbound on")
    screenshot(page, "settings-comms")

    page.goto(f"/contacts/{contact['id']}")
    page.get_by_label("Subject").fill("Your offer")
    page.get_by_role("textbox", name="Message").fill("Rosa, the offer is ready.")
    page.get_by_role("button", name="Send email").click()
    expect(page.get_by_role("status")).to_contain_text("Email sent")
    _wait_for_mail(smtp, 1)
    assert [m["To"] for m in smtp.messages] == ["rosa@bakery.example"]
    assert smtp.messages[0]["Subject"] == "Your offer"
    screenshot(page, "contact")
    # The earlier, blocked message was not sent behind anyone's back when the switch went on.
    assert len(smtp.messages) == 1


def test_a_member_is_told_the_switch_is_owner_only_and_a_forged_request_to_flip_it_is_refused(
    site: Site, browser: Browser
) -> None:
    page = site.sign_in(browser, site.member_email)
    page.goto("/settings/comms")
    expect(page.get_by_role("note")).to_contain_text("Only a workspace owner can turn outbound on")
    expect(page.get_by_role("button", name="Turn outbound on")).to_have_count(0)
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    response = page.request.post(
        "/settings/comms/outbound", form={"csrf": csrf or "", "enabled": "on", "confirm": "yes", "reason": "sneaky"}
    )
    assert response.status == 403
    assert "needs the mcp:admin scope" in response.text() or "not allowed" in response.text().lower()
    assert site.ws.call("settings_get")["outbound_enabled"] is False
    denied = site.ws.call("audit_list", action="outbound_set", outcome="denied")["items"]
    assert [e["channel"] for e in denied] == ["ui"]


def test_a_form_posted_without_its_csrf_token_changes_nothing(site: Site, browser: Browser) -> None:
    page = site.sign_in(browser)
    response = page.request.post("/settings/comms/outbound", form={"enabled": "off", "reason": "from another site"})
    assert response.status == 403
    assert "did not come from Harmonia" in response.text()


def test_creating_a_token_shows_its_secret_once_with_client_config_and_revoking_it_stops_it_and_so_for_tool_secrets(
    site: Site, browser: Browser
) -> None:
    page = site.sign_in(browser)
    page.goto("/settings/tokens")
    page.get_by_label("Name").fill("Claude Desktop on my laptop")
    page.get_by_label(re.compile("^mcp:write")).check()
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_test_id("secret").input_value()
    assert re.fullmatch(rf"hm_{site.ws.id}_[A-Za-z0-9_-]+", secret)
    expect(page.get_by_test_id("claude-config")).to_contain_text(secret)
    expect(page.get_by_test_id("claude-config")).to_contain_text('"mcp"')
    expect(page.get_by_test_id("cursor-config")).to_contain_text(f"{site.url}/mcp")
    expect(page.get_by_test_id("cursor-config")).to_contain_text(f"Bearer {secret}")
    screenshot(page, "connect-with-new-token")

    auth = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{site.url}/api/v1/contacts", params={"limit": 1}, headers=auth).status_code == 200
    page.goto("/settings/tokens")
    assert secret not in page.content()  # shown once, never again
    row = page.get_by_role("row", name=re.compile("Claude Desktop on my laptop"))
    expect(row).to_contain_text("mcp:write")
    screenshot(page, "tokens")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke Claude Desktop on my laptop").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked Claude Desktop on my laptop")
    assert httpx.get(f"{site.url}/api/v1/contacts", params={"limit": 1}, headers=auth).status_code == 401

    # Workspace tools: a secret for them is write-only too, and an upstream only at an address the guard accepts.
    site.ws.db.vault = Vault(Fernet.generate_key().decode())
    page.goto("/settings/tools")
    page.get_by_label("Secret name").fill("ledger_key")
    page.get_by_label("Host it may be sent to").fill("api.ledger.example")
    page.get_by_label("Secret value").fill("sk-very-secret-123")
    page.get_by_role("button", name="Store secret").click()
    expect(page.get_by_role("status")).to_contain_text("Secret ledger_key stored; it is never shown again.")
    row = page.get_by_role("row", name="ledger_key")
    expect(row).to_contain_text("api.ledger.example")
    expect(row).to_contain_text("sha256:")
    assert "sk-very-secret-123" not in page.content()
    page.get_by_label("Toolset name").fill("signl")
    page.get_by_label("Address").fill("http://10.0.0.5/mcp")
    page.get_by_role("button", name="Add upstream").click()
    expect(page.get_by_role("alert")).to_contain_text("must use https")
    screenshot(page, "settings-workspace-tools")
    member = site.sign_in(browser, site.member_email)
    member.goto("/settings/tools")
    expect(member.locator(".empty")).to_contain_text("Only the workspace owner")


def test_an_invited_person_joins_through_their_link_and_lands_signed_in(site: Site, browser: Browser) -> None:
    page = site.sign_in(browser)
    page.goto("/settings/users")
    page.get_by_label("Name").fill("Nico New")
    page.get_by_label("Email").fill("nico@acmefunding.test")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("status")).to_contain_text("Invited nico@acmefunding.test")
    link = page.get_by_label("Invitation link for nico@acmefunding.test (valid 7 days)").input_value()
    screenshot(page, "users")

    newcomer = site.page(browser)
    newcomer.goto(link)
    newcomer.get_by_label(re.compile(r"^Password(?! again)")).fill("short")
    newcomer.get_by_label("Password again").fill("short")
    newcomer.get_by_role("button", name="Join the workspace").click()
    expect(newcomer.get_by_role("alert")).to_contain_text("at least 10 characters")
    newcomer.get_by_label(re.compile(r"^Password(?! again)")).fill("a long enough passphrase")
    newcomer.get_by_label("Password again").fill("a long enough passphrase")
    newcomer.get_by_role("button", name="Join the workspace").click()
    expect(newcomer).to_have_url(re.compile(r"/board$"))
    expect(newcomer.get_by_role("status")).to_contain_text("Welcome to Acme Funding, Nico New")
    # The link is spent.
    newcomer.goto(link)
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Not found")


def test_the_timeline_says_whether_a_person_or_which_ai_client_did_each_thing(site: Site, browser: Browser) -> None:
    contact = first_contact_with_email(site.ws)
    claude = site.ws.actor(channel="mcp", client="Claude Desktop")
    site.ws.call("notes_create", claude, record_type="contact", record_id=contact["id"], body="Asked about a renewal")
    page = site.sign_in(browser)
    page.goto(f"/contacts/{contact['id']}")
    page.get_by_label("Note").fill("Called back, wants 30k")
    page.get_by_role("button", name="Add note").click()
    notes = page.locator(".tl-note")
    expect(notes.nth(0)).to_contain_text("Called back, wants 30k")
    expect(notes.nth(0)).to_contain_text("via ui")
    expect(notes.nth(1)).to_contain_text("Asked about a renewal")
    expect(notes.nth(1)).to_contain_text("by AI client Claude Desktop")


def test_every_main_page_renders_for_an_owner_without_browser_errors(site: Site, browser: Browser) -> None:
    page = site.sign_in(browser)
    pages = {
        "contacts": "/contacts",
        "contacts-search": "/contacts?q=restaurant",
        "inbox": "/inbox",
        "tasks": "/tasks?who=all",
        "audit": "/audit?channel=ui",
        "connect": "/settings/connect",
    }
    for name, path in pages.items():
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        screenshot(page, name)
        if name == "connect":  # browsed on this machine: the other-machine snippet names what to fill in instead
            expect(page.get_by_test_id("claude-remote")).to_contain_text("YOUR-SERVER")
            expect(page.get_by_test_id("claude-remote")).not_to_contain_text("127.0.0.1")
    page.goto("/inbox")
    page.locator(".threads a").first.click()
    expect(page.locator(".messages .msg").first).to_be_visible()
    screenshot(page, "inbox-thread")
    page.goto("/audit?channel=ui")
    expect(page.locator("table.audit")).to_contain_text("sign_in")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto("/board")
    screenshot(page, "board-phone")
    assert site.console_errors == []


def test_an_owner_releases_one_held_message_to_the_smtp_server_and_discards_another_which_is_never_sent(
    site: Site, browser: Browser, smtp: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    contact = first_contact_with_email(site.ws)
    owner_at_cli = site.ws.owner_actor("cli")
    tenancy.set_outbound(site.ws.db, site.ws.slug, True, actor=owner_at_cli, reason="templates reviewed")
    deliver = comms.deliver_queued
    monkeypatch.setattr(comms, "deliver_queued", lambda *args: None)  # queued now, delivered later
    queued = [site.ws.call("email_send", contact_id=contact["id"], subject=subject, body=f"{subject}, attached.")
              for subject in ("Signed offer", "Old draft")]  # fmt: skip
    tenancy.set_outbound(site.ws.db, site.ws.slug, False, actor=owner_at_cli, reason="incident")
    for message in queued:  # the dispatcher meets the switch off: each is held, not sent
        deliver(site.ws.db, comms.Providers(), site.ws.id, message["id"])
        thread = site.ws.call("conversations_get", conversation_id=message["conversation_id"])
        assert {m["id"]: m["status"] for m in thread["messages"]}[message["id"]] == "held"
    monkeypatch.undo()
    tenancy.set_outbound(site.ws.db, site.ws.slug, True, actor=owner_at_cli, reason="incident over")
    assert smtp.messages == []  # turning outbound back on does not send what was held

    page = site.sign_in(browser)
    page.on("dialog", lambda dialog: dialog.accept())  # "Discard this message? It is never sent."
    page.goto("/settings/comms")
    held = page.get_by_role("region", name="Held messages")
    screenshot(page, "held-messages")
    held.get_by_role("row").filter(has_text="Signed offer").get_by_role("button", name="Release").click()
    expect(page.get_by_role("status")).to_contain_text("Released")
    _wait_for_mail(smtp, 1)
    assert [m["Subject"] for m in smtp.messages] == ["Signed offer"]
    held.get_by_role("row").filter(has_text="Old draft").get_by_role("button", name="Discard").click()
    expect(page.get_by_role("status")).to_contain_text("Discarded")
    expect(held).not_to_contain_text("Old draft")
    expect(held).not_to_contain_text("Signed offer")
    time.sleep(0.5)  # a discarded message must not follow the released one to the SMTP server
    assert [m["Subject"] for m in smtp.messages] == ["Signed offer"]
    thread = site.ws.call("conversations_get", conversation_id=queued[0]["conversation_id"])
    statuses = {m["subject"]: m["status"] for m in thread["messages"]}
    assert statuses["Old draft"] == "failed" and statuses["Signed offer"] in ("sent", "delivered")
