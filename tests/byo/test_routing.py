"""The trace a routed call carries, and the refusals that stop a chain from looping or growing without end."""

from __future__ import annotations

import pytest

from harmonia.routing import HOPS_KEY, LoopRefused, Trace

pytestmark = pytest.mark.one_backend

ME = "harmonia:ab12cd34"


def test_a_trace_goes_on_with_the_same_trace_id_a_new_span_and_this_hop_added() -> None:
    incoming = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01", HOPS_KEY: ["harmonia:ffff0000", "notos"]}
    meta, via = Trace.from_meta(incoming).onward(ME, "signl")
    assert meta["traceparent"].startswith("00-" + "1" * 32 + "-") and meta["traceparent"] != incoming["traceparent"]
    assert meta[HOPS_KEY] == ["harmonia:ffff0000", "notos", ME, "signl"] and via == f"1.1 {ME}"
    fresh = Trace.from_meta({"traceparent": "garbage"})
    assert len(fresh.trace_id) == 32 and fresh.hops == ()


def test_a_chain_that_holds_this_instance_or_runs_too_deep_is_refused_naming_it() -> None:
    with pytest.raises(LoopRefused, match=f"refused: loop {ME} → signl → {ME}"):
        Trace.from_meta({HOPS_KEY: [ME, "signl"]}).check_route(ME, "notos", max_hops=3)
    with pytest.raises(LoopRefused, match="a → b → c → " + ME + " → signl is 4 hops deep, over the limit of 3"):
        Trace.from_meta({HOPS_KEY: ["a", "b", "c"]}).check_route(ME, "signl", max_hops=3)
    # A hop list that is not a list of names still counts its length: garbage never resets the depth.
    with pytest.raises(LoopRefused, match="unknown → unknown → unknown"):
        Trace.from_meta({HOPS_KEY: [{"x": 1}, 7, "bad name!"]}).check_route(ME, "signl", max_hops=3)
    Trace.from_meta({HOPS_KEY: ["harmonia:ffff0000", "notos"]}).check_route(ME, "signl", max_hops=3)
