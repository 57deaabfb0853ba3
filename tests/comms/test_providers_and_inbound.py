"""SMS and calls through a Twilio-compatible API (a local server speaking its wire format records what it got);
inbound SMS threaded with STOP/START honoured even while outbound is off; status callbacks only move forward;
email bounces mark the contact; the worker delivers what the server left queued."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harmonia.config import Settings, get_settings
from harmonia.models import Contact, Message
from harmonia.services import comms, tenancy
from harmonia.surfaces.app import create_app
from harmonia.surfaces.webhooks import twilio_signature

from ..conftest import Workspace
from ..mcp.conftest import serve_in_thread


def _serve(app: Any) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    async def create(request: Request) -> JSONResponse:
        form = dict(await request.form())
        received.append({"path": request.url.path, "auth": request.headers.get("authorization"), **form})
        return JSONResponse({"sid": f"SM{len(received):032d}", "status": "queued"}, status_code=201)

    app = Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/{kind}.json", create, methods=["POST"])])
    for url in _serve(app):
        monkeypatch.setenv("HARMONIA_TWILIO_BASE_URL", url)
        monkeypatch.setenv("HARMONIA_TWILIO_ACCOUNT_SID", "AC123")
        monkeypatch.setenv("HARMONIA_TWILIO_AUTH_TOKEN", "secret-token")
        monkeypatch.setenv("HARMONIA_TWILIO_FROM_NUMBER", "+13055550000")
        get_settings.cache_clear()
        yield received
    get_settings.cache_clear()


def test_sms_and_calls_go_through_the_twilio_compatible_api(
    acme: Workspace, reachable: dict[str, str], twilio: list[dict[str, Any]], afternoon: None
) -> None:
    tenancy.set_outbound(acme.db, acme.slug, True, actor=acme.owner_actor("cli"), reason="live")
    sms = acme.call("sms_send", contact_id=reachable["contact_id"], body="Offer is in!")
    acme.call("calls_place", contact_id=reachable["contact_id"], purpose="walk through the offer")
    assert [r["path"].rsplit("/", 1)[-1] for r in twilio] == ["Messages.json", "Calls.json"]
    assert twilio[0]["To"] == "+13055550123" and twilio[0]["Body"] == "Offer is in!" and twilio[0]["auth"]
    assert "walk through the offer" in twilio[1]["Twiml"]
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        msg = uow.session.scalar(select(Message).where(Message.id == sms["id"]))
    assert msg is not None and msg.status == "sent" and msg.provider == "twilio"


@pytest.fixture
def webhook_url(acme: Workspace) -> Iterator[str]:
    with acme.db.unit_of_work(acme.actor()) as uow:
        from harmonia.models import Tenant

        t = uow.session.get(Tenant, acme.id)
        assert t is not None
        t.settings = {**t.settings, "sender": {"sms_from": "+13055550000"}}
    settings = Settings(database_url=acme.db.url, twilio_auth_token=TOKEN, public_url=PUBLIC, inprocess_dispatch=False)
    yield from _serve(create_app(settings, acme.db))


TOKEN, PUBLIC = "secret-token", "https://crm.example"
_sids = iter(range(10**6))


def _signed(url: str, path: str, form: dict[str, str]) -> httpx.Response:
    signature = twilio_signature(TOKEN, PUBLIC + path, form)
    return httpx.post(url + path, data=form, headers={"x-twilio-signature": signature})


def _inbound(url: str, body: str, sender: str = "+13055550123", sid: str | None = None) -> httpx.Response:
    form = {"From": sender, "To": "+13055550000", "Body": body, "MessageSid": sid or f"SMin{next(_sids)}"}
    return _signed(url, "/webhooks/twilio/sms", form)


def test_stop_opts_the_number_out_with_one_confirmation_even_while_outbound_is_off(
    acme: Workspace, reachable: dict[str, str], webhook_url: str
) -> None:
    assert acme.call("settings_get")["outbound_enabled"] is False
    first = _inbound(webhook_url, "  stop ")
    second = _inbound(webhook_url, "STOP")
    assert "unsubscribed" in first.text and "<Message>" not in second.text
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        c = uow.session.scalar(select(Contact).where(Contact.id == reachable["contact_id"]))
        inbound = uow.session.scalars(select(Message).where(Message.direction == "inbound")).all()
    assert c is not None and c.sms_consent == "opted_out" and c.consent_log["sms"]["how"] == "inbound STOP"
    assert len(inbound) == 2
    _inbound(webhook_url, "start")
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        assert (
            uow.session.scalar(select(Contact.sms_consent).where(Contact.id == reachable["contact_id"])) == "opted_in"
        )


@pytest.mark.parametrize("word", ["STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "Opt Out"])
def test_every_opt_out_keyword_opts_out(
    acme: Workspace, reachable: dict[str, str], webhook_url: str, word: str
) -> None:
    _inbound(webhook_url, word)
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        assert (
            uow.session.scalar(select(Contact.sms_consent).where(Contact.id == reachable["contact_id"])) == "opted_out"
        )


def test_an_inbound_sms_to_an_unknown_number_is_refused(webhook_url: str) -> None:
    r = _signed(webhook_url, "/webhooks/twilio/sms", {"From": "+1", "To": "+19999999999", "Body": "hi"})
    assert r.status_code == 404


def test_status_callbacks_only_move_a_message_forward(acme: Workspace, reachable: dict[str, str]) -> None:
    with acme.db.unit_of_work(acme.actor()) as uow:
        m = Message(
            id="ms_TESTSTATUS0000000000",
            conversation_id=reachable["conversation_id"],
            direction="outbound",
            channel="sms",
            body="x",
            status="sent",
            provider_id="SM1",
        )
        uow.session.add(m)
    assert comms.provider_status(acme.db, acme.id, "SM1", "delivered")
    assert comms.provider_status(acme.db, acme.id, "SM1", "sent")
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        assert uow.session.scalar(select(Message.status).where(Message.provider_id == "SM1")) == "delivered"


def test_the_providers_report_settles_an_unknown_outcome(acme: Workspace, reachable: dict[str, str]) -> None:
    with acme.db.unit_of_work(acme.actor()) as uow:
        uow.session.add(Message(id="ms_TESTSTATUS0000000002", conversation_id=reachable["conversation_id"],
                                direction="outbound", channel="sms", body="x", status="unknown",
                                rule="outcome_unknown", provider_id="SM2"))  # fmt: skip
    assert comms.provider_status(acme.db, acme.id, "SM2", "delivered")
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        assert uow.session.scalar(select(Message.status).where(Message.provider_id == "SM2")) == "delivered"


def test_a_signed_email_bounce_marks_the_contact_and_an_unsigned_one_is_refused(
    acme: Workspace, reachable: dict[str, str], webhook_url: str
) -> None:
    body = orjson.dumps({"tenant_id": acme.id, "email": "rosa@bakery.example", "type": "bounce"})
    assert httpx.post(webhook_url + "/webhooks/email", content=body).status_code == 403
    sig = hmac.new(comms.email_webhook_key(acme.db).encode(), body, hashlib.sha256).hexdigest()
    assert (
        httpx.post(webhook_url + "/webhooks/email", content=body, headers={"x-harmonia-signature": sig}).status_code
        == 204
    )
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        assert (
            uow.session.scalar(select(Contact.email_consent).where(Contact.id == reachable["contact_id"])) == "bounced"
        )


def test_twilio_requests_without_a_configured_token_are_all_refused(acme: Workspace) -> None:
    settings = Settings(database_url=acme.db.url, public_url="http://127.0.0.1", inprocess_dispatch=False)
    for url in _serve(create_app(settings, acme.db)):
        form = {"From": "+1", "To": "+2", "Body": "hi"}
        signed = twilio_signature("", "http://127.0.0.1/webhooks/twilio/sms", form)
        for path in ("/webhooks/twilio/sms", f"/webhooks/twilio/{acme.id}/status"):
            assert httpx.post(url + path, data=form, headers={"x-twilio-signature": signed}).status_code == 403


def test_twilio_requests_with_a_bad_signature_are_refused(acme: Workspace) -> None:
    settings = Settings(database_url=acme.db.url, twilio_auth_token="tok", public_url="http://127.0.0.1",
                        inprocess_dispatch=False)  # fmt: skip
    for url in _serve(create_app(settings, acme.db)):
        form = {"From": "+1", "To": "+2", "Body": "hi"}
        assert (
            httpx.post(url + "/webhooks/twilio/sms", data=form, headers={"x-twilio-signature": "nope"}).status_code
            == 403
        )
        good = twilio_signature("tok", "http://127.0.0.1/webhooks/twilio/sms", form)
        assert (
            httpx.post(url + "/webhooks/twilio/sms", data=form, headers={"x-twilio-signature": good}).status_code == 404
        )


def test_the_worker_delivers_what_the_server_left_queued(
    acme: Workspace,
    reachable: dict[str, str],
    sandbox: list[Any],
    afternoon: None,
    providers: comms.Providers,
    inprocess_dispatch: Any,
) -> None:
    acme.db.bus.unsubscribe("message_queued", inprocess_dispatch)  # as with HARMONIA_INPROCESS_DISPATCH=false
    tenancy.set_outbound(acme.db, acme.slug, True, actor=acme.owner_actor("cli"), reason="live")
    sent = acme.call("sms_send", contact_id=reachable["contact_id"], body="from the worker")
    assert sent["status"] == "queued" and sandbox == []
    assert comms.dispatch_due(acme.db, providers) == 1
    assert comms.dispatch_due(acme.db, providers) == 0
    assert [e.body for e in sandbox] == ["from the worker"]
