"""Long-running tools over MCP: the job an `imports_start` queues, served two more ways than `jobs_get` (issue 16).

- **As an MCP task** (the `io.modelcontextprotocol/tasks` extension of protocol 2026-07-28, SEP-2663). A client that
  declares the extension in the request's capabilities gets a `CreateTaskResult` (`resultType: "task"`) for the job
  instead of the plain answer, polls it with `tasks/get` (status, a progress line, and once the job ends the answer
  `imports_start` gives for it, as the task's `result`) and stops it with `tasks/cancel`. A task is a *view of the
  job*, not a second engine: nothing is stored for it, the task id is the job id (a prefix, the time and 50 random
  bits), and every task request runs the job's operations through the composition root as the caller — `jobs_get`,
  `jobs_cancel` — so the same scopes, audit and workspace apply: another workspace's id is "task not found", word for
  word like an unknown one. Legacy-era clients (the `initialize` handshake) never get a task: `resultType` is
  2026-07-28 vocabulary.
- **As a synchronous call with progress.** A call that gets no task but sends `_meta.progressToken` is answered when
  the job ends (or after FOLLOW_LIMIT, with the job still running), and meanwhile gets `notifications/progress` —
  rows done of total — where the transport carries them: stdio, the SDK's in-memory client, an SSE-mode HTTP
  endpoint. Harmonia's HTTP endpoint answers in JSON-response mode, which has no stream for them, so there the call
  answers at once as before (follow the job with `jobs_get`, or take a task). Ending the call does not stop the job:
  `jobs_cancel` / `tasks/cancel` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import mcp.types as types
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import progress_token_from_params
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import Field

from ..bootstrap import Harmonia
from ..db import Actor
from ..errors import Conflict, HarmoniaError, InvalidArguments, NotFound
from ..models import Job
from ..ops.imports import import_answer
from ..services.records import get_or_404

__all__ = ["TASKS_EXTENSION", "declares_tasks", "follow", "follows_job", "install", "started_job", "task_for"]

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
JOB_TOOLS = frozenset({"imports_start"})  # tools whose answer names a job they queued (`job_id`)
POLL_INTERVAL_MS = 1000  # a batch of 1,000 rows takes about half a second
FOLLOW_EVERY = 0.5  # seconds between two looks at a followed job
# A followed call answers by then, job finished or not (it then says `running`; jobs_get follows on): under the 60 s
# request timeout of the TypeScript SDK most hosts build on, which progress does not reset unless the host opts in.
FOLLOW_LIMIT = 50.0
_STATUS = {"queued": "working", "running": "working", "done": "completed", "failed": "completed",
           "cancelled": "cancelled"}  # fmt: skip
_ENDED = ("done", "failed", "cancelled")

Who = Callable[[ServerRequestContext[Any]], Awaitable[Actor]]


class TaskParams(types.RequestParams):
    task_id: str = Field(alias="taskId", max_length=200)


class UpdateTaskParams(TaskParams):
    input_responses: dict[str, Any] | None = Field(None, alias="inputResponses")


def started_job(name: str, data: dict[str, Any]) -> str | None:
    """The job a tool's answer says it queued, or None (a dry run, or a tool that starts none)."""
    job_id = data.get("job_id") if name in JOB_TOOLS else None
    return job_id if isinstance(job_id, str) else None


def declares_tasks(ctx: ServerRequestContext[Any]) -> bool:
    """The client declared the tasks extension on this very request (the spec: never a task to one that did not)."""
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    return capabilities is not None and TASKS_EXTENSION in (capabilities.extensions or {})


def follows_job(server: Server[Any], ctx: ServerRequestContext[Any]) -> bool:
    """The call asked for progress and its transport can carry notifications back while it runs."""
    if progress_token_from_params(ctx.params) is None:
        return False
    if getattr(ctx, "request", None) is None:
        return True  # stdio or in-memory: one stream both ways
    try:
        return not server.session_manager.json_response
    except RuntimeError:  # not served over HTTP after all
        return True


async def task_for(h: Harmonia, actor: Actor, job_id: str) -> dict[str, Any]:
    """The `CreateTaskResult` for a job just queued (and committed: a `tasks/get` for it already resolves)."""
    state = await _in_pool(h, _task_state, h, actor, job_id, False)
    return {**state, "resultType": "task"}


