"""Shadow deployments: the new version sees a copy of everything, changes nothing.

The live agent is the chaos ledger under load; after each shadow its state
must hold every acknowledged number exactly once and nothing else (a shadow
that applied its copies to the live state would show duplicates).
"""

from __future__ import annotations

import contextlib
import os
import signal

import psutil

import caxton
from tests.canary.load import SplitLoad, check_ledger
from tests.canary.modules import failing, good, trapping
from tests.conftest import NodeProcess
from tests.helpers import wait_until


def _spawn(client: caxton.Client) -> str:
    client.spawn("led", good("v1"), snapshot_every={"messages": 200}, mailbox=100_000)
    return client.status("led").module_sha256


def test_identical_then_changed_versions(node: NodeProcess) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        v1 = _spawn(client)
        with SplitLoad(node.address, "led") as load:
            load.wait_for(300)
            same = client.deploy("led", good("v2"), strategy="shadow", duration=1.5,
                                 timeout=60)
            changed = client.deploy("led", failing("v3"), strategy="shadow", duration=1.5,
                                    timeout=60)
            load.wait_for(len(load.acked) + 300)
        assert same.state == "retired" and same.report is not None
        assert same.report["equivalence"] == 1.0 and same.report["compared"] > 500
        assert same.report["live"]["messages"] > 0 and same.report["shadow"]["messages"] > 0
        assert changed.report is not None
        assert 0.9 < changed.report["equivalence"] < 1.0
        assert changed.report["differences"][0]["shadow"]["status"] == "error"
        assert changed.report["shadow"]["errors"] > 0 and changed.report["live"]["errors"] == 0
        assert client.status("led").module_sha256 == v1
        assert load.errors == []
        check_ledger(client, "led", load.acked)


def test_a_crashing_shadow_ends_and_the_live_version_never_notices(node: NodeProcess) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        v1 = _spawn(client)
        with SplitLoad(node.address, "led") as load:
            load.wait_for(300)
            # traps only on numbers sent after its warm-up (a warm-up that fails is a
            # deployment that fails, tested in tests/deploy)
            module = trapping(after=len(load.acked) + 50_000)
            dep = client.deploy("led", module, strategy="shadow", duration=30, timeout=60)
            load.wait_for(len(load.acked) + 300)
        assert dep.state == "failed" and "shadow crashed" in dep.reason
        assert client.status("led").module_sha256 == v1
        assert client.status("led").restarts == 0
        assert load.errors == []
        check_ledger(client, "led", load.acked)


def test_parallel_switches_when_the_shadow_matched(node: NodeProcess) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        _spawn(client)
        with SplitLoad(node.address, "led") as load:
            load.wait_for(300)
            dep = client.hot_reload("led", good("v2"), strategy="parallel", duration=1.5,
                                    timeout=60)
            assert dep.state == "running", dep.progress
            assert client.status("led").module_sha256 == dep.sha256
            bad = client.hot_reload("led", failing("v3"), strategy="parallel", duration=1.5,
                                    timeout=60)
            assert bad.state == "rolled_back" and "differ" in bad.reason
            load.wait_for(len(load.acked) + 300)
        assert client.status("led").module_sha256 == dep.sha256
        check_ledger(client, "led", load.acked)


def test_a_hanging_shadow_never_slows_the_live_version(node: NodeProcess) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        v1 = _spawn(client)
        live_pid = client.status("led").pid
        with SplitLoad(node.address, "led") as load:
            load.wait_for(300)
            dep = client.deploy("led", good("v2"), strategy="shadow", duration=4, wait=False)
            wait_until(lambda: any(p["kind"] == "shadow"
                                   for p in client.deployment(dep.id).progress),
                       timeout=30, what="the shadow to start")
            shadow_pid = wait_until(lambda: next((p for p in _agent_pids("led", node)
                                                  if p != live_pid), None),
                                    timeout=10, what="the shadow's process")
            assert shadow_pid is not None
            os.kill(shadow_pid, signal.SIGSTOP)  # hung: it reads nothing, answers nothing
            try:
                load.wait_for(len(load.acked) + 20_000)  # the live version keeps going
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(shadow_pid, signal.SIGCONT)
            def ended() -> caxton.Deployment | None:
                found = client.deployment(dep.id)
                return found if found.state != "deploying" else None

            done = wait_until(ended, timeout=60, what="the shadow to end")
            assert done is not None
            load.wait_for(len(load.acked) + 300)
        assert done.state in ("retired", "failed"), done.progress
        assert client.status("led").module_sha256 == v1
        assert client.status("led").pid == live_pid and client.status("led").restarts == 0
        check_ledger(client, "led", load.acked)
        wait_until(lambda: _agent_pids("led", node) == [live_pid], timeout=30,
                   what="the shadow's process gone")


def _agent_pids(name: str, node: NodeProcess) -> list[int]:
    """The agent processes of ``node`` titled for ``name`` (never another test's)."""
    return _titled(name, node)


def _titled(name: str, node: NodeProcess) -> list[int]:
    try:
        tree = psutil.Process(node.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for proc in tree:
        try:
            if " ".join(proc.cmdline()).strip() == f"caxton agent {name}" \
                    and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found
