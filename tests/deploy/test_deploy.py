"""Deployments against a real node: versions and states, each strategy, rollback, refusals."""

from __future__ import annotations

import os
import signal

import pytest

import caxton
from tests.deploy.modules import counter, counter_v2, refusing
from tests.helpers import wait_until


def _count(client: caxton.Client, name: str = "c") -> int:
    return int(client.call(name, b"get"))


def test_immediate_deploy_keeps_state_and_records_the_version(client: caxton.Client) -> None:
    client.spawn("c", counter("v1"), snapshot_every={"messages": 4})
    client.send_many("c", [b"inc"] * 10)
    assert _count(client) == 10
    first = client.status("c")
    dep = client.deploy("c", counter_v2(), version="2.0.0", keep_previous=60)
    assert dep.state == "running" and dep.version == "2.0.0" and dep.strategy == "immediate"
    assert [s["name"] for s in dep.stages] == ["validate", "warm_up", "switch", "deploy"]
    assert all(s["ok"] for s in dep.stages)
    assert dep.report is not None and all("duration_s" in s for s in dep.report["stages"])
    status = client.status("c")
    assert status.version == "2.0.0" and status.module_sha256 == dep.sha256
    assert status.module_sha256 != first.module_sha256
    assert _count(client) == 10                      # v1's state, restored by v2
    client.send("c", b"inc")
    assert _count(client) == 11
    history = client.deployments("c")
    assert [(d.strategy, d.state) for d in history] == [("initial", "draining"),
                                                         ("immediate", "running")]
    assert history[1].previous is not None
    assert history[1].previous["sha256"] == first.module_sha256
    moves = [(e["from"], e["to"]) for e in history[1].events]
    assert moves == [("validating", "deploying"), ("deploying", "running")]
    assert all(e["time"] > 0 and e["reason"] for e in history[1].events)
    assert client.deployment(dep.id).state == "running"


@pytest.mark.parametrize("strategy", ["rolling", "blue_green", "blue-green"])
def test_strategies_switch_with_state(client: caxton.Client, strategy: str) -> None:
    client.spawn("c", counter("v1"), snapshot_every={"messages": 3})
    client.send_many("c", [b"inc"] * 7)
    dep = client.deploy("c", counter_v2(), strategy=strategy)
    assert dep.state == "running" and dep.strategy == strategy.replace("-", "_")
    assert _count(client) == 7
    client.send("c", b"inc")
    assert _count(client) == 8


def test_rollback_restores_the_previous_version_with_every_message(
        client: caxton.Client) -> None:
    client.spawn("c", counter("v1"), snapshot_every={"messages": 5})
    client.send_many("c", [b"inc"] * 12)
    v1 = client.status("c").module_sha256
    dep = client.deploy("c", counter_v2(), strategy="blue_green", keep_previous=60)
    client.send_many("c", [b"inc"] * 9)             # handled by v2 only
    client.snapshot("c")                             # a v2 snapshot (9 bytes) exists now
    back = client.rollback("c")
    assert back.id == dep.id and back.state == "rolled_back"
    assert [s["name"] for s in back.stages][-2:] == ["divert", "restore"]
    status = client.status("c")
    assert status.module_sha256 == v1
    assert _count(client) == 21                      # v1 replayed what v2 handled, once
    client.send("c", b"inc")
    assert _count(client) == 22
    # the v1 instance restarts from a v1 snapshot plus the journal, not v2's snapshot
    os.kill(status.pid or 0, signal.SIGKILL)
    wait_until(lambda: client.status("c").pid not in (None, status.pid), what="a new instance")
    assert _count(client) == 22
    states = [d.state for d in client.deployments("c")]
    assert states == ["running", "rolled_back"]


def test_cold_rollback_after_the_previous_instance_stopped(client: caxton.Client) -> None:
    """Immediate stops the old process at the switch: the rollback rebuilds it from the
    pre-switch snapshot and the journal."""
    client.spawn("c", counter("v1"), snapshot_every={"messages": 5})
    client.send_many("c", [b"inc"] * 13)
    client.deploy("c", counter_v2(), keep_previous=60)
    client.send_many("c", [b"inc"] * 6)
    client.snapshot("c")
    client.send_many("c", [b"inc"] * 2)
    back = client.rollback("c")
    assert back.state == "rolled_back"
    assert _count(client) == 21


def test_a_version_whose_restore_refuses_the_state_rolls_back_on_its_own(
        client: caxton.Client) -> None:
    client.spawn("c", counter("v1"), snapshot_every={"messages": 2})
    client.send_many("c", [b"inc"] * 5)
    v1 = client.status("c").module_sha256
    with pytest.raises(caxton.DeploymentFailed) as caught:
        client.deploy("c", counter_v2("v2strict", reads_v1=False), strategy="blue_green")
    record = caught.value.data["deployment"]
    assert record["state"] == "rolled_back" and "restore_failed" in record["reason"]
    assert client.status("c").module_sha256 == v1
    assert _count(client) == 5
    client.send("c", b"inc")
    assert _count(client) == 6
    assert [d.state for d in client.deployments("c")] == ["running", "rolled_back"]


def test_a_module_that_fails_validation_never_goes_live(client: caxton.Client) -> None:
    client.spawn("c", counter("v1"))
    client.send("c", b"inc")
    with pytest.raises(caxton.ValidationFailed):
        client.deploy("c", refusing())
    history = client.deployments("c")
    assert history[-1].state == "failed" and history[-1].stages[0]["ok"] is False
    assert client.status("c").module_sha256 == history[0].sha256
    assert _count(client) == 1


def test_refusals_are_one_line(client: caxton.Client) -> None:
    client.spawn("c", counter("v1"))
    with pytest.raises(caxton.InvalidRequest, match="unknown strategy"):
        client.deploy("c", counter("v2"), strategy="sideways")
    with pytest.raises(caxton.InvalidRequest, match="duration"):
        client.hot_reload("c", counter("v2"), strategy="parallel", duration=-1)
    for options, word in (({"stages": [(25, 1), (5, 1)]}, "must rise"),
                          ({"stages": [(5, -1)]}, "seconds"),
                          ({"rollback_on": {"errors": 1}}, "unknown threshold"),
                          ({"min_samples": 0}, "min_samples")):
        with pytest.raises(caxton.InvalidRequest, match=word):
            client.deploy("c", counter("v2"), strategy="canary", **options)
    with pytest.raises(caxton.InvalidRequest, match="already runs"):
        client.deploy("c", counter("v1"))
    with pytest.raises(caxton.InvalidRequest, match="batch_size"):
        client.deploy("c", counter("v2"), batch_size=0)
    with pytest.raises(caxton.NoSuchAgent):
        client.deploy("nobody", counter("v2"))
    with pytest.raises(caxton.NoSuchDeployment):
        client.rollback("c")
    with pytest.raises(caxton.NoSuchDeployment):
        client.deployment(999)
    assert client.hot_reload("c", counter("v3")).strategy == "blue_green"
