"""What a model reads in `tools/list` (issue 18): the arguments models get wrong are described, every limit and enum
the validator enforces is published (or knowingly left out), and every output schema names its result's fields with
their types, derived from the output model so that a client validating results never finds it contradicted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from harmonia.ids import ID_PATTERN
from harmonia.ops import build_registry
from harmonia.ops.registry import CORE, Operation
from harmonia.ops.schema import MCP_OMITS, InputModel, input_schema
from harmonia.surfaces.mcp_server import build_server, tool_definition
from mcp import Client

from ..conftest import Workspace

pytestmark = pytest.mark.one_backend

REGISTRY = build_registry()
EVERY_TOOL = REGISTRY.mcp_tools(toolsets=REGISTRY.toolsets())
CORE_TOOLS = REGISTRY.mcp_tools(toolsets=(CORE,))


def _enforced(op: Operation) -> dict[str, dict[str, Any]]:
    """Each argument's constraints as pydantic enforces them (its own JSON schema, before anything is left out for
    MCP), an optional argument's null branch folded away."""
    schema = op.input.model_json_schema()
    defs = schema.get("$defs", {})
    out = {}
    for name, prop in schema.get("properties", {}).items():
        merged = {k: v for k, v in prop.items() if k != "anyOf"}
        for branch in prop.get("anyOf", []):
            if branch.get("type") != "null":
                merged.update(defs.get(str(branch.get("$ref", "")).rsplit("/", 1)[-1], branch))
        out[name] = merged
    return out


def _kind(name: str, prop: dict[str, Any]) -> str | None:
    """The arguments models get wrong: ids (a name where an id belongs), times (the zone), amounts (cents for
    dollars), phones and emails (their form)."""
    if ID_PATTERN in (prop.get("pattern"), prop.get("items", {}).get("pattern")):
        return "id"
    if prop.get("format") in ("date-time", "date"):
        return str(prop["format"])
    if "phone" in name:
        return "phone"
    if name == "email" or name.endswith("_email"):
        return "email"
    return "amount" if "amount" in name else None


def test_every_core_argument_of_a_kind_models_get_wrong_is_described() -> None:
    undescribed, kinds = [], set()
    for op in CORE_TOOLS:
        published = tool_definition(op).input_schema["properties"]
        for name, prop in _enforced(op).items():
            kind = _kind(name, prop)
            if kind is None:
                continue
            kinds.add(kind)
            shown = published[name]
            described = "description" in shown or "description" in shown.get("items", {})
            # A calendar date's `format: date` says all there is (YYYY-MM-DD); a date-time's leaves out the zone.
            if not described and not (kind == "date" and shown.get("format") == "date"):
                undescribed.append(f"{op.name}.{name} ({kind})")
    assert kinds == {"id", "date-time", "date", "phone", "email", "amount"}  # the check sees every kind
    assert undescribed == [], f"describe these arguments (terse: a prefix, a unit, a format): {undescribed}"
    ids = tool_definition(REGISTRY.get("contacts_update")).input_schema["properties"]  # type: ignore[arg-type]
    assert ids["contact_id"]["description"] == "ct_ id" and ids["owner_id"]["description"] == "us_ id"


def test_every_limit_and_enum_the_validator_enforces_is_published_unless_knowingly_left_out() -> None:
    unpublished, checked = [], 0
    for op in EVERY_TOOL:
        published = tool_definition(op).input_schema["properties"]
        for name, prop in _enforced(op).items():
            left_out = set(prop.get(MCP_OMITS, ()))
            bounds = [k for k in ("maxLength", "maxItems", "maximum", "enum") if k in prop]
            bounds += ["minLength"] if prop.get("minLength", 0) > 1 else []  # "not blank" goes without saying
            for key in bounds:
                checked += 1
                if key not in left_out and published[name].get(key) != prop[key]:
                    unpublished.append(f"{op.name}.{name}: {key}={prop[key]}")
    assert checked > 100
    assert unpublished == [], f"publish these limits, or list them in the field's {MCP_OMITS}: {unpublished}"
    sms = tool_definition(REGISTRY.get("sms_send")).input_schema["properties"]  # type: ignore[arg-type]
    assert sms["body"]["maxLength"] == 1600 and sms["idempotency_key"]["minLength"] == 8


