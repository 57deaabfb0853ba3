"""Operations across record types: tagging and assigning an owner."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from ..errors import InvalidArguments
from ..models import Account, Contact, Conversation, Opportunity, Task, User
from ..services import tags as tag_service
from ..services.records import get_or_404
from .common import RecordId
from .registry import OpContext, Operation, Scope
from .schema import REST_ONLY, InputModel, OutputModel, rest_only

__all__ = ["OPERATIONS"]

TAGGABLE = {"contact": Contact, "account": Account, "opportunity": Opportunity}
ASSIGNABLE = {"contact": (Contact, "owner_id"), "account": (Account, "owner_id"),
              "opportunity": (Opportunity, "owner_id"), "task": (Task, "assignee_id"),
              "conversation": (Conversation, "assignee_id")}  # fmt: skip


class TagsApply(InputModel):
    model_config = ConfigDict(json_schema_extra={REST_ONLY: {"anyOf": [
        {"required": [f], "properties": {f: {"minItems": 1}}} for f in ("add", "remove")
    ]}})  # fmt: skip
    record_type: Literal["contact", "account", "opportunity"]
    record_id: RecordId
    add: list[str] = Field(default_factory=list, max_length=20)
    remove: list[str] = Field(default_factory=list, max_length=20)
    create_missing: bool = Field(False, json_schema_extra=rest_only(description="create tags that do not exist yet"))


class TagsResult(OutputModel):
    record_type: str
    record_id: str
    tags: list[str]


def tags_apply(ctx: OpContext, args: TagsApply) -> TagsResult:
    if not args.add and not args.remove:
        raise InvalidArguments("give tags to `add` and/or `remove`")
    get_or_404(ctx.uow, TAGGABLE[args.record_type], args.record_id, args.record_type, field="record_id")
    before = tag_service.names_for(ctx.uow, args.record_type, [args.record_id]).get(args.record_id, [])
    tags = tag_service.apply(
        ctx.uow, args.record_type, args.record_id, add=args.add, remove=args.remove, create=args.create_missing
    )
    ctx.audit_target(args.record_type, args.record_id, before={"tags": before}, after={"tags": tags})
    return TagsResult(record_type=args.record_type, record_id=args.record_id, tags=tags)


class RecordsAssign(InputModel):
    record_type: Literal["contact", "account", "opportunity", "task", "conversation"]
    record_id: RecordId
    user_id: RecordId = Field(
        json_schema_extra=rest_only(description="the new owner (assignee for tasks and conversations)")
    )


class AssignResult(OutputModel):
    record_type: str
    record_id: str
    user_id: str
    user_name: str


def records_assign(ctx: OpContext, args: RecordsAssign) -> AssignResult:
    model, field = ASSIGNABLE[args.record_type]
    row = get_or_404(ctx.uow, model, args.record_id, args.record_type, field="record_id")
    user = get_or_404(ctx.uow, User, args.user_id, "user")
    if user.status != "active":
        raise InvalidArguments(f"{user.name} is {user.status}; assign an active user (users_list shows them)")
    before = getattr(row, field)
    setattr(row, field, user.id)
    ctx.audit_target(args.record_type, args.record_id, before={field: before}, after={field: user.id})
    return AssignResult(record_type=args.record_type, record_id=args.record_id, user_id=user.id, user_name=user.name)


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
]
