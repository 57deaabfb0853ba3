"""The send path under faults of its own making (issue 12): no transaction is open while a provider works, a crashed
dispatcher loses nothing and sends nothing twice, one bad message fails alone, one idempotency key sends once however
many callers race with it, and a refused draft stays a draft."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from harmonia.clock import ManualClock
from harmonia.comms.providers.base import Delivery, Envelope, Provider
from harmonia.db import Database
from harmonia.errors import HarmoniaError, InvalidArguments, OutboundBlocked
from harmonia.ids import new_id
from harmonia.models import AuditEvent, Message
from harmonia.services import comms

from ..conftest import Workspace
from .helpers import outbound, queue_emails, turn_on


class Exploding(Provider):
    """A provider with a bug for one recipient: it raises, as a real adapter might on data it did not expect."""

    name = "exploding"

    def __init__(self, poison_to: str) -> None:
        self.poison_to = poison_to
        self.sent: list[str] = []

    def _send(self, envelope: Envelope) -> Delivery:
        if envelope.to == self.poison_to:
            raise RuntimeError("adapter bug")
        self.sent.append(envelope.message_id)
        return Delivery(status="sent", provider_id=f"x-{envelope.message_id}")


@pytest.mark.parametrize("subject", ["Offer\r\nBcc: everyone@example.com", "Offer\nnext", "Offer\x00", "a\u2028b"])
def test_a_subject_with_a_line_break_is_refused_at_the_operation_and_nothing_is_written(
    acme: Workspace, reachable: dict[str, str], subject: str
) -> None:
    turn_on(acme)
    for tool, extra in (("email_send", {}), ("email_draft", {})):
        with pytest.raises(InvalidArguments, match="one line"):
            acme.call(tool, contact_id=reachable["contact_id"], subject=subject, body="hi", **extra)
    assert [m.status for m in outbound(acme).values()] == []


def test_a_provider_that_raises_fails_that_message_alone_with_its_reason_and_the_dispatcher_goes_on(
    acme: Workspace, rival: Workspace, reachable: dict[str, str], inprocess_dispatch: Any
) -> None:
    for ws in (acme, rival):
        ws.db.bus.unsubscribe("message_queued", inprocess_dispatch)
        turn_on(ws)
    poison = acme.call("contacts_create", first_name="Poison", email="poison@example.com")
    ids = queue_emails(acme, poison["id"], 1, "poison") + queue_emails(acme, reachable["contact_id"], 3)
    other = rival.call("contacts_create", first_name="Other", email="other@rival.example")
    rival_ids = queue_emails(rival, other["id"], 2)
    provider = Exploding("poison@example.com")
    assert comms.dispatch_due(acme.db, comms.Providers({"email": provider})) == 6
    rows = outbound(acme)
    assert (rows[ids[0]].status, rows[ids[0]].rule) == ("failed", "provider_refused")
    assert "RuntimeError: adapter bug" in (rows[ids[0]].status_reason or "")
    assert sorted(provider.sent) == sorted(ids[1:] + rival_ids)  # the others of both workspaces, once each
    assert comms.dispatch_due(acme.db, comms.Providers({"email": provider})) == 0


def test_a_send_whose_delivery_fails_in_process_is_answered_as_committed(
    acme: Workspace, reachable: dict[str, str], inprocess_dispatch: Any
) -> None:
    """The caller is told `queued` (what was committed), never "nothing was changed"; the message then fails alone."""
    acme.db.bus.unsubscribe("message_queued", inprocess_dispatch)
    comms.install_inprocess_dispatch(acme.db, comms.Providers({"email": Exploding("rosa@bakery.example")}))
    turn_on(acme)
    sent = acme.call("email_send", contact_id=reachable["contact_id"], subject="Offer", body="Good news")
    assert sent["status"] == "queued"
    assert outbound(acme)[sent["id"]].status == "failed"
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        outcomes = list(uow.session.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "email_send")))
    assert outcomes == ["ok"]


def test_a_claim_abandoned_by_a_crashed_worker_is_claimed_again_after_its_lease_and_sent_once(
    db: Database, acme: Workspace, reachable: dict[str, str], sandbox: list[Any], inprocess_dispatch: Any,
    providers: comms.Providers,
) -> None:  # fmt: skip
    clock = ManualClock()
    db.clock = clock
    acme.db.bus.unsubscribe("message_queued", inprocess_dispatch)
    turn_on(acme)
    ids = queue_emails(acme, reachable["contact_id"], 5)
    assert sorted(comms.claim(db, acme.id, "dead-worker", batch=3)) == sorted(ids[:3])  # then it dies
    assert comms.dispatch_due(db, providers) == 2  # the live worker takes only what is not leased
    clock.advance(comms.CLAIM_LEASE + timedelta(seconds=1))
    assert comms.dispatch_due(db, providers) == 3  # they provably never began: sent now, once
    assert Counter(e.message_id for e in sandbox) == Counter(ids)
    assert {m.status for m in outbound(acme).values()} == {"delivered"}


def test_a_message_whose_worker_died_mid_send_becomes_unknown_and_is_never_sent_again_by_itself(
    db: Database, acme: Workspace, reachable: dict[str, str], sandbox: list[Any], inprocess_dispatch: Any,
    providers: comms.Providers,
) -> None:  # fmt: skip
    from harmonia.comms import gate

    clock = ManualClock()
    db.clock = clock
    acme.db.bus.unsubscribe("message_queued", inprocess_dispatch)
    turn_on(acme)
    [mid] = queue_emails(acme, reachable["contact_id"], 1)
    comms.claim(db, acme.id, "dead-worker", batch=1)
    with db.unit_of_work(acme.actor(channel="system")) as uow:  # it began: `sending` is committed…
        assert gate.begin(uow, mid, "dead-worker", providers, providers.send_lease) is not None
    # …and the worker died before it heard back: the message may or may not have left
    assert comms.dispatch_due(db, providers) == 0
    clock.advance(providers.send_lease + timedelta(seconds=1))
    assert comms.dispatch_due(db, providers) == 0
    row = outbound(acme)[mid]
    assert (row.status, row.rule) == ("unknown", "outcome_unknown") and "resend" in (row.status_reason or "")
    clock.advance(timedelta(days=2))
    assert comms.dispatch_due(db, providers) == 0 and sandbox == []  # never resent by itself
    acme.call("messages_release", acme.actor(channel="ui"), message_id=mid, action="release")  # a person resends
    assert comms.dispatch_due(db, providers) == 1
    assert [e.message_id for e in sandbox] == [mid] and outbound(acme)[mid].status == "delivered"


def test_a_refused_send_of_a_draft_leaves_the_draft_a_draft_and_says_what_to_do(
    acme: Workspace, reachable: dict[str, str], smtp: Any
) -> None:
    with pytest.raises(OutboundBlocked) as info:  # outbound is off
        acme.call("email_send", draft_id=reachable["draft_id"])
    assert info.value.rule == "outbound_off"
    assert f"draft {reachable['draft_id']} is still a draft" in info.value.message
    rows = outbound(acme)
    attempt = rows[info.value.details["message_id"]]
    assert (attempt.status, attempt.rule, attempt.draft_id) == ("blocked", "outbound_off", reachable["draft_id"])
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        draft = uow.session.scalar(select(Message).where(Message.id == reachable["draft_id"]))
    assert draft is not None and draft.status == "draft"
    turn_on(acme)
    sent = acme.call("email_send", draft_id=reachable["draft_id"])
    assert sent["id"] == reachable["draft_id"]
    assert [m["Subject"] for m in smtp.messages] == ["Your application"]
    with pytest.raises(HarmoniaError, match="not an email draft"):
        acme.call("email_send", draft_id=reachable["draft_id"])
    assert len(smtp.messages) == 1


def test_a_blocked_message_keeps_its_rule_in_its_own_column(acme: Workspace, reachable: dict[str, str]) -> None:
    turn_on(acme)
    acme.call("contacts_update", contact_id=reachable["contact_id"], sms_consent="opted_out")
    with pytest.raises(OutboundBlocked) as info:
        acme.call("sms_send", contact_id=reachable["contact_id"], body="hi")
    row = outbound(acme)[info.value.details["message_id"]]
    assert (row.status, row.rule) == ("blocked", "sms_consent")
    thread = acme.call("conversations_get", conversation_id=row.conversation_id)
    assert thread["messages"][-1]["rule"] == "sms_consent"


@pytest.mark.parametrize("form", ["new", "draft"])
def test_twenty_concurrent_sends_with_one_key_send_once_and_every_caller_gets_the_first_result(
    acme: Workspace, reachable: dict[str, str], smtp: Any, report_figure: Any, form: str
) -> None:
    turn_on(acme)
    args: dict[str, Any] = {"idempotency_key": f"race-{new_id('message')}"}
    if form == "new":
        args |= {"contact_id": reachable["contact_id"], "subject": "Offer", "body": "Good news"}
    else:
        args |= {"draft_id": reachable["draft_id"]}
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def caller() -> None:
        start.wait(timeout=30)
        try:
            results.append(acme.call("email_send", **args))
        except BaseException as exc:  # every one is a finding: an error here is what the issue reported
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    ids = {r["id"] for r in results}
    report_figure(
        f"[{acme.db.dialect}] 20 concurrent email_send ({form}) with one key: {len(results)} answers, "
        f"{len(ids)} distinct message, {len(errors)} errors, {len(smtp.messages)} email sent"
    )
    assert errors == [] and len(results) == 20 and len(ids) == 1
    assert len(smtp.messages) == 1
