"""The `automation` toolset (SPEC §8, §11): workflows and sequences, their enrollments, and enrolling contacts.

An agent may draft a sequence, but over MCP it is always saved inactive: only a person (web UI, REST, or the server's
command line) activates it. Resuming or discarding runs paused by the outbound switch is a person's act too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from ..errors import Forbidden
from ..models.workflows import Enrollment, Workflow
from ..services.records import get_or_404
from ..workflows import definitions, enrollments, testrun
from .common import ContactId, DealId, EnrollmentId, Page, PageArgs, UserId, WorkflowId
from .registry import OpContext, Operation, Scope
from .schema import InputModel, OutputModel

__all__ = ["OPERATIONS"]

PEOPLE_CHANNELS = ("ui", "api", "cli")
Status = Literal["active", "waiting", "paused", "completed", "exited", "failed"]


class WorkflowOut(OutputModel):
    id: str
    name: str
    kind: str
    active: bool
    version: int
    owner_id: str | None = None
    trigger: dict[str, Any] | None = None
    steps: list[dict[str, Any]] | None = None
    settings: dict[str, Any] | None = None
    enrollments: dict[str, int] = Field(default_factory=dict, description="runs per status")
    versions: list[int] | None = None
    note: str | None = None
    updated_at: datetime


def workflow_out(ctx: OpContext, wf: Workflow, *, full: bool, stats: dict[str, int] | None = None) -> WorkflowOut:
    version = definitions.version_of(ctx.uow, wf.id, wf.version)
    out = WorkflowOut(id=wf.id, name=wf.name, kind=wf.kind, active=wf.active, version=wf.version, owner_id=wf.owner_id,
                      trigger=version.trigger if version else None, updated_at=wf.updated_at,
                      enrollments=stats if stats is not None else enrollments.stats(ctx.uow, [wf.id])[wf.id])  # fmt: skip
    if full:
        out.steps = version.steps if version else []
        out.settings = wf.settings or {}
        out.versions = list(range(1, wf.version + 1))
    return out


class WorkflowsList(PageArgs):
    kind: Literal["sequence", "automation"] | None = None
    active: bool | None = None


def workflows_list(ctx: OpContext, args: WorkflowsList) -> Page[WorkflowOut]:
    rows, cursor = enrollments.list_workflows(ctx.uow, kind=args.kind, active=args.active, limit=args.limit,
                                              cursor=args.cursor)  # fmt: skip
    stats = enrollments.stats(ctx.uow, [w.id for w in rows])
    return Page[WorkflowOut](items=[workflow_out(ctx, w, full=False, stats=stats[w.id]) for w in rows],
                             next_cursor=cursor)  # fmt: skip


class WorkflowsGet(InputModel):
    workflow_id: WorkflowId


def workflows_get(ctx: OpContext, args: WorkflowsGet) -> WorkflowOut:
    wf = get_or_404(ctx.uow, Workflow, args.workflow_id, "workflow")
    return workflow_out(ctx, wf, full=True)


def _without_discriminator(schema: dict[str, Any]) -> None:
    """Steps are told apart by `action` (its `const` in each form says so); pydantic's OpenAPI `discriminator` names
    `$defs` entries that the published schemas inline, so it is left out rather than left dangling."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("discriminator", None)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)


class WorkflowsUpsert(InputModel):
    model_config = ConfigDict(json_schema_extra=_without_discriminator)
    workflow_id: WorkflowId | None = Field(None, description="update this workflow; omit to create one")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["sequence", "automation"]
    trigger: definitions.Trigger | None = Field(None, description="automations: the event that enrolls a contact")
    steps: list[definitions.Step] = Field(min_length=1, max_length=50)
    settings: definitions.Settings | None = None
    active: bool | None = Field(None, description="only a person activates; over MCP it is saved inactive")
    owner_id: UserId | None = None


