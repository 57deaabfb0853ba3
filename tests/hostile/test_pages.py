"""The web pages defend themselves: never framed, never sniffed, no full URL sent to other sites, never cached (a
new token's secret above all), and signing out ends the session on the server — a copied cookie stops working in
every process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from harmonia.config import Settings
from harmonia.surfaces.app import create_app

from .conftest import PASSWORD, Site, csrf_of

SECRET = "hostile-corpus-secret-key"


@pytest.fixture
def browser(site: Site) -> Iterator[TestClient]:
    with TestClient(site.app, base_url="http://127.0.0.1:8000") as c:
        page = c.get("/signin")
        signed = c.post("/signin", data={"workspace": site.ws.slug, "email": site.ws.owner.email, "password": PASSWORD,
                                         "csrf": csrf_of(page.text)}, follow_redirects=False)  # fmt: skip
        assert signed.status_code == 303
        yield c


def _assert_protected(response: object, *, cached: bool = False) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert ("no-store" in headers.get("cache-control", "")) is not cached


def test_every_page_refuses_framing_sniffing_referrers_and_caches(site: Site, browser: TestClient) -> None:
    for path in ("/board", "/contacts", "/inbox", "/settings/tokens", "/audit", "/no/such/page"):
        _assert_protected(browser.get(path))
    _assert_protected(browser.get("/signin"))
    _assert_protected(browser.get("/static/harmonia.css"), cached=True)


def test_the_page_that_shows_a_new_tokens_secret_is_never_stored(site: Site, browser: TestClient) -> None:
    page = browser.get("/settings/tokens")
    shown = browser.post("/settings/tokens", data={"name": "laptop", "scopes": "mcp:read", "csrf": csrf_of(page.text)})
    assert shown.status_code == 200 and "hm_tn_" in shown.text
    _assert_protected(shown)
    assert shown.headers["pragma"] == "no-cache"


def test_a_session_cookie_copied_before_sign_out_no_longer_works_in_any_process(
    site: Site, browser: TestClient
) -> None:
    copied = dict(browser.cookies)
    other_process = create_app(Settings(database_url=site.db.url, secret_key=SECRET), site.db)
    with TestClient(other_process, base_url="http://127.0.0.1:8000", cookies=copied) as thief:
        assert thief.get("/board", follow_redirects=False).status_code == 200  # the copy works while signed in
        board = browser.get("/board")
        assert browser.post("/signout", data={"csrf": csrf_of(board.text)}, follow_redirects=False).status_code == 303
        refused = thief.get("/board", follow_redirects=False)
        assert refused.status_code == 303 and refused.headers["location"].startswith("/signin")
    assert browser.get("/board", follow_redirects=False).status_code == 303
