"""Instances: N processes behind one name, keys sticky by consistent hashing, scaling
up and down under load with kills, and rolling deployments batch by batch.

The agent is the chaos ledger (one bit per sequence number); each instance keeps
its own ledger, read with ``instance=k``. Acknowledged sends must equal effects
summed over every instance, each number in exactly one, and every number of one
key in the same instance.
"""

from __future__ import annotations

import pytest

import caxton
from caxton.node.ring import Ring
from chaos.ledger import encode_seq
from tests.conftest import NodeProcess
from tests.deploy.modules import counter, counter_v2, ledger
from tests.deploy.test_zero_loss import _kill_agents
from tests.helpers import wait_until
from tests.ledger_load import KEYS, LedgerLoad, check_instances, dump_instances, key_of


class KeyedLoad(LedgerLoad):
    """Batches of one key each (number mod KEYS = the key's index), or keyless."""

    wait_seconds = 60.0

    def __init__(self, address: str, name: str, *, keyed: bool = True) -> None:
        super().__init__(address, name)
        self.keyed = keyed
        self._rounds = self._k = 0

    def next_batch(self) -> tuple[list[int], str | None]:
        k = self._k
        batch = [(self._rounds * 20 + j) * KEYS + k for j in range(20)]
        self._k = (k + 1) % KEYS
        self._rounds += self._k == 0
        return batch, key_of(k) if self.keyed else None


def test_scale_runs_instances_and_keys_stick(node: NodeProcess) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("led", ledger("v1"), snapshot_every={"messages": 100})
        status = client.scale("led", 3)
        assert [i["index"] for i in status.instances] == [0, 1, 2]
        pids = [i["pid"] for i in status.instances]
        assert None not in pids and len(set(pids)) == 3
        assert all(i["state"] == "running" for i in status.instances)
        acked = []
        for seq in range(600):
            client.send("led", encode_seq(seq), key=key_of(seq))
            acked.append(seq)
        check_instances(client, "led", acked, sticky=True)
        per_instance = [s.applied for s in dump_instances(client, "led")]
        assert all(n > 0 for n in per_instance), per_instance  # 24 keys spread over 3
        # a call with a key reaches the key's instance: its reply says new or duplicate
        assert client.call("led", encode_seq(5), key=key_of(5)) == b"="
        assert client.call("led", encode_seq(10_000), key=key_of(10_000)) == b"+"
        status = client.status("led")
        assert status.messages_handled == sum(i["messages_handled"] for i in status.instances)
        assert [a.name for a in client.list_agents()] == ["led"]


def test_messages_without_a_key_go_to_the_least_loaded(node: NodeProcess) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("led", ledger("v1"))
        client.scale("led", 3)
        with KeyedLoad(node.address, "led", keyed=False) as load:
            load.wait_for(6_000)
        assert load.errors == []
        check_instances(client, "led", load.acked, sticky=False)
        handled = [i["messages_handled"] for i in client.status("led").instances]
        assert min(handled) > 0.1 * sum(handled), handled


def test_refusals_are_one_line(node: NodeProcess) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("led", ledger("v1"))
        for bad in (0, 65, "3", True):
            with pytest.raises(caxton.InvalidRequest, match="instances must be"):
                client.scale("led", bad)  # type: ignore[arg-type]
        with pytest.raises(caxton.InvalidRequest, match="key must be"):
            client.send("led", b"x", key=12)  # type: ignore[arg-type]
        with pytest.raises(caxton.InvalidRequest, match="has no instance 2"):
            client.call("led", b"ledger:ping", instance=2)
        with pytest.raises(caxton.NoSuchAgent):
            client.send("led#1", b"x")
        assert client.scale("led", 1).instances[0]["index"] == 0   # unchanged: nothing to do


