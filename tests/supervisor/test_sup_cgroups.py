"""Per-child cgroups (``ChildSpec.resources``): the kernel enforces the caps,
an OOM kill inside the child's cgroup reads as ``oom_killed``, the cgroup
sweeps a descendant that left the child's process group, and nothing is left
behind. Where the host allows no cgroups, the runtime says so and why."""

from __future__ import annotations

import os
import select
import signal

import pytest

from supervisor import (
    ChildSpec,
    Resources,
    Runtime,
    SpecError,
    SupervisorSpec,
    supervisor_child,
)
from tests.supervisor import sup_workers as w
from tests.supervisor.sup_helpers import Recorder, host_allows_memory_cgroups

MiB = 1 << 20


def test_the_runtime_reports_what_the_host_allows(rt: Runtime):
    support = rt.cgroups
    if host_allows_memory_cgroups():
        assert support.mode in ("v1", "v2"), support.reason
        assert support.memory
        assert all(os.path.isdir(d) for d in support.where)
    else:
        assert support.mode == "none"
        assert support.reason  # says why
    assert set(support.to_dict()) == {"mode", "memory", "cpu", "reason", "where"}


def test_cgroups_can_be_switched_off():
    with Runtime(name="suptest", cgroups=False) as runtime:
        assert runtime.cgroups.mode == "none"
        assert runtime.cgroups.reason == "disabled by the embedder"


@pytest.mark.timeout(60)
def test_a_child_over_its_memory_cap_is_oom_killed_in_its_cgroup(rt: Runtime, rec: Recorder):
    sup = rt.start_supervisor(SupervisorSpec("top"), [
        ChildSpec("hog", w.hog, args=(256,), restart="temporary",
                  resources=Resources(memory_max=64 * MiB))], on_message=rec.on_message)
    exited = rec.wait_event("exited", "hog", timeout=30)
    if not rt.cgroups.memory:
        assert exited.reason == "normal" or rec.msgs("hogged")  # uncapped: it got through
        return
    assert exited.reason == "oom_killed"
    assert not rec.msgs("hogged")
    assert sup.which_children() == []


@pytest.mark.timeout(60)
def test_the_cgroup_sweeps_a_descendant_that_left_the_process_group(rt: Runtime,
                                                                    rec: Recorder):
    if not rt.cgroups.available:
        pytest.skip(f"no cgroups on this host: {rt.cgroups.reason}")  # the report is tested
    sup = rt.start_supervisor(SupervisorSpec("top"), [
        ChildSpec("f", w.forker, args=(True, True), resources=Resources())],
        on_message=rec.on_message)
    _, grandchild = rec.wait_msg("grandchild")
    child = sup.pid_of("f")
    assert child is not None
    fd = os.pidfd_open(grandchild)
    try:
        assert os.getsid(grandchild) == grandchild  # out of the child's group and session
        sup.terminate_child("f")  # a shutdown sweeps the cgroup before it returns
        assert select.select([fd], [], [], 10)[0], "the escaped grandchild outlived its parent"
    finally:
        os.close(fd)


@pytest.mark.timeout(60)
def test_the_cgroup_sweeps_an_escaped_descendant_of_a_killed_child(rt: Runtime,
                                                                    rec: Recorder):
    if not rt.cgroups.available:
        pytest.skip(f"no cgroups on this host: {rt.cgroups.reason}")
    sup = rt.start_supervisor(SupervisorSpec("top"), [
        ChildSpec("f", w.forker, args=(True, True), restart="temporary",
                  resources=Resources())], on_message=rec.on_message)
    _, grandchild = rec.wait_msg("grandchild")
    child = sup.pid_of("f")
    assert child is not None
    fd = os.pidfd_open(grandchild)
    gone: list[bool] = []
    rt.add_reader(fd, lambda: gone.append(True))
    try:
        os.kill(child, signal.SIGKILL)
        rec.wait(lambda: bool(gone))
    finally:
        rt.remove_reader(fd)
        os.close(fd)


@pytest.mark.timeout(60)
def test_a_cpu_cap_holds_a_spinning_child_to_its_share(rt: Runtime, rec: Recorder):
    if not rt.cgroups.cpu:
        pytest.skip(f"no cpu controller on this host: {rt.cgroups.reason}")
    rt.start_supervisor(SupervisorSpec("top"), [
        ChildSpec("spin", w.spinner, args=(1.0,), restart="temporary",
                  resources=Resources(cpu_max=0.1))], on_message=rec.on_message)
    _, cpu, wall = rec.wait_msg("spun", timeout=30)
    assert cpu < 0.35 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s under a 0.1-core cap"


@pytest.mark.timeout(60)
def test_cgroups_are_removed_after_the_child_and_at_close(rt: Runtime, rec: Recorder):
    if not rt.cgroups.available:
        pytest.skip(f"no cgroups on this host: {rt.cgroups.reason}")
    sup = rt.start_supervisor(SupervisorSpec("top"), [
        ChildSpec("a", w.ready_then_sleep, resources=Resources(memory_max=256 * MiB,
                                                               cpu_max=1.0)),
        ChildSpec("b", w.ready_then_sleep, resources=Resources(memory_max=256 * MiB))],
        on_message=rec.on_message)
    rec.wait_msg("ready", count=2)
    bases = rt.cgroups.where

    def members() -> set[str]:
        return {name for base in bases for name in os.listdir(base)
                if os.path.isdir(os.path.join(base, name))}

    assert {m.split("-")[0] for m in members()} == {"a", "b"}
    pid_a = sup.pid_of("a")
    assert pid_a is not None
    os.kill(pid_a, signal.SIGKILL)
    rec.wait_event("started", "a", count=2)  # restarted: a new incarnation, a new cgroup
    rec.wait(lambda: len(members()) == 2 * (len(bases) // len(set(bases))))
    rt.close()
    assert not any(os.path.exists(base) for base in bases)


def test_resources_are_checked_at_construction():
    with pytest.raises(SpecError) as small:
        Resources(memory_max=4096)
    assert small.value.field == "resources.memory_max"
    with pytest.raises(SpecError) as cpu:
        Resources(cpu_max=float("nan"))
    assert cpu.value.field == "resources.cpu_max"
    with pytest.raises(SpecError) as typed:
        ChildSpec("x", w.sleeper, resources={"memory_max": MiB})  # type: ignore[arg-type]
    assert typed.value.field == "resources"
    with pytest.raises(SpecError) as nested:
        ChildSpec("s", type="supervisor", supervisor=SupervisorSpec("s"),
                  resources=Resources())
    assert nested.value.field == "resources"
    assert supervisor_child(SupervisorSpec("s")).resources is None
