"""The audit log is hash-chained per tenant: any edit, deletion or reordering is detected."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from harmonia.models import AuditEvent
from harmonia.services.audit import append, verify_chain

from ..conftest import Workspace


def _fill(ws: Workspace, n: int) -> None:
    with ws.db.unit_of_work(ws.actor()) as uow:
        for i in range(n):
            append(uow, action=f"test_{i}", outcome="ok", target_type="contact", target_id=f"ct_{i}")


def test_an_untouched_chain_verifies(acme: Workspace, rival: Workspace) -> None:
    _fill(acme, 5)
    _fill(rival, 3)
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        assert verify_chain(uow) == (True, 6)  # 5 + the tenant's creation
    with rival.db.unit_of_work(rival.actor(), write=False) as uow:
        assert verify_chain(uow) == (True, 4)


def test_editing_one_audit_row_breaks_the_chain_at_that_row(acme: Workspace) -> None:
    _fill(acme, 5)
    if acme.db.dialect == "postgresql":  # the database itself refuses the edit; the chain is the second check
        with pytest.raises(DBAPIError, match="append-only"), acme.db.unit_of_work(acme.actor()) as uow:
            uow.session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(outcome="denied"))
        return
    with acme.db.unit_of_work(acme.actor()) as uow:
        uow.session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(outcome="denied"))
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        assert verify_chain(uow) == (False, 2)


def test_deleting_an_audit_row_or_the_tail_is_detected(acme: Workspace) -> None:
    _fill(acme, 4)
    if acme.db.dialect == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), acme.db.unit_of_work(acme.actor()) as uow:
            uow.session.delete(uow.session.scalar(select(AuditEvent).limit(1)))
        return
    with acme.db.unit_of_work(acme.actor()) as uow:
        last = uow.session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
        uow.session.delete(last)
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        intact, _ = verify_chain(uow)
    assert not intact
