"""An in-process SMTP server (aiosmtpd) that records what arrives, and a workspace with reachable contacts."""

from __future__ import annotations

import asyncio
import threading
import time
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


class FaultyInbox(Inbox):
    """An SMTP server whose faults a test sets: `fault` is one of None, "4xx" (RCPT answered 451, nothing taken),
    "5xx" (DATA answered 554), "close" (the data arrives, then the connection closes before any answer), "hang"
    (the data arrives and no answer comes); `faults_left` how many conversations get it (None: all). `delay`
    seconds before each answer to DATA: a slow server. `arrived` is set each time a message is taken. While `hold` is
    cleared, each conversation stops after its data arrived (setting `in_data`) until the test sets `hold` again."""

    def __init__(self) -> None:
        super().__init__()
        self.fault: str | None = None
        self.faults_left: int | None = None
        self.delay = 0.0
        self.arrived = threading.Event()
        self.taken_at: list[float] = []
        self.hold = threading.Event()
        self.hold.set()
        self.in_data = threading.Event()

    def _faulty(self, kind: str) -> bool:
        if self.fault != kind or self.faults_left == 0:
            return False
        if self.faults_left is not None:
            self.faults_left -= 1
        return True

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self._faulty("4xx"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)  # the server's own slowness, not a wait of the test's
        if not self.hold.is_set():
            self.in_data.set()
            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, 30)  # bounded: 30 s at most
        if self._faulty("5xx"):
            return "554 5.7.1 rejected"
        if self._faulty("close"):
            server.transport.close()
            return "250 OK"
        if self._faulty("hang"):
            await asyncio.sleep(60)  # past any client timeout; cancelled when the server stops
            return "250 OK"
        self.messages.append(message_from_bytes(envelope.content))
        self.taken_at.append(time.perf_counter())
        self.arrived.set()
        return "250 OK"

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]).strip("<>").split("@")[0] for m in self.messages]


@pytest.fixture
def faulty_smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyInbox]:
    """A real SMTP server with faults to order, and a short client timeout (0.5 s) for the hanging case."""
    inbox = FaultyInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("HARMONIA_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("HARMONIA_SMTP_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()
    yield inbox
    controller.stop()
    get_settings.cache_clear()


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
    for name in ("smtp", "faulty_smtp", "twilio"):
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
