"""The embedder's mode (``wait=False``), synchronous starts inside a running
loop, and the ``restart`` flag of ``exited`` events."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from supervisor import (
    Backoff,
    ChildSpec,
    ChildState,
    Manual,
    Never,
    Runtime,
    SpecError,
    SupervisorSpec,
)
from tests.supervisor import sup_workers as w
from tests.supervisor.sup_helpers import Recorder


def test_nonblocking_start_returns_at_once_and_starts_in_order(rt: Runtime,
                                                               rec: Recorder) -> None:
    t0 = time.monotonic()
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("a", w.slow_start, args=(2.0,)), ChildSpec("b", w.ready_then_sleep)],
        on_message=rec.on_message, wait=False)
    # returned before the first child could be ready (it takes 2 s), whatever the load
    assert time.monotonic() - t0 < 2.0
    states = {c.id: c.state for c in sup.which_children()}
    assert states == {"a": ChildState.STARTING, "b": ChildState.STARTING}
    assert sup.pid_of("a") is not None and sup.pid_of("b") is None  # b waits for a's ack
    rec.wait(lambda: len(rec.of("started")) == 2)
    assert [e.child for e in rec.of("started")] == ["a", "b"]
    assert all(c.state == "running" for c in sup.which_children())


def test_nonblocking_start_failure_and_ignore_are_events(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), wait=False)
    pid = sup.start_child(ChildSpec("bad", w.crash), wait=False)
    assert pid is not None
    sup.start_child(ChildSpec("skip", w.ignore), wait=False)
    sup.start_child(ChildSpec("good", w.ready_then_sleep), wait=False)
    rec.wait(lambda: bool(rec.of("started", "good")))
    exited = rec.of("exited", "bad")
    assert len(exited) == 1 and not exited[0].restart and exited[0].pid == pid
    failed = rec.wait_event("start_failed", "bad")
    assert failed.reason == "exception: ValueError: boom"
    assert rec.events.index(exited[0]) < rec.events.index(failed)
    assert rec.wait_event("ignored", "skip") and not rec.of("exited", "skip")
    assert [(c.id, c.state) for c in sup.which_children()] == [
        ("skip", ChildState.IGNORED), ("good", ChildState.RUNNING)]
    assert sup.running and not rec.of("restarting")


def test_nonblocking_initial_failure_fails_the_supervisor(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("a", w.ready_then_sleep), ChildSpec("b", w.crash),
        ChildSpec("c", w.ready_then_sleep)], wait=False)
    rec.wait_event("terminated")
    assert not sup.running
    assert rec.of("start_failed", "b") and not rec.of("started", "c")
    assert rec.of("exited", "a")[0].reason == "shutdown"


@pytest.mark.timeout(30)
def test_nonblocking_restarts_do_not_block_the_loop(rt: Runtime, rec: Recorder,
                                                    tmp_path: Path) -> None:
    marker = tmp_path / "started-once"
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("slow", w.slow_start, args=(0.5, str(marker)))],
        on_message=rec.on_message, wait=False)
    rec.wait_event("started", "slow")
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(time.time())  # the clock of Event.time
        if len(ticks) < 100:
            rt.call_later(0.02, tick)

    os.kill(sup.pid_of("slow"), signal.SIGKILL)  # type: ignore[arg-type]
    assert rec.wait_event("exited", "slow").restart
    rt.call_soon(tick)
    rec.wait_event("started", "slow", count=2)
    down = rec.of("exited", "slow")[0].time
    restarted = rec.of("started", "slow")[1].time
    assert restarted - down >= 0.45
    # the loop kept turning while the replacement took 0.5 s to start
    assert len([t for t in ticks if down < t < restarted]) >= 5


def test_messages_from_others_wait_until_a_synchronous_start_returns(rt: Runtime,
                                                                     rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [ChildSpec("chatty", w.chatty)],
                              on_message=rec.on_message)
    rec.wait_msg("ready", "chatty")
    sup.send("chatty", "go")
    rec.wait_msg("tick", "chatty", count=3)
    seen = len(rec.msgs("tick"))
    sup.start_child(ChildSpec("slow", w.slow_start, args=(0.3,)))
    # nothing was dispatched while the start was awaited ...
    assert len(rec.msgs("tick")) == seen
    sup.send("chatty", "stop")
    stopped = rec.wait_msg("stopped", "chatty")
    # ... and everything sent meanwhile came afterwards, in order, none lost
    ticks = [m[1] for m in rec.msgs("tick")]
    assert ticks == list(range(len(ticks))) and len(ticks) == stopped[1]
    assert len(ticks) > seen + 10


def test_sends_before_the_acknowledgement_come_first_and_in_order(rt: Runtime,
                                                                  rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), on_message=rec.on_message)
    sup.start_child(ChildSpec("early", w.send_then_ready, args=(50,)))
    assert rec.messages == []  # deferred, not dispatched inside start_child
    rec.wait_msg("ready", "early")
    assert [m for _, m in rec.messages][:51] == [
        *(["early", "early", i] for i in range(50)), rec.msgs("ready")[0]]


@pytest.mark.parametrize(("policy", "restart", "expected"), [
    (Backoff(initial=0.05), "permanent", True), (Manual(), "permanent", False),
    (Never(), "permanent", False), (Backoff(initial=0.05), "temporary", False)])
def test_exited_event_says_whether_a_restart_follows(rt: Runtime, rec: Recorder,
                                                     policy: object, restart: str,
                                                     expected: bool) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("c", w.ready_then_sleep, policy=policy, restart=restart)],  # type: ignore[arg-type]
        on_message=rec.on_message)
    sup.send("c", "crash")
    assert rec.wait_event("exited", "c").restart is expected
    if expected:
        rec.wait_event("started", "c", count=2)


def test_exited_event_is_false_when_intensity_is_exceeded(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s", intensity=1), [
        ChildSpec("c", w.ready_then_sleep)], on_message=rec.on_message)
    sup.send("c", "crash")
    assert rec.wait_event("exited", "c").restart
    rec.wait_event("started", "c", count=2)
    sup.send("c", "crash")
    assert not rec.wait_event("exited", "c", count=2).restart
    rec.wait_event("terminated")


def test_external_sigterm_is_shutdown(rt: Runtime, rec: Recorder) -> None:
    # OTP's exit(Pid, shutdown): a transient child stays down, a permanent one returns
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("t", w.ready_then_sleep, restart="transient"),
        ChildSpec("p", w.ready_then_sleep)], on_message=rec.on_message)
    for cid in "tp":
        os.kill(sup.pid_of(cid), signal.SIGTERM)  # type: ignore[arg-type]
    t = rec.wait_event("exited", "t")
    p = rec.wait_event("exited", "p")
    assert (t.reason, t.restart, p.reason, p.restart) == ("shutdown", False, "shutdown", True)
    rec.wait_event("started", "p", count=2)
    assert sup.which_children()[0].state == ChildState.STOPPED


def test_a_run_dir_of_the_embedders_is_emptied_at_start_and_serves(tmp_path: Path,
                                                                   rec: Recorder) -> None:
    """A killed runtime's socket and boot files are cleared by the next start, not
    left in /tmp for good."""
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o755)
    (run_dir / "router").write_bytes(b"a socket left by a killed runtime")
    (run_dir / "boot-1").write_bytes(b"stale")
    runtime = Runtime(name="suptest", run_dir=run_dir)
    try:
        assert runtime.endpoint == f"ipc://{run_dir}/router"
        assert not (run_dir / "boot-1").exists()
        assert (run_dir / "router").is_socket()
        assert (run_dir.stat().st_mode & 0o777) == 0o700
        sup = runtime.start_supervisor(SupervisorSpec("s"), [
            ChildSpec("a", w.ready_then_sleep)], on_message=rec.on_message)
        assert sup.pid_of("a") is not None
    finally:
        runtime.close()
    assert not run_dir.exists()


def test_a_run_dir_too_long_for_a_socket_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="run_dir"):
        Runtime(name="suptest", run_dir=tmp_path / ("x" * 120))
