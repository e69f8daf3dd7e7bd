"""Monitors: exactly one Down per monitor, noproc, demonitor."""

from __future__ import annotations

import os
import signal

import pytest

from supervisor import (
    ChildSpec,
    Down,
    HealthCheck,
    Runtime,
    Supervisor,
    SupervisorSpec,
    supervisor_child,
)
from tests.supervisor import sup_workers as w
from tests.supervisor.sup_helpers import Recorder


def started(rt: Runtime, rec: Recorder, *specs: ChildSpec) -> Supervisor:
    sup = rt.start_supervisor(SupervisorSpec("s", intensity=10), list(specs),
                              on_message=rec.on_message)
    for spec in specs:
        if spec.type == "worker":
            rec.wait_msg("ready", spec.id)
    return sup


@pytest.mark.parametrize(("command", "reason"), [
    ("normal", "normal"), ("crash", "exception: RuntimeError: asked to crash")])
def test_down_on_exit(rt: Runtime, rec: Recorder, command: str, reason: str) -> None:
    sup = started(rt, rec, ChildSpec("c", w.ready_then_sleep))
    downs: list[Down] = []
    pid = sup.pid_of("c")
    ref = sup.monitor("c", downs.append)
    sup.send("c", command)
    rec.wait(lambda: bool(downs))
    rec.wait_msg("ready", "c", count=2)  # restarted (permanent)
    assert downs == [Down(ref, "c", pid, reason)]
    # the monitor belonged to the first incarnation: the restart does not fire it again
    sup.send("c", "crash")
    rec.wait_msg("ready", "c", count=3)
    assert len(downs) == 1


def test_down_on_sigkill_and_several_monitors(rt: Runtime, rec: Recorder) -> None:
    sup = started(rt, rec, ChildSpec("c", w.ready_then_sleep))
    pid = sup.pid_of("c")
    assert pid is not None
    first: list[Down] = []
    second: list[Down] = []
    ref1 = sup.monitor("c", first.append)
    ref2 = sup.monitor("c", second.append)
    assert ref1 != ref2
    os.kill(pid, signal.SIGKILL)
    rec.wait(lambda: bool(first and second))
    assert first == [Down(ref1, "c", pid, "killed")]
    assert second == [Down(ref2, "c", pid, "killed")]


@pytest.mark.timeout(30)
def test_sigstopped_child_is_unhealthy(rt: Runtime, rec: Recorder) -> None:
    health = HealthCheck(interval=0.15, timeout=0.15, misses=3)
    sup = started(rt, rec, ChildSpec("c", w.ready_then_sleep, health=health))
    pid = sup.pid_of("c")
    assert pid is not None
    downs: list[Down] = []
    sup.monitor("c", downs.append)
    rt.run_until(lambda: False, 0.6)  # answered pings: still alive
    assert not downs and sup.pid_of("c") == pid
    os.kill(pid, signal.SIGSTOP)
    rec.wait(lambda: bool(downs), timeout=10)
    assert downs[0].reason == "unhealthy" and downs[0].pid == pid
    assert rec.wait_event("unhealthy", "c").pid == pid
    rec.wait_msg("ready", "c", count=2)  # restarted per policy
    assert sup.pid_of("c") != pid


def test_noproc_for_missing_and_stopped_children(rt: Runtime, rec: Recorder) -> None:
    sup = started(rt, rec, ChildSpec("c", w.ready_then_sleep))
    sup.terminate_child("c")
    downs: list[Down] = []
    ref_missing = sup.monitor("missing", downs.append)
    ref_stopped = sup.monitor("c", downs.append)
    assert downs == []  # delivered on the next loop turn, not re-entrantly
    rt.run_once(0)
    assert downs == [Down(ref_missing, "missing", None, "noproc"),
                     Down(ref_stopped, "c", None, "noproc")]
    rt.run_until(lambda: False, 0.05)
    assert len(downs) == 2


def test_demonitor_suppresses_down(rt: Runtime, rec: Recorder) -> None:
    sup = started(rt, rec, ChildSpec("a", w.ready_then_sleep), ChildSpec("b", w.ready_then_sleep))
    downs: list[Down] = []
    ref_a = sup.monitor("a", downs.append)
    ref_b = sup.monitor("b", downs.append)
    sup.demonitor(ref_a)
    sup.send("a", "crash")
    sup.send("b", "crash")
    rec.wait(lambda: bool(downs))
    rec.wait_msg("ready", "a", count=2)
    assert [d.ref for d in downs] == [ref_b]
    # demonitor of a noproc monitor before its delivery also suppresses it
    ref = sup.monitor("missing", downs.append)
    sup.demonitor(ref)
    sup.demonitor(ref)  # idempotent
    rt.run_until(lambda: False, 0.05)
    assert [d.ref for d in downs] == [ref_b]


def test_monitor_nested_supervisor(rt: Runtime, rec: Recorder) -> None:
    sup = started(rt, rec, supervisor_child(SupervisorSpec("inner"),
                                            [ChildSpec("i", w.ready_then_sleep)]))
    rec.wait_msg("ready", "i")
    downs: list[Down] = []
    ref = sup.monitor("inner", downs.append)
    sup.terminate_child("inner")
    rec.wait(lambda: bool(downs))
    assert downs == [Down(ref, "inner", None, "shutdown")]
