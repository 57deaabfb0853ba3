"""Token verification per request, at the server: a static `hm_` token against an OAuth access token (issue 15 asks
both under 0.2 ms). `python -m bench.token_verification [DATABASE_URL]` (default: a fresh SQLite file).

Measures `authenticate()` itself — what /mcp runs before every request — after a warm-up, 2,000 calls each.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

from harmonia.db import Actor, Database
from harmonia.migrate import upgrade
from harmonia.services import oauth
from harmonia.services.tenancy import authenticate, create_tenant, create_token

RESOURCE = "http://127.0.0.1:8765/mcp"


def measure(db: Database, secret: str, n: int = 2000) -> tuple[float, float]:
    for _ in range(100):
        authenticate(db, secret, channel="mcp", resource=RESOURCE)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        authenticate(db, secret, channel="mcp", resource=RESOURCE)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples) * 1e3, samples[int(n * 0.99)] * 1e3


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/tokens.db"
    if len(sys.argv) == 1:
        upgrade(url)
    db = Database(url)
    tenant, owner = create_tenant(db, "Token bench", owner_email="owner@tokens.bench")
    assert owner is not None
    static = create_token(db, tenant.slug, owner.email, ["mcp:read"]).secret
    with db.unit_of_work(Actor(tenant_id=tenant.id, channel="system")) as uow:
        grant = oauth._issue(uow, user_id=owner.id, client_id="bench", scopes=["mcp:read"], resource=RESOURCE,
                             family="tk_01JD0000000000000000")  # fmt: skip
    for name, secret in (("static hm_ token", static), ("OAuth access token", grant.access_token)):
        median, p99 = measure(db, secret)
        print(f"{name:20} median {median:.3f} ms   p99 {p99:.3f} ms")
    db.dispose()


if __name__ == "__main__":
    main()
