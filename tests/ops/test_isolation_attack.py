"""Isolation proven by attack: tenant A calls every operation of the registry (the 37 MCP tools and the REST/UI-only
ones — MCP and REST both go through the same `invoke`) with ids, tag names, search terms and cursors of tenant B.

Invariants, on both databases: nothing of B appears in any answer or error A gets (0 leaks); B's rows are unchanged
(0 foreign writes); and an id that exists in B is answered exactly like an id that never existed."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from harmonia.errors import HarmoniaError
from harmonia.models import Contact, Message, Opportunity, Tag, Task
from harmonia.ops import build_registry
from harmonia.ops.schema import input_schema
from harmonia.seed import seed_demo

from ..conftest import Workspace

MARKER = "Zebulonquixote"
OPS = sorted(op.name for op in build_registry())
ID_FIELD = re.compile(r"(_id|^record_id|^draft_id)$")


def _b_secrets(ws: Workspace) -> tuple[list[str], list[str], list[str]]:
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        ids = [r for (r,) in uow.session.execute(select(Contact.id).limit(15))]
        ids += [r for (r,) in uow.session.execute(select(Opportunity.id).limit(15))]
        ids += [r for (r,) in uow.session.execute(select(Message.id).limit(5))]
        ids += [r for (r,) in uow.session.execute(select(Task.id).limit(5))]
        tags = [r for (r,) in uow.session.execute(select(Tag.name))]
    return ids, tags, [MARKER.lower(), f"{MARKER}@rival.example".lower()]


def _fingerprint(ws: Workspace) -> str:
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        rows = [
            sorted(
                (c.id, c.first_name, c.email, c.owner_id, c.sms_consent) for c in uow.session.scalars(select(Contact))
            ),
            sorted((o.id, o.stage_id, o.amount, o.owner_id) for o in uow.session.scalars(select(Opportunity))),
            sorted((m.id, m.status) for m in uow.session.scalars(select(Message))),
            sorted((t.id, t.status, t.title) for t in uow.session.scalars(select(Task))),
        ]
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()


def _base_args(name: str) -> dict[str, Any]:
    op = build_registry().get(name)
    assert op is not None
    schema = input_schema(op.input)
    args: dict[str, Any] = {}
    for field in schema.get("required", []):
        prop = schema["properties"][field]
        if "enum" in prop:
            args[field] = prop["enum"][0]
        elif prop.get("format") == "date-time":
            args[field] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        elif prop.get("format") == "date":
            args[field] = date.today().isoformat()
        else:
            args[field] = {"integer": 1, "number": 1.0, "boolean": False, "array": [], "object": {}}.get(
                prop.get("type", "string"), "probe text"
            )
    if name == "calendars_events":
        args["start"] = datetime(2020, 1, 1, tzinfo=UTC).isoformat()
    return args


def _run(ws: Workspace, name: str, args: dict[str, Any]) -> str:
    try:
        result = ws.h.invoke(ws.actor(channel="mcp", scopes=frozenset(
            {"mcp:read", "mcp:write", "mcp:comms", "mcp:admin"})), name, args)  # fmt: skip
        return json.dumps(result.model_dump(mode="json"), default=str)
    except HarmoniaError as error:
        return "ERROR " + error.message + json.dumps(error.details, default=str)


def test_every_operation_probed_with_the_other_tenants_ids_tags_and_terms_leaks_nothing(
    acme: Workspace, rival: Workspace, report_figure: Any
) -> None:
    seed_demo(acme.db, acme.slug, scale=60, seed=1)
    seed_demo(rival.db, rival.slug, scale=60, seed=2)
    rival.call("contacts_create", first_name=MARKER, email=f"{MARKER}@rival.example", tags=["rivalonly"],
               create_missing_tags=True)  # fmt: skip
    b_ids, b_tags, b_terms = _b_secrets(rival)
    page = rival.call("contacts_list", limit=1)
    b_cursor = page["next_cursor"]
    before = _fingerprint(rival)
    stats = {"probes": 0, "leaks": 0, "distinguishers": 0}

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(name=st.sampled_from(OPS), foreign=st.sampled_from(b_ids), tag=st.sampled_from(b_tags or ["x"]),
           term=st.sampled_from(b_terms))  # fmt: skip
    def probe(name: str, foreign: str, tag: str, term: str) -> None:
        op = build_registry().get(name)
        assert op is not None
        fields = input_schema(op.input)["properties"]
        args = _base_args(name)
        id_fields = [f for f in fields if ID_FIELD.search(f)]
        for f in id_fields:
            if f in args or f in ("contact_id", "opportunity_id", "conversation_id", "record_id", "draft_id"):
                args[f] = foreign
        if "q" in fields:
            args["q"] = term
        for f in ("tag", "add", "remove"):
            if f in fields:
                args[f] = [tag]
        if "cursor" in fields and not id_fields:
            args["cursor"] = b_cursor
        if "record_type" in args and foreign[:3] in ("ct_", "op_"):
            args["record_type"] = "contact" if foreign.startswith("ct_") else "opportunity"
        answer = _run(acme, name, args)
        stats["probes"] += 1
        lowered = answer.lower()
        leaked = [s for s in [*b_ids, *b_terms, "rivalonly"] if s.lower() in lowered and s not in json.dumps(args)]
        if leaked:
            stats["leaks"] += 1
        assert leaked == [], (name, args, answer[:300])
        if any(args.get(f) == foreign for f in id_fields):
            made_up = foreign[:3] + "Z" * (len(foreign) - 3)
            other = _run(acme, name, {k: (made_up if v == foreign else v) for k, v in args.items()})
            same = answer.replace(foreign, "ID") == other.replace(made_up, "ID")
            stats["distinguishers"] += 0 if same else 1
            assert same, (name, answer[:300], other[:300])

    probe()
    foreign_writes = 0 if _fingerprint(rival) == before else 1
    report_figure(
        f"isolation attack (service layer) on {acme.db.dialect}: {stats['probes']} probes over {len(OPS)} "
        f"operations; {stats['leaks']} leaks, {foreign_writes} foreign writes, {stats['distinguishers']} "
        "exists-elsewhere vs not-found differences"
    )
    assert foreign_writes == 0


async def test_every_mcp_tool_probed_through_the_mcp_server_with_the_other_tenants_ids_leaks_nothing(
    acme: Workspace, rival: Workspace, report_figure: Any
) -> None:
    from harmonia.surfaces.mcp_server import build_server
    from mcp import Client

    seed_demo(rival.db, rival.slug, scale=40, seed=3)
    rival.call("contacts_create", first_name=MARKER, email=f"{MARKER}@rival.example")
    b_ids, _, b_terms = _b_secrets(rival)
    before = _fingerprint(rival)
    server = build_server(acme.h, actor=acme.actor())
    probes = leaks = 0
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        for tool in tools:
            props = tool.input_schema.get("properties", {})
            for foreign in b_ids[::4]:
                args = _base_args(tool.name)
                for f in props:
                    if ID_FIELD.search(f) and (f in args or f in ("contact_id", "opportunity_id", "conversation_id")):
                        args[f] = foreign
                if "q" in props:
                    args["q"] = b_terms[0]
                result = await client.call_tool(tool.name, args)
                text = json.dumps(result.model_dump(mode="json"), default=str).lower()
                probes += 1
                if any(s.lower() in text for s in [*b_ids, *b_terms] if s not in json.dumps(args)):
                    leaks += 1
    foreign_writes = 0 if _fingerprint(rival) == before else 1
    report_figure(
        f"isolation attack (MCP server, SDK client) on {acme.db.dialect}: {probes} probes over "
        f"{len(tools)} tools; {leaks} leaks, {foreign_writes} foreign writes"
    )
    assert (leaks, foreign_writes) == (0, 0)
