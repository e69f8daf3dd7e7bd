"""Restart intensity: OTP's "more than intensity restarts within period",
escalating through nested supervisors."""

from __future__ import annotations

import pytest

from supervisor import ChildSpec, Runtime, SupervisorSpec, supervisor_child
from tests.supervisor import sup_workers as w
from tests.supervisor.sup_helpers import Recorder


def test_intensity_exceeded_stops_the_supervisor(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s", intensity=2, period=30), [
        ChildSpec("ok", w.ready_then_sleep), ChildSpec("bad", w.crash_when_ready)],
        on_message=rec.on_message)
    rec.wait_event("terminated")
    # 3 exits: 2 restarts allowed, the third exceeds intensity 2
    bad_exits = rec.of("exited", "bad")
    assert len(bad_exits) == 3
    assert len(rec.of("restarting", "bad")) == 2
    exceeded = rec.of("intensity_exceeded")
    assert len(exceeded) == 1 and exceeded[0].child == "bad"
    assert rec.of("terminated")[0].reason == "shutdown"
    assert rec.of("exited", "ok")[-1].reason == "shutdown"
    assert not sup.running
    assert all(c.state == "stopped" and c.pid is None for c in sup.which_children())


def test_intensity_zero_means_no_restart(rt: Runtime, rec: Recorder) -> None:
    rt.start_supervisor(SupervisorSpec("s", intensity=0), [ChildSpec("bad", w.crash_when_ready)])
    rec.wait_event("terminated")
    assert len(rec.of("exited", "bad")) == 1 and not rec.of("restarting")


def test_restarts_older_than_period_do_not_count(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s", intensity=1, period=0.3), [
        ChildSpec("c", w.ready_then_sleep)], on_message=rec.on_message)
    for n in range(1, 4):
        rec.wait_msg("ready", "c", count=n)
        rt.run_until(lambda: False, 0.35)  # let the previous restart age out
        sup.send("c", "crash")
    rec.wait_msg("ready", "c", count=4)
    assert sup.running and not rec.of("intensity_exceeded")


@pytest.mark.timeout(60)
def test_intensity_escalates_through_two_levels(rt: Runtime, rec: Recorder) -> None:
    mid = supervisor_child(SupervisorSpec("mid", intensity=1, period=30), [
        ChildSpec("steady", w.ready_then_sleep), ChildSpec("bad", w.crash_when_ready)])
    top = rt.start_supervisor(SupervisorSpec("top", intensity=1, period=30), [
        ChildSpec("first", w.ready_then_sleep), mid, ChildSpec("last", w.ready_then_sleep)],
        on_message=rec.on_message)
    rec.wait(lambda: len(rec.of("terminated", None)) >= 3 and not top.running, 30)
    # mid gave up twice (intensity 1: the 2nd restart exceeds it) ...
    mid_exceeded = [e for e in rec.of("intensity_exceeded") if e.supervisor == "mid"]
    assert len(mid_exceeded) == 2 and all(e.child == "bad" for e in mid_exceeded)
    # ... top restarted mid once, and the second failure exceeded top's intensity
    top_exceeded = [e for e in rec.of("intensity_exceeded") if e.supervisor == "top"]
    assert len(top_exceeded) == 1 and top_exceeded[0].child == "mid"
    assert [e.supervisor for e in rec.of("terminated")] == ["mid", "mid", "top"]
    top_restarts = [e for e in rec.of("restarting") if e.supervisor == "top"]
    assert [(e.child, e.reason) for e in top_restarts] == [("mid", "shutdown")]
    assert len(rec.of("exited", "bad")) == 4
    # top's own children were terminated in reverse order at the end
    top_exits = [e.child for e in rec.of("exited") if e.supervisor == "top"]
    assert top_exits[-2:] == ["last", "first"]
    assert all(c.pid is None for c in top.which_children())


def test_transient_nested_supervisor_is_not_restarted_after_shutdown(rt: Runtime,
                                                                      rec: Recorder) -> None:
    # OTP: a supervisor that gave up exits with reason shutdown, which is a
    # normal reason for a transient child: the parent does not restart it
    mid = supervisor_child(SupervisorSpec("mid", intensity=0),
                           [ChildSpec("bad", w.crash_when_ready)], restart="transient")
    top = rt.start_supervisor(SupervisorSpec("top"), [mid])
    rec.wait_event("exited", "mid")
    rt.run_until(lambda: False, 0.1)
    assert top.running
    assert top.which_children()[0].state == "stopped"
    assert not [e for e in rec.of("restarting") if e.supervisor == "top"]
