"""Health pings are answered while user code is busy, and missed when the
child is stopped or stuck in a C call holding the GIL."""

from __future__ import annotations

import pytest

from supervisor import ChildSpec, Down, HealthCheck, Runtime, SupervisorSpec
from tests.supervisor import sup_workers as w
from tests.supervisor.sup_helpers import Recorder

FAST = HealthCheck(interval=0.2, timeout=0.2, misses=3)


@pytest.mark.timeout(30)
def test_busy_python_code_still_answers_pings(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("busy", w.busy_python, args=(1.0,), health=FAST)], on_message=rec.on_message)
    pid = rec.wait_msg("ready", "busy")[2]
    rec.wait_msg("done", "busy", timeout=10)
    assert not rec.of("unhealthy")
    assert sup.pid_of("busy") == pid


@pytest.mark.timeout(30)
def test_c_call_holding_the_gil_is_unhealthy(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("stuck", w.hold_gil, args=(1000,), health=FAST, restart="temporary")],
        on_message=rec.on_message)
    pid = rec.wait_msg("ready", "stuck")[2]
    downs: list[Down] = []
    sup.monitor("stuck", downs.append)
    sup.send("stuck", "go")
    rec.wait(lambda: bool(downs), timeout=15)
    assert downs[0].reason == "unhealthy" and downs[0].pid == pid
    event = rec.wait_event("unhealthy", "stuck")
    assert event.reason == "3 missed pings"
