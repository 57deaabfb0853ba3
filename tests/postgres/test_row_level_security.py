"""PostgreSQL's second wall: every tenant table has row-level security enabled, forced and keyed on tenant_id; the
application role cannot bypass it; no tenant in the transaction means no rows; a pooled connection never carries a
tenant into the next transaction; the audit log refuses edits."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import text

from harmonia.db import Database
from harmonia.models import Base, TenantOwned
from harmonia.services import comms, tenancy

from ..conftest import Workspace

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db", ["postgresql"], indirect=True)]


@pytest.fixture
def pgdb(db: Database) -> Database:
    return db


TENANT_TABLES = sorted({m.local_table.name for m in Base.registry.mappers if issubclass(m.class_, TenantOwned)}
                       | {"search_documents"})  # fmt: skip


def test_every_tenant_table_has_rls_enabled_forced_and_a_tenant_policy(pgdb: Database, report_figure: Any) -> None:
    with pgdb.engine.connect() as conn:
        rows = {r[0]: r for r in conn.execute(text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "(SELECT string_agg(pg_get_expr(p.polqual, p.polrelid), ';') FROM pg_policy p WHERE p.polrelid = c.oid), "
            "(SELECT string_agg(pg_get_expr(p.polwithcheck, p.polrelid), ';') FROM pg_policy p WHERE p.polrelid = c.oid) "
            "FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"))}  # fmt: skip
    with_tenant_id = set(TENANT_TABLES)
    missing = [t for t in with_tenant_id if t not in rows or not (rows[t][1] and rows[t][2])]
    assert missing == []
    for table in with_tenant_id:
        assert "tenant_id" in (rows[table][3] or "") and "tenant_id" in (rows[table][4] or ""), table
    report_figure(f"RLS lint: {len(with_tenant_id)} tenant tables, all enabled+forced with a tenant_id policy")


def test_every_unique_constraint_and_index_on_a_tenant_table_includes_tenant_id(pgdb: Database) -> None:
    with pgdb.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.relname, i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_class t ON t.oid = x.indrelid WHERE x.indisunique AND t.relnamespace = 'public'::regnamespace"
            )
        )
        offenders = [(t, i) for t, i, d in rows if t in TENANT_TABLES and "tenant_id" not in d]
    assert offenders == []


def test_the_application_role_cannot_bypass_rls_and_owns_nothing(pgdb: Database) -> None:
    with pgdb.engine.connect() as conn:
        su, bypass = conn.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
        owned = conn.execute(text("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")).scalar()
        truncate = conn.execute(text("SELECT bool_or(has_table_privilege(current_user, c.oid, 'TRUNCATE')) FROM "
                                     "pg_class c WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
                                     )).scalar()  # fmt: skip
    assert (su, bypass, owned, truncate) == (False, False, 0, False)


def test_without_a_tenant_in_the_transaction_no_row_is_visible(pgdb: Database, acme: Workspace) -> None:
    acme.call("contacts_create", first_name="Ann", email="ann@example.com")
    with pgdb.engine.connect() as conn:  # raw connection: no unit of work, no tenant set
        assert conn.execute(text("SELECT count(*) FROM contacts")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 0


def test_a_pooled_connection_never_carries_a_tenant_into_the_next_transaction(
    acme: Workspace, rival: Workspace
) -> None:
    db = Database(acme.db.url, pool_size=1)
    try:
        acme.call("contacts_create", email="a@acme.test")
        rival.call("contacts_create", email="r@rival.test")
        seen = []
        for ws in (acme, rival, acme, rival):
            with db.unit_of_work(ws.actor(), write=False) as uow:
                seen.append(uow.session.execute(text("SELECT count(*), min(tenant_id) FROM contacts")).one())
            with db.engine.connect() as conn:  # same pooled connection, new transaction, no tenant
                assert conn.execute(text("SELECT current_setting('app.tenant_id', true)")).scalar() in ("", None)
                assert conn.execute(text("SELECT count(*) FROM contacts")).scalar() == 0
        assert [s[1] for s in seen] == [acme.id, rival.id, acme.id, rival.id]
    finally:
        db.dispose()


def test_four_workers_deliver_a_thousand_messages_once_each(
    pgdb: Database, acme: Workspace, monkeypatch: Any, report_figure: Any
) -> None:
    from datetime import UTC, datetime

    import time_machine

    from harmonia.config import get_settings
    from harmonia.ids import new_id
    from harmonia.models import Contact, Conversation, Message

    monkeypatch.setenv("HARMONIA_INPROCESS_DISPATCH", "false")
    get_settings.cache_clear()
    tenancy.set_outbound(pgdb, acme.slug, True, actor=acme.owner_actor("cli"), reason="load test")
    with pgdb.unit_of_work(acme.actor()) as uow:
        c = Contact(id=new_id("contact"), first_name="Load", email="load@example.com", sms_consent="opted_in")
        uow.session.add(c)
        uow.session.flush()  # no ORM relationships: parents are flushed before children explicitly
        conv = Conversation(id=new_id("conversation"), contact_id=c.id, channel="email")
        uow.session.add(conv)
        uow.session.flush()
        for i in range(1000):
            uow.session.add(Message(id=new_id("message"), conversation_id=conv.id, direction="outbound",
                                    channel="email", subject=f"m{i}", body=str(i), status="queued",
                                    queued_at=datetime.now(UTC)))  # fmt: skip
    with pgdb.unit_of_work(acme.actor()) as uow:  # budget off for this test
        from harmonia.models import Tenant

        t = uow.session.get(Tenant, acme.id)
        assert t is not None
        t.settings = {**t.settings, "send_budget_per_hour": {}}
    providers = comms.Providers()
    box = providers.sandbox
    errors: list[BaseException] = []

    def worker() -> None:
        db = Database(pgdb.url, pool_size=1)
        try:
            while comms.dispatch_due(db, providers, batch=25):
                pass
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.dispose()

    with time_machine.travel(datetime(2026, 11, 24, 18, tzinfo=UTC), tick=True):
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=300)
    get_settings.cache_clear()
    counts = Counter(e.message_id for e in box.delivered)
    duplicates = sum(n - 1 for n in counts.values())
    report_figure(
        f"4 workers on PostgreSQL, 1000 messages: delivered {len(counts)}, duplicates {duplicates}, "
        f"lost {1000 - len(counts)}"
    )
    assert errors == []
    assert (len(counts), duplicates) == (1000, 0)