def workflows_upsert(ctx: OpContext, args: WorkflowsUpsert) -> WorkflowOut:
    wf = get_or_404(ctx.uow, Workflow, args.workflow_id, "workflow") if args.workflow_id else None
    before = {"active": wf.active, "version": wf.version} if wf else None
    by_person = ctx.actor.channel in PEOPLE_CHANNELS
    active = bool(args.active) if by_person and args.active is not None else (wf.active if wf and by_person else False)
    steps = [step.model_dump(exclude_none=True) for step in args.steps]
    trigger = args.trigger.model_dump(exclude_none=True) if args.trigger else None
    settings = args.settings.model_dump(exclude_none=True) if args.settings else None
    wf, _ = definitions.save(ctx.uow, wf, name=args.name, kind=args.kind, steps=steps, trigger=trigger,
                             settings=settings, active=active, owner_id=args.owner_id)  # fmt: skip
    ctx.audit_target("workflow", wf.id, before=before, after={"active": wf.active, "version": wf.version})
    out = workflow_out(ctx, wf, full=True)
    if not by_person:
        out.note = "saved inactive: a person reviews and activates it in the web UI (Automation)"
    return out


class EnrollmentOut(OutputModel):
    id: str
    workflow_id: str
    version: int
    contact_id: str
    opportunity_id: str | None = None
    status: str
    step: int = Field(description="the next step to run, from 1")
    next_run_at: datetime | None = None
    reason: str | None = None
    last_error: str | None = None
    created_at: datetime


def enrollment_out(e: Enrollment) -> EnrollmentOut:
    return EnrollmentOut(id=e.id, workflow_id=e.workflow_id, version=e.version, contact_id=e.contact_id,
                         opportunity_id=e.opportunity_id, status=e.status, step=e.step_index + 1,
                         next_run_at=e.next_run_at, reason=e.reason, last_error=e.last_error,
                         created_at=e.created_at)  # fmt: skip


class EnrollmentsList(PageArgs):
    workflow_id: WorkflowId | None = None
    contact_id: ContactId | None = None
    status: Status | None = None


def enrollments_list(ctx: OpContext, args: EnrollmentsList) -> Page[EnrollmentOut]:
    filters = {name: getattr(args, name) for name in ("workflow_id", "contact_id", "status")}
    rows, cursor = enrollments.list_enrollments(ctx.uow, filters, limit=args.limit, cursor=args.cursor)
    return Page[EnrollmentOut](items=[enrollment_out(e) for e in rows], next_cursor=cursor)


class EnrollmentsStop(InputModel):
    enrollment_id: EnrollmentId
    reason: str | None = Field(None, max_length=200)


def enrollments_stop(ctx: OpContext, args: EnrollmentsStop) -> EnrollmentOut:
    e = get_or_404(ctx.uow, Enrollment, args.enrollment_id, "enrollment")
    before = {"status": e.status}
    if e.status in ("active", "waiting", "paused"):
        who = f"stopped via {ctx.actor.channel}" + (f": {args.reason}" if args.reason else "")
        enrollments.finish(ctx.uow, e, "exited", who)
    ctx.audit_target("enrollment", e.id, before=before, after={"status": e.status})
    return enrollment_out(e)


class SequencesEnroll(InputModel):
    workflow_id: WorkflowId
    contact_ids: list[ContactId] = Field(min_length=1, max_length=10_000)
    opportunity_id: DealId | None = None


class EnrollOutcome(OutputModel):
    contact_id: str
    enrolled: bool
    enrollment_id: str | None = None
    reason: str | None = None


class EnrollResult(OutputModel):
    workflow_id: str
    enrolled: int
    skipped: int
    items: list[EnrollOutcome]


def sequences_enroll(ctx: OpContext, args: SequencesEnroll) -> EnrollResult:
    wf = get_or_404(ctx.uow, Workflow, args.workflow_id, "workflow")
    outcomes = enrollments.enroll(ctx.uow, wf, args.contact_ids, opportunity_id=args.opportunity_id)
    n = sum(o.enrolled for o in outcomes)
    ctx.audit_target("workflow", wf.id, after={"enrolled": n, "skipped": len(outcomes) - n})
    return EnrollResult(workflow_id=wf.id, enrolled=n, skipped=len(outcomes) - n,
                        items=[EnrollOutcome(contact_id=o.contact_id, enrolled=o.enrolled,
                                             enrollment_id=o.enrollment_id, reason=o.reason) for o in outcomes])  # fmt: skip