async def follow(h: Harmonia, actor: Actor, ctx: ServerRequestContext[Any], job_id: str) -> dict[str, Any]:
    """Wait for the job, reporting rows done of total whenever it moved; answer with `imports_start`'s answer for it.
    Progress only ever increases (the spec), and the last report is sent before the answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FOLLOW_LIMIT
    reported = -1
    while True:
        status, done, total, error, answer = await _in_pool(h, _snapshot, h, actor, job_id)
        if done > reported:
            await ctx.session.report_progress(done, total, f"{done:,} of {total:,} rows" if total else f"{done:,} rows")
            reported = done
        if status == "failed":
            raise _failure(job_id, error)  # answered as the tool's error, as a synchronous failure would be
        if status in _ENDED or loop.time() >= deadline:
            return dict(answer)
        await asyncio.sleep(FOLLOW_EVERY)


def install(server: Server[Any], h: Harmonia, who: Who, *, read_only: bool) -> None:
    """Serve `tasks/get`, `tasks/cancel` and `tasks/update` on `server`, and advertise the extension in discovery."""
    server.extensions[TASKS_EXTENSION] = {}

    async def get_task(ctx: ServerRequestContext[Any], params: TaskParams) -> dict[str, Any]:
        actor = await _caller(who, ctx)
        state: dict[str, Any] = await _in_pool(h, _task_state, h, actor, params.task_id, True)
        return state

    async def cancel_task(ctx: ServerRequestContext[Any], params: TaskParams) -> dict[str, Any]:
        actor = await _caller(who, ctx)
        if read_only:
            raise MCPError(code=types.INVALID_REQUEST, message="this endpoint is read-only: cancel the task at /mcp")
        await _in_pool(h, _cancel, h, actor, params.task_id)
        return {}

    async def update_task(ctx: ServerRequestContext[Any], params: UpdateTaskParams) -> dict[str, Any]:
        # No job asks for input (never `input_required`): responses are acknowledged and ignored, as the spec says
        # of responses to requests that are not outstanding — once the task is known to be the caller's.
        actor = await _caller(who, ctx)
        await _in_pool(h, _task_state, h, actor, params.task_id, False)
        return {}

    server.add_request_handler("tasks/get", TaskParams, get_task)
    server.add_request_handler("tasks/cancel", TaskParams, cancel_task)
    server.add_request_handler("tasks/update", UpdateTaskParams, update_task)


async def _caller(who: Who, ctx: ServerRequestContext[Any]) -> Actor:
    try:
        return await who(ctx)
    except HarmoniaError as error:
        raise MCPError(code=types.INVALID_REQUEST, message=error.message) from None


async def _in_pool(h: Harmonia, fn: Callable[..., Any], *args: Any) -> Any:
    """Run database work on the composition root's pool; a refusal becomes the JSON-RPC error the spec names."""
    try:
        return await asyncio.get_running_loop().run_in_executor(h.executor, fn, *args)
    except (NotFound, InvalidArguments):
        # An unknown id, a malformed one and another workspace's answer alike (-32602, the spec's code).
        raise MCPError(code=types.INVALID_PARAMS, message="Failed to retrieve task: task not found") from None
    except HarmoniaError as error:
        code = types.INTERNAL_ERROR if error.http_status >= 500 else types.INVALID_REQUEST
        raise MCPError(code=code, message=error.message) from None


def _task_state(h: Harmonia, actor: Actor, task_id: str, with_result: bool) -> dict[str, Any]:
    """The task as `tasks/get` shows it, read through `jobs_get` as the caller (scope, workspace, audit)."""
    job: dict[str, Any] = h.invoke(actor, "jobs_get", {"job_id": task_id}).model_dump(mode="json")
    state: dict[str, Any] = {
        "taskId": job["job_id"],
        "status": _STATUS[job["status"]],
        "statusMessage": _message(job),
        "createdAt": job["created_at"],
        "lastUpdatedAt": job["finished_at"] or job["started_at"] or job["created_at"],
        "ttlMs": None,  # a job is kept: its error file and undo need it
        "pollIntervalMs": POLL_INTERVAL_MS,
    }
    if with_result and job["status"] == "done":
        answer = _answer(h, actor, task_id)
        state["result"] = {"content": [{"type": "text", "text": _json(answer)}], "structuredContent": answer,
                           "isError": False}  # fmt: skip
    elif with_result and job["status"] == "failed":
        # The tool failed, not the protocol: a completed task whose result is an error (the spec keeps `failed`
        # for JSON-RPC errors).
        error = _failure(task_id, job["error"])
        state["result"] = {"content": [{"type": "text", "text": error.message}],
                           "structuredContent": {"error": error.to_dict()}, "isError": True}  # fmt: skip
    return state


def _message(job: dict[str, Any]) -> str:
    done, total = job["done"], job["total"]
    rows = f"{done:,} of {total:,} rows" if total else f"{done:,} rows"
    counts = job.get("counts") or {}
    match job["status"]:
        case "queued":
            return f"queued: waiting for a runner ({total or 0:,} rows to import)"
        case "running":
            return rows + (" — cancelling after this batch" if job.get("cancel_requested") else "")
        case "done":
            return (f"imported {total or done:,} rows: {counts.get('created', 0):,} created, "
                    f"{counts.get('updated', 0):,} updated, {counts.get('skipped', 0):,} skipped, "
                    f"{counts.get('failed', 0):,} failed")  # fmt: skip
        case "cancelled":
            return f"cancelled after {rows}; what was committed stays (imports_undo removes it)"
        case _:
            return str(job.get("error") or "failed")


def _cancel(h: Harmonia, actor: Actor, task_id: str) -> None:
    # A job that already ended keeps the status it ended with: cancellation is cooperative, the ack is all it owes.
    with contextlib.suppress(Conflict):
        h.invoke(actor, "jobs_cancel", {"job_id": task_id})


def _answer(h: Harmonia, actor: Actor, job_id: str) -> dict[str, Any]:
    with h.db.unit_of_work(actor, write=False) as uow:
        answer: dict[str, Any] = import_answer(get_or_404(uow, Job, job_id, "job")).model_dump(
            mode="json", exclude_none=True
        )
        return answer


def _snapshot(h: Harmonia, actor: Actor, job_id: str) -> tuple[str, int, int | None, str | None, dict[str, Any]]:
    """A followed job as it stands: status, rows done, rows in all, its error, and the answer for it. Read without an
    audit entry per look: the call that follows it was audited when it started the job."""
    with h.db.unit_of_work(actor, write=False) as uow:
        job = get_or_404(uow, Job, job_id, "job")
        answer = import_answer(job).model_dump(mode="json", exclude_none=True)
        return job.status, job.done, job.total, job.error, answer


def _failure(job_id: str, error: str | None) -> HarmoniaError:
    return HarmoniaError(f"import job {job_id} failed: {error or 'it stopped on an unexpected error'}", job_id=job_id)


def _json(data: Any) -> str:
    import orjson

    return orjson.dumps(data).decode()
