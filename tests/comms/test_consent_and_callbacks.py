"""Consent is recorded by people, never granted by the agent (SPEC §11), and its history is only ever appended to;
provider callbacks are signed, stored once, audited, and read STOP the way carriers do."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, text

from harmonia.config import Settings
from harmonia.db import Database
from harmonia.errors import Forbidden, InvalidArguments, OutboundBlocked
from harmonia.models import AuditEvent, ConsentEvent, Contact, Message, Tenant
from harmonia.services import comms
from harmonia.surfaces.app import create_app
from harmonia.surfaces.webhooks import twilio_signature

from ..conftest import Workspace
from ..mcp.conftest import serve_in_thread
from .helpers import turn_on

TOKEN, PUBLIC = "secret-token", "https://crm.example"


def _consent(ws: Workspace, contact_id: str) -> dict[str, str]:
    return dict(ws.call("contacts_get", contact_id=contact_id)["consent"])


def _history(ws: Workspace, contact_id: str) -> list[tuple[str, str | None, str, str, str]]:
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        rows = uow.session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id)
                                   .order_by(ConsentEvent.at, ConsentEvent.id))  # fmt: skip
        return [(e.channel, e.from_value, e.to_value, e.source, e.via) for e in rows]


@pytest.mark.parametrize(("field", "value"), [("sms_consent", "opted_in"), ("call_consent", "opted_in"),
                                              ("email_consent", "subscribed")])  # fmt: skip
def test_no_mcp_tool_can_raise_consent_but_it_can_always_record_an_opt_out(
    acme: Workspace, field: str, value: str
) -> None:
    c = acme.call("contacts_create", first_name="Ana", email="ana@example.com", phone="+12125550100")
    acme.call("contacts_update", contact_id=c["id"], email_consent="unsubscribed")  # an opt-out: always accepted
    with pytest.raises(Forbidden, match="only a person records an opt-in"):
        acme.call("contacts_update", contact_id=c["id"], **{field: value}, consent_source="the agent says so")
    with pytest.raises(Forbidden):  # a workflow is not a person either
        acme.call("contacts_update", acme.actor(channel="workflow"), contact_id=c["id"], **{field: value},
                  consent_source="automation")  # fmt: skip
    assert _consent(acme, c["id"]) == {"email": "unsubscribed", "sms": "unknown", "call": "unknown"}
    acme.call("contacts_update", contact_id=c["id"], sms_consent="opted_out", call_consent="opted_out")
    assert _consent(acme, c["id"])["sms"] == "opted_out"


def test_a_person_records_an_opt_in_with_its_source_and_date_and_the_history_keeps_every_step(
    acme: Workspace,
) -> None:
    c = acme.call("contacts_create", first_name="Ana", phone="+12125550100")
    with pytest.raises(InvalidArguments, match="consent_source"):
        acme.call("contacts_update", acme.actor(channel="ui"), contact_id=c["id"], sms_consent="opted_in")
    acme.call("contacts_update", acme.actor(channel="ui"), contact_id=c["id"], sms_consent="opted_in",
              consent_source="signed application form", consent_given_at="2026-11-20T15:00:00Z")  # fmt: skip
    acme.call("contacts_update", contact_id=c["id"], sms_consent="opted_out")  # the agent records an opt-out
    acme.call("contacts_update", acme.actor(channel="api"), contact_id=c["id"], sms_consent="opted_in",
              consent_source="web form #42")  # fmt: skip
    assert _history(acme, c["id"]) == [
        ("sms", "unknown", "opted_in", "signed application form", "ui"),
        ("sms", "opted_in", "opted_out", "set via mcp", "mcp"),
        ("sms", "opted_out", "opted_in", "web form #42", "api"),
    ]
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        first = uow.session.scalars(select(ConsentEvent).order_by(ConsentEvent.at, ConsentEvent.id)).first()
    assert first is not None and first.given_at.isoformat().startswith("2026-11-20T15:00")


def test_email_consent_may_be_unknown_and_the_gate_refuses_it_naming_the_rule(acme: Workspace, smtp: Any) -> None:
    turn_on(acme)
    c = acme.call("contacts_create", first_name="Imported", email="imp@example.com")
    acme.call("contacts_update", acme.actor(channel="ui"), contact_id=c["id"], email_consent="unknown")
    with pytest.raises(OutboundBlocked) as info:
        acme.call("email_send", contact_id=c["id"], subject="Hello", body="hi")
    assert info.value.rule == "email_consent" and "unknown" in info.value.message and smtp.messages == []
    with pytest.raises(Forbidden):
        acme.call("contacts_update", contact_id=c["id"], email_consent="subscribed", consent_source="x")


def test_the_consent_history_cannot_be_changed_or_deleted(acme: Workspace) -> None:
    c = acme.call("contacts_create", first_name="Ana", phone="+12125550100")
    acme.call("contacts_update", contact_id=c["id"], sms_consent="opted_out")
    for statement in ("UPDATE consent_events SET to_value = 'opted_in'", "DELETE FROM consent_events"):
        with pytest.raises(Exception, match="append-only"), acme.db.unit_of_work(acme.actor()) as uow:
            uow.session.execute(text(statement))


# --- callbacks ----------------------------------------------------------------------------------------------------


@pytest.fixture
def site(acme: Workspace) -> Iterator[str]:
    with acme.db.unit_of_work(acme.actor()) as uow:
        t = uow.session.get(Tenant, acme.id)
        assert t is not None
        t.settings = {**t.settings, "sender": {"sms_from": "+13055550000"}}
    settings = Settings(database_url=acme.db.url, twilio_auth_token=TOKEN, public_url=PUBLIC, inprocess_dispatch=False)
    with serve_in_thread(create_app(settings, acme.db)) as url:
        yield url


def _post(url: str, path: str, form: dict[str, str]) -> httpx.Response:
    return httpx.post(url + path, data=form, headers={"x-twilio-signature": twilio_signature(TOKEN, PUBLIC + path,
                                                                                             form)})  # fmt: skip


def _sms(url: str, body: str, sid: str) -> httpx.Response:
    return _post(url, "/webhooks/twilio/sms", {"From": "+13055550123", "To": "+13055550000", "Body": body,
                                               "MessageSid": sid})  # fmt: skip


def _sms_consent(ws: Workspace, contact_id: str) -> str:
    return _consent(ws, contact_id)["sms"]


def test_a_replayed_message_sid_is_stored_once_and_confirmed_once(
    acme: Workspace, reachable: dict[str, str], site: str
) -> None:
    answers = [_sms(site, "STOP", "SMreplay1") for _ in range(4)]
    assert all(a.status_code == 200 for a in answers)
    assert sum("<Message>" in a.text for a in answers) == 1
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        stored = uow.session.scalars(select(Message).where(Message.provider_id == "SMreplay1")).all()
        audited = uow.session.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "sms_received")).all()
    assert len(stored) == 1
    assert sorted(audited) == ["ignored", "ignored", "ignored", "ok"]  # every callback is on record


@pytest.mark.parametrize("body", ["Stop.", "STOP please", "stop!!", "please stop texting me", "Unsubscribe me",
                                  "opt-out", "Cancel", "  QUIT  "])  # fmt: skip
def test_stop_is_read_the_way_carriers_read_it(
    acme: Workspace, reachable: dict[str, str], site: str, body: str
) -> None:
    _sms(site, body, f"SM-{abs(hash(body))}")
    assert _sms_consent(acme, reachable["contact_id"]) == "opted_out"


def test_after_an_inbound_stop_only_the_contacts_own_start_opens_sms_again_and_the_stop_stays_on_record(
    acme: Workspace, reachable: dict[str, str], site: str
) -> None:
    _sms(site, "STOP", "SMa")
    for channel in ("mcp", "ui", "api"):
        with pytest.raises(Forbidden):
            acme.call("contacts_update", acme.actor(channel=channel), contact_id=reachable["contact_id"],
                      sms_consent="opted_in", consent_source="they called us")  # fmt: skip
    assert _sms_consent(acme, reachable["contact_id"]) == "opted_out"
    _sms(site, "Start", "SMb")
    assert _sms_consent(acme, reachable["contact_id"]) == "opted_in"
    steps = [(ch, old, new, source) for ch, old, new, source, _ in _history(acme, reachable["contact_id"])]
    assert steps[-2:] == [("sms", "opted_in", "opted_out", "inbound STOP"), ("sms", "opted_out", "opted_in",
                                                                               "inbound START")]  # fmt: skip


def test_unsigned_or_forged_twilio_callbacks_change_nothing(
    acme: Workspace, reachable: dict[str, str], site: str
) -> None:
    _sms(site, "STOP", "SMreal")
    forged = {"From": "+13055550123", "To": "+13055550000", "Body": "START", "MessageSid": "SMforged"}
    assert httpx.post(site + "/webhooks/twilio/sms", data=forged).status_code == 403
    assert (
        httpx.post(site + "/webhooks/twilio/sms", data=forged, headers={"x-twilio-signature": "x"}).status_code == 403
    )
    status = {"MessageSid": "SMreal", "MessageStatus": "failed"}
    assert httpx.post(site + f"/webhooks/twilio/{acme.id}/status", data=status).status_code == 403
    assert _sms_consent(acme, reachable["contact_id"]) == "opted_out"


def test_a_signed_status_callback_is_audited(acme: Workspace, reachable: dict[str, str], site: str) -> None:
    with acme.db.unit_of_work(acme.actor()) as uow:
        uow.session.add(Message(id="ms_TESTSTATUS0000000001", conversation_id=reachable["conversation_id"],
                                direction="outbound", channel="sms", body="x", status="sent", provider_id="SMout"))  # fmt: skip
    assert _post(site, f"/webhooks/twilio/{acme.id}/status", {"MessageSid": "SMout",
                                                              "MessageStatus": "delivered"}).status_code == 204  # fmt: skip
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        row = uow.session.scalar(select(AuditEvent).where(AuditEvent.action == "message_status"))
    assert row is not None and row.outcome == "ok" and row.target_id == "ms_TESTSTATUS0000000001"


def test_the_email_webhook_key_is_random_per_installation_and_never_the_public_default(
    acme: Workspace, reachable: dict[str, str], site: str, sqlite_template: Any, tmp_path: Any
) -> None:
    import shutil

    key = comms.email_webhook_key(acme.db)
    assert len(key) == 64 and key == comms.email_webhook_key(acme.db)
    other_path = tmp_path / "other.db"
    shutil.copy(sqlite_template, other_path)
    other = Database(f"sqlite:///{other_path}")
    try:
        assert comms.email_webhook_key(other) != key
    finally:
        other.dispose()
    body = orjson.dumps({"tenant_id": acme.id, "email": "rosa@bakery.example", "type": "unsubscribe"})
    for guess in ("dev-only-change-me", "k", ""):
        sig = hmac.new(guess.encode(), body, hashlib.sha256).hexdigest()
        assert (
            httpx.post(site + "/webhooks/email", content=body, headers={"x-harmonia-signature": sig}).status_code == 403
        )
    sig = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    assert httpx.post(site + "/webhooks/email", content=body, headers={"x-harmonia-signature": sig}).status_code == 204
    assert _consent(acme, reachable["contact_id"])["email"] == "unsubscribed"
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        assert uow.session.scalar(select(Contact.consent_log).where(Contact.id == reachable["contact_id"]))
