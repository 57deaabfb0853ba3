"""Workflow figures (issue 17): enrolling 10,000 contacts, and due steps per second on SQLite (sandbox provider).

    .venv/bin/python -m bench.workflows [--contacts 10000] [--steps 2000]

Prints one JSON object; docs/benchmarks.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from harmonia.clock import ManualClock
from harmonia.db import Database
from harmonia.ids import new_id
from harmonia.migrate import upgrade
from harmonia.models import Contact
from harmonia.ops import registry
from harmonia.services import tenancy
from harmonia.workflows import engine


def _contacts(db: Database, actor: Any, n: int) -> list[str]:
    ids = [new_id("contact") for _ in range(n)]
    with db.unit_of_work(actor) as uow:
        uow.session.execute(insert(Contact), [{"id": cid, "first_name": f"C{i}", "email": f"c{i}@bench.example",
                                               "email_consent": "subscribed"} for i, cid in enumerate(ids)])  # fmt: skip
    return ids


def _steps_per_second(db: Database, actor: Any, ids: list[str], steps: list[dict[str, Any]]) -> float:
    reg = registry()
    wf = reg.invoke(db, actor, "workflows_upsert", {"name": f"bench {steps[0]['action']}", "kind": "sequence",
                                                     "steps": steps, "active": True})  # fmt: skip
    reg.invoke(db, actor, "sequences_enroll", {"workflow_id": wf.id, "contact_ids": ids})  # type: ignore[attr-defined]
    start, ran = time.perf_counter(), 0
    while n := engine.run_due(db, batch=500):
        ran += n
    return ran / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        db = Database(url, clock=ManualClock())
        tenant, _ = tenancy.create_tenant(db, "Bench", owner_email="owner@bench.example")
        tenancy.set_outbound(db, tenant.slug, True, actor=tenancy.owner_actor(db, tenant.id, channel="cli"),
                             reason="bench")  # fmt: skip
        actor = tenancy.owner_actor(db, tenant.id, channel="cli")
        ids = _contacts(db, actor, args.contacts)
        reg = registry()
        wf = reg.invoke(db, actor, "workflows_upsert", {"name": "enroll", "kind": "sequence", "active": True,
                                                         "steps": [{"action": "wait", "days": 1}]})  # fmt: skip
        start = time.perf_counter()
        answer = reg.invoke(db, actor, "sequences_enroll", {"workflow_id": wf.id, "contact_ids": ids})  # type: ignore[attr-defined]
        enroll_s = time.perf_counter() - start
        assert answer.enrolled == args.contacts  # type: ignore[attr-defined]
        more = _contacts(db, actor, args.steps * 2)
        waits = _steps_per_second(db, actor, more[: args.steps], [{"action": "wait", "days": 1}])
        sends = _steps_per_second(db, actor, more[args.steps :],
                                  [{"action": "send_email", "subject": "Hi", "body": "Hello {{first_name}}"}])  # fmt: skip
        db.dispose()
    print(json.dumps({"enroll_contacts": args.contacts, "enroll_s": round(enroll_s, 3),
                      "wait_steps_per_s": round(waits), "send_steps_per_s": round(sends)}))  # fmt: skip


if __name__ == "__main__":
    main()
