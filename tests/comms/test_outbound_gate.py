"""The outbound switch is the floor under every send: no channel gets around it, nothing is lost, nothing is sent
twice. Email goes over a real SMTP conversation (aiosmtpd); SMS and calls through the sandbox provider."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from harmonia.db import Actor
from harmonia.errors import Conflict, Forbidden, OutboundBlocked
from harmonia.models import Contact, Message
from harmonia.services import comms, tenancy

from ..conftest import Workspace

SENDS = {
    "email": ("email_send", lambda ids: {"contact_id": ids["contact_id"], "subject": "Offer", "body": "Good news"}),
    "sms": ("sms_send", lambda ids: {"contact_id": ids["contact_id"], "body": "Call me back?"}),
    "call": ("calls_place", lambda ids: {"contact_id": ids["contact_id"], "purpose": "offer walkthrough"}),
    "reply": ("conversations_reply", lambda ids: {"conversation_id": ids["conversation_id"], "body": "Thanks!"}),
}
CHANNELS = ("mcp", "cli", "ui", "api")


def _actor(ws: Workspace, channel: str) -> Actor:
    return ws.actor(channel=channel)


def _provider_calls(smtp: Any, sandbox: list[Any]) -> int:
    return len(smtp.messages) + len(sandbox)


def _turn_on(ws: Workspace) -> None:
    tenancy.set_outbound(ws.db, ws.slug, True, actor=ws.owner_actor("cli"), reason="go live")


@pytest.mark.parametrize("kind", SENDS)
@pytest.mark.parametrize("channel", CHANNELS)
def test_while_outbound_is_off_no_send_reaches_a_provider_and_the_message_is_kept(
    acme: Workspace, reachable: dict[str, str], smtp: Any, sandbox: list[Any], afternoon: None, kind: str, channel: str
) -> None:
    tool, args = SENDS[kind]
    with pytest.raises(OutboundBlocked) as info:
        acme.h.invoke(_actor(acme, channel), tool, args(reachable))
    assert info.value.rule == "outbound_off"
    assert "Settings → Comms → Outbound" in info.value.message
    assert _provider_calls(smtp, sandbox) == 0
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        kept = uow.session.scalar(select(Message).where(Message.id == info.value.details["message_id"]))
    assert kept is not None and kept.status == "blocked" and "outbound_off" in (kept.status_reason or "")


@pytest.mark.parametrize("kind", SENDS)
def test_with_outbound_on_each_kind_of_send_is_delivered(
    acme: Workspace, reachable: dict[str, str], smtp: Any, sandbox: list[Any], afternoon: None, kind: str
) -> None:
    _turn_on(acme)
    tool, args = SENDS[kind]
    result = acme.call(tool, **args(reachable))
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        msg = uow.session.scalar(select(Message).where(Message.id == result["id"]))
    assert msg is not None and msg.status in ("sent", "delivered"), msg.status_reason
    if kind in ("email", "reply"):
        assert [m["To"] for m in smtp.messages] == ["rosa@bakery.example"]
    else:
        assert [e.to for e in sandbox] == ["+13055550123"]


def test_a_message_queued_before_the_switch_goes_off_is_held_and_stays_held_when_it_comes_back_on(
    acme: Workspace,
    reachable: dict[str, str],
    smtp: Any,
    sandbox: list[Any],
    afternoon: None,
    providers: comms.Providers,
    inprocess_dispatch: Any,
) -> None:
    _turn_on(acme)
    acme.db.bus.unsubscribe("message_queued", inprocess_dispatch)  # queue now, deliver later
    queued = acme.call("sms_send", contact_id=reachable["contact_id"], body="Are you free at 3?")
    assert queued["status"] == "queued"
    tenancy.set_outbound(acme.db, acme.slug, False, actor=acme.owner_actor("cli"), reason="incident")
    comms.deliver_queued(acme.db, providers, acme.id, queued["id"])
    assert _status(acme, queued["id"]) == ("held", "outbound_off")
    _turn_on(acme)
    assert comms.dispatch_due(acme.db, providers) == 0  # a re-dispatch does not send a held message
    assert _status(acme, queued["id"]) == ("held", "outbound_off")
    assert _provider_calls(smtp, sandbox) == 0
    acme.db.bus.subscribe("message_queued", inprocess_dispatch)
    released = acme.h.invoke(
        acme.actor(channel="ui"), "messages_release", {"message_id": queued["id"], "action": "release"}
    )
    assert released.status == "queued"  # type: ignore[attr-defined]
    assert [e.body for e in sandbox] == ["Are you free at 3?"]


def _status(ws: Workspace, message_id: str) -> tuple[str, str | None]:
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        msg = uow.session.scalar(select(Message).where(Message.id == message_id))
    assert msg is not None
    return msg.status, msg.rule


def test_the_same_idempotency_key_sends_once_and_other_arguments_are_refused(
    acme: Workspace, reachable: dict[str, str], smtp: Any, sandbox: list[Any], afternoon: None
) -> None:
    _turn_on(acme)
    args = {
        "contact_id": reachable["contact_id"],
        "subject": "Offer",
        "body": "Good news",
        "idempotency_key": "k-12345678",
    }
    first = acme.call("email_send", **args)
    again = acme.call("email_send", **args)
    assert again["id"] == first["id"]
    with pytest.raises(Conflict, match="other arguments"):
        acme.call("email_send", **(args | {"body": "Different"}))
    assert len(smtp.messages) == 1


@pytest.mark.parametrize(("change", "rule"), [
    ({"sms_consent": "unknown"}, "sms_consent"), ({"sms_consent": "opted_out"}, "sms_consent"),
    ({"dnd": True}, "sms_dnd"), ({"dnd_channels": ["sms"]}, "sms_dnd"),
])  # fmt: skip
def test_consent_and_do_not_disturb_refuse_an_sms_naming_the_rule(
    acme: Workspace, reachable: dict[str, str], sandbox: list[Any], afternoon: None, change: dict, rule: str
) -> None:
    _turn_on(acme)
    acme.call("contacts_update", acme.actor(channel="ui"), contact_id=reachable["contact_id"], **change)
    with pytest.raises(OutboundBlocked) as info:
        acme.call("sms_send", contact_id=reachable["contact_id"], body="hi")
    assert info.value.rule == rule and sandbox == []


def test_quiet_hours_hold_in_the_recipients_timezone(
    acme: Workspace, reachable: dict[str, str], sandbox: list[Any]
) -> None:
    from datetime import UTC, datetime

    import time_machine

    _turn_on(acme)
    late = time_machine.travel(datetime(2026, 11, 25, 3, 30, tzinfo=UTC), tick=False)  # 22:30 in New York
    with late, pytest.raises(OutboundBlocked) as info:
        acme.call("calls_place", contact_id=reachable["contact_id"], purpose="late")
    assert info.value.rule == "quiet_hours" and "22:30" in info.value.message and sandbox == []


def test_email_draft_never_delivers(acme: Workspace, reachable: dict[str, str], smtp: Any, afternoon: None) -> None:
    _turn_on(acme)
    acme.call("email_draft", contact_id=reachable["contact_id"], subject="Draft", body="not yet")
    assert smtp.messages == []


def test_an_mcp_token_can_turn_outbound_off_but_never_on(acme: Workspace) -> None:
    _turn_on(acme)
    with pytest.raises(Forbidden, match="owner"):
        acme.call("settings_update", outbound_enabled=True)
    off = acme.call("settings_update", outbound_enabled=False, reason="agent saw a runaway")
    assert off["outbound_enabled"] is False
    with pytest.raises(Forbidden):
        acme.h.invoke(acme.actor(channel="mcp"), "outbound_set", {"enabled": True, "reason": "please"})
    with pytest.raises(Forbidden):
        acme.h.invoke(acme.actor(channel="ui", role="member"), "outbound_set", {"enabled": True, "reason": "please"})
    on = acme.h.invoke(acme.actor(channel="ui", role="owner"), "outbound_set", {"enabled": True, "reason": "reviewed"})
    assert on.outbound_enabled is True  # type: ignore[attr-defined]


def test_a_provider_is_refused_without_the_gates_permit(providers: comms.Providers) -> None:
    from harmonia.comms.providers.base import Envelope, Permit, PermitError

    with pytest.raises(PermitError):
        providers.sandbox.send(Envelope("ms_1", "sms", "+1", None, None, "x"), Permit("ms_1", object()))


def test_new_workspaces_start_with_outbound_off(acme: Workspace) -> None:
    assert acme.call("settings_get")["outbound_enabled"] is False
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        assert uow.session.scalar(select(Contact)) is None
