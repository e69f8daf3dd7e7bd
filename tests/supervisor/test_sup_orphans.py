"""No orphans: if the supervising process dies, even by SIGKILL, the zygote
and every child die too; if the zygote dies, children are restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from supervisor import ChildSpec, Runtime, SupervisorSpec, supervisor_child
from supervisor._prctl import set_child_subreaper
from tests.supervisor import sup_workers as w
from tests.supervisor.sup_helpers import Recorder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

SCRIPT = textwrap.dedent("""
    import json, sys
    from supervisor import ChildSpec, Runtime, SupervisorSpec, supervisor_child
    from tests.supervisor import sup_workers as w

    rt = Runtime(name="orphantest", run_dir=sys.argv[1])  # killed: nothing left in /tmp
    ready = {}
    sup = rt.start_supervisor(SupervisorSpec("top"), [
        ChildSpec("a", w.report_pids),
        supervisor_child(SupervisorSpec("inner"), [ChildSpec("b", w.report_pids),
                                                   ChildSpec("c", w.report_pids)]),
    ], on_message=lambda cid, m: ready.__setitem__(cid, m[2]))
    rt.run_until(lambda: len(ready) == 3, 30)
    print(json.dumps({"zygote": rt.zygote_pid, "children": sorted(ready.values())}),
          flush=True)
    rt.run_forever()
""")


def gone(pid: int) -> bool:
    """Dead, and reaped by us (we are a subreaper: orphans come to us)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid  # our child (an orphan handed to us): gone once reaped
    except ChildProcessError:
        pass  # not our child: reaped elsewhere, or still under its zygote
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


@pytest.mark.timeout(60)
def test_sigkill_of_the_supervising_process_leaves_no_child_alive(tmp_path: Path) -> None:
    set_child_subreaper()  # so that we can reap what gets orphaned
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "run")],
                            stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    info = json.loads(line)
    pids = [info["zygote"], *info["children"]]
    assert len(pids) == 4
    for pid in pids:
        assert psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    while not all(gone(pid) for pid in pids):
        assert time.monotonic() < deadline, [p for p in pids if not gone(p)]
        time.sleep(0.02)


@pytest.mark.timeout(60)
def test_children_of_a_killed_zygote_die_and_are_restarted(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s", intensity=10), [
        ChildSpec("a", w.ready_then_sleep),
        supervisor_child(SupervisorSpec("inner"), [ChildSpec("b", w.ready_then_sleep)])],
        on_message=rec.on_message)
    first = {c: rec.wait_msg("ready", c)[2] for c in "ab"}
    old_zygote = rt.zygote_pid
    assert old_zygote is not None
    os.kill(old_zygote, signal.SIGKILL)
    second = {c: rec.wait_msg("ready", c, count=2, timeout=30)[2] for c in "ab"}
    assert all(second[c] != first[c] for c in "ab")
    assert rt.zygote_pid not in (None, old_zygote)
    for c in "ab":
        reason = next(e.reason for e in rec.of("exited", c) if e.pid == first[c])
        assert reason == "killed"
    for pid in first.values():
        assert not psutil.pid_exists(pid)  # reaped, not left as zombies
    assert sup.running


def test_no_zombies_after_stop(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec(f"c{i}", w.ready_then_sleep, restart="transient") for i in range(4)],
        on_message=rec.on_message)
    pids = [rec.wait_msg("ready", f"c{i}")[2] for i in range(4)]
    sup.send("c0", "normal")
    sup.send("c1", "crash")
    rec.wait_event("exited", "c0")
    rec.wait_msg("ready", "c1", count=2)
    sup.stop()
    zygote = psutil.Process(rt.zygote_pid)
    assert zygote.children() == []
    for pid in pids:
        assert not psutil.pid_exists(pid)


@pytest.mark.timeout(30)
def test_orphaned_grandchildren_are_reaped_by_the_zygote(rt: Runtime, rec: Recorder) -> None:
    sup = rt.start_supervisor(SupervisorSpec("s"), [
        ChildSpec("c", w.spawn_grandchild, shutdown="brutal_kill")], on_message=rec.on_message)
    grandchild = rec.wait_msg("ready", "c")[3]
    sup.terminate_child("c")  # the grandchild outlives its parent for a moment
    deadline = time.monotonic() + 10
    while psutil.pid_exists(grandchild):
        assert time.monotonic() < deadline, psutil.Process(grandchild).status()
        time.sleep(0.02)


def test_nested_supervisors_keep_their_objects_across_restarts(rt: Runtime,
                                                                rec: Recorder) -> None:
    deep = supervisor_child(SupervisorSpec("deep"), [ChildSpec("d", w.ready_then_sleep)])
    mid = supervisor_child(SupervisorSpec("mid", intensity=0), [deep,
                                                                ChildSpec("m", w.ready_then_sleep)])
    top = rt.start_supervisor(SupervisorSpec("top"), [mid], on_message=rec.on_message)
    rec.wait_msg("ready", "m")
    mid_sup = top.child_supervisor("mid")
    deep_sup = mid_sup.child_supervisor("deep")
    mid_sup.send("m", "crash")  # mid gives up at once; top restarts it
    rec.wait_msg("ready", "m", count=2)
    assert top.child_supervisor("mid") is mid_sup
    assert mid_sup.child_supervisor("deep") is deep_sup and deep_sup.running
