"""A supervised child's descendants go down with it: each child leads a process
group of its own, the runtime signals the group, and the zygote sweeps the
group when the child exits, however it ended."""

from __future__ import annotations

import os
import select
import signal

import pytest

from supervisor import ChildSpec, Runtime, Supervisor, SupervisorSpec
from tests.supervisor import sup_workers as w
from tests.supervisor.sup_helpers import Recorder


def _watch(pid: int) -> int:
    """A pidfd on a live process that is not ours (readable once it exits)."""
    fd = os.pidfd_open(pid)
    assert not select.select([fd], [], [], 0)[0], f"pid {pid} already gone"
    return fd


def _gone(fd: int, timeout: float = 10.0) -> bool:
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def _start_forker(rt: Runtime, rec: Recorder, *,
                  ignore_term: bool) -> tuple[Supervisor, int, int]:
    sup = rt.start_supervisor(SupervisorSpec("top"), [
        ChildSpec("f", w.forker, args=(ignore_term,), shutdown=5.0)], on_message=rec.on_message)
    _, grandchild = rec.wait_msg("grandchild")
    child = sup.pid_of("f")
    assert child is not None
    assert os.getpgid(grandchild) == child  # the child leads the group its fork inherits
    assert os.getpgid(child) == child
    return sup, child, grandchild


@pytest.mark.timeout(60)
def test_terminate_child_takes_a_grandchild_that_ignores_sigterm(rt: Runtime, rec: Recorder):
    sup, _, grandchild = _start_forker(rt, rec, ignore_term=True)
    fd = _watch(grandchild)
    sup.terminate_child("f")
    assert _gone(fd), "the grandchild outlived terminate_child"
    assert rec.wait_event("exited", "f").reason == "shutdown"  # no SIGKILL was needed


@pytest.mark.timeout(60)
def test_terminate_child_signals_the_whole_group(rt: Runtime, rec: Recorder):
    sup, _, grandchild = _start_forker(rt, rec, ignore_term=False)
    fd = _watch(grandchild)
    sup.terminate_child("f")
    assert _gone(fd)


@pytest.mark.timeout(60)
def test_a_sigkilled_child_takes_its_grandchild(rt: Runtime, rec: Recorder):
    _, child, grandchild = _start_forker(rt, rec, ignore_term=True)
    fd = _watch(grandchild)
    os.kill(child, signal.SIGKILL)
    assert _gone(fd), "the grandchild outlived its parent's SIGKILL"
    assert rec.wait_event("exited", "f").reason == "killed"
    _, second = rec.wait_msg("grandchild", count=2)  # the restarted child forks anew
    assert second != grandchild


@pytest.mark.timeout(60)
def test_runtime_close_takes_grandchildren(rt: Runtime, rec: Recorder):
    _, _, grandchild = _start_forker(rt, rec, ignore_term=True)
    fd = _watch(grandchild)
    rt.close()
    assert _gone(fd, timeout=0), "the grandchild outlived Runtime.close"
