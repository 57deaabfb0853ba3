"""A send to several contacts takes two calls: the first previews exactly who would receive what (nothing is queued)
and answers a short-lived, single-use confirmation_id bound to the caller, the recipients and the text; only the
second call with that id sends, and only to them. The gate judges every message at send time as for any send."""

from __future__ import annotations

from datetime import timedelta

import pytest

from harmonia.clock import ManualClock
from harmonia.db import Database
from harmonia.errors import Conflict, InvalidArguments, NotFound, OutboundBlocked
from harmonia.services import comms, tenancy

from ..conftest import Workspace
from .conftest import Inbox
from .helpers import outbound, turn_on


def test_a_send_to_several_contacts_previews_then_sends_once_to_exactly_those_and_never_after_expiry(
    db: Database, acme: Workspace, smtp: Inbox, reachable: dict[str, str]
) -> None:
    clock = ManualClock()
    db.clock = clock
    turn_on(acme)
    rosa = reachable["contact_id"]
    ben = acme.call("contacts_create", first_name="Ben", last_name="Ortiz", email="ben@bakery.example")["id"]
    carl = acme.call("contacts_create", first_name="Carl", email="carl@bakery.example")["id"]
    acme.call("contacts_update", contact_id=carl, email_consent="unsubscribed")
    send = {"contact_id": rosa, "cc": [ben, carl], "subject": "Your offer", "body": "Offer attached."}

    preview = acme.call("email_send", **send)
    assert preview["status"] == "preview" and preview["confirmation_id"].startswith("sx_")
    assert preview["expires_at"] == "2026-11-24T20:10:00Z"
    verdicts = {r["contact_id"]: (r["would_send"], r.get("rule")) for r in preview["recipients"]}
    assert verdicts == {rosa: (True, None), ben: (True, None), carl: (False, "email_consent")}
    assert "Nothing was sent. 2 of 3" in preview["next_step"]
    assert outbound(acme) == {} and smtp.messages == []  # a preview queues nothing

    confirmation = preview["confirmation_id"]
    with pytest.raises(Conflict, match="other recipients or another subject or body"):
        acme.call("email_send", **send | {"body": "A different offer."}, confirmation_id=confirmation)
    with pytest.raises(Conflict):
        acme.call("email_send", **send | {"cc": [ben]}, confirmation_id=confirmation)  # one recipient fewer
    rita = acme.call("users_invite", email="rita@acme.test", name="Rita Williams", role="member")
    acme.call("users_update", user_id=rita["id"], status="active")
    with pytest.raises(NotFound, match="new preview"):  # someone else cannot use it
        acme.call("email_send", acme.actor(user_id=rita["id"], role="member"), **send, confirmation_id=confirmation)
    assert outbound(acme) == {} and smtp.messages == []

    sent = acme.call("email_send", **send, confirmation_id=confirmation)
    assert sent["status"] == "confirmed"
    statuses = sorted(m["status"] for m in sent["messages"])
    assert statuses == ["blocked", "queued", "queued"]  # the gate still refuses the unsubscribed one
    assert sorted(str(m["To"]) for m in smtp.messages) == ["ben@bakery.example", "rosa@bakery.example"]
    again = acme.call("email_send", **send, confirmation_id=confirmation)  # a retried call sends nothing more
    assert [m["id"] for m in again["messages"]] == [m["id"] for m in sent["messages"]] and len(smtp.messages) == 2

    late = acme.call("email_send", **send)["confirmation_id"]
    clock.advance(comms.CONFIRMATION_TTL + timedelta(seconds=1))
    with pytest.raises(InvalidArguments, match="expired at 20:10:00 UTC"):
        acme.call("email_send", **send, confirmation_id=late)

    off = acme.call("email_send", **send)["confirmation_id"]
    tenancy.set_outbound(db, acme.slug, False, actor=acme.owner_actor("cli"), reason="pause")
    with pytest.raises(OutboundBlocked, match="None of the 3 messages may go"):  # the switch decides at send time
        acme.call("email_send", **send, confirmation_id=off)
    assert len(smtp.messages) == 2 and len(outbound(acme)) == 6  # three sent or refused, three kept blocked

    turn_on(acme)
    single = acme.call("email_send", contact_id=rosa, cc=[rosa], subject="Just you", body="One recipient.")
    assert single["status"] == "queued" and "confirmation_id" not in single  # one recipient: unchanged, one call
    assert len(smtp.messages) == 3
