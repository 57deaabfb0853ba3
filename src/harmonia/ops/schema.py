"""Compact, portable JSON Schemas for operation inputs and outputs.

Every client pays for `tools/list` in context, and several (Gemini-style) choke on `type: [X, "null"]`. So: no
pydantic titles, optional fields are simply not required (we never send nulls), and every object schema is closed
with `additionalProperties: false` on input.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import PydanticCustomError

from ..ids import ID_PATTERN

__all__ = [
    "MCP_OMITS",
    "NOT_BLANK",
    "REST_ONLY",
    "InputModel",
    "OutputModel",
    "exclude_nul",
    "input_bounds",
    "input_schema",
    "output_schema",
    "rest_only",
]


# defer_build: a model's validator is built when it is first used, not when its module is imported. `harmonia mcp`
# imports the whole registry (about 100 models) but a conversation uses a few tools; building every validator at
# import was a third of the registry's import time.
class InputModel(BaseModel):
    """Base for operation arguments: unknown fields are errors, strings are trimmed, and no argument carries what
    no column can store (a NUL character; PostgreSQL refuses it in text) or more than `input_bounds` allow."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    # After each field's own validation (an "after" validator leaves strict JSON parsing of dates and numbers as it
    # is; a "before" model validator would turn the JSON input into Python input and refuse "2026-01-01" as a date).
    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str | dict | list):
            # A list argument that declares its own, larger bound (sequences_enroll takes 10,000 contacts) keeps it.
            field = cls.model_fields.get(info.field_name or "")
            declared = max((getattr(m, "max_length", 0) or 0 for m in (field.metadata if field else [])), default=0)
            problem = input_bounds({info.field_name or "argument": value}, max_items=max(MAX_ITEMS, declared))
            if problem:
                raise PydanticCustomError("unstorable", problem)
        return value


MAX_TEXT = 100_000  # characters of any one string argument, whatever its own limit (those are tighter)
MAX_NESTED_TEXT = 10_000  # a string inside an object or list argument (a custom field's value…)
MAX_DEPTH = 8
MAX_ITEMS = 1_000  # entries of any one object or list argument


def input_bounds(data: dict[str, Any], *, max_items: int = MAX_ITEMS) -> str | None:
    """What makes these arguments unstorable, in words that say what to do, or None. Walks without recursion.
    `max_items` bounds the arguments themselves (a list argument may declare more); nested ones take `MAX_ITEMS`."""
    stack: list[tuple[str, Any, int]] = [(str(k), v, 1) for k, v in data.items()]
    while stack:
        where, value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return f"'{where}' contains a NUL character (\\u0000), which cannot be stored; remove it and retry"
            limit = MAX_TEXT if depth == 1 else MAX_NESTED_TEXT
            if len(value) > limit:
                return f"'{where}' is {len(value):,} characters long; at most {limit:,} are accepted here"
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                return f"'{where}' is nested too deeply; at most {MAX_DEPTH} levels are accepted"
            limit = max_items if depth == 1 else MAX_ITEMS
            if len(value) > limit:
                return f"'{where}' has {len(value):,} entries; at most {limit:,} are accepted in one call"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and ("\x00" in key or len(key) > 200):
                    return f"'{where}' has a key that is too long or contains a NUL character; use a short name"
                stack.append((f"{where}.{key}", item, depth + 1))
    return None


class OutputModel(BaseModel):
    """Base for operation results: serialised without nulls (`dump`)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class _Compact(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def nullable_schema(self, schema: Any) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: Any) -> JsonSchemaValue:
        out = super().default_schema(schema)
        if out.get("default", 0) in (None, "") or out.get("default") is False:  # "left out" (a flag: off) says as much
            out.pop("default")
        return out

    def generate(self, schema: Any, mode: Any = "validation") -> JsonSchemaValue:
        out = super().generate(schema, mode)
        _strip(out)
        return out


class _Full(_Compact):
    """The OpenAPI document's schemas: optional arguments say they accept null, as the server does."""

    def nullable_schema(self, schema: Any) -> JsonSchemaValue:
        return GenerateJsonSchema.nullable_schema(self, schema)

    def default_schema(self, schema: Any) -> JsonSchemaValue:
        out = GenerateJsonSchema.default_schema(self, schema)
        if out.get("default", 0) is None:
            out.pop("default")
        return out


