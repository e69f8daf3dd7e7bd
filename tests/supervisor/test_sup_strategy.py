"""Strategies, shutdown order, SIGTERM -> SIGKILL escalation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from supervisor import ChildSpec, Runtime, SupervisorSpec
from tests.supervisor import sup_workers as w
from tests.supervisor.sup_helpers import Recorder


def start_four(rt: Runtime, rec: Recorder, strategy: str,
               temporary: str | None = None) -> tuple[object, dict[str, int]]:
    children = [ChildSpec(c, w.ready_then_sleep,
                          restart="temporary" if c == temporary else "permanent")
                for c in "abcd"]
    sup = rt.start_supervisor(SupervisorSpec("s", strategy=strategy), children,
                              on_message=rec.on_message)
    pids = {c: rec.wait_msg("ready", c)[2] for c in "abcd"}
    return sup, pids


def test_one_for_one_restarts_only_the_failed_child(rt: Runtime, rec: Recorder) -> None:
    sup, pids = start_four(rt, rec, "one_for_one")
    sup.send("b", "crash")  # type: ignore[attr-defined]
    rec.wait_msg("ready", "b", count=2)
    now = {c: sup.pid_of(c) for c in "abcd"}  # type: ignore[attr-defined]
    assert now["b"] != pids["b"]
    assert {c: now[c] for c in "acd"} == {c: pids[c] for c in "acd"}


def test_one_for_all_restarts_everyone_and_drops_temporary(rt: Runtime, rec: Recorder) -> None:
    sup, pids = start_four(rt, rec, "one_for_all", temporary="d")
    sup.send("b", "crash")  # type: ignore[attr-defined]
    for c in "abc":
        rec.wait_msg("ready", c, count=2)
    now = {c.id: c.pid for c in sup.which_children()}  # type: ignore[attr-defined]
    assert set(now) == {"a", "b", "c"}  # the temporary child is not restarted
    assert all(now[c] != pids[c] for c in "abc")
    # siblings were terminated in reverse start order with reason shutdown
    exits = [(e.child, e.reason) for e in rec.of("exited")]
    assert exits[0] == ("b", "exception: RuntimeError: asked to crash")
    assert exits[1:] == [("d", "shutdown"), ("c", "shutdown"), ("a", "shutdown")]
    assert sorted(e.child for e in rec.of("started")[4:]) == ["a", "b", "c"]


def test_rest_for_one_restarts_the_failed_and_later_children(rt: Runtime,
                                                             rec: Recorder) -> None:
    sup, pids = start_four(rt, rec, "rest_for_one")
    sup.send("b", "crash")  # type: ignore[attr-defined]
    for c in "bcd":
        rec.wait_msg("ready", c, count=2)
    now = {c: sup.pid_of(c) for c in "abcd"}  # type: ignore[attr-defined]
    assert now["a"] == pids["a"]
    assert all(now[c] != pids[c] for c in "bcd")
    assert [e.child for e in rec.of("exited")] == ["b", "d", "c"]


def test_stop_terminates_in_reverse_start_order(rt: Runtime, rec: Recorder,
                                                tmp_path: Path) -> None:
    marks = tmp_path / "order"
    children = [ChildSpec(c, w.graceful_sigterm, args=(str(marks),)) for c in "abcde"]
    sup = rt.start_supervisor(SupervisorSpec("s"), children, on_message=rec.on_message)
    for c in "abcde":
        rec.wait_msg("ready", c)
    pids = [sup.pid_of(c) for c in "abcde"]
    sup.stop()
    assert marks.read_text().split() == list("edcba")
    assert not sup.running
    rec.wait_event("terminated")
    assert [(e.child, e.reason) for e in rec.of("exited")] == [(c, "shutdown") for c in "edcba"]
    assert [e.pid for e in rec.of("exited")] == pids[::-1]


@pytest.mark.timeout(30)
def test_shutdown_escalates_from_sigterm_to_sigkill(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("stubborn", w.ignore_sigterm, shutdown=0.3),
        ChildSpec("polite", w.ready_then_sleep, shutdown=10.0)], on_message=rec.on_message)
    rec.wait_msg("ready", "stubborn")
    rec.wait_msg("ready", "polite")
    t0 = time.monotonic()
    sup.terminate_child("polite")
    assert time.monotonic() - t0 < 2.0  # SIGTERM's default action: no waiting
    t0 = time.monotonic()
    sup.terminate_child("stubborn")
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 2.0
    rec.wait_event("exited", "stubborn")
    assert rec.of("exited", "polite")[0].reason == "shutdown"
    assert rec.of("exited", "stubborn")[0].reason == "killed"


def test_nested_tree_stops_depth_first_in_reverse_order(rt: Runtime, rec: Recorder) -> None:
    from supervisor import supervisor_child

    inner = supervisor_child(SupervisorSpec("inner"), [
        ChildSpec("i1", w.ready_then_sleep), ChildSpec("i2", w.ready_then_sleep)])
    sup = rt.start_supervisor(SupervisorSpec("top"), [
        ChildSpec("t1", w.ready_then_sleep), inner, ChildSpec("t2", w.ready_then_sleep)],
        on_message=rec.on_message)
    for c in ("t1", "i1", "i2", "t2"):
        rec.wait_msg("ready", c)
    assert sup.count_children() == {"specs": 3, "active": 3, "supervisors": 1, "workers": 2}
    sub = sup.child_supervisor("inner")
    assert [c.id for c in sub.which_children()] == ["i1", "i2"]
    sup.stop()
    rec.wait(lambda: len(rec.of("terminated")) == 2)
    assert [e.child for e in rec.of("exited")] == ["t2", "i2", "i1", "inner", "t1"]
    assert [e.supervisor for e in rec.of("terminated")] == ["inner", "top"]


def test_stopping_a_nested_supervisor_leaves_it_as_a_stopped_child(rt: Runtime,
                                                                   rec: Recorder) -> None:
    from supervisor import supervisor_child

    sup = rt.start_supervisor(SupervisorSpec("top"), [
        supervisor_child(SupervisorSpec("inner"), [ChildSpec("i1", w.ready_then_sleep)])],
        on_message=rec.on_message)
    rec.wait_msg("ready", "i1")
    sub = sup.child_supervisor("inner")
    sub.stop()
    assert not sub.running
    assert sup.which_children()[0].state == "stopped"
    sup.restart_child("inner")
    assert sub.running and sup.child_supervisor("inner") is sub
    rec.wait_msg("ready", "i1", count=2)


@pytest.mark.timeout(30)
def test_nested_supervisor_shutdown_is_a_deadline_for_its_subtree(rt: Runtime,
                                                                  rec: Recorder) -> None:
    from supervisor import supervisor_child

    sup = rt.start_supervisor(SupervisorSpec("top"), [
        supervisor_child(SupervisorSpec("inner"), [
            ChildSpec("stubborn", w.ignore_sigterm, shutdown=30.0)], shutdown=0.3)],
        on_message=rec.on_message)
    rec.wait_msg("ready", "stubborn")
    t0 = time.monotonic()
    sup.terminate_child("inner")
    assert 0.3 <= time.monotonic() - t0 < 5
    assert rec.wait_event("exited", "stubborn").reason == "killed"


def test_one_for_all_with_backoff_restarts_the_group_after_the_delay(rt: Runtime,
                                                                     rec: Recorder) -> None:
    from supervisor import Backoff

    sup = rt.start_supervisor(SupervisorSpec("s", strategy="one_for_all"), [
        ChildSpec("a", w.ready_then_sleep),
        ChildSpec("b", w.ready_then_sleep, policy=Backoff(initial=0.3, jitter=0.0))],
        on_message=rec.on_message)
    rec.wait_msg("ready", "a")
    rec.wait_msg("ready", "b")
    sup.send("b", "crash")
    restarting = rec.wait_event("restarting", "b")
    assert restarting.delay == pytest.approx(0.3)
    # the sibling went down at once, not after the delay
    assert rec.wait_event("exited", "a").time - restarting.time < 0.25
    assert {c.id: c.state for c in sup.which_children()} == {"a": "restarting",
                                                              "b": "restarting"}
    for c in "ab":
        started = rec.wait_msg("ready", c, count=2)
        assert started[2] == sup.pid_of(c)
    first_start = min(e.time for e in rec.of("started")[2:])
    assert first_start - restarting.time >= 0.29