def test_scale_up_and_down_under_load_with_kills(node: NodeProcess) -> None:
    """Scaling down drains the leaving instances (nothing acknowledged is lost) and keeps
    their state; scaled up again they come back with it and own the same keys."""
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("led", ledger("v1"), snapshot_every={"messages": 200})
        with KeyedLoad(node.address, "led") as load:
            load.wait_for(2_000)
            client.scale("led", 4)
            load.wait_for(len(load.acked) + 2_000)
            assert _kill_agents("led", node) + _kill_agents("led#1", node) >= 2
            load.wait_for(len(load.acked) + 2_000)
            status = client.scale("led", 2)                # #2 and #3 drain and stop
            assert [i["index"] for i in status.instances] == [0, 1]
            _kill_agents("led#1", node)
            load.wait_for(len(load.acked) + 2_000)
            client.scale("led", 4)                         # they come back with their state
            _kill_agents("led#3", node)
            load.wait_for(len(load.acked) + 2_000)
        assert load.errors == []
        check_instances(client, "led", load.acked, sticky=False)
        restarts = client.status("led").restarts
        assert restarts >= 3


def test_keys_stick_across_scaling_back_and_a_node_restart(node: NodeProcess) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("led", ledger("v1"), snapshot_every={"messages": 50})
        client.scale("led", 3)
        acked = []
        for seq in range(300):
            client.send("led", encode_seq(seq), key=key_of(seq))
            acked.append(seq)
        node.kill()
        node.start()
        wait_until(lambda: len(client.status("led").instances) == 3
                   and all(i["state"] == "running" for i in client.status("led").instances),
                   timeout=30, what="three instances back")
        for seq in range(300, 600):
            client.send("led", encode_seq(seq), key=key_of(seq))
            acked.append(seq)
        check_instances(client, "led", acked, sticky=True)


def test_ring_moves_few_keys() -> None:
    keys = [f"k{i}".encode() for i in range(20_000)]
    three = Ring(["a", "a#1", "a#2"])
    four = Ring(["a", "a#1", "a#2", "a#3"])
    moved = sum(three.owner(k) != four.owner(k) for k in keys)
    assert moved < 0.33 * len(keys)                       # ideal: 1/4 move
    assert all(four.owner(k) == "a#3" for k in keys if three.owner(k) != four.owner(k))
    shares = [sum(four.owner(k) == n for k in keys) / len(keys) for n in four.names]
    assert max(shares) < 0.33 and min(shares) > 0.17, shares


def test_rolling_goes_batch_by_batch_over_instances(node: NodeProcess) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("c", counter("v1"))
        client.scale("c", 4)
        dep = client.deploy("c", counter("v2"), strategy="rolling", batch_size=2,
                            version="2.0.0")
        switches = [s for s in dep.stages if s["name"] == "switch"]
        assert len(switches) == 2                               # two batches of two
        assert dep.instances == {"c": True, "c#1": True, "c#2": True, "c#3": True}
        assert {i["version"] for i in client.status("c").instances} == {"2.0.0"}


def test_a_failing_batch_rolls_back_the_batches_already_switched(node: NodeProcess) -> None:
    """Batch one (instances without a snapshot: nothing to restore) switches; batch two's
    restore refuses its state, so the rollout stops and batch one comes back."""
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("c", counter("v1"), snapshot_every={"messages": 1})
        client.scale("c", 4)
        for index in (2, 3):
            for _ in range(5):
                client.call("c", b"+", instance=index)
        wait_until(lambda: all(client.call("c", b"get", instance=i) == b"5" for i in (2, 3)),
                   what="instances 2 and 3 counted")
        with pytest.raises(caxton.DeploymentFailed) as failed:
            client.deploy("c", counter_v2("v2", reads_v1=False), strategy="rolling",
                          batch_size=2)
        dep = failed.value.data["deployment"]
        assert dep["state"] == "rolled_back" and "restore" in dep["reason"]
        assert [s["name"] for s in dep["stages"] if s["name"] == "switch"] == ["switch"]
        assert dep["instances"] == {"c": False, "c#1": False, "c#2": False, "c#3": False}
        status = client.status("c")
        assert {i["version"] for i in status.instances} == {status.version}
        assert [client.call("c", b"get", instance=i) for i in range(4)] == [b"0", b"0", b"5",
                                                                            b"5"]
