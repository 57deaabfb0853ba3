"""Signing in to the web UI from a test: the CSRF token of a page, and a TestClient signed in as a workspace owner."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.testclient import TestClient

from harmonia.config import Settings
from harmonia.services.people import set_password
from harmonia.surfaces.app import create_app

from .conftest import Workspace

PASSWORD = "correct horse battery staple"


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@contextmanager
def signed_in(ws: Workspace, **settings: Any) -> Iterator[TestClient]:
    """The web app over `ws`'s database (with `settings`), its owner signed in."""
    set_password(ws.db, ws.slug, ws.owner.email, PASSWORD)
    app = create_app(Settings(database_url=ws.db.url, **settings), ws.db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get(f"/signin?workspace={ws.slug}")
        form = {"workspace": ws.slug, "email": ws.owner.email, "password": PASSWORD, "csrf": csrf_of(page.text)}
        assert client.post("/signin", data=form, follow_redirects=False).status_code == 303
        yield client
