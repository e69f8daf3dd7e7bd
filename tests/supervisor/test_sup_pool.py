"""The zygote's warm pool: children forked ahead of demand, prewarmed, handed out
exactly like fresh forks, refilled, and never left behind."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from supervisor import ChildSpec, Runtime, SpecError, SupervisorSpec
from tests.helpers import wait_until
from tests.supervisor import sup_workers as w
from tests.supervisor.sup_helpers import Recorder, leftovers_of


def pooled(runtime: Runtime, known: set[int]) -> set[int]:
    """The zygote's children that no supervisor knows: the pool."""
    zygote = runtime.zygote_pid
    assert zygote is not None
    return {p.pid for p in psutil.Process(zygote).children()} - known


def reports(rec: Recorder) -> list[tuple[int, list[list[object]]]]:
    """(pid, prewarm marks) of every child that reported."""
    return [(m[1], m[2]) for m in rec.msgs("prewarm")]


def start(runtime: Runtime, rec: Recorder, ids: list[str]) -> None:
    runtime.start_supervisor(SupervisorSpec("top"), [ChildSpec(i, w.report_prewarm) for i in ids],
                             on_message=rec.on_message)


@pytest.fixture
def pool_rt():
    runtime = Runtime(name="suptest", pool=2, prewarm="tests.supervisor.sup_workers:prewarm",
                      prewarm_args=["warm"])
    try:
        yield runtime
    finally:
        runtime.close()
    wait_until(lambda: not leftovers_of(os.getpid()), timeout=10, what="no leftovers")


def ready_pool(runtime: Runtime, known: set[int]) -> set[int]:
    """Pooled children that have finished their prewarm (their title says so)."""
    ready = set()
    for pid in pooled(runtime, known):
        try:
            if " ".join(psutil.Process(pid).cmdline()).rstrip().endswith("pool: ready"):
                ready.add(pid)
        except psutil.Error:
            pass
    return ready


def test_children_come_prewarmed_from_the_pool_and_the_pool_refills(pool_rt: Runtime):
    rec = Recorder(pool_rt)
    seen: set[int] = set()
    for i in range(4):
        wait_until(lambda: len(ready_pool(pool_rt, seen)) == 2)
        waiting = ready_pool(pool_rt, seen)
        pool_rt.start_supervisor(SupervisorSpec(f"s{i}"), [ChildSpec("c", w.report_prewarm)],
                                 on_message=rec.on_message)
        rec.wait_msg("prewarm", count=i + 1)
        pid, marks = reports(rec)[-1]
        # it was one of the waiting ones, and its prewarm ran in this very process
        assert pid in waiting and marks == [["warm", pid]]
        seen.add(pid)


def test_a_pooled_child_that_dies_unused_is_replaced_silently(pool_rt: Runtime):
    rec = Recorder(pool_rt)
    wait_until(lambda: len(pooled(pool_rt, set())) == 2)
    victim = min(pooled(pool_rt, set()))
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(victim), what="the zygote reaped it")
    start(pool_rt, rec, ["a", "b", "c"])
    rec.wait_msg("prewarm", count=3)
    assert victim not in {pid for pid, _ in reports(rec)}
    assert not rec.of("exited")  # nobody heard of the unused child's death


def test_a_pool_whose_children_keep_dying_is_switched_off():
    runtime = Runtime(name="suptest", pool=2, prewarm="tests.supervisor.sup_workers:prewarm_crash",
                      prewarm_args=["x"])
    try:
        rec = Recorder(runtime)
        start(runtime, rec, ["a", "b"])
        rec.wait_msg("prewarm", count=2, timeout=20)
        # cold children, forked on demand: no prewarm ran in them
        assert all(marks == [] for _, marks in reports(rec))
    finally:
        runtime.close()


def test_children_start_cold_when_the_prewarm_hook_cannot_be_found():
    runtime = Runtime(name="suptest", pool=2, prewarm="tests.supervisor.sup_workers:no_such_hook")
    try:
        rec = Recorder(runtime)
        start(runtime, rec, ["a"])
        rec.wait_msg("prewarm")
        assert reports(rec)[0][1] == []
        rec.wait(lambda: any("no_such_hook" in f for f in runtime.preload_failures))
    finally:
        runtime.close()


def test_the_pool_dies_with_the_runtime():
    runtime = Runtime(name="suptest", pool=3, prewarm="tests.supervisor.sup_workers:prewarm",
                      prewarm_args=["warm"])
    wait_until(lambda: len(pooled(runtime, set())) == 3)
    waiting = pooled(runtime, set())
    runtime.close()
    wait_until(lambda: not any(psutil.pid_exists(p) for p in waiting))


@pytest.mark.parametrize("kwargs", [{"pool": -1}, {"pool": 65}, {"pool": True},
                                    {"prewarm": "no_colon"}, {"prewarm": 3}])
def test_bad_pool_settings_are_refused(kwargs):
    with pytest.raises(SpecError):
        Runtime(name="suptest", **kwargs)


def test_wait_ready_returns_once_the_zygote_has_preloaded() -> None:
    """An embedder waits for the preload before serving, so its first child's start is
    one quick round trip, not a wait on the preload inside its loop."""
    runtime = Runtime(name="suptest", preload=("json", "tests.supervisor.sup_workers"))
    try:
        assert runtime.wait_ready(30) is True
        assert runtime.preload_failures == []
        assert runtime.zygote_pid is not None
        rec = Recorder(runtime)
        start(runtime, rec, ["a"])
        rec.wait(lambda: [e.child for e in rec.of("started")] == ["a"])
    finally:
        runtime.close()
