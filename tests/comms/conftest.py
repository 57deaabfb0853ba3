"""An in-process SMTP server (aiosmtpd) that records what arrives, and a workspace with reachable contacts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller

from harmonia.config import get_settings
from harmonia.db import Database
from harmonia.services import comms

from ..conftest import Workspace
from ..mcp.conftest import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("HARMONIA_SMTP_URL", f"smtp://127.0.0.1:{port}")
    get_settings.cache_clear()
    yield inbox
    controller.stop()
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def providers(request: pytest.FixtureRequest) -> comms.Providers:
    """The providers of this test's process, built from the settings once the provider fixtures have set them."""
    for name in ("smtp", "twilio"):
        if name in request.fixturenames:
            request.getfixturevalue(name)
    return comms.Providers.from_settings(get_settings())


@pytest.fixture(autouse=True)
def inprocess_dispatch(db: Database, providers: comms.Providers) -> Iterator[Any]:
    """As `harmonia serve` does: a send is delivered right after its commit (unsubscribe it to queue only)."""
    handler = comms.install_inprocess_dispatch(db, providers)
    yield handler
    db.bus.unsubscribe("message_queued", handler)


@pytest.fixture
def sandbox(providers: comms.Providers) -> list[Any]:
    return providers.sandbox.delivered


@pytest.fixture
def afternoon() -> Iterator[None]:
    """15:00 in New York, a Tuesday: inside every contact's allowed hours."""
    with time_machine.travel(datetime(2026, 11, 24, 20, 0, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def reachable(acme: Workspace) -> dict[str, str]:
    """A contact opted in on every channel, with an email thread; returns ids."""
    c = acme.call(
        "contacts_create",
        first_name="Rosa",
        last_name="Diaz",
        email="rosa@bakery.example",
        phone="+13055550123",
        timezone="America/New_York",
    )
    acme.call("contacts_update", acme.actor(channel="ui"), contact_id=c["id"], sms_consent="opted_in",
              call_consent="opted_in", consent_source="signed application form")  # fmt: skip
    draft = acme.call("email_draft", contact_id=c["id"], subject="Your application", body="Hi Rosa")
    return {"contact_id": c["id"], "conversation_id": draft["conversation_id"], "draft_id": draft["id"]}
