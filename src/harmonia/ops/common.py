"""Shapes shared by many operations: paging arguments, list results, small record summaries."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeAlias, TypeVar
from zoneinfo import available_timezones

from pydantic import AfterValidator, BeforeValidator, Field

from ..db import CHANNELS as ACTOR_CHANNELS
from ..ids import ID_PATTERN
from ..models import CHANNELS as MESSAGE_CHANNELS
from ..models import MESSAGE_STATUSES, ROLES, SCOPES
from .schema import MCP_OMITS, REST_ONLY, InputModel, OutputModel

__all__ = ["AccountId", "ActorChannel", "ContactId", "ConversationId", "Cursor", "DealId", "Dollars", "EnrollmentId",
           "Instant", "JobId", "Limit", "LinkedId", "MessageChannel", "MessageStatus", "Page", "PageArgs", "RecordId",
           "Ref", "RoleName", "ScopeName", "Since", "TaskId", "TimeZoneName", "UserId", "WorkflowId"]  # fmt: skip

T = TypeVar("T")

# Argument enums read from the one list of each (a schema shows that list, in its order).
if TYPE_CHECKING:
    ScopeName: TypeAlias = str
    ActorChannel: TypeAlias = str
    MessageChannel: TypeAlias = str
    MessageStatus: TypeAlias = str
    RoleName: TypeAlias = str
else:
    ScopeName = Literal[SCOPES]  # mcp:read … mcp:admin
    ActorChannel = Literal[ACTOR_CHANNELS]  # ui, api, workflow, mcp, cli, system
    MessageChannel = Literal[MESSAGE_CHANNELS]  # email, sms, call
    MessageStatus = Literal[MESSAGE_STATUSES]  # draft … received
    RoleName = Literal[ROLES]  # owner, admin, member

Limit = Annotated[int, Field(ge=1, le=100)]  # page size; default 25
# The previous page's next_cursor: opaque, written by us, so its length bound is not a model's concern.
Cursor = Annotated[str, Field(max_length=400, json_schema_extra={MCP_OMITS: ["maxLength"]})]


def _iso_instant(value: Any) -> Any:
    """Date-times arrive as ISO 8601 text. A bare number is refused (pydantic would read it as a Unix timestamp, so
    "0.5" silently meant 1970); text without an offset is taken as UTC rather than failing deep in the database."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date-time such as 2026-11-20T17:00:00-05:00")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("expected an ISO 8601 date-time such as 2026-11-20T17:00:00-05:00") from None
    if not 1900 <= parsed.year <= 2999:
        raise ValueError("dates run from the year 1900 to 2999")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# Years 1900-2999: the published pattern says it, so the range is part of the contract and not a surprise refusal.
Instant = Annotated[
    datetime,
    BeforeValidator(_iso_instant),
    # `format: date-time` says ISO 8601 to a model; what it gets wrong is the zone of a time written without one.
    Field(
        description="no offset = UTC",
        json_schema_extra={REST_ONLY: {"pattern": r"^(19|2\d)\d\d-", "description": "ISO 8601; no offset means UTC"}},
    ),
]
Since = Instant
# Enforced on every surface; MCP schemas leave the pattern out (ops/schema.py) and a mismatch is explained in words.
RecordId = Annotated[str, Field(pattern=ID_PATTERN)]
# An id argument says which record it refers to (its prefix), and where a model finds one unless that is `search`
# (which contacts_list's description already points to): models otherwise pass a name or an email where an id belongs.
ContactId = Annotated[str, Field(pattern=ID_PATTERN, description="ct_ id")]
AccountId = Annotated[str, Field(pattern=ID_PATTERN, description="ac_ id")]
DealId = Annotated[str, Field(pattern=ID_PATTERN, description="op_ id")]
UserId = Annotated[str, Field(pattern=ID_PATTERN, description="us_ id")]
ConversationId = Annotated[str, Field(pattern=ID_PATTERN, description="cv_ id (conversations_list)")]
TaskId = Annotated[str, Field(pattern=ID_PATTERN, description="ta_ id (tasks_list)")]
WorkflowId = Annotated[str, Field(pattern=ID_PATTERN, description="wf_ id (workflows_list)")]
EnrollmentId = Annotated[str, Field(pattern=ID_PATTERN, description="en_ id (enrollments_list)")]
JobId = Annotated[str, Field(pattern=ID_PATTERN, description="jb_ id (imports_start)")]
# The record a record_type argument names: a contact's ct_, an account's ac_, a deal's op_ id…
LinkedId = Annotated[str, Field(pattern=ID_PATTERN, description="its ct_/ac_/op_ id")]


# IANA time-zone names; the OpenAPI document lists them, MCP clients get the description. Listed on first use:
# `available_timezones()` opens every file of the tz database (~600), a cost `harmonia mcp` must not pay at start.
@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_zone(value: str) -> str:
    if value not in _zones():
        raise ValueError(f"{value!r} is not an IANA time zone name like America/Chicago")
    return value


def _zone_enum(schema: dict[str, Any]) -> None:
    schema[REST_ONLY] = lambda: {"enum": sorted(_zones())}
    schema[MCP_OMITS] = ["maxLength"]  # a zone name is bounded by the list the description points to


TimeZoneName = Annotated[
    str,
    Field(max_length=64, description="IANA, e.g. America/Chicago", json_schema_extra=_zone_enum),
    AfterValidator(_known_zone),
]
# An amount; bounded so cents fit a 64-bit integer (a storage bound, not a business rule: MCP schemas omit it).
# Its unit is said: dollars or cents is what a model cannot tell from the name.
Dollars = Annotated[
    float, Field(ge=0, le=10_000_000_000, description="USD, not cents", json_schema_extra={MCP_OMITS: ["maximum"]})
]


class PageArgs(InputModel):
    limit: Limit | None = None
    cursor: Cursor | None = None


class Page(OutputModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class Ref(OutputModel):
    """A compact pointer to another record."""

    id: str
    name: str | None = None
