"""Restart types under each restart policy, exit reasons, backoff timing."""

from __future__ import annotations

import os
import signal
import time

import pytest

from supervisor import (
    Backoff,
    ChildSpec,
    Immediate,
    Manual,
    Never,
    RestartPolicy,
    Runtime,
    StartFailed,
    SupervisorSpec,
)
from tests.supervisor import sup_workers as w
from tests.supervisor.sup_helpers import Recorder

POLICIES: dict[str, RestartPolicy] = {
    "immediate": Immediate(),
    "backoff": Backoff(initial=0.05, factor=2.0, maximum=1.0, jitter=0.1),
    "manual": Manual(),
    "never": Never(),
}


def expected_outcome(restart: str, policy: str, exit_kind: str) -> str:
    if restart == "temporary":
        return "removed"
    if restart == "transient" and exit_kind == "normal":
        return "stopped"
    return {"immediate": "restarted", "backoff": "restarted", "manual": "manual_wait",
            "never": "gave_up"}[policy]


@pytest.mark.parametrize("exit_kind", ["crash", "normal"])
@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
def test_restart_type_under_policy(rt: Runtime, rec: Recorder, restart: str, policy: str,
                                   exit_kind: str) -> None:
    spec = ChildSpec("c", w.ready_then_sleep, restart=restart,
                     policy=POLICIES[policy])
    sup = rt.start_supervisor(SupervisorSpec("s", intensity=10), [spec],
                              on_message=rec.on_message)
    first = rec.wait_msg("ready", "c")
    sup.send("c", "crash" if exit_kind == "crash" else "normal")
    exited = rec.wait_event("exited", "c")
    assert exited.pid == first[2]
    assert exited.reason == ("normal" if exit_kind == "normal"
                             else "exception: RuntimeError: asked to crash")
    outcome = expected_outcome(restart, policy, exit_kind)
    children = {c.id: c for c in sup.which_children()}
    if outcome == "removed":
        assert "c" not in children
        return
    if outcome == "stopped":
        assert children["c"].state == "stopped"
        assert not rec.of("restarting") and not rec.of("gave_up")
        return
    if outcome == "gave_up":
        assert children["c"].state == "stopped"
        assert rec.wait_event("gave_up", "c").reason == exited.reason
        return
    if outcome == "manual_wait":
        assert children["c"].state == "manual_wait"
        assert rec.wait_event("manual_wait", "c").reason == exited.reason
        sup.restart_child("c")
    else:
        restarting = rec.wait_event("restarting", "c")
        if policy == "backoff":
            assert restarting.delay == pytest.approx(0.05, rel=0.11)
        else:
            assert restarting.delay == 0.0
    second = rec.wait_msg("ready", "c", count=2)
    assert second[2] != first[2]
    assert sup.which_children()[0].state == "running"


@pytest.mark.timeout(30)
def test_backoff_delays_are_measured(rt: Runtime, rec: Recorder) -> None:
    policy = Backoff(initial=0.1, factor=2.0, maximum=0.4, jitter=0.1)
    sup = rt.start_supervisor(SupervisorSpec("s", intensity=100, period=60), [
        ChildSpec("c", w.crash_when_ready, policy=policy)])
    rec.wait_event("restarting", "c", count=5, timeout=20)
    sup.stop()
    rec.wait_event("terminated")
    restarting = rec.of("restarting", "c")[:4]
    starts = [e for e in rec.events if e.kind in ("restarting", "started") and e.child == "c"]
    nominal = [0.1, 0.2, 0.4, 0.4]
    for n, event in enumerate(restarting):
        assert event.delay is not None
        assert nominal[n] * 0.9 - 1e-9 <= event.delay <= nominal[n] * 1.1 + 1e-9
        # the next "started" after this "restarting" comes after the delay
        index = starts.index(event)
        started = next(e for e in starts[index + 1:] if e.kind == "started")
        measured = started.time - event.time
        assert event.delay - 0.005 <= measured <= event.delay + 0.4, (n, measured, event.delay)


def test_backoff_resets_after_a_long_enough_run(rt: Runtime, rec: Recorder) -> None:
    policy = Backoff(initial=0.05, factor=4.0, maximum=5.0, jitter=0.0, reset_after=0.3)
    sup = rt.start_supervisor(SupervisorSpec("s", intensity=100), [
        ChildSpec("c", w.ready_then_sleep, policy=policy)], on_message=rec.on_message)
    for n in range(2):
        rec.wait_msg("ready", "c", count=n + 1)
        sup.send("c", "crash")
        rec.wait_event("restarting", "c", count=n + 1)
    assert [e.delay for e in rec.of("restarting")] == pytest.approx([0.05, 0.2])
    rec.wait_msg("ready", "c", count=3)
    time.sleep(0.35)  # a run longer than reset_after
    sup.send("c", "crash")
    assert rec.wait_event("restarting", "c", count=3).delay == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("start", "args", "reason"),
    [
        (w.return_at_once, (), "normal"),
        (w.crash, (), "exception: ValueError: boom"),
        (w.exit_code, (3,), "exit:3"),
        (w.exit_code, (0,), "normal"),
        (w.hard_exit, (5,), "exit:5"),
        (w.report, ("custom reason",), "custom reason"),
        ("tests.supervisor.sup_workers:no_such_function", (),
         "exception: AttributeError: module 'tests.supervisor.sup_workers' has no attribute "
         "'no_such_function'"),
        ("no_such_module_here:f", (),
         "exception: ModuleNotFoundError: No module named 'no_such_module_here'"),
    ],
)
def test_exit_reasons(rt: Runtime, rec: Recorder, start: object, args: tuple[object, ...],
                      reason: str) -> None:
    # each of these ends before acknowledging its start: a start failure
    sup = rt.start_supervisor(SupervisorSpec("s"))
    with pytest.raises(StartFailed) as info:
        sup.start_child(ChildSpec("c", start, args=args, restart="temporary"))
    assert info.value.reason == reason and info.value.child_id == "c"
    assert rec.wait_event("exited", "c").reason == reason
    assert rec.wait_event("start_failed", "c").reason == reason
    assert sup.which_children() == []


@pytest.mark.parametrize(("signum", "reason"), [
    (signal.SIGKILL, "killed"), (signal.SIGSEGV, "signal:SIGSEGV"),
    (signal.SIGTERM, "shutdown"), (signal.SIGUSR1, "signal:SIGUSR1")])
def test_signal_reasons(rt: Runtime, rec: Recorder, signum: int, reason: str) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("c", w.ready_then_sleep, restart="temporary")], on_message=rec.on_message)
    pid = rec.wait_msg("ready", "c")[2]
    os.kill(pid, signum)
    event = rec.wait_event("exited", "c")
    assert (event.pid, event.reason) == (pid, reason)
    assert sup.which_children() == []


def test_sigkill_restart_keeps_other_children(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("a", w.ready_then_sleep), ChildSpec("b", w.ready_then_sleep)],
        on_message=rec.on_message)
    pid_a = rec.wait_msg("ready", "a")[2]
    pid_b = rec.wait_msg("ready", "b")[2]
    os.kill(pid_a, signal.SIGKILL)
    rec.wait_msg("ready", "a", count=2)
    assert sup.pid_of("b") == pid_b
    assert sup.pid_of("a") not in (None, pid_a)
