"""An import over MCP as a long-running operation (issue 16), driven by the SDK's own client: a client that declares
the tasks extension (2026-07-28) gets an MCP task for the job and polls or cancels it; another workspace's task id is
not found; a client without the extension gets the plain answer; a call that sends a progress token over a transport
that carries notifications (in-memory, stdio) hears the rows go by and is answered when the job ends."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Request, RequestParams, Result
from pydantic import Field
from sqlalchemy import select

from harmonia.db import Database
from harmonia.models import Job
from harmonia.services import jobs
from harmonia.services.tenancy import create_token
from harmonia.surfaces import mcp_tasks
from harmonia.surfaces.mcp_server import build_server
from mcp import Client, StdioServerParameters

from ..conftest import Workspace

IMPORTS = frozenset({"core", "imports"})
CSV = "First Name,Last Name,Email\nAnn,Lee,ann@lee.example\nBob,Ray,bob@ray.example\n"


def _rows(n: int) -> str:
    return "First Name,Email\n" + "".join(f"P{i},p{i}@rows.example\n" for i in range(n))


# The client side of the extension, as a client would write it with the SDK's extension API (the SDK ships the
# hooks, not the tasks extension itself).
class TaskParams(RequestParams):
    task_id: str = Field(alias="taskId")


class GetTask(Request[TaskParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskParams
    name_param = "taskId"  # the spec: Mcp-Name carries the task id over HTTP


class CancelTask(Request[TaskParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    params: TaskParams
    name_param = "taskId"


class CreateTaskResult(Result):
    result_type: Literal["task"] = "task"
    task_id: str
    status: str
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None


class Ack(Result):
    result_type: str


class DetailedTask(Result):
    task_id: str
    status: str
    status_message: str | None = None
    poll_interval_ms: int | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


async def _poll_to_the_end(task: CreateTaskResult, ctx: ClaimContext) -> CallToolResult:
    with anyio.fail_after(30):
        while True:
            state = await ctx.session.send_request(GetTask(params=TaskParams(taskId=task.task_id)), DetailedTask)
            if state.status == "completed":
                return CallToolResult.model_validate(state.result)
            assert state.status == "working", state
            await anyio.sleep((state.poll_interval_ms or 1000) / 1000)


class Tasks(ClientExtension):
    identifier = "io.modelcontextprotocol/tasks"

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreateTaskResult, resolve=_poll_to_the_end)]


async def _get(c: Client, task_id: str) -> DetailedTask:
    return await c.session.send_request(GetTask(params=TaskParams(taskId=task_id)), DetailedTask)


async def _start(c: Client, content: str = CSV) -> CreateTaskResult:
    task = await c.session.call_tool("imports_start", {"content": content}, allow_claimed=True)
    assert isinstance(task, CreateTaskResult)
    return task


@pytest.fixture
def no_runner(db: Database, inline_jobs: Any) -> None:
    """Jobs stay queued until the test runs them, as with a separate `harmonia worker`."""
    db.bus.unsubscribe("job_queued", inline_jobs)


@pytest.mark.usefixtures("no_runner")
async def test_a_client_with_the_tasks_extension_gets_a_task_for_the_job_and_polls_it_to_the_imports_answer(
    acme: Workspace,
) -> None:
    async with Client(build_server(acme.h, actor=acme.actor(), toolsets=IMPORTS), extensions=[Tasks()]) as c:
        assert "io.modelcontextprotocol/tasks" in (c.server_capabilities.extensions or {})
        task = await _start(c)
        queued = await _get(c, task.task_id)
        jobs.run_due(acme.db)  # the worker runs the job
        done = await _get(c, task.task_id)
    assert task.task_id.startswith("jb_") and task.status == "working" and task.poll_interval_ms
    assert queued.status == "working" and queued.result is None and "queued" in (queued.status_message or "")
    assert done.status == "completed" and "2 created" in (done.status_message or "")
    answer = CallToolResult.model_validate(done.result)
    assert not answer.is_error and answer.structured_content is not None
    assert answer.structured_content["job_id"] == task.task_id
    assert (answer.structured_content["status"], answer.structured_content["created"]) == ("done", 2)
    assert acme.call("jobs_get", job_id=task.task_id)["status"] == "done"  # the task is the job


async def test_the_sdk_client_with_the_extension_gets_the_imports_answer_through_the_task(acme: Workspace) -> None:
    async with Client(build_server(acme.h, actor=acme.actor(), toolsets=IMPORTS), extensions=[Tasks()]) as c:
        result = await c.call_tool("imports_start", {"content": CSV})  # resolved by polling; schema checked
    assert not result.is_error and result.structured_content is not None
    assert (result.structured_content["status"], result.structured_content["created"]) == ("done", 2)


@pytest.mark.usefixtures("no_runner")
async def test_a_job_that_fails_completes_its_task_with_the_tools_error_not_a_protocol_error(acme: Workspace) -> None:
    async with Client(build_server(acme.h, actor=acme.actor(), toolsets=IMPORTS), extensions=[Tasks()]) as c:
        task = await _start(c)
        with acme.db.unit_of_work(acme.actor(), write=False) as uow:
            upload = Path(uow.session.scalars(select(Job.params).where(Job.id == task.task_id)).one()["path"])
        upload.unlink()  # the file went away before a runner got to it
        jobs.run_due(acme.db)
        failed = await _get(c, task.task_id)
    assert failed.status == "completed" and failed.error is None  # the spec keeps "failed" for JSON-RPC errors
    answer = CallToolResult.model_validate(failed.result)
    assert answer.is_error and answer.content[0].text.startswith(f"import job {task.task_id} failed: ")  # type: ignore[union-attr]


@pytest.mark.usefixtures("no_runner")
async def test_cancelling_a_task_cancels_the_job(acme: Workspace) -> None:
    async with Client(build_server(acme.h, actor=acme.actor(), toolsets=IMPORTS), extensions=[Tasks()]) as c:
        task = await _start(c)
        ack = await c.session.send_request(CancelTask(params=TaskParams(taskId=task.task_id)), Ack)
        after = await _get(c, task.task_id)
        again = await c.session.send_request(CancelTask(params=TaskParams(taskId=task.task_id)), Ack)
    assert ack.result_type == "complete" and again.result_type == "complete"  # an ended task's cancel is acknowledged
    assert after.status == "cancelled" and after.result is None
    assert acme.call("jobs_get", job_id=task.task_id)["status"] == "cancelled"


@pytest.mark.usefixtures("no_runner")
async def test_another_workspaces_task_is_not_found_and_cannot_be_cancelled(acme: Workspace, rival: Workspace) -> None:
    async with Client(build_server(acme.h, actor=acme.actor(), toolsets=IMPORTS), extensions=[Tasks()]) as c:
        task = await _start(c)
    async with Client(build_server(rival.h, actor=rival.actor(), toolsets=IMPORTS), extensions=[Tasks()]) as c:
        answers = []
        for request in (GetTask, CancelTask):
            with pytest.raises(MCPError) as refused:
                await c.session.send_request(request(params=TaskParams(taskId=task.task_id)), Result)
            answers.append((refused.value.error.code, refused.value.error.message))
        with pytest.raises(MCPError) as unknown:
            await _get(c, "jb_00000000000000000000")
    assert answers == [(-32602, "Failed to retrieve task: task not found")] * 2
    assert (unknown.value.error.code, unknown.value.error.message) == answers[0]  # word for word like an unknown id
    assert acme.call("jobs_get", job_id=task.task_id)["status"] == "queued"


@pytest.mark.usefixtures("no_runner")
async def test_a_reader_can_follow_a_task_but_not_cancel_it(acme: Workspace) -> None:
    async with Client(build_server(acme.h, actor=acme.actor(), toolsets=IMPORTS), extensions=[Tasks()]) as c:
        task = await _start(c)
    reader = acme.actor(scopes=("mcp:read",))
    async with Client(build_server(acme.h, actor=reader, toolsets=IMPORTS), extensions=[Tasks()]) as c:
        state = await _get(c, task.task_id)
        with pytest.raises(MCPError) as refused:
            await c.session.send_request(CancelTask(params=TaskParams(taskId=task.task_id)), Result)
    assert state.status == "working"
    assert "mcp:write" in refused.value.error.message
    assert acme.call("jobs_get", job_id=task.task_id)["status"] == "queued"


@pytest.mark.usefixtures("no_runner")
async def test_the_read_only_endpoint_shows_a_task_but_does_not_cancel_it(acme: Workspace) -> None:
    async with Client(build_server(acme.h, actor=acme.actor(), toolsets=IMPORTS), extensions=[Tasks()]) as c:
        task = await _start(c)
    readonly = build_server(acme.h, actor=acme.actor(), toolsets=IMPORTS, read_only=True)
    async with Client(readonly, extensions=[Tasks()]) as c:
        state = await _get(c, task.task_id)
        with pytest.raises(MCPError) as refused:
            await c.session.send_request(CancelTask(params=TaskParams(taskId=task.task_id)), Result)
    assert state.status == "working" and "read-only" in refused.value.error.message
    assert acme.call("jobs_get", job_id=task.task_id)["status"] == "queued"


@pytest.mark.usefixtures("no_runner")
async def test_a_client_without_the_extension_gets_the_plain_answer_at_once(acme: Workspace) -> None:
    async with Client(build_server(acme.h, actor=acme.actor(), toolsets=IMPORTS)) as c:
        result = await c.call_tool("imports_start", {"content": CSV})
    assert not result.is_error and result.structured_content is not None
    assert result.structured_content["status"] == "queued" and result.structured_content["rows"] == 2


async def test_a_dry_run_is_answered_plainly_even_to_a_client_that_takes_tasks(acme: Workspace) -> None:
    async with Client(build_server(acme.h, actor=acme.actor(), toolsets=IMPORTS), extensions=[Tasks()]) as c:
        result = await c.session.call_tool("imports_start", {"content": CSV, "dry_run": True}, allow_claimed=True)
    assert isinstance(result, CallToolResult) and result.structured_content is not None
    assert result.structured_content["status"] == "dry_run"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_call_with_a_progress_token_hears_the_rows_go_by_and_is_answered_when_the_job_ends(
    acme: Workspace, db: Database, inline_jobs: Any, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    # The job runs in a thread of its own, in batches of 2, as `harmonia serve` runs it.
    db.bus.unsubscribe("job_queued", inline_jobs)
    threaded = jobs.install_inprocess_jobs(db)
    monkeypatch.setattr(jobs, "BATCH", 2)
    monkeypatch.setattr(mcp_tasks, "FOLLOW_EVERY", 0.01)
    heard: list[tuple[float, float | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        heard.append((done, total))

    try:
        with anyio.fail_after(30):
            async with Client(build_server(acme.h, actor=acme.actor(), toolsets=IMPORTS), mode=mode) as c:  # type: ignore[arg-type]
                # The SDK adds the token itself on a JSON-RPC stream; its in-memory modern path needs it written.
                result = await c.call_tool("imports_start", {"content": _rows(7)}, progress_callback=progress,
                                           meta={"progressToken": "import-1"})  # fmt: skip
    finally:
        db.bus.unsubscribe("job_queued", threaded)
    assert result.structured_content is not None
    assert (result.structured_content["status"], result.structured_content["created"]) == ("done", 7)
    assert heard and heard[-1] == (7, 7)
    assert [done for done, _ in heard] == sorted({done for done, _ in heard})  # it only ever increases


@pytest.mark.usefixtures("no_runner")
async def test_a_followed_call_answers_by_its_time_limit_with_the_job_still_queued(
    acme: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mcp_tasks, "FOLLOW_LIMIT", 0.0)
    heard: list[tuple[float, float | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        heard.append((done, total))

    async with Client(build_server(acme.h, actor=acme.actor(), toolsets=IMPORTS), mode="legacy") as c:
        result = await c.call_tool("imports_start", {"content": CSV}, progress_callback=progress)
    assert result.structured_content is not None and result.structured_content["status"] == "queued"
    assert heard == [(0, 2)]


async def test_over_stdio_a_call_with_a_progress_token_gets_progress_and_the_final_answer(
    acme: Workspace, tmp_path: Path
) -> None:
    token = create_token(acme.db, acme.slug, acme.owner.email, ["mcp:read", "mcp:write"], "stdio import").secret
    env = dict(os.environ, HARMONIA_TOKEN=token, HARMONIA_DATABASE_URL=acme.db.url, HARMONIA_TOOLSETS="core,imports",
               HARMONIA_UPLOAD_DIR=str(tmp_path / "stdio-uploads"), HARMONIA_INPROCESS_DISPATCH="true")  # fmt: skip
    params = StdioServerParameters(command=sys.executable, args=["-m", "harmonia.surfaces.cli", "mcp"], env=env)
    heard: list[tuple[float, float | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        heard.append((done, total))

    with anyio.fail_after(60):
        async with Client(params, mode="auto") as c:  # type: ignore[arg-type]
            result = await c.call_tool("imports_start", {"content": _rows(5)}, progress_callback=progress)
    assert result.structured_content is not None
    assert (result.structured_content["status"], result.structured_content["created"]) == ("done", 5)
    assert heard and heard[-1] == (5, 5)


@pytest.fixture
def http(acme: Workspace, no_runner: None) -> Any:
    """The app over real HTTP (JSON-response mode, as deployed), its jobs left for a worker; yields a client factory."""
    from harmonia.config import Settings
    from harmonia.surfaces.app import create_app

    from ..mcp.conftest import serve_in_thread

    token = create_token(acme.db, acme.slug, acme.owner.email, ["mcp:read", "mcp:write"], "http import").secret
    with serve_in_thread(create_app(Settings(database_url=acme.db.url, inprocess_dispatch=False), acme.db)) as url:

        def client(**kw: Any) -> tuple[Any, Client]:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            h = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
            endpoint = streamable_http_client(url + "/mcp?toolsets=core,imports", http_client=h)
            return h, Client(endpoint, **kw)  # type: ignore[arg-type]

        yield client


async def test_over_http_a_client_with_the_extension_gets_a_task_it_polls_to_the_end(
    acme: Workspace, http: Any
) -> None:
    h, client = http(extensions=[Tasks()])
    async with h, client as c:
        task = await _start(c)
        queued = await _get(c, task.task_id)
        await anyio.to_thread.run_sync(jobs.run_due, acme.db)
        done = await _get(c, task.task_id)
    assert queued.status == "working" and done.status == "completed"
    assert CallToolResult.model_validate(done.result).structured_content["created"] == 2  # type: ignore[index]


async def test_over_http_in_json_mode_a_progress_token_changes_nothing_the_answer_comes_at_once(
    acme: Workspace, http: Any
) -> None:
    heard: list[float] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        heard.append(done)

    h, client = http()
    async with h, client as c:
        with anyio.fail_after(30):
            result = await c.call_tool("imports_start", {"content": CSV}, progress_callback=progress)
    assert result.structured_content is not None and result.structured_content["status"] == "queued"
    assert heard == []  # JSON-response mode has no stream to carry notifications: follow with jobs_get or a task
