"""Web UI pages at the server on the 100k demo (issue 19: every page ≤ 300 ms).

`python -m bench.pages [--scale 100000] [--runs 7]` seeds a fresh SQLite database in a temporary folder with
`harmonia seed demo`'s generator (the workspace a new user sees, at `scale` contacts), signs its owner in, and
requests every main page — for the record pages, the busiest record of each kind (the contact with the most
messages, the deal with the longest history, the account with the most contacts, the lender with the most
submissions, the longest thread) — through the ASGI app in this process: routing, the operations, the templates,
no network. Prints the median and the worst of the last `runs - 2` requests per page, and writes
bench/results/pages.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from .report import write_json

PASSWORD = "correct horse battery staple 42"


def measure(scale: int, runs: int) -> dict[str, Any]:
    from starlette.testclient import TestClient

    from harmonia.config import Settings
    from harmonia.db import Database
    from harmonia.migrate import upgrade
    from harmonia.seed import seed_demo
    from harmonia.services.people import set_password
    from harmonia.services.tenancy import create_tenant
    from harmonia.surfaces.app import create_app

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        db = Database(url)
        slug = create_tenant(db, "Demo Funding", owner_email="owner@demo.test")[0].slug
        seed_demo(db, slug, scale=scale, seed=42)
        set_password(db, slug, "owner@demo.test", PASSWORD)
        with sqlite3.connect(path) as raw:

            def busiest(sql: str) -> str:
                return str(raw.execute(sql).fetchone()[0])

            contact = busiest("SELECT v.contact_id FROM messages m JOIN conversations v ON v.id = m.conversation_id "
                              "GROUP BY v.contact_id ORDER BY count(*) DESC LIMIT 1")  # fmt: skip
            deal = busiest("SELECT opportunity_id FROM stage_changes GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
            account = busiest("SELECT account_id FROM contacts WHERE account_id IS NOT NULL GROUP BY 1 "
                              "ORDER BY count(*) DESC LIMIT 1")  # fmt: skip
            lender = busiest("SELECT lender_id FROM submissions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
            thread = busiest("SELECT conversation_id FROM messages GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        pages = ["/board", "/contacts", "/contacts?q=maria", f"/contacts/{contact}", "/accounts",
                 f"/accounts/{account}", "/lenders", f"/lenders/{lender}", "/inbox", f"/inbox?conversation={thread}",
                 "/drafts", "/tasks", "/reports", "/automation", f"/deals/{deal}", f"/deals/{deal}/brief", "/audit",
                 "/settings/comms", "/settings/users", "/settings/tokens"]  # fmt: skip
        app = create_app(Settings(database_url=url, inprocess_dispatch=False, secret_key="b" * 48), db)
        out: dict[str, Any] = {"scale": scale, "pages": {}}
        with TestClient(app, base_url="http://127.0.0.1") as client:
            form = client.get(f"/signin?workspace={slug}").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form)
            assert csrf is not None
            signed_in = client.post("/signin", follow_redirects=False, data={
                "workspace": slug, "email": "owner@demo.test", "password": PASSWORD, "csrf": csrf.group(1)})  # fmt: skip
            assert signed_in.status_code == 303, signed_in.status_code
            for page in pages:
                ms, statuses, size = [], set(), 0
                for i in range(runs):
                    started = time.perf_counter()
                    answer = client.get(page)
                    if i >= 2:  # the first two warm the compiled statements and the template cache
                        ms.append((time.perf_counter() - started) * 1000)
                    statuses.add(answer.status_code)
                    size = len(answer.content)
                out["pages"][page] = {"median_ms": round(statistics.median(ms), 1), "max_ms": round(max(ms), 1),
                                      "status": sorted(statuses), "bytes": size}  # fmt: skip
        db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pages")
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    result = measure(args.scale, args.runs)
    write_json(result, "pages")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
