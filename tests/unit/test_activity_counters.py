"""`reports_activity` reads counters kept in the write path; its figures must be exactly what counting the events
gives, whatever the timezone (half- and quarter-hour offsets included), period, moment, and later edits."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, text

from harmonia import bulk, counters
from harmonia.models import Conversation, Message, Note, StageChange
from harmonia.seed import seed_demo

from ..conftest import Workspace

NOW = datetime(2026, 12, 2, 15, 37, 21, 250000, tzinfo=UTC)
METRIC = {"call": "calls", "email": "emails", "sms": "sms"}


def _make_events(ws: Workspace, rng: random.Random, users: list[str], n: int = 260) -> None:
    """Messages, notes and stage moves at random moments of the last 40 days, then edits that move counts."""
    contact = ws.call("contacts_create", first_name="Counted", last_name="Merchant")
    deal = ws.call("opportunities_create", name="Counted deal", contact_id=contact["id"])
    stages = [s["id"] for s in ws.call("pipelines_list")["items"][0]["stages"]]

    # Edges on purpose: exact UTC quarter-hours and days, local midnights, and a microsecond either side of them.
    tz = ZoneInfo(ws.call("settings_get")["timezone"])
    edges = [NOW.replace(minute=m, second=0, microsecond=0) - timedelta(days=d, hours=h)
             for d in range(0, 40, 3) for h in (0, 5) for m in (0, 15, 30, 45)]  # fmt: skip
    edges += [datetime.combine((NOW - timedelta(days=d)).date(), datetime.min.time(), tz).astimezone(UTC)
              for d in range(40)]  # fmt: skip
    edges += [datetime.combine((NOW - timedelta(days=d)).date(), datetime.min.time(), UTC) for d in range(40)]

    def when() -> datetime:
        if rng.random() < 0.4:
            return rng.choice(edges) + timedelta(microseconds=rng.choice([-1, 0, 0, 1]))
        return NOW - timedelta(seconds=rng.randrange(40 * 86400))

    with ws.db.unit_of_work(ws.actor()) as uow:
        s = uow.session
        conversations = {}
        for channel in METRIC:
            conversations[channel] = Conversation(id=f"cv_{channel.upper():0>20}", contact_id=contact["id"],
                                                  channel=channel)  # fmt: skip
            s.add(conversations[channel])
        s.flush()
        for i in range(n):
            kind = rng.choice(["message", "message", "note", "stage"])
            user = rng.choice([*users, None])
            if kind == "message":
                channel = rng.choice(list(METRIC))
                s.add(Message(id=f"ms_{i:0>20}", conversation_id=conversations[channel].id, channel=channel,
                              direction=rng.choice(["outbound", "outbound", "inbound"]), body="x", sent_by=user,
                              status=rng.choice(["sent", "delivered", "queued", "failed", "held"]),
                              created_at=when()))  # fmt: skip
            elif kind == "note":
                s.add(Note(id=f"nt_{i:0>20}", body="x", author_id=user, record_type="opportunity",
                           record_id=deal["id"], created_at=when()))  # fmt: skip
            else:
                s.add(StageChange(id=f"sc_{i:0>20}", opportunity_id=deal["id"], to_stage_id=rng.choice(stages),
                                  from_stage_id=rng.choice([None, *stages]), created_by=user, at=when()))  # fmt: skip
    with ws.db.unit_of_work(ws.actor()) as uow:  # edits after the fact: each must move the counts
        s = uow.session
        messages = list(s.scalars(select(Message)))
        for m in rng.sample(messages, len(messages) // 3):  # a send that went out, or failed after all
            m.status = rng.choice(["sent", "failed", "delivered"])
        for m in rng.sample(messages, len(messages) // 4):
            m.created_at = m.created_at - timedelta(minutes=rng.randrange(0, 600))
        notes = list(s.scalars(select(Note)))
        for note in rng.sample(notes, len(notes) // 5):
            note.author_id = rng.choice(users)
        s.execute(delete(Note).where(Note.id.in_([n.id for n in rng.sample(notes, len(notes) // 5)])))


def _expected(ws: Workspace, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """Counting the rows in Python: the definition the report promises."""
    out: dict[str, dict[str, int]] = {}

    def add(user: str | None, metric: str) -> None:
        if user:
            out.setdefault(user, dict.fromkeys(["calls", "emails", "sms", "notes", "stage_moves"], 0))[metric] += 1

    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        s = uow.session
        for m in s.scalars(select(Message)):
            if start <= m.created_at < end and m.direction == "outbound" and m.status in ("sent", "delivered"):
                add(m.sent_by, METRIC[m.channel])
        for note in s.scalars(select(Note)):
            if start <= note.created_at < end:
                add(note.author_id, "notes")
        for sc in s.scalars(select(StageChange)):
            if start <= sc.at < end and sc.from_stage_id is not None:
                add(sc.created_by, "stage_moves")
    return out


def _reported(report: dict[str, Any], which: str) -> dict[str, dict[str, int]]:
    return {u["user_id"]: u[which] for u in report["items"] if any(u[which].values())}


@pytest.mark.parametrize("timezone", ["America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "UTC"])
def test_the_report_equals_counting_the_events_in_every_timezone_period_and_moment(
    acme: Workspace, timezone: str
) -> None:
    rng = random.Random(timezone)
    users = [acme.owner.id] + [acme.call("users_invite", email=f"u{i}@acme.test", name=f"U{i}")["id"] for i in range(2)]
    acme.call("settings_update", timezone=timezone)  # first: the events' edges include this zone's midnights
    _make_events(acme, rng, users)
    tz = ZoneInfo(timezone)
    moments = [
        NOW - timedelta(seconds=rng.randrange(0, 12 * 86400), microseconds=rng.randrange(10**6)) for _ in range(5)
    ]
    moments += [NOW.replace(minute=15, second=0, microsecond=0) - timedelta(days=2),  # on a quarter-hour
                datetime.combine((NOW - timedelta(days=1)).date(), datetime.min.time(), tz).astimezone(UTC)]  # fmt: skip
    for as_of in moments:
        for period in ("day", "week", "month"):
            report = acme.call("reports_activity", period=period, as_of=as_of.isoformat())
            start = datetime.fromisoformat(report["current_start"]).astimezone(tz)
            previous = datetime.fromisoformat(report["previous_start"]).astimezone(tz)
            # the previous period's same span of local time: wall-clock arithmetic, as a person reads "so far"
            previous_end = previous + (as_of.astimezone(tz) - start)
            assert _reported(report, "current") == _expected(acme, start, as_of), (period, as_of)
            assert _reported(report, "previous") == _expected(acme, previous, previous_end), (period, as_of)


def _counters(conn: Any) -> list[Any]:
    return sorted(conn.execute(text("SELECT * FROM activity_counts WHERE n <> 0")).all())


def test_the_counters_kept_by_the_triggers_equal_a_recount_from_the_rows(acme: Workspace) -> None:
    users = [acme.owner.id, acme.call("users_invite", email="t@acme.test", name="T")["id"]]
    _make_events(acme, random.Random(7), users)
    with acme.db.unit_of_work(acme.actor()) as uow:  # the tenant's transaction: row-level security on PostgreSQL
        conn = uow.session.connection()
        kept = _counters(conn)
        counters.recount(conn, acme.id)
        assert kept and _counters(conn) == kept


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # on PostgreSQL the triggers always run
def test_a_bulk_load_counts_nothing_until_its_recount(acme: Workspace) -> None:
    seed_demo(acme.db, acme.slug, scale=300, seed=5)  # deferred, then recounted at the end
    with acme.db.engine.begin() as conn:
        seeded = _counters(conn)
        assert seeded, "the demo seed has activity"
    contact = acme.call("contacts_list", limit=1)["items"][0]["id"]
    with bulk.deferred():
        acme.call("notes_create", record_type="contact", record_id=contact, body="made during a bulk load")
    with acme.db.engine.begin() as conn:
        assert _counters(conn) == seeded
        counters.recount(conn, acme.id)
        assert sum(row.n for row in _counters(conn)) == sum(row.n for row in seeded) + len(
            counters.SPANS
        )  # one a bucket