class EnrollmentsResume(InputModel):
    action: Literal["resume", "discard"]
    enrollment_id: EnrollmentId | None = Field(
        None, description="one paused run; omit for every run paused for paused_reason"
    )
    paused_reason: Literal["outbound_off"] = "outbound_off"
    workflow_id: WorkflowId | None = None


class ResumeResult(OutputModel):
    action: str
    count: int
    enrollment_ids: list[str]


def enrollments_resume(ctx: OpContext, args: EnrollmentsResume) -> ResumeResult:
    if ctx.actor.channel not in PEOPLE_CHANNELS:
        raise Forbidden("only a person resumes or discards paused runs (web UI, REST or the server command line)")
    if args.enrollment_id:  # one run; otherwise every run paused for `paused_reason`
        rows = [get_or_404(ctx.uow, Enrollment, args.enrollment_id, "enrollment")]
    else:
        rows = enrollments.paused(ctx.uow, args.paused_reason, args.workflow_id)
    for e in rows:
        if args.action == "resume":
            enrollments.resume(ctx.uow, e)
        elif e.status == "paused":
            enrollments.finish(ctx.uow, e, "exited", f"discarded by a person via {ctx.actor.channel}")
    ctx.detail = f"{args.action} {len(rows)}"
    return ResumeResult(action=args.action, count=len(rows), enrollment_ids=[e.id for e in rows])


class EnrollmentsMove(InputModel):
    workflow_id: WorkflowId
    enrollment_ids: list[EnrollmentId] | None = Field(
        None, max_length=10_000, description="these runs; omit for every live run on an older version"
    )
    from_version: int | None = Field(None, ge=1, description="only runs pinned to this version")


class MoveOutcome(OutputModel):
    enrollment_id: str
    moved: bool
    from_version: int
    step: int = Field(description="the next step the run takes, from 1")
    reason: str | None = None


class MoveResult(OutputModel):
    workflow_id: str
    version: int
    moved: int
    skipped: int
    items: list[MoveOutcome]


def enrollments_move(ctx: OpContext, args: EnrollmentsMove) -> MoveResult:
    if ctx.actor.channel not in PEOPLE_CHANNELS:
        raise Forbidden("only a person moves live runs to a new version (web UI, REST or the server command line)")
    wf = get_or_404(ctx.uow, Workflow, args.workflow_id, "workflow")
    outcomes = enrollments.move_to_current(ctx.uow, wf, enrollment_ids=args.enrollment_ids,
                                           from_version=args.from_version)  # fmt: skip
    n = sum(o.moved for o in outcomes)
    ctx.audit_target("workflow", wf.id, after={"version": wf.version, "moved": n, "skipped": len(outcomes) - n})
    return MoveResult(workflow_id=wf.id, version=wf.version, moved=n, skipped=len(outcomes) - n,
                      items=[MoveOutcome(enrollment_id=o.enrollment_id, moved=o.moved, from_version=o.from_version,
                                         step=o.step, reason=o.reason) for o in outcomes])  # fmt: skip


class WorkflowsTestRun(InputModel):
    workflow_id: WorkflowId
    contact_id: ContactId


class StepReportOut(OutputModel):
    step: int = Field(description="from 1")
    action: str
    at: datetime = Field(description="the simulated moment the step runs")
    outcome: Literal["ok", "sandbox", "blocked", "skipped", "exited", "failed"]
    detail: str


class TestRunOut(OutputModel):
    workflow_id: str
    version: int
    contact_id: str
    started_at: datetime
    finished_at: datetime = Field(description="simulated: the waits pass without anyone waiting")
    result: Literal["completed", "paused", "exited", "failed", "not_enrolled"]
    reason: str
    steps: list[StepReportOut]


def workflows_test_run(ctx: OpContext, args: WorkflowsTestRun) -> TestRunOut:
    wf = get_or_404(ctx.uow, Workflow, args.workflow_id, "workflow")
    sim = testrun.simulate(ctx.uow, wf, args.contact_id)
    return TestRunOut(workflow_id=sim.workflow_id, version=sim.version, contact_id=sim.contact_id,
                      started_at=sim.started_at, finished_at=sim.finished_at, result=sim.result,  # type: ignore[arg-type]
                      reason=sim.reason, steps=[StepReportOut(step=r.step, action=r.action, at=r.at,
                                                              outcome=r.outcome, detail=r.detail)  # type: ignore[arg-type]
                                                for r in sim.steps])  # fmt: skip


