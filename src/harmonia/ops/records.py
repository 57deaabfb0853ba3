"""Operations across record types: tagging, assigning an owner, and naming records by id."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from ..record_types import Assignable, Taggable
from ..services import records as svc
from ..services import tags as tag_service
from .common import LinkedId, RecordId, UserId
from .registry import OpContext, Operation, Scope
from .schema import REST_ONLY, InputModel, OutputModel, rest_only

__all__ = ["OPERATIONS"]


class TagsApply(InputModel):
    model_config = ConfigDict(json_schema_extra={REST_ONLY: {"anyOf": [
        {"required": [f], "properties": {f: {"minItems": 1}}} for f in ("add", "remove")
    ]}})  # fmt: skip
    record_type: Taggable
    record_id: LinkedId
    add: list[str] = Field(default_factory=list, max_length=20)
    remove: list[str] = Field(default_factory=list, max_length=20)
    create_missing: bool = Field(False, json_schema_extra=rest_only(description="create tags that do not exist yet"))


class TagsResult(OutputModel):
    record_type: str
    record_id: str
    tags: list[str]


def tags_apply(ctx: OpContext, args: TagsApply) -> TagsResult:
    before, tags = tag_service.retag(
        ctx.uow, args.record_type, args.record_id, add=args.add, remove=args.remove, create=args.create_missing
    )
    ctx.audit_target(args.record_type, args.record_id, before={"tags": before}, after={"tags": tags})
    return TagsResult(record_type=args.record_type, record_id=args.record_id, tags=tags)


class RecordsAssign(InputModel):
    record_type: Assignable
    record_id: RecordId = Field(description="its id (ct_, op_, ta_...)")
    user_id: UserId = Field(
        json_schema_extra=rest_only(description="the new owner (assignee for tasks and conversations)")
    )


class AssignResult(OutputModel):
    record_type: str
    record_id: str
    user_id: str
    user_name: str


def records_assign(ctx: OpContext, args: RecordsAssign) -> AssignResult:
    field, before, user = svc.assign(ctx.uow, args.record_type, args.record_id, args.user_id)
    ctx.audit_target(args.record_type, args.record_id, before={field: before}, after={field: user.id})
    return AssignResult(record_type=args.record_type, record_id=args.record_id, user_id=user.id, user_name=user.name)


class RecordsNames(InputModel):
    ids: list[RecordId] = Field(min_length=1, max_length=500)


class NamesResult(OutputModel):
    names: dict[str, str]


def records_names(ctx: OpContext, args: RecordsNames) -> NamesResult:
    return NamesResult(names=svc.names_of(ctx.uow, args.ids))


OPERATIONS = [
    Operation(
        name="tags_apply",
        title="Tag or untag a record",
        scope=Scope.WRITE,
        read_only=False,
        idempotent=True,
        description="Add and/or remove a record's tags. An unknown tag is refused, naming any near-duplicate, unless "
        "create_missing is true.",
        input=TagsApply,
        output=TagsResult,
        handler=tags_apply,
        rest=("POST", "/tags/apply"),
    ),
    Operation(
        name="records_assign",
        title="Assign an owner",
        scope=Scope.WRITE,
        read_only=False,
        idempotent=True,
        description="Set the owner of a contact, account or deal, or the assignee of a task or conversation.",
        input=RecordsAssign,
        output=AssignResult,
        handler=records_assign,
        rest=("POST", "/assign"),
    ),
    Operation(
        name="records_names",
        title="Name records by id",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="The names of contacts, deals, accounts, users and lenders by id, for lists that show whose a "
        "row is. Ids not found in this workspace are left out.",
        input=RecordsNames,
        output=NamesResult,
        handler=records_names,
        rest=("GET", "/records/names"),
        mcp=False,
    ),
]
