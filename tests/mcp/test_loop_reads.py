"""MCP reads served on the event loop: bounded per statement, run again on a worker thread past the bound or when
they need the ORM or a write; a result's text is its structured content serialised once."""

from __future__ import annotations

import orjson
import pytest

from harmonia.db import OverBudget, on_the_loop
from harmonia.surfaces.mcp_server import _tool_result, invoke_soon

from ..conftest import Workspace


@pytest.mark.one_backend
def test_a_read_on_the_loop_is_bounded_and_whatever_it_cannot_do_there_goes_to_a_thread(acme: Workspace) -> None:
    h, actor = acme.h, acme.actor()
    contact = acme.call("contacts_create", first_name="Maria", email="maria@tacos.test")
    acme.call("notes_create", record_type="contact", record_id=contact["id"], body="called")
    threaded: set[str] = set()

    served = invoke_soon(h, actor, "contacts_get", {"contact_id": contact["id"]}, threaded)
    assert served is not None and served.model_dump(mode="json", exclude_none=True) == acme.call(
        "contacts_get", contact_id=contact["id"])  # fmt: skip

    with pytest.raises(OverBudget, match="ran past"), on_the_loop(1e-9):  # every statement is over this bound
        h.invoke(actor, "contacts_get", {"contact_id": contact["id"]})
    with pytest.raises(OverBudget) as needs_write, on_the_loop(1.0):
        h.invoke(actor, "contacts_update", {"contact_id": contact["id"], "title": "CFO"})
    assert needs_write.value.args[0] == OverBudget.WRITES
    assert acme.call("contacts_get", contact_id=contact["id"]).get("title") is None  # nothing was written

    # A refusal is audited, so it is left to a thread (which writes its audit row); so is a read through the ORM,
    # remembered so that tool goes straight to the thread next time.
    assert invoke_soon(h, actor, "contacts_get", {"contact_id": "ct_00000000000000000000"}, threaded) is None
    assert invoke_soon(h, actor, "settings_get", {}, threaded) is None and threaded == {"settings_get"}
    # A search reads the full-text index and its page on the driver, never the ORM: it is served on the loop.
    found = invoke_soon(h, actor, "search", {"q": "Maria"}, threaded)
    assert found is not None and [hit.id for hit in found.items] == [contact["id"]] and "search" not in threaded


@pytest.mark.one_backend
def test_a_tool_result_carries_the_same_json_as_text_and_as_structured_content() -> None:
    data = {"id": "ct_1", "name": "Maria Lopez", "open_deals": [{"id": "op_1", "amount": 40000.0}]}
    result = _tool_result(data)
    assert result["structuredContent"] is data
    assert orjson.loads(result["content"][0]["text"]) == data and " " not in result["content"][0]["text"].split('"')[0]
