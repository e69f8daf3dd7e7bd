"""Links between children, with and without trapping exits (OTP semantics)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

from supervisor import (
    ChildNotRunning,
    ChildSpec,
    Down,
    Runtime,
    Supervisor,
    SupervisorError,
    SupervisorSpec,
)
from tests.supervisor import sup_workers as w
from tests.supervisor.sup_helpers import Recorder


def two(rt: Runtime, rec: Recorder, b_start: Callable[..., Any] = w.ready_then_sleep,
        b_trap: bool = False) -> Supervisor:
    sup = rt.start_supervisor(SupervisorSpec("s", intensity=10), [
        ChildSpec("a", w.ready_then_sleep),
        ChildSpec("b", b_start, trap_exits=b_trap)], on_message=rec.on_message)
    rec.wait_msg("ready", "a")
    rec.wait_msg("ready", "b")
    return sup


def test_abnormal_exit_kills_linked_child_with_same_reason(rt: Runtime, rec: Recorder) -> None:
    sup = two(rt, rec)
    sup.link("a", "b")
    downs: list[Down] = []
    pid_b = sup.pid_of("b")
    sup.monitor("b", downs.append)
    sup.send("a", "crash")
    rec.wait(lambda: bool(downs))
    assert downs[0].pid == pid_b
    assert downs[0].reason == "exception: RuntimeError: asked to crash"
    rec.wait_msg("ready", "a", count=2)
    rec.wait_msg("ready", "b", count=2)  # both permanent: both restarted


def test_killed_propagates_as_killed(rt: Runtime, rec: Recorder) -> None:
    sup = two(rt, rec)
    sup.link("b", "a")
    downs: list[Down] = []
    sup.monitor("b", downs.append)
    os.kill(sup.pid_of("a"), signal.SIGKILL)
    rec.wait(lambda: bool(downs))
    assert downs[0].reason == "killed"


def test_normal_exit_does_not_kill_linked_child(rt: Runtime, rec: Recorder) -> None:
    sup = two(rt, rec)
    pid_b = sup.pid_of("b")
    sup.link("a", "b")
    sup.send("a", "normal")
    rec.wait_msg("ready", "a", count=2)
    sup.send("b", "ping")
    rec.wait_msg("pong", "b")
    assert sup.pid_of("b") == pid_b


@pytest.mark.parametrize("trap_at_start", [True, False])
def test_trapping_child_receives_exit_records(rt: Runtime, rec: Recorder,
                                              trap_at_start: bool) -> None:
    # w.trapper sets link.trap_exits = True itself; trap_at_start also sets it in the spec
    sup = two(rt, rec, b_start=w.trapper, b_trap=trap_at_start)
    pid_b = sup.pid_of("b")
    pid_a = sup.pid_of("a")
    sup.link("a", "b")
    sup.send("a", "crash")
    signal_msg = rec.wait_msg("exit_signal", "b")
    assert signal_msg == ["exit_signal", "a", pid_a, "exception: RuntimeError: asked to crash"]
    assert sup.pid_of("b") == pid_b
    # links belong to incarnations: a's restart is not linked any more
    rec.wait_msg("ready", "a", count=2)
    sup.send("a", "crash")
    rec.wait_msg("ready", "a", count=3)
    assert len(rec.msgs("exit_signal", "b")) == 1
    # a normal exit is delivered to a trapping child too
    sup.link("a", "b")
    pid_a = sup.pid_of("a")
    sup.send("a", "normal")
    assert rec.wait_msg("exit_signal", "b", count=2) == ["exit_signal", "a", pid_a, "normal"]


def test_link_errors(rt: Runtime, rec: Recorder) -> None:
    sup = two(rt, rec)
    with pytest.raises(SupervisorError):
        sup.link("a", "a")
    with pytest.raises(KeyError):
        sup.link("a", "missing")
    sup.terminate_child("b")
    with pytest.raises(ChildNotRunning):
        sup.link("a", "b")


def test_unlink(rt: Runtime, rec: Recorder) -> None:
    sup = two(rt, rec)
    pid_b = sup.pid_of("b")
    sup.link("a", "b")
    sup.unlink("a", "b")
    sup.send("a", "crash")
    rec.wait_msg("ready", "a", count=2)
    sup.send("b", "ping")
    rec.wait_msg("pong", "b")
    assert sup.pid_of("b") == pid_b
