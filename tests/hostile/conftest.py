"""The hostile-input corpus: values and bodies an outside probe sends, and a tally of how each surface answered.

A probe's answer is *accepted* (2xx / a result), a *refusal* (4xx, a JSON-RPC error other than -32603, or an
`isError` result whose code is not `internal_error`) or an *internal error* (5xx, -32603, `internal_error`). The
contract: 0 internal errors, every refusal a sentence with no internals in it, and no refused write leaves a row.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from harmonia.config import Settings
from harmonia.db import Database
from harmonia.services.people import set_password
from harmonia.services.tenancy import create_token
from harmonia.surfaces.app import create_app

from ..conftest import Workspace

PASSWORD = "correct horse battery staple"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
               "MCP-Protocol-Version": "2025-11-25"}  # fmt: skip
LEAKS = re.compile(r"Traceback|SQLSTATE|psycopg|sqlite3|sqlalchemy|IntegrityError|\.py\"?, line|"
                   r"duplicate key|violates|RecursionError|AttributeError|KeyError|TypeError", re.I)  # fmt: skip


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


# Strings: NUL, oversize (top-level and nested caps), invisible and right-to-left characters, injections of every
# flavour, astral and combining characters, header-splitting line breaks.
TEXTS: list[Any] = [
    "nul\x00byte",
    "x" * 200_001,
    "\u202egnp.exe\u202c \u200bzero\u200dwidth\ufeff",
    "Robert'); DROP TABLE contacts;--",
    "{{7*7}}${7*7}<script>alert(1)</script>",
    "🙂" * 500 + "e\u0301\u0301\u0301",
    "line\r\nSet-Cookie: pwned=1",
    "\U000e0049\U000e0047\U000e004e hidden tag characters",
    "../../../etc/passwd",
    " ",
]
# Wrong types and extreme numbers; a huge batch; deep nesting that stays inside a JSON parser's limit.
VALUES: list[Any] = [
    0,
    -1,
    2**70,
    1.5e308,
    True,
    None,
    [],
    {},
    ["a"] * 5_000,
    {"k": "v" * 20_000},
    {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": "deep"}}}}}}}}},
]
# Forged cursors: bad dates, wrong types and shapes, not base64, not JSON, huge.
CURSORS: list[str] = [
    _cursor(["2026-13-45T99:99:99", "ct_00000000000000000000"]),
    _cursor(["not a date", "x"]),
    _cursor([1, 2]),
    _cursor([{"a": 1}, []]),
    _cursor([None, None]),
    _cursor([True, False]),
    _cursor([1e308, "x" * 5000]),
    _cursor(["2026-01-01T00:00:00+00:00", "nul\x00"]),
    _cursor(["a", "b", "c"]),
    _cursor({"sort": "x"}),
    "!!!not-base64!!!",
    base64.urlsafe_b64encode(b"\xff\xfe not json").decode(),
    "A" * 100_000,
    _cursor([[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]),
]
# Whole request bodies a JSON endpoint must refuse without crashing.
RAW_BODIES: list[bytes] = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"\xff\xfe\x00garbage",
    b"NaN",
    b'{"first_name": NaN}',
    b'{"first_name": "\\ud800"}',
    b'{"first_name": "a", "first_name": "b"}',
    b"[]",
    b'"just a string"',
    b"",
    b"{" + b" " * 10 + b"}",
    b'{"first_name": "' + b"x" * (2 * 1024 * 1024) + b'"}',
]


def hostile_values(field_name: str) -> list[Any]:
    """Every text and wrong-typed value; cursors for a `cursor` argument."""
    return [*CURSORS, *TEXTS[:3], 5, None] if field_name == "cursor" else [*TEXTS, *VALUES]


@dataclass
class Tally:
    surface: str
    backend: str
    probes: int = 0
    accepted: int = 0
    refusals: int = 0
    internal: list[str] = field(default_factory=list)
    unhelpful: list[str] = field(default_factory=list)

    def refused(self, where: str, message: str) -> None:
        self.probes += 1
        self.refusals += 1
        if len(message.strip()) < 12 or LEAKS.search(message):
            self.unhelpful.append(f"{where}: {message[:200]!r}")

    def ok(self) -> None:
        self.probes += 1
        self.accepted += 1

    def failed(self, where: str, message: str) -> None:
        self.probes += 1
        self.internal.append(f"{where}: {message[:300]!r}")

    def line(self) -> str:
        return (f"hostile corpus, {self.surface} on {self.backend}: {self.probes} probes, {self.accepted} accepted, "
                f"{self.refusals} refusals, {len(self.internal)} internal errors")  # fmt: skip

    def check(self) -> None:
        assert self.internal == [], "internal errors:\n" + "\n".join(self.internal[:30])
        assert self.unhelpful == [], "refusals that explain nothing or leak internals:\n" + "\n".join(self.unhelpful)


# Every CRM table a write could touch; the audit log and sessions grow by design.
COUNTED = ("contacts", "accounts", "opportunities", "notes", "tasks", "messages", "conversations", "tags", "taggings",
           "users", "access_tokens", "stage_changes", "events", "calendars", "submissions", "lenders")  # fmt: skip


def row_counts(db: Database, ws: Workspace) -> tuple[int, ...]:
    """Rows of every CRM table of the workspace (RLS on PostgreSQL keeps the count to it)."""
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t} WHERE tenant_id = :t)" for t in COUNTED)
    with db.unit_of_work(ws.actor(), write=False) as uow:
        return tuple(uow.session.execute(text(sql), {"t": ws.id}).one())


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@dataclass
class Site:
    db: Database
    ws: Workspace
    app: Any
    token: str
    read_token: str


TWILIO_TOKEN = "hostile-corpus-twilio-token"


@pytest.fixture
def site(acme: Workspace) -> Iterator[Site]:
    """The workspace with one of each record to aim at, a deal without an amount, tokens and a password."""
    ws = acme
    contact = ws.call("contacts_create", first_name="Ann", email="ann@example.com", phone="+15555550100")
    ws.call("opportunities_create", name="No amount yet", contact_id=contact["id"])
    ws.call("notes_create", record_type="contact", record_id=contact["id"], body="first call went well")
    set_password(ws.db, ws.slug, ws.owner.email, PASSWORD)
    token = create_token(ws.db, ws.slug, ws.owner.email, ["mcp:read", "mcp:write", "mcp:comms", "mcp:admin"]).secret
    read_token = create_token(ws.db, ws.slug, ws.owner.email, ["mcp:read"], "reader").secret
    settings = Settings(database_url=ws.db.url, secret_key="hostile-corpus-secret-key", twilio_auth_token=TWILIO_TOKEN)
    app = create_app(settings, ws.db)
    yield Site(ws.db, ws, app, token, read_token)
