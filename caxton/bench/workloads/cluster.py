"""Figure 13: the cluster. A call across nodes beside one on the owner itself, failover
time beside an agent's own restart, and two nodes' aggregate rate beside one node's.

All of it on a ``LocalCluster`` (real node processes over one throw-away
PostgreSQL database this workload starts and stops):

* **cross-node call**: a client connected to n1 calls an echo agent that n2
  owns (n1 forwards over its link), alternating repetition by repetition
  with a client connected to n2 calling the same agent directly;
* **failover**: SIGKILL the node that owns a stateful agent, then call the
  agent through a survivor until it answers with its state; the baseline is
  SIGKILL of the agent's own process on a live node until its replacement
  answers (what a restart costs without losing a node). The lease
  (``--lease-seconds``, 1.5 s) is most of the difference;
* **aggregate rate**: two load processes pipeline ``send_many`` at two echo
  agents, first both on one node, then one on each of two nodes; each node
  has one loop, so two nodes are how a machine's cores serve one cluster.
  The machine's core count bounds what this can show.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import caxton
from caxton.bench.agents import HEALTH_OFF, MANY_RESTARTS, echo_module
from caxton.bench.context import Context, Results
from caxton.bench.errors import BenchUnavailable
from caxton.bench.plan import PAYLOAD_BYTES, SEND_WINDOW
from caxton.bench.results import Measurement
from caxton.bench.stats import median, percentile
from caxton.bench.timing import MS, US, clock, scaled, time_each
from caxton.cluster.local import LocalCluster
from caxton.store.throwaway import MISSING, pg_bin, throwaway_postgres
from caxton.wasm import example_path

#: sequential calls per repetition (each side): fewer than figure 3, enough for a median
CALL_SHARE = 5
FAILOVERS = {True: 3, False: 6}
#: how long one failover or restart may take before the sample counts as failed
SERVE_TIMEOUT = 30.0


def run(ctx: Context) -> Results:
    if pg_bin() is None:
        raise BenchUnavailable(MISSING)
    with throwaway_postgres() as server, tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        with open(root / "nodes.log", "ab") as log:
            with LocalCluster(server.new_database(), root / "a", count=3, output=log,
                              extra=("--metrics", "off")) as cluster:
                calls = _calls(ctx, cluster)
                failover = _failover(ctx, cluster)
            with LocalCluster(server.new_database(), root / "b", count=2, output=log,
                              extra=("--metrics", "off")) as cluster:
                rates = _aggregate(ctx, cluster)
    return {"cluster.call.remote": calls, "cluster.failover": failover,
            "cluster.pipe.two": rates}


def _calls(ctx: Context, cluster: LocalCluster) -> Measurement:
    payload = os.urandom(PAYLOAD_BYTES)
    count = max(200, ctx.plan.calls // CALL_SHARE)
    with caxton.connect(cluster["n1"].address, timeout=30, local=False) as far, \
            caxton.connect(cluster["n2"].address, timeout=30, local=False) as near:
        near.spawn("echo", echo_module(), node="n2", health=HEALTH_OFF)
        for client in (far, near):
            for _ in range(200):
                client.call("echo", payload)
        remote: list[float] = []
        local: list[float] = []
        for rep in range(ctx.plan.repeats):
            ctx.say(f"  cluster call: repetition {rep + 1}/{ctx.plan.repeats}")
            sides = [(far, remote), (near, local)]
            for client, samples in (sides if rep % 2 == 0 else sides[::-1]):
                samples += time_each(partial(client.call, "echo", payload), count)[0]
    us, base = scaled(remote, US), scaled(local, US)
    return Measurement(median(us), percentile(us, 99), median(base), len(us),
                       {"baseline_p99_us": percentile(base, 99)})


def _serving(client: caxton.Client, name: str, expect: bytes) -> float:
    """Call ``name`` until it answers ``expect``; returns when it did."""
    deadline = clock() + SERVE_TIMEOUT
    while clock() < deadline:
        try:
            if client.call(name, b"get", timeout=1.0) == expect:
                return clock()
        except caxton.CaxtonError:
            pass
    raise BenchUnavailable(f"agent {name} did not serve within {SERVE_TIMEOUT:g}s")


def _failover(ctx: Context, cluster: LocalCluster) -> Measurement:
    takeovers: list[float] = []
    restarts: list[float] = []
    for i in range(FAILOVERS[ctx.plan.quick]):
        ctx.say(f"  cluster failover: {i + 1}/{FAILOVERS[ctx.plan.quick]}")
        victim = cluster.nodes[i % 3]
        survivor = cluster.nodes[(i + 1) % 3]
        name = f"counter{i}"
        with caxton.connect(survivor.address, timeout=30, local=False) as client:
            client.spawn(name, example_path("counter"), node=victim.name,
                         health=HEALTH_OFF, intensity=MANY_RESTARTS)
            client.send_many(name, [b"inc"] * 50)
            # baseline: the agent's own process killed, its node alive
            pid = client.status(name).pid
            assert pid is not None
            killed = clock()
            os.kill(pid, signal.SIGKILL)
            restarts.append(_serving(client, name, b"50") - killed)
            while client.status(name).pid == pid:  # answered by the old one: again
                killed = clock()
                restarts[-1] = _serving(client, name, b"50") - killed
            # the node itself
            killed = clock()
            cluster.kill(victim.name)
            takeovers.append(_serving(client, name, b"50") - killed)
        cluster.restart(victim.name)
        _settle(cluster)
    ms, base = scaled(takeovers, MS), scaled(restarts, MS)
    return Measurement(median(ms), max(ms), median(base), len(ms),
                       {"samples_ms": ms, "baseline_samples_ms": base,
                        "lease_s": cluster.lease_seconds})


def _settle(cluster: LocalCluster) -> None:
    """Every node alive in every node's view (a restarted node was seen by all)."""
    deadline = time.monotonic() + SERVE_TIMEOUT
    for node in cluster.nodes:
        with caxton.connect(node.address, timeout=10, local=False) as client:
            while sum(n["state"] == "alive" for n in client.nodes()) < len(cluster.nodes):
                if time.monotonic() > deadline:
                    raise BenchUnavailable("the cluster did not settle after a restart")
                time.sleep(0.05)


