"""The workload: which tool calls an operator's AI client makes, with arguments drawn from the dataset.

Mix (issue 7): morning brief 10%, stale deals 5%, search 30%, gets and lists 30%, creates and updates 15%,
sends through the outbox 5%. Arguments come from real rows of the measured tenant, drawn with a seeded RNG.
"""

from __future__ import annotations

import random
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["MIX", "REPORTS", "Pools", "Workload"]

# (tool, weight in %) — "kind" names the shape for per-tool reporting.
MIX: list[tuple[str, str, float]] = [
    ("morning_brief", "opportunities_list", 10),
    ("stale_deals", "opportunities_list", 5),
    ("search_name", "search", 12),
    ("search_email", "search", 6),
    ("search_phone", "search", 4.5),
    ("search_company", "search", 4.5),
    ("search_broad", "search", 3),
    ("contacts_get", "contacts_get", 8),
    ("opportunities_get", "opportunities_get", 7),
    ("contacts_list", "contacts_list", 5),
    ("pipelines_list", "pipelines_list", 4),
    ("conversations_list", "conversations_list", 3),
    ("reports_activity", "reports_activity", 3),
    ("contacts_create", "contacts_create", 4),
    ("contacts_update", "contacts_update", 4),
    ("notes_create", "notes_create", 4),
    ("tasks_create", "tasks_create", 3),
    ("email_send", "email_send", 5),
]


# The `reports` toolset (opt-in, so not in the mix the transports replay): measured on its own by `python -m
# bench.reports`, with the arguments a model would send — each period, a custom year, one owner, one lender.
REPORTS: list[tuple[str, str]] = [
    ("pipeline_week", "reports_pipeline"),
    ("pipeline_quarter", "reports_pipeline"),
    ("pipeline_year_owner", "reports_pipeline"),
    ("lenders_week", "reports_lenders"),
    ("lenders_quarter", "reports_lenders"),
    ("lenders_year_one", "reports_lenders"),
]


@dataclass
class Pools:
    """Real values of the measured tenant to draw arguments from."""

    contact_ids: list[str] = field(default_factory=list)
    opportunity_ids: list[str] = field(default_factory=list)
    first_names: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    companies: list[str] = field(default_factory=list)
    emailable: list[str] = field(default_factory=list)  # subscribed, not do-not-disturb: sends that may go out
    owner_ids: list[str] = field(default_factory=list)
    lender_ids: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: str, tenant_slug: str = "bench", n: int = 2000) -> Pools:
        conn = sqlite3.connect(path)
        try:
            (tenant_id,) = conn.execute("SELECT id FROM tenants WHERE slug = ?", (tenant_slug,)).fetchone()

            def col(sql: str) -> list[Any]:
                return [r[0] for r in conn.execute(sql, (tenant_id, n)) if r[0]]

            return cls(
                contact_ids=col("SELECT id FROM contacts WHERE tenant_id = ? ORDER BY random() LIMIT ?"),
                opportunity_ids=col("SELECT id FROM opportunities WHERE tenant_id = ? ORDER BY random() LIMIT ?"),
                first_names=col("SELECT first_name FROM contacts WHERE tenant_id = ? ORDER BY random() LIMIT ?"),
                emails=col(
                    "SELECT email FROM contacts WHERE tenant_id = ? AND email IS NOT NULL ORDER BY random() LIMIT ?"
                ),
                phones=col(
                    "SELECT phone FROM contacts WHERE tenant_id = ? AND phone IS NOT NULL ORDER BY random() LIMIT ?"
                ),
                companies=col("SELECT name FROM accounts WHERE tenant_id = ? ORDER BY random() LIMIT ?"),
                emailable=col(
                    "SELECT id FROM contacts WHERE tenant_id = ? AND email IS NOT NULL AND dnd = 0 "
                    "AND email_consent = 'subscribed' ORDER BY random() LIMIT ?"
                ),
                owner_ids=col("SELECT DISTINCT owner_id FROM opportunities WHERE tenant_id = ? LIMIT ?"),
                lender_ids=col("SELECT id FROM lenders WHERE tenant_id = ? LIMIT ?"),
            )
        finally:
            conn.close()


class Workload:
    def __init__(self, pools: Pools, seed: int = 11) -> None:
        self.pools = pools
        self.rng = random.Random(seed)
        self._n = 0
        self._run = format(time.time_ns() // 1000 % 10**10, "x")

    def args(self, kind: str) -> dict[str, Any]:
        """Arguments for one call of `kind` (a name from MIX)."""
        p, r = self.pools, self.rng
        self._n += 1
        now = datetime.now(UTC)
        if kind == "morning_brief":
            return {"updated_since": (now - timedelta(hours=24)).isoformat(), "limit": 25}
        if kind == "stale_deals":
            return {"stale_days": 14, "limit": 25}
        if kind == "search_name":
            name = r.choice(p.first_names)
            return {"q": name[: r.randint(3, max(3, len(name)))]}
        if kind == "search_email":
            return {"q": r.choice(p.emails).split("@")[0]}
        if kind == "search_phone":
            digits = r.choice(p.phones).lstrip("+")
            return {"q": digits[-7:]}
        if kind == "search_company":
            return {"q": r.choice(p.companies).split()[0]}
        if kind == "search_broad":
            return {"q": r.choice(["ma", "jo", "sa", "an", "ch", "re"])}
        if kind == "contacts_get":
            return {"contact_id": r.choice(p.contact_ids)}
        if kind == "opportunities_get":
            return {"opportunity_id": r.choice(p.opportunity_ids)}
        if kind == "contacts_list":
            return {"limit": 25}
        if kind in ("pipelines_list",):
            return {}
        if kind == "conversations_list":
            return {"contact_id": r.choice(p.contact_ids)}
        if kind == "reports_activity":
            return {"period": "week"}
        if kind in ("pipeline_week", "lenders_week"):
            return {"period": "week"}
        if kind in ("pipeline_quarter", "lenders_quarter"):
            return {"period": "quarter"}
        if kind in ("pipeline_year_owner", "lenders_year_one"):
            year = {"since": (now - timedelta(days=365)).date().isoformat(), "until": now.date().isoformat()}
            if kind == "pipeline_year_owner":
                return year | {"owner_id": r.choice(p.owner_ids)}
            return year | {"lender_id": r.choice(p.lender_ids)}
        if kind == "contacts_create":
            tag = f"{self._run}{self._n}"  # unique across runs on a cached dataset
            return {"first_name": "Bench", "last_name": f"User{tag}", "email": f"bench{tag}@bench.invalid"}
        if kind == "contacts_update":
            return {"contact_id": r.choice(p.contact_ids), "title": r.choice(["Owner", "CFO", "Manager"])}
        if kind == "notes_create":
            return {"record_type": "contact", "record_id": r.choice(p.contact_ids), "body": "Called, left a message."}
        if kind == "tasks_create":
            return {
                "title": "Follow up",
                "record_type": "contact",
                "record_id": r.choice(p.contact_ids),
                "due_at": (now + timedelta(days=2)).isoformat(),
            }
        if kind == "email_send":
            return {"contact_id": r.choice(p.emailable), "subject": "Following up", "body": "Any news on the app?"}
        raise KeyError(kind)

    def pick(self) -> tuple[str, str]:
        """A (kind, tool) drawn by the mix weights."""
        kinds = [(k, t) for k, t, _ in MIX]
        weights = [w for _, _, w in MIX]
        return self.rng.choices(kinds, weights=weights, k=1)[0]
