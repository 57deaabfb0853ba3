"""What a workflow is made of: its trigger, its steps and its settings, validated once, saved as immutable versions.

A step is a small JSON object named by its `action` (SPEC §11): `{"action": "send_email", "subject", "body"}`,
`{"action": "wait", "days": 2}`… Each maps to one operation of the registry, run as the `workflow` channel, or to
something the engine does itself (wait, if, exit). Saving different steps or a different trigger writes a new version;
running enrollments keep the version they started on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from sqlalchemy import select

from ..db import UnitOfWork
from ..errors import InvalidArguments
from ..ids import new_id
from ..models import User
from ..models.workflows import Workflow, WorkflowVersion
from ..services.records import not_found

__all__ = [
    "SEND_ACTIONS",
    "Settings",
    "Step",
    "Trigger",
    "parse_steps",
    "save",
    "settings_of",
    "step_channel",
    "version_of",
]


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SendEmail(_Step):
    action: Literal["send_email"]
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)


class SendSms(_Step):
    action: Literal["send_sms"]
    body: str = Field(min_length=1, max_length=1600)


class PlaceCall(_Step):
    action: Literal["place_call"]
    purpose: str = Field("", max_length=500)


_GIVEN = [("days", "integer"), ("hours", "integer"), ("minutes", "integer"), ("until", "string")]


class Wait(_Step):
    # at least one of them, not null (null counts as absent, as the server reads it)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": [name], "properties": {name: {"type": kind}}} for name, kind in _GIVEN]})  # fmt: skip
    action: Literal["wait"]
    days: int | None = Field(None, ge=0, le=365)
    hours: int | None = Field(None, ge=0, le=24 * 365)
    minutes: int | None = Field(None, ge=0, le=60 * 24 * 365)
    until: Literal["business_hours"] | None = Field(None, description="then on to the recipient's business hours")

    @model_validator(mode="after")
    def _something(self) -> Wait:
        if self.days is None and self.hours is None and self.minutes is None and self.until is None:
            raise ValueError("a wait needs days, hours, minutes or until: business_hours")
        return self


class CreateTask(_Step):
    action: Literal["create_task"]
    title: str = Field(min_length=1, max_length=300)
    body: str | None = Field(None, max_length=5000)
    due_in_days: int = Field(0, ge=0, le=365)


class MoveStage(_Step):
    action: Literal["move_stage"]
    stage: str = Field(min_length=1, max_length=120)
    reason: str | None = Field(None, max_length=300)


class Tag(_Step):
    action: Literal["tag"]
    add: list[str] = Field(default_factory=list, max_length=20)
    remove: list[str] = Field(default_factory=list, max_length=20)


class AssignOwner(_Step):
    action: Literal["assign_owner"]
    user_id: str = Field(min_length=1, max_length=24, description="us_ id")


class NotifyOwner(_Step):
    action: Literal["notify_owner"]
    message: str = Field(min_length=1, max_length=2000)


class If(_Step):
    """Go on when the condition holds; otherwise exit the run, or skip the next step."""

    action: Literal["if"]
    replied: bool | None = Field(None, description="the contact replied since enrolling (true) or not (false)")
    field: str | None = Field(None, max_length=64, description="a contact field, e.g. state or tags")
    equals: str | None = Field(None, max_length=200)
    otherwise: Literal["exit", "skip_next"] = "exit"


class Exit(_Step):
    action: Literal["exit"]


Step = Annotated[
    SendEmail | SendSms | PlaceCall | Wait | CreateTask | MoveStage | Tag | AssignOwner | NotifyOwner | If | Exit,
    Field(discriminator="action"),
]
_STEPS = TypeAdapter(list[Step])
SEND_ACTIONS = {"send_email": "email", "send_sms": "sms", "place_call": "call"}


class Trigger(_Step):
    """What enrolls a contact by itself (an automation); `manual` means only people and agents enroll."""

    event: Literal[
        "manual",
        "contact_created",
        "tag_applied",
        "stage_entered",
        "message_received",
        "deal_idle",
        "date_reached",
        "schedule",
    ] = "manual"
    tag: str | None = Field(None, max_length=100, description="tag_applied: only this tag; schedule: who is enrolled")
    cron: str | None = Field(
        None,
        max_length=100,
        description="schedule: a cron expression, e.g. '0 9 * * MON', "
        "in the workflow's time zone (settings.timezone, else the workspace's)",
    )
    stage: str | None = Field(None, max_length=120, description="stage_entered: only this stage (name)")
    channel: Literal["email", "sms", "call"] | None = Field(None, description="message_received: only this channel")
    days: int | None = Field(None, ge=0, le=3650, description="deal_idle: idle this long; date_reached: days before")
    field: Literal["expected_close"] | None = Field(None, description="date_reached: the deal's date field")

    @model_validator(mode="after")
    def _schedule(self) -> Trigger:
        if self.event != "schedule":
            return self
        if not self.cron or not croniter.is_valid(self.cron):
            raise ValueError(f"a schedule needs a valid cron expression (minute hour day month weekday, e.g. "
                             f"'0 9 * * MON'), not {self.cron!r}")  # fmt: skip
        if not self.tag:
            raise ValueError("a schedule enrolls the contacts with a tag: give trigger.tag")
        return self


class Settings(_Step):
    reentry: Literal["never", "after_exit", "after_days"] = "never"
    reentry_days: int | None = Field(None, ge=1, le=3650)
    sends_per_day: int | None = Field(None, ge=1, le=100_000, description="per sender (the owner), all workflows")
    stop_on_account_reply: bool = True
    timezone: str | None = Field(None, max_length=64, description="for contacts without one; default the workspace")


def parse_steps(raw: list[dict[str, Any]]) -> list[Any]:
    return _STEPS.validate_python(raw)


def step_channel(step: dict[str, Any]) -> str | None:
    return SEND_ACTIONS.get(str(step.get("action")))


def settings_of(wf: Workflow) -> Settings:
    return Settings.model_validate(wf.settings or {})


def _explain(where: str, exc: ValidationError) -> InvalidArguments:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}.{loc}: {err['msg']}" if loc else f"{where}: {err['msg']}")
    actions = (
        "send_email, send_sms, place_call, wait, create_task, move_stage, tag, assign_owner, notify_owner, if, exit"
    )
    return InvalidArguments("; ".join(parts) + f" (step actions are: {actions})", field=where)


def save(
    uow: UnitOfWork,
    wf: Workflow | None,
    *,
    name: str,
    kind: str,
    steps: list[dict[str, Any]],
    trigger: dict[str, Any] | None,
    settings: dict[str, Any] | None,
    active: bool,
    owner_id: str | None,
) -> tuple[Workflow, bool]:
    """Create or update a workflow; a new version when the steps or the trigger change. Returns (workflow, new
    version written)."""
    try:
        parsed = parse_steps(steps)
    except ValidationError as exc:
        raise _explain("steps", exc) from None
    if not parsed:
        raise InvalidArguments("a workflow needs at least one step", field="steps")
    try:
        clean_trigger = Trigger.model_validate(trigger or {}).model_dump(exclude_none=True)
        clean_settings = Settings.model_validate(settings or (wf.settings if wf else {})).model_dump(exclude_none=True)
    except ValidationError as exc:
        raise _explain("trigger or settings", exc) from None
    if owner_id is not None and uow.session.get(User, (uow.tenant_id, owner_id)) is None:
        raise not_found(owner_id, "user", field="owner_id")
    clean_steps = [s.model_dump(exclude_none=True) for s in parsed]
    if wf is None:
        wf = Workflow(id=new_id("workflow"), version=0, owner_id=owner_id or uow.actor.user_id)
        uow.session.add(wf)
        current = None
    else:
        current = version_of(uow, wf.id, wf.version)
    was_active = bool(wf.active)
    wf.name, wf.kind, wf.active, wf.settings = name, kind, active, clean_settings
    if owner_id is not None:
        wf.owner_id = owner_id
    changed = current is None or current.steps != clean_steps or (current.trigger or {}) != clean_trigger
    if clean_trigger.get("event") == "schedule" and active and (changed or not was_active):
        wf.scheduled_through = uow.now()  # a schedule counts its ticks from when it was saved or switched on
    if changed:
        wf.version += 1
        uow.session.add(WorkflowVersion(id=new_id("workflow_version"), workflow_id=wf.id, version=wf.version,
                                        trigger=clean_trigger, steps=clean_steps))  # fmt: skip
    uow.session.flush()
    return wf, changed


def version_of(uow: UnitOfWork, workflow_id: str, version: int) -> WorkflowVersion | None:
    return uow.session.scalar(
        select(WorkflowVersion).where(WorkflowVersion.workflow_id == workflow_id, WorkflowVersion.version == version)
    )