def _strip(node: Any) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("title"), str):  # a schema's title; a *property* named "title" maps to a dict
            node.pop("title")
        for value in node.values():
            _strip(value)
    elif isinstance(node, list):
        for value in node:
            _strip(value)


def _close_objects(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


def _drop_limits(node: Any) -> None:
    """What a model would assume anyway, left out of MCP schemas. Length and item limits stay (issue 18: a limit
    found only by an error costs a model a call); a minimum length of 1 (not blank), id patterns, and minimums of
    0 and 1 go."""
    if isinstance(node, dict):
        if node.get("minLength") == 1:
            node.pop("minLength")
        if node.get("pattern") == ID_PATTERN:  # ids come from earlier results; the description names the prefix
            node.pop("pattern")
        # Amounts are not negative and counts are positive: a model assumes so; a bound that says more stays.
        if node.get("minimum") == 0 or (node.get("minimum") == 1 and node.get("type") == "integer"):
            node.pop("minimum")
        # JSON Schema's number includes the integers: `anyOf` both says "number" twice.
        if isinstance(node.get("anyOf"), list) and {"type": "number"} in node["anyOf"]:
            node["anyOf"] = [s for s in node["anyOf"] if s != {"type": "integer"}]
        for value in node.values():
            _drop_limits(value)
    elif isinstance(node, list):
        for value in node:
            _drop_limits(value)


# Constraints only the OpenAPI document publishes, kept under this key in a model's or field's json_schema_extra.
# MCP schemas leave them out: several clients refuse a top-level anyOf/oneOf in a tool's input schema, and id
# patterns or a 600-name time-zone enum cost every model context while `isError` answers already say what to fix.
REST_ONLY = "x-rest"
# Keywords a field's MCP schema leaves out although pydantic enforces them (and the OpenAPI document publishes them):
# storage bounds no real value reaches (amounts up to $10 billion, ten million sends an hour), an email regex.
MCP_OMITS = "x-mcp-omits"


def rest_only(**schema: Any) -> dict[str, Any]:
    """A field's `json_schema_extra` for what only the OpenAPI document says, e.g. a description that repeats what
    the tool's description already tells a model."""
    return {REST_ONLY: schema}


def _rest_only(node: Any, *, publish: bool) -> None:
    if isinstance(node, dict):
        extra = node.pop(REST_ONLY, None)
        if publish and callable(extra):  # worked out only for the REST document (the time-zone list)
            extra = extra()
        if publish and isinstance(extra, dict):
            node.update(extra)
        omitted = node.pop(MCP_OMITS, ())
        if not publish:
            for key in omitted:
                node.pop(key, None)
        for value in node.values():
            _rest_only(value, publish=publish)
    elif isinstance(node, list):
        for value in node:
            _rest_only(value, publish=publish)


def _publish_trimming(node: Any) -> None:
    """Text arguments are trimmed before they are checked, so "  " is too short for a minLength of 1 and " NY" is
    not too long for a maxLength of 2. Say exactly that in the published schema: lengths become a pattern that
    counts the characters between the first and last non-space, and other patterns allow surrounding spaces."""
    if isinstance(node, dict):
        if node.get("type") == "string" and "format" not in node and "enum" not in node:
            pattern = node.get("pattern")
            if pattern is None and ("minLength" in node or "maxLength" in node):
                node["pattern"] = _trimmed_length(node.pop("minLength", 0), node.pop("maxLength", None))
            elif isinstance(pattern, str) and pattern.startswith("^") and pattern.endswith("$"):
                node["pattern"] = rf"^{_WS}*(?:{pattern[1:-1]}){_WS}*$"
        for value in node.values():
            _publish_trimming(value)
    elif isinstance(node, list):
        for value in node:
            _publish_trimming(value)


# Exactly the characters pydantic's str_strip_whitespace removes (Unicode White_Space), spelled out: `\s` means
# something else in each regex dialect (U+0085 is space to Python only, U+FEFF to ECMA only).
_WS = r"[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_NOT_WS = "[^" + _WS[1:]
_ANY = r"[\s\S]"
NOT_BLANK = _NOT_WS  # a pattern: at least one character that trimming keeps


_NO_NUL = r"[^\x00]"
_NOT_WS_NOR_NUL = r"[^\x00" + _WS[1:]


def exclude_nul(node: Any) -> Any:
    """A copy of a published input schema that says what `InputModel` enforces: no text holds a NUL character, and
    no list holds more than `MAX_ITEMS` entries.
    A text without a pattern gets one; the patterns written here (trimmed lengths, not blank) are rewritten with
    character classes that leave NUL out. (For the OpenAPI document; a model's context is spared this.)"""
    if isinstance(node, list):
        return [exclude_nul(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: exclude_nul(v) for k, v in node.items()}
    if out.get("type") == "array" and "maxItems" not in out:  # input_bounds: any list argument, at most MAX_ITEMS
        out["maxItems"] = MAX_ITEMS
    if out.get("type") == "string" and not {"format", "enum", "const"} & out.keys():
        pattern = out.get("pattern")
        if pattern is None:
            out["pattern"] = rf"^{_NO_NUL}*$"
        elif pattern == NOT_BLANK:
            out["pattern"] = rf"^{_NO_NUL}*{_NOT_WS_NOR_NUL}{_NO_NUL}*$"
        elif isinstance(pattern, str) and pattern.startswith("^") and pattern.endswith("$"):
            out["pattern"] = pattern.replace(_ANY, _NO_NUL).replace(_NOT_WS, _NOT_WS_NOR_NUL)
    return out


def _trimmed_length(low: int, high: int | None) -> str:
    w, c = _WS, _NOT_WS
    if high is None:
        return c if low == 1 else rf"^{w}*{c}{_ANY}{{{low - 2},}}{c}{w}*$"
    if low <= 0:
        return rf"^{w}*(?:{c}(?:{_ANY}{{0,{high - 2}}}{c})?)?{w}*$" if high >= 2 else rf"^{w}*{c}{{0,{high}}}{w}*$"
    if low == 1:
        return rf"^{w}*{c}(?:{_ANY}{{0,{high - 2}}}{c})?{w}*$" if high >= 2 else rf"^{w}*{c}{w}*$"
    return rf"^{w}*{c}{_ANY}{{{low - 2},{high - 2}}}{c}{w}*$"


def _inline_defs(schema: dict[str, Any]) -> None:
    """Every nested model is written where it is used: some clients resolve no `$ref` at all, and `$defs` + `$ref`
    cost more than a model used once. (Pydantic puts every nested model in `$defs`.) Only a recursive model, which
    cannot be written out, would keep its `$defs`; none exists."""
    defs = schema.get("$defs", {})

    def inline(node: Any, within: frozenset[str]) -> Any:
        if isinstance(node, dict):
            name = str(node.get("$ref", "")).rsplit("/", 1)[-1]
            rest = {k: inline(v, within) for k, v in node.items() if k != "$ref" or name not in defs or name in within}
            if name in defs and name not in within:
                return {**inline(defs[name], within | {name}), **rest}
            return rest
        if isinstance(node, list):
            return [inline(v, within) for v in node]
        return node

    for key in [k for k in schema if k != "$defs"]:
        schema[key] = inline(schema[key], frozenset())
    if "$defs" in schema and next(_refs({k: v for k, v in schema.items() if k != "$defs"}), None) is None:
        del schema["$defs"]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def input_schema(model: type[BaseModel], *, compact: bool = True) -> dict[str, Any]:
    """`compact` (MCP) leaves out length limits to save context; the OpenAPI document publishes every constraint."""
    schema = model.model_json_schema(schema_generator=_Compact if compact else _Full, mode="validation")
    _rest_only(schema, publish=not compact)
    if compact:
        _drop_limits(schema)
        _inline_defs(schema)
    else:
        _publish_trimming(schema)
    schema.setdefault("properties", {})
    _close_objects(schema)
    schema["additionalProperties"] = False
    return schema


def output_schema(model: type[BaseModel], *, compact: bool = True) -> dict[str, Any]:
    """The result's top level, shallow and never contradicted: derived from the output model, and open (outputs are
    not closed with additionalProperties, so a field added later never breaks a client that validates results).

    `compact` (MCP): the fields every result carries (those whose type has no null, as results are sent without
    nulls), each with its JSON type, and a list's `next_cursor`; no `required`, so no serialiser choice can ever
    contradict it. Optional fields are left to the tool's description: `tools/list` is paid for in context, and
    the always-present fields name what a result is. The OpenAPI document (compact=False) gives the fields pydantic
    requires, with their types and formats, and says which are required.
    """
    if compact:
        props = {name: _json_type(field.annotation) for name, field in model.model_fields.items()
                 if name == "next_cursor" or not _nullable(field.annotation)}  # fmt: skip
        return {"type": "object", "properties": props} if props else {"type": "object"}
    full = model.model_json_schema(schema_generator=_Compact, mode="serialization")
    defs = full.get("$defs", {})
    required = set(full.get("required", ()))
    props = {}
    for name, prop in full.get("properties", {}).items():
        if name in required or name == "next_cursor":  # optional fields are described by the tool, not listed
            props[name] = _shallow(prop, defs)
    out: dict[str, Any] = {"type": "object", "properties": props}
    if full.get("required"):
        out["required"] = full["required"]
    return out


def _nullable(annotation: Any) -> bool:
    """May this field be None, and so be missing from a result (results are serialised without nulls)?"""
    if annotation is None or annotation is type(None) or annotation is Any:
        return True
    if get_origin(annotation) is Annotated:
        return _nullable(get_args(annotation)[0])
    return get_origin(annotation) in (Union, UnionType) and any(_nullable(a) for a in get_args(annotation))


# The JSON type a result field's Python type serialises to. Read from the annotation rather than from the model's
# JSON schema: building 37 output models' schemas doubled the time of the first `tools/list` (a stdio cold start).
_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", datetime: "string",
                               date: "string", dict: "object", list: "array", tuple: "array", set: "array"}  # fmt: skip


def _json_type(annotation: Any) -> dict[str, Any]:
    """`{"type": ...}` for a field's annotation (with the item type of a list of scalars), or `{}` when its values
    may be of several types."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _json_type(args[0])
    if origin in (Union, UnionType):
        kinds = [k for a in args if a is not type(None) for k in [_json_type(a)]]
        return kinds[0] if kinds and all(k == kinds[0] for k in kinds) else {}
    if origin is Literal:
        kinds = [_json_type(type(v)) for v in args]
        return kinds[0] if all(k == kinds[0] for k in kinds) else {}
    if origin in (list, tuple, set, frozenset):
        item = _json_type(args[0]) if len(args) == 1 else {}
        return (
            {"type": "array", "items": item} if item.get("type") not in (None, "object", "array") else {"type": "array"}
        )
    if origin is not None:
        return {"type": _JSON_TYPES[origin]} if origin in _JSON_TYPES else {}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"type": "object"}
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _json_type(Literal[tuple(m.value for m in annotation)])  # type: ignore[misc]
    return {"type": _JSON_TYPES[annotation]} if annotation in _JSON_TYPES else {}


def _shallow(prop: dict[str, Any], defs: dict[str, Any], *, formats: bool = True) -> dict[str, Any]:
    if "$ref" in prop:
        prop = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
    if "anyOf" in prop:
        types = sorted({t for p in prop["anyOf"] for t in [_shallow(p, defs).get("type")] if t})
        return {"type": types[0]} if len(types) == 1 else {}
    kind = prop.get("type")
    if kind == "array":
        item = _shallow(prop.get("items", {}), defs, formats=formats)
        return {"type": "array", "items": item} if item.get("type") not in (None, "object") else {"type": "array"}
    if kind in ("string", "integer", "number", "boolean", "object"):
        out: dict[str, Any] = {"type": kind}
        if "format" in prop and formats:
            out["format"] = prop["format"]
        return out
    return {}
