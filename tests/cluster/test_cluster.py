"""Three real nodes over one real PostgreSQL database: membership, routing between
nodes, remote DOWN ``noconnection``, failover with state, and the fence."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

import caxton
from caxton.cluster.local import LocalCluster
from caxton.launch import child_env
from caxton.store.throwaway import ThrowawayPostgres
from caxton.wasm import example_path
from chaos.ledger import encode_seq
from tests.deploy.modules import ledger
from tests.helpers import wait_until
from tests.ledger_load import (
    SequentialLoad,
    check_exactly_once,
    check_instances,
    dump_ledger,
    key_of,
)
from tests.pg import NEEDS_POSTGRES

pytestmark = NEEDS_POSTGRES


def _owner(cluster: LocalCluster, name: str) -> str:
    with caxton.connect(cluster["n1"].address, timeout=10) as client:
        node = client.status(name).node
        assert node is not None
        return node


def test_every_node_lists_the_whole_cluster(cluster: LocalCluster) -> None:
    for node in cluster.nodes:
        with caxton.connect(node.address, timeout=10) as client:
            listed = {n["name"]: n for n in client.nodes()}
            assert set(listed) == {"n1", "n2", "n3"}
            assert all(n["state"] == "alive" for n in listed.values())
            assert listed[node.name]["self"] and listed[node.name]["address"] == node.address
            assert client.ping()["cluster"]["epoch"] == 1


def test_calls_and_sends_reach_an_agent_on_another_node(cluster: LocalCluster) -> None:
    with caxton.connect(cluster["n1"].address, timeout=10) as client:
        status = client.spawn("counter", example_path("counter"), node="n2")
        assert status.node == "n2"
        client.send_many("counter", [b"inc"] * 50)
    with caxton.connect(cluster["n3"].address, timeout=10) as client:
        client.send("counter", b"inc")
        assert client.call("counter", b"get") == b"51"
        assert client.status("counter").node == "n2"
    with caxton.connect(cluster["n2"].address, timeout=10) as client:
        assert [a.name for a in client.list_agents()] == ["counter"]
        assert client.call("counter", b"get") == b"51"


def test_a_spawn_without_a_node_goes_to_the_least_loaded(cluster: LocalCluster) -> None:
    with caxton.connect(cluster["n1"].address, timeout=10) as client:
        placed = [str(client.spawn(f"echo{i}", example_path("echo")).node) for i in range(6)]
        assert sorted(placed) == ["n1", "n1", "n2", "n2", "n3", "n3"]
        with pytest.raises(caxton.AgentExists, match="already exists on node"):
            client.spawn("echo0", example_path("echo"), node="n3")  # echo0 is on n1
        with pytest.raises(caxton.InvalidRequest, match="n9"):
            client.spawn("lost", example_path("echo"), node="n9")


def test_agents_on_different_nodes_send_to_each_other(cluster: LocalCluster) -> None:
    with caxton.connect(cluster["n1"].address, timeout=10) as client:
        client.spawn("a", example_path("pingpong"), node="n1")
        client.spawn("b", example_path("pingpong"), node="n3")
        for _ in range(20):
            client.send("a", b"b")  # a pings b on n3, b pongs a on n1
        wait_until(lambda: client.call("a", b"count") == b"20", timeout=20,
                   what="20 pongs across nodes")
        assert client.dead_letters("a") == [] and client.dead_letters("b") == []


def test_a_monitor_across_nodes_gets_down_noconnection(cluster: LocalCluster) -> None:
    with caxton.connect(cluster["n1"].address, timeout=10) as client:
        client.spawn("watched", example_path("echo"), node="n2")
        monitor = client.monitor("watched", timeout=15)
        cluster.kill("n2")
        killed = time.monotonic()
        down = next(monitor)
        elapsed = time.monotonic() - killed
        assert down.reason == "noconnection", down
        print(f"DOWN noconnection {elapsed:.2f}s after the kill")


def test_a_killed_nodes_agents_serve_elsewhere_with_their_state(cluster: LocalCluster) -> None:
    with caxton.connect(cluster["n1"].address, timeout=10) as client:
        client.spawn("counter", example_path("counter"), node="n2",
                     snapshot_every={"messages": 40})
        client.send_many("counter", [b"inc"] * 100)
        cluster.kill("n2")
        killed = time.monotonic()
        wait_until(lambda: _answers(client, "counter") == b"100", timeout=20,
                   what="the counter on a surviving node")
        print(f"served again {time.monotonic() - killed:.2f}s after the kill")
        assert client.status("counter").node in ("n1", "n3")
        nodes = {n["name"]: n["state"] for n in client.nodes()}
        assert nodes["n2"] == "dead"
    cluster.restart("n2")  # it joins again, with none of its old agents
    with caxton.connect(cluster["n2"].address, timeout=10) as client:
        assert client.ping()["cluster"]["epoch"] == 2
        assert client.list_agents() == []
        assert client.call("counter", b"get") == b"100"  # forwarded to the new owner


def _answers(client: caxton.Client, name: str) -> bytes | None:
    try:
        return client.call(name, b"get", timeout=2)
    except caxton.CaxtonError:
        return None


def _unread_bytes(port: int) -> int:
    """Bytes this process sent to the listener on ``port`` that it has not read yet:
    the rx_queue (``/proc/net/tcp``) of the connections it accepted from us."""
    ours = {c.laddr.port for c in psutil.Process().net_connections("tcp4")
            if c.raddr and c.raddr.port == port}
    unread = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(f.rsplit(":", 1)[1], 16) for f in fields[1:3])
        if local == port and remote in ours:
            unread += int(fields[4].split(":")[1], 16)
    return unread


def test_a_paused_node_is_fenced_and_applies_nothing(cluster: LocalCluster) -> None:
    with caxton.connect(cluster["n1"].address, timeout=10) as client:
        client.spawn("counter", example_path("counter"), node="n2")
        client.send_many("counter", [b"inc"] * 10)
    # over TCP, connected before the pause: its send waits, unread, in n2's socket
    stale = caxton.connect(cluster["n2"].address, timeout=30, local=False)
    try:
        assert stale.ping()["node"] == "n2"
        cluster.pause("n2")
        with caxton.connect(cluster["n1"].address, timeout=10) as client:
            wait_until(lambda: _answers(client, "counter") == b"10", timeout=20,
                       what="the counter adopted by a live node")
            survivor = client.status("counter").node
            assert survivor in ("n1", "n3")
            # the paused node's client asks it for more; it hears after the resume
            pending = ThreadPoolExecutor(1).submit(stale.send, "counter", b"inc")
            port = int(cluster["n2"].address.rsplit(":", 1)[1])
            wait_until(lambda: _unread_bytes(port) > 0, timeout=10,
                       what="the send to wait, unread, at the paused node")
            cluster.resume("n2")
            try:
                pending.result(timeout=30)
            except caxton.CaxtonError as exc:
                refused: str = type(exc).__name__
            else:
                refused = ""
            # fenced: it acknowledged nothing, and nothing it did reached the store
            assert refused, "the fenced node acknowledged a send"
            assert client.call("counter", b"get") == b"10"
            wait_until(lambda: stale.ping()["cluster"]["fenced"] == 1, timeout=20,
                       what="the paused node to notice it was fenced")
            ping = stale.ping()["cluster"]
            assert ping["epoch"] == 2
            wait_until(lambda: stale.list_agents() == [], timeout=10,
                       what="the fenced node to stop its stale instance")
            assert stale.call("counter", b"get") == b"10"  # forwarded to the owner now
    finally:
        stale.close()


def test_failover_under_load_loses_nothing_and_doubles_nothing(cluster: LocalCluster) -> None:
    """A ledger on n2 under a steady load sent through n1 (forwarded); n2 is killed mid-load
    and the load goes on: every acknowledged number takes effect exactly once on the
    node that adopted the ledger, and a batch that died with n2 at most once."""
    with caxton.connect(cluster["n1"].address, timeout=30) as client:
        client.spawn("led", ledger("v1"), node="n2", snapshot_every={"messages": 200})
        with SequentialLoad(cluster["n1"].address, "led") as load:
            load.wait_for(1000)
            cluster.kill("n2")
            acked = len(load.acked)
            load.wait_for(acked + 1000)  # served again, by a survivor
        assert client.status("led").node in ("n1", "n3")
        check_exactly_once(client, "led", load.acked, load.unanswered + load.failed)
        # the load was told why a batch failed, in one of the ways a lost node explains
        kinds = {e.split(":")[0] for e in load.errors}
        assert kinds <= {"NodeUnavailable", "NoSuchAgent", "StorageUnavailable",
                         "AgentNotRunning"}, load.errors


def test_the_command_line_shows_the_cluster_and_places_agents(cluster: LocalCluster) -> None:
    def caxton_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "caxton.cli.main",
                               "--node", cluster["n1"].address, *args],
                              capture_output=True, text=True, timeout=60, env=child_env())

    shown = caxton_cli("cluster", "status")
    assert shown.returncode == 0, shown.stderr
    rows = shown.stdout.splitlines()
    assert rows[0].split()[:3] == ["NAME", "STATE", "ADDRESS"]
    assert [r.split()[0] for r in rows[1:4]] == ["n1", "n2", "n3"] and "*" in rows[1]
    spawned = caxton_cli("agents", "spawn", "tally", str(example_path("counter")), "--on", "n3")
    assert spawned.returncode == 0 and "node n3" in spawned.stdout, spawned.stderr
    wrong = caxton_cli("agents", "spawn", "other", str(example_path("counter")), "--on", "n7")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "n7" in wrong.stderr


def test_deployments_have_cluster_ids_and_survive_a_failover(cluster: LocalCluster) -> None:
    """Deployment ids come from one counter (two nodes never reuse one), a deploy is
    forwarded to the agent's owner, and the node that adopts an agent knows its
    deployments and can still roll back the live one."""
    with caxton.connect(cluster["n1"].address, timeout=30) as client:
        client.spawn("led1", ledger("v1"), node="n1")
        client.spawn("led2", ledger("v1"), node="n2")
        client.send_many("led2", [encode_seq(n) for n in range(100)])
        first = client.deploy("led1", ledger("v2"))      # on n1 itself
        second = client.deploy("led2", ledger("v2"))     # forwarded to n2
        assert first.state == second.state == "running"
        ids = [d.id for d in client.deployments("led1") + client.deployments("led2")]
        assert len(ids) == len(set(ids)), ids
        cluster.kill("n2")
        wait_until(lambda: _dumped(client, "led2") == 100, timeout=20,
                   what="the deployed ledger adopted with its state")
        adopted = client.status("led2")
        assert adopted.node in ("n1", "n3") and adopted.version == second.version
        assert [d.id for d in client.deployments("led2")][-1] == second.id
        with caxton.connect(cluster[adopted.node].address, timeout=30) as owner:
            assert owner.rollback("led2", timeout=60).state == "rolled_back"
        assert _dumped(client, "led2") == 100


def _dumped(client: caxton.Client, name: str) -> int | None:
    try:
        return dump_ledger(client, name).applied
    except caxton.CaxtonError:
        return None


def test_a_database_restart_under_load_loses_nothing_and_moves_nothing(
        cluster: LocalCluster, postgres_server: ThrowawayPostgres) -> None:
    """Every node's store faults while the server is down and recovers on its own; all
    leases lapse meanwhile, yet no node takes another over once it is back."""
    with caxton.connect(cluster["n1"].address, timeout=30) as client:
        client.spawn("led", ledger("v1"), node="n2", snapshot_every={"messages": 200})
        with SequentialLoad(cluster["n3"].address, "led") as load:
            load.wait_for(500)
            postgres_server.stop("fast")
            try:
                wait_until(lambda: not client.ping()["storage"]["ok"], timeout=20,
                           what="the node to notice the outage")
                down_for = time.monotonic() + 2 * cluster.lease_seconds
                wait_until(lambda: time.monotonic() > down_for, timeout=10,
                           what="an outage longer than a lease")
            finally:
                postgres_server.start()
            acked = len(load.acked)
            load.wait_for(acked + 500)
        check_exactly_once(client, "led", load.acked, load.unanswered + load.failed)
        assert client.status("led").node == "n2"
        for node in cluster.nodes:
            with caxton.connect(node.address, timeout=10) as each:
                report = each.ping()["cluster"]
                assert report["takeovers"] == 0 and report["fenced"] == 0, (node.name, report)


def test_a_scaled_agent_fails_over_with_every_instance_and_its_keys(
        cluster: LocalCluster) -> None:
    """Three instances of one agent on n2; n2 is killed: all three come back on one
    survivor, each key's state still in one instance, nothing lost or applied twice."""
    with caxton.connect(cluster["n1"].address, timeout=30) as client:
        client.spawn("led", ledger("v1"), node="n2", snapshot_every={"messages": 100})
        assert len(client.scale("led", 3).instances) == 3
        acked = []
        for seq in range(300):
            client.send("led", encode_seq(seq), key=key_of(seq))
            acked.append(seq)
        cluster.kill("n2")

        def back() -> bool:
            try:
                status = client.status("led")
            except caxton.CaxtonError:
                return False
            return status.node != "n2" and len(status.instances) == 3 and all(
                i["state"] == "running" for i in status.instances)

        wait_until(back, timeout=30, what="three instances on a survivor")
        for seq in range(300, 400):
            client.send("led", encode_seq(seq), key=key_of(seq))
            acked.append(seq)
        check_instances(client, "led", acked, sticky=True)
