"""Compact, portable JSON Schemas for operation inputs and outputs.

Every client pays for `tools/list` in context, and several (Gemini-style) choke on `type: [X, "null"]`. So: no
pydantic titles, optional fields are simply not required (we never send nulls), and every object schema is closed
with `additionalProperties: false` on input.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

from ..ids import ID_PATTERN

__all__ = ["NOT_BLANK", "REST_ONLY", "InputModel", "OutputModel", "input_schema", "output_schema"]


class InputModel(BaseModel):
    """Base for operation arguments: unknown fields are errors, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutputModel(BaseModel):
    """Base for operation results: serialised without nulls (`dump`)."""

    model_config = ConfigDict(extra="forbid")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class _Compact(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def nullable_schema(self, schema: Any) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: Any) -> JsonSchemaValue:
        out = super().default_schema(schema)
        if out.get("default", 0) is None:
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


_UNPUBLISHED = ("maxLength", "minLength", "maxItems")  # enforced server-side; not worth a model's context


def _drop_limits(node: Any) -> None:
    if isinstance(node, dict):
        for key in _UNPUBLISHED:
            node.pop(key, None)
        if node.get("pattern") == ID_PATTERN:  # ids come from earlier results; a wrong one is explained when used
            node.pop("pattern")
        for value in node.values():
            _drop_limits(value)
    elif isinstance(node, list):
        for value in node:
            _drop_limits(value)


# Constraints only the OpenAPI document publishes, kept under this key in a model's or field's json_schema_extra.
# MCP schemas leave them out: several clients refuse a top-level anyOf/oneOf in a tool's input schema, and id
# patterns or a 600-name time-zone enum cost every model context while `isError` answers already say what to fix.
REST_ONLY = "x-rest"


def _rest_only(node: Any, *, publish: bool) -> None:
    if isinstance(node, dict):
        extra = node.pop(REST_ONLY, None)
        if publish and isinstance(extra, dict):
            node.update(extra)
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


def _trimmed_length(low: int, high: int | None) -> str:
    w, c = _WS, _NOT_WS
    if high is None:
        return c if low == 1 else rf"^{w}*{c}{_ANY}{{{low - 2},}}{c}{w}*$"
    if low <= 0:
        return rf"^{w}*(?:{c}(?:{_ANY}{{0,{high - 2}}}{c})?)?{w}*$" if high >= 2 else rf"^{w}*{c}{{0,{high}}}{w}*$"
    if low == 1:
        return rf"^{w}*{c}(?:{_ANY}{{0,{high - 2}}}{c})?{w}*$" if high >= 2 else rf"^{w}*{c}{w}*$"
    return rf"^{w}*{c}{_ANY}{{{low - 2},{high - 2}}}{c}{w}*$"


def input_schema(model: type[BaseModel], *, compact: bool = True) -> dict[str, Any]:
    """`compact` (MCP) leaves out length limits to save context; the OpenAPI document publishes every constraint."""
    schema = model.model_json_schema(schema_generator=_Compact if compact else _Full, mode="validation")
    _rest_only(schema, publish=not compact)
    if compact:
        _drop_limits(schema)
    else:
        _publish_trimming(schema)
    schema.setdefault("properties", {})
    _close_objects(schema)
    schema["additionalProperties"] = False
    return schema


def output_schema(model: type[BaseModel], *, compact: bool = True) -> dict[str, Any]:
    """The result's top level, shallow and never contradicted (outputs are not closed with additionalProperties).

    `compact` (MCP): only which fields are always present. Every client pays for `tools/list` in context; field
    types there cost a fifth of the catalogue and tell a model little the result does not. The OpenAPI document
    (compact=False) also gives each always-present field its type.
    """
    full = model.model_json_schema(schema_generator=_Compact, mode="serialization")
    defs = full.get("$defs", {})
    required = set(full.get("required", ()))
    props = {}
    for name, prop in full.get("properties", {}).items():
        if name in required or name == "next_cursor":  # optional fields are described by the tool, not listed
            props[name] = _shallow(prop, defs)
    out: dict[str, Any] = {"type": "object"} if compact else {"type": "object", "properties": props}
    if full.get("required"):
        out["required"] = full["required"]
    return out


def _shallow(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        prop = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
    if "anyOf" in prop:
        types = sorted({t for p in prop["anyOf"] for t in [_shallow(p, defs).get("type")] if t})
        return {"type": types[0]} if len(types) == 1 else {}
    kind = prop.get("type")
    if kind == "array":
        item = _shallow(prop.get("items", {}), defs)
        return {"type": "array", "items": item} if item.get("type") not in (None, "object") else {"type": "array"}
    if kind in ("string", "integer", "number", "boolean", "object"):
        out: dict[str, Any] = {"type": kind}
        if "format" in prop:
            out["format"] = prop["format"]
        return out
    return {}
