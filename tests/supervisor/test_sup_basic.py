"""Starting children, messages both ways, dynamic children, errors."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from supervisor import (
    ChildExists,
    ChildNotRunning,
    ChildRunning,
    ChildSpec,
    EncodeError,
    NoSuchChild,
    Runtime,
    RuntimeClosed,
    SpecError,
    SupervisorSpec,
    SupervisorStopped,
)
from tests.supervisor import sup_workers as w
from tests.supervisor.sup_helpers import Recorder


def test_child_messages_round_trip(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [ChildSpec("e", w.echo)],
                              on_message=rec.on_message)
    payloads = ["hi", 1, 2.5, None, [1, "a"], {"k": b"bytes"}]
    for payload in payloads:
        sup.send("e", payload)
    rec.wait(lambda: len(rec.msgs("echo")) == len(payloads))
    assert [m[1] for m in rec.msgs("echo")] == payloads
    started = rec.of("started", "e")
    assert len(started) == 1 and started[0].pid == sup.pid_of("e")
    assert psutil.Process(sup.pid_of("e")).ppid() == rt.zygote_pid


def test_start_function_given_as_string_with_args(rt: Runtime, rec: Recorder) -> None:
    big = "x" * 100_000  # too large for one datagram: travels through a file
    sup = rt.start_supervisor(SupervisorSpec("s"), on_message=rec.on_message)
    sup.start_child(ChildSpec("a", "tests.supervisor.sup_workers:ready_then_sleep",
                              kwargs={"tag": big}))
    ready = rec.wait_msg("ready", "a")
    assert ready[1] == "a" and ready[2] == sup.pid_of("a") and ready[3] == big


def test_process_title_is_set(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("a", w.ready_then_sleep, title="sup-test-title-a"),
        ChildSpec("b", w.ready_then_sleep)], on_message=rec.on_message)
    rec.wait_msg("ready", "b")
    rec.wait_msg("ready", "a")
    assert "sup-test-title-a" in " ".join(psutil.Process(sup.pid_of("a")).cmdline())
    assert "suptest: s/b" in " ".join(psutil.Process(sup.pid_of("b")).cmdline())


def test_dynamic_children(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [ChildSpec("a", w.sleeper)])
    sup.start_child(ChildSpec("b", w.sleeper, shutdown="brutal_kill"))
    sup.start_child(ChildSpec("c", w.sleeper, restart="temporary"))
    assert [c.id for c in sup.which_children()] == ["a", "b", "c"]
    assert sup.count_children() == {"specs": 3, "active": 3, "supervisors": 0, "workers": 3}
    with pytest.raises(ChildExists):
        sup.start_child(ChildSpec("a", w.sleeper))
    with pytest.raises(SpecError):
        sup.start_child("not a spec")

    with pytest.raises(ChildRunning):
        sup.restart_child("b")
    with pytest.raises(ChildRunning):
        sup.delete_child("b")
    pid_b = sup.pid_of("b")
    assert pid_b is not None
    sup.terminate_child("b")
    assert not psutil.pid_exists(pid_b) or psutil.Process(pid_b).status() == "zombie"
    info = {c.id: c for c in sup.which_children()}
    assert info["b"].state == "stopped" and info["b"].pid is None and not info["b"].running
    assert rec.wait_event("exited", "b").reason == "killed"  # brutal_kill
    assert sup.count_children()["active"] == 2

    sup.restart_child("b")
    new_pid = sup.pid_of("b")
    assert new_pid not in (None, pid_b)
    rec.wait(lambda: any(e.pid == new_pid for e in rec.of("started", "b")))

    sup.terminate_child("a")
    assert rec.wait_event("exited", "a").reason == "shutdown"
    sup.delete_child("a")
    with pytest.raises(NoSuchChild):
        sup.pid_of("a")
    # terminating a temporary child forgets it, as in OTP
    sup.terminate_child("c")
    assert [c.id for c in sup.which_children()] == ["b"]
    for op in (sup.terminate_child, sup.restart_child, sup.delete_child):
        with pytest.raises(NoSuchChild):
            op("nope")


def test_send_errors(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [ChildSpec("e", w.echo)],
                              on_message=rec.on_message)
    with pytest.raises(NoSuchChild):
        sup.send("missing", 1)
    with pytest.raises(EncodeError):
        sup.send("e", object())
    sup.send("e", "still works")
    rec.wait_msg("echo", "e")
    sup.terminate_child("e")
    with pytest.raises(ChildNotRunning):
        sup.send("e", 1)
    assert isinstance(ChildNotRunning("e"), NoSuchChild)


def test_messages_queued_before_child_connects_are_delivered(rt: Runtime,
                                                             rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [ChildSpec("e", w.echo)],
                              on_message=rec.on_message)
    for i in range(100):  # sent before the child said hello
        sup.send("e", i)
    rec.wait(lambda: len(rec.msgs("echo")) == 100)
    assert [m[1] for m in rec.msgs("echo")] == list(range(100))


def test_many_messages_in_order_both_ways(rt: Runtime, rec: Recorder) -> None:
    n = 20000
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("blast", w.blaster, args=(n,)), ChildSpec("count", w.counter)],
        on_message=rec.on_message)
    rec.wait(lambda: ("blast", "done") in rec.messages, timeout=30)
    assert [m for c, m in rec.messages if c == "blast"] == [*range(n), "done"]
    for i in range(n):
        sup.send("count", i)
    sup.send("count", "count")
    assert rec.wait_msg("count", "count", timeout=30) == ["count", n]


def test_stopped_supervisor_and_closed_runtime_refuse_work() -> None:
    rt = Runtime(name="suptest")
    sup = rt.start_supervisor(SupervisorSpec("s"), [ChildSpec("a", w.sleeper)])
    pid = sup.pid_of("a")
    with pytest.raises(SpecError):
        rt.start_supervisor(SupervisorSpec("s"))
    sup.stop()
    assert not sup.running
    with pytest.raises(SupervisorStopped):
        sup.start_child(ChildSpec("b", w.sleeper))
    rt.close()
    assert pid is not None and not psutil.pid_exists(pid)
    with pytest.raises(RuntimeClosed):
        rt.start_supervisor(SupervisorSpec("t"))
    rt.close()  # idempotent


def test_close_reaps_everything() -> None:
    rt = Runtime(name="suptest")
    sup = rt.start_supervisor(SupervisorSpec("s"), [ChildSpec(f"c{i}", w.sleeper)
                                                     for i in range(5)])
    pids = [sup.pid_of(f"c{i}") for i in range(5)]
    zygote = rt.zygote_pid
    rt.close()
    me = psutil.Process(os.getpid())
    children = {p.pid for p in me.children(recursive=True)}
    assert not children & {*pids, zygote}
    deadline = time.monotonic() + 5
    while any(psutil.pid_exists(p) for p in pids if p) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(psutil.pid_exists(p) for p in pids if p)


def test_nested_supervisor_inherits_or_overrides_on_message(rt: Runtime, rec: Recorder) -> None:
    from supervisor import supervisor_child

    sup = rt.start_supervisor(SupervisorSpec("top"), [
        supervisor_child(SupervisorSpec("inner"), [ChildSpec("i", w.echo)])],
        on_message=rec.on_message)
    sub = sup.child_supervisor("inner")
    sub.send("i", "via parent")
    rec.wait_msg("echo", "i")
    own: list[object] = []
    sub.on_message = lambda cid, m: own.append(m)
    sub.send("i", "via own")
    rec.wait(lambda: bool(own))
    assert own == [["echo", "via own"]] and len(rec.msgs("echo")) == 1
    with pytest.raises(TypeError):
        sub.on_message = 5


def test_events_are_plain_records(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [ChildSpec("c", w.sleeper)])
    event = rec.wait_event("started", "c")
    data = event.to_dict()
    assert data["kind"] == "started" and data["supervisor"] == "s" and data["child"] == "c"
    assert data["pid"] == sup.pid_of("c") and abs(data["time"] - time.time()) < 60
    assert set(data) == {"kind", "supervisor", "child", "pid", "reason", "delay", "time",
                         "restart"}


def test_child_polls_its_link_socket_itself(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [ChildSpec("p", w.own_poller)],
                              on_message=rec.on_message)
    rec.wait_msg("ready", "p")
    rt.run_until(lambda: False, 0.1)  # let the child's poll time out a few times
    sup.send("p", "x")
    sup.send("p", "y")
    rec.wait(lambda: len(rec.msgs("got")) == 2)
    assert [m[1] for m in rec.msgs("got")] == ["x", "y"]
    assert rec.msgs("got")[0][2] >= 1


def test_close_with_a_restart_pending() -> None:
    from supervisor import Backoff

    rt = Runtime(name="suptest")
    rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("c", w.crash_when_ready, policy=Backoff(initial=5.0, maximum=5.0))])
    event = Recorder(rt).wait_event("restarting", "c")
    assert event.delay is not None and event.delay > 4
    t0 = time.monotonic()
    rt.close()
    assert time.monotonic() - t0 < 3
