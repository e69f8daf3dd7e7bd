"""Zero loss across deployments: acknowledged sends equal effects, under load and faults.

The agent is the chaos ledger (one bit per sequence number): after the run,
every acknowledged number must be set exactly once and nothing duplicated,
whatever was deployed, killed or rolled back in between.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import psutil
import pytest

import caxton
from tests.conftest import NodeProcess
from tests.deploy.modules import ledger
from tests.helpers import wait_until
from tests.ledger_load import SequentialLoad, check_exactly_once


def _agent_pids(name: str, node: NodeProcess) -> Iterator[int]:
    """The agent processes of ``node`` titled for ``name`` (never another test's)."""
    try:
        tree = psutil.Process(node.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for proc in tree:
        try:
            title = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if title.strip() == f"caxton agent {name}" and proc.status() != psutil.STATUS_ZOMBIE:
            yield proc.pid


def _kill_agents(name: str, node: NodeProcess) -> int:
    killed = 0
    for pid in _agent_pids(name, node):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


@pytest.mark.parametrize("strategy", ["immediate", "rolling", "blue_green"])
def test_no_loss_through_deploy_and_rollback_with_kills(node: NodeProcess, strategy: str) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("led", ledger("v1"), snapshot_every={"messages": 200})
        with SequentialLoad(node.address, "led") as load:
            load.wait_for(500)
            dep = client.deploy("led", ledger("v2"), strategy=strategy, wait=False,
                                keep_previous=60)
            _kill_agents("led", node)                   # the serving instance, and the new one
            wait_until(lambda: client.deployment(dep.id).state in ("running", "rolled_back"),
                       timeout=60, what="the deployment to end")
            load.wait_for(len(load.acked) + 500)
            if client.deployment(dep.id).state == "running":
                _kill_agents("led", node)
                load.wait_for(len(load.acked) + 300)
                assert client.rollback("led", timeout=60).state == "rolled_back"
            load.wait_for(len(load.acked) + 500)
        assert load.errors == []
        check_exactly_once(client, "led", load.acked)
        states = [d.state for d in client.deployments("led")]
        assert states in (["running", "rolled_back"],)


@pytest.mark.parametrize("after_switch", [False, True])
def test_node_sigkill_mid_deployment(node: NodeProcess, after_switch: bool) -> None:
    """Killed before the switch: rolled back on restart. Killed after the switch, not
    yet finalised: the new version stays, and its rollback still rebuilds v1 exactly."""
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("led", ledger("v1"), snapshot_every={"messages": 200})
        v1 = client.status("led").module_sha256
        with SequentialLoad(node.address, "led") as load:
            load.wait_for(500)
            warm_up = 0.0 if after_switch else 30.0
            dep = client.deploy("led", ledger("v2"), strategy="blue_green", wait=False,
                                warm_up=warm_up, keep_previous=120)
            want = "running" if after_switch else "deploying"
            wait_until(lambda: client.deployment(dep.id).state == want, timeout=30,
                       what=f"the deployment {want}")
            load.wait_for(len(load.acked) + 300)
            node.kill()
            node.start()
            load.wait_for(len(load.acked) + 300)
            after = client.deployment(dep.id)
            status = client.status("led")
            if after_switch:
                assert after.state == "running"
                assert status.module_sha256 == dep.sha256
                assert client.rollback("led", timeout=60).state == "rolled_back"
                assert client.status("led").module_sha256 == v1
            else:
                assert after.state == "rolled_back" and "restarted" in after.reason
                assert status.module_sha256 == v1
            load.wait_for(len(load.acked) + 300)
        assert _agent_count("led", node) == 1             # one version live, never two or none
        check_exactly_once(client, "led", load.acked, load.unanswered)


def _agent_count(name: str, node: NodeProcess) -> int:
    return len(list(_agent_pids(name, node)))