def test_every_output_schema_names_its_always_present_fields_with_their_types_and_is_never_contradicted() -> None:
    for op in EVERY_TOOL:
        out = tool_definition(op).output_schema
        assert out is not None and out["type"] == "object", op.name
        props = out.get("properties", {})
        assert props and set(props) <= set(op.output.model_fields), op.name
        assert all("type" in p for p in props.values()), op.name
        # Open and nothing required: a field added later or left out as null never fails a validating client.
        assert "required" not in out and "additionalProperties" not in out, op.name
        minimal = {
            name: {"string": "x", "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}[p["type"]]
            for name, p in props.items()
        }
        assert Draft202012Validator(out).is_valid({**minimal, "a_field_added_later": 1}), op.name
        # The types are read from the annotations (fast); pydantic's serialisation schema (a custom serialiser…) agrees.
        serialised = op.output.model_json_schema(mode="serialization")
        for name, prop in props.items():
            truth = serialised["properties"][name]
            kinds = {b.get("type") for b in truth.get("anyOf", [truth]) if b.get("type") != "null" and "$ref" not in b}
            kinds |= {"object"} if "$ref" in truth or any("$ref" in b for b in truth.get("anyOf", [])) else set()
            assert kinds == {prop["type"]}, (op.name, name, truth)
    lists = tool_definition(REGISTRY.get("contacts_list")).output_schema  # type: ignore[arg-type]
    assert lists == {"type": "object", "properties": {"items": {"type": "array"}, "next_cursor": {"type": "string"}}}
    deal = tool_definition(REGISTRY.get("opportunities_get")).output_schema or {}
    assert {"id", "name", "status", "stage_history", "submissions"} <= set(deal["properties"])
    assert deal["properties"]["stage_history"] == {"type": "array"}


class _Window(InputModel):
    start: str
    end: str


class _Rule(InputModel):
    window: _Window


class _Nested(InputModel):
    weekdays: _Window
    weekend: _Window | None = None
    rule: _Rule


def test_no_published_schema_has_a_reference_some_clients_cannot_resolve() -> None:
    # A nested model used twice, and one two levels down, are written out where they are used.
    nested = input_schema(_Nested)
    assert "$ref" not in json.dumps(nested) and "$defs" not in nested
    assert nested["properties"]["rule"]["properties"]["window"]["required"] == ["start", "end"]
    for op in EVERY_TOOL:
        tool = tool_definition(op)
        text = json.dumps([tool.input_schema, tool.output_schema])
        assert "$ref" not in text and "$defs" not in text, op.name


async def test_real_results_carry_every_field_their_output_schema_names_and_the_sdk_client_validates_them(
    acme: Workspace,
) -> None:
    calls = 0
    async with Client(build_server(acme.h, actor=acme.actor())) as client:  # validates every result it receives

        async def call(tool: str, **args: Any) -> dict[str, Any]:
            nonlocal calls
            result = await client.call_tool(tool, args)
            assert not result.is_error and isinstance(result.structured_content, dict), (tool, result.content)
            named = set((tool_definition(REGISTRY.get(tool)).output_schema or {}).get("properties", {}))  # type: ignore[arg-type]
            assert named - {"next_cursor"} <= set(result.structured_content), tool
            calls += 1
            return result.structured_content

        contact = await call("contacts_create", first_name="Dana", last_name="Reyes", email="dana@reyes.example")
        account = await call("accounts_upsert", name="Reyes Trucking LLC")
        deal = await call("opportunities_create", name="Reyes MCA", contact_id=contact["id"], amount=186_000)
        draft = await call("email_draft", contact_id=contact["id"], subject="Your application", body="Hi Dana")
        await call("contacts_get", contact_id=contact["id"])
        await call("contacts_update", contact_id=contact["id"], title="Owner", account_id=account["id"])
        await call("accounts_get", account_id=account["id"])
        await call("opportunities_get", opportunity_id=deal["id"])
        await call("opportunities_update", opportunity_id=deal["id"], requested_amount=186_000, factor_rate=1.35)
        await call("tasks_create", title="Call Dana", due_at="2026-12-08T17:00:00-05:00")
        await call("notes_create", record_type="opportunity", record_id=deal["id"], body="Wants funds by Friday")
        await call("tags_apply", record_type="contact", record_id=contact["id"], add=["hot"], create_missing=True)
        await call("records_assign", record_type="contact", record_id=contact["id"], user_id=acme.owner.id)
        await call("conversations_get", conversation_id=draft["conversation_id"])
        for tool in ("contacts_list", "opportunities_list", "pipelines_list", "tasks_list", "notes_list",
                     "conversations_list", "lenders_list", "reports_activity", "users_list", "audit_list",
                     "settings_get"):  # fmt: skip
            await call(tool)
        await call("search", q="Reyes")
    assert calls == 26