def _load(address: str, name: str, count: int, start: float) -> float:
    """One load process: wait for the common start, pipeline ``count`` messages and
    a final call; returns how long it took."""
    payload = os.urandom(PAYLOAD_BYTES)
    with caxton.connect(address, timeout=60, local=False) as client:
        client.call(name, payload)  # connected and warm before the clock starts
        while time.time() < start:
            time.sleep(0.001)
        began = time.time()
        client.send_many(name, [payload] * count, window=SEND_WINDOW)
        client.call(name, b"sync", timeout=120.0)
        return time.time() - began


def _together(targets: Sequence[tuple[str, str]], count: int) -> float:
    """Aggregate msg/s of one load process per (address, agent), started together."""
    start = time.time() + 1.0
    with multiprocessing.get_context("spawn").Pool(len(targets)) as pool:
        took = pool.starmap(_load, [(a, n, count, start) for a, n in targets])
    return len(targets) * count / max(took)


def _aggregate(ctx: Context, cluster: LocalCluster) -> Measurement:
    n1, n2 = cluster["n1"].address, cluster["n2"].address
    with caxton.connect(n1, timeout=30, local=False) as client:
        mailbox = 4 * ctx.plan.pipelined
        for name, node in (("a1", "n1"), ("b1", "n1"), ("a2", "n1"), ("b2", "n2")):
            client.spawn(name, echo_module(), node=node, health=HEALTH_OFF, mailbox=mailbox)
    one: list[float] = []
    two: list[float] = []
    for rep in range(ctx.plan.repeats):
        ctx.say(f"  cluster aggregate: repetition {rep + 1}/{ctx.plan.repeats}")
        runs = [(one, [(n1, "a1"), (n1, "b1")]), (two, [(n1, "a2"), (n2, "b2")])]
        for series, targets in (runs if rep % 2 == 0 else runs[::-1]):
            series.append(_together(targets, ctx.plan.pipelined))
    return Measurement(median(two), None, median(one), len(two),
                       {"repetitions": two, "baseline_repetitions": one,
                        "cpus": os.cpu_count()})
