"""A real browser (Debian's Chromium, driven by Playwright) against Harmonia served by uvicorn in a thread.

On a laptop without Chromium these tests skip and say why; in CI (`CI=true`) a missing Chromium is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from harmonia.config import Settings
from harmonia.seed import seed_demo
from harmonia.services.people import set_password
from harmonia.surfaces.app import create_app

from ..comms.conftest import Inbox, smtp
from ..conftest import Workspace
from ..mcp.conftest import serve_in_thread

__all__ = ["Inbox", "smtp"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"
MEMBER_EMAIL = "mia.member@acmefunding.test"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per module. Not per session: Playwright's sync API keeps an event loop running on this thread
    while it is open, which the asyncio tests that follow must not find."""
    executable = _chromium()
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("Chromium is not installed: `apt-get install -y chromium` to run the browser tests")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@dataclass
class Site:
    url: str
    ws: Workspace
    owner_email: str
    member_email: str = MEMBER_EMAIL
    console_errors: list[str] = field(default_factory=list)

    def page(self, browser: Browser) -> Page:
        context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=self.url)
        page = context.new_page()
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        return page

    def sign_in(self, browser: Browser, email: str | None = None) -> Page:
        page = self.page(browser)
        page.goto(f"/signin?workspace={self.ws.slug}")
        page.get_by_label("Email").fill(email or self.owner_email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/board"))
        return page


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def site(acme: Workspace, smtp: Inbox) -> Iterator[Site]:
    """The Acme workspace with demo data, its owner and a member able to sign in, and an SMTP server listening."""
    seed_demo(acme.db, acme.slug, scale=60, anchor=date.today())
    set_password(acme.db, acme.slug, acme.owner.email, PASSWORD)
    acme.call("users_invite", email=MEMBER_EMAIL, name="Mia Member", role="member")
    set_password(acme.db, acme.slug, MEMBER_EMAIL, PASSWORD)
    settings = Settings(database_url=acme.db.url, secret_key="browser-tests-secret-key")
    with serve_in_thread(create_app(settings, acme.db)) as url:
        yield Site(url=url, ws=acme, owner_email=acme.owner.email)


def first_contact_with_email(ws: Workspace) -> dict[str, Any]:
    contact = ws.call("contacts_create", first_name="Rosa", last_name="Diaz", email="rosa@bakery.example",
                      phone="+13055550123", timezone="America/New_York")  # fmt: skip
    return contact