OPERATIONS = [
    Operation(
        name="workflows_list",
        title="List workflows",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Sequences and automations with their trigger, whether active, and runs per status.",
        input=WorkflowsList,
        output=Page[WorkflowOut],
        handler=workflows_list,
        rest=("GET", "/workflows"),
        toolset="automation",
    ),
    Operation(
        name="workflows_get",
        title="Get a workflow",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="One workflow with its steps, settings, versions and runs per status.",
        input=WorkflowsGet,
        output=WorkflowOut,
        handler=workflows_get,
        rest=("GET", "/workflows/{workflow_id}"),
        toolset="automation",
    ),
    Operation(
        name="enrollments_list",
        title="List enrollments",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Runs of workflows by workflow, contact or status, each with its next step, when it is due "
        "and why it paused, exited or failed.",
        input=EnrollmentsList,
        output=Page[EnrollmentOut],
        handler=enrollments_list,
        rest=("GET", "/enrollments"),
        toolset="automation",
    ),
    Operation(
        name="workflows_upsert",
        title="Draft or edit a workflow",
        scope=Scope.WRITE,
        read_only=False,
        description="Create or edit a sequence or automation (steps: send_email, send_sms, place_call, wait, "
        "create_task, move_stage, tag, assign_owner, notify_owner, if, exit). Saved inactive when an agent "
        "writes it: a person activates it. Sends obey the outbound switch and consent.",
        input=WorkflowsUpsert,
        output=WorkflowOut,
        handler=workflows_upsert,
        rest=("POST", "/workflows"),
        toolset="automation",
    ),
    Operation(
        name="enrollments_stop",
        title="Stop an enrollment",
        scope=Scope.WRITE,
        read_only=False,
        idempotent=True,
        description="End one contact's run of a workflow; nothing more is sent in it.",
        input=EnrollmentsStop,
        output=EnrollmentOut,
        handler=enrollments_stop,
        rest=("POST", "/enrollments/{enrollment_id}/stop"),
        toolset="automation",
    ),
    Operation(
        name="sequences_enroll",
        title="Enroll contacts in a sequence",
        scope=Scope.COMMS,
        read_only=False,
        open_world=True,
        description="Start an active sequence for contacts; answers per contact enrolled or "
        "why not (consent, do-not-disturb, already enrolled). Its sends obey the outbound switch, consent and "
        "quiet hours, and stop when the contact replies.",
        input=SequencesEnroll,
        output=EnrollResult,
        handler=sequences_enroll,
        rest=("POST", "/workflows/{workflow_id}/enroll"),
        toolset="automation",
    ),
    Operation(
        name="enrollments_resume",
        title="Resume or discard paused runs",
        scope=Scope.COMMS,
        read_only=False,
        mcp=False,
        description="A person resumes (the paused step runs again) or discards runs paused because "
        "outbound was off: one by id, or all paused for that reason.",
        input=EnrollmentsResume,
        output=ResumeResult,
        handler=enrollments_resume,
        rest=("POST", "/enrollments/resume"),
        toolset="automation",
    ),
    Operation(
        name="enrollments_move",
        title="Move live runs to the current version",
        scope=Scope.WRITE,
        read_only=False,
        mcp=False,
        description="A person moves live runs pinned to an older version onto the workflow's current version; each "
        "keeps its place (steps done), a waiting run its timer. Runs are never moved by saving a new version.",
        input=EnrollmentsMove,
        output=MoveResult,
        handler=enrollments_move,
        rest=("POST", "/workflows/{workflow_id}/move-runs"),
        toolset="automation",
    ),
    Operation(
        name="workflows_test_run",
        title="Test-run a workflow for one contact",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        mcp=False,
        description="What the workflow's current version would do for one contact, step by step and why, on a "
        "simulated clock: sends go to the sandbox and nothing is sent, written or enrolled.",
        input=WorkflowsTestRun,
        output=TestRunOut,
        handler=workflows_test_run,
        rest=("POST", "/workflows/{workflow_id}/test-run"),
        toolset="automation",
    ),
]
