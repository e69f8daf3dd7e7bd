"""Figure 11: deployments: the rollback switch, and how long a deployment takes.

Workload: the example counter (state: its count, carried across versions by
``caxton_snapshot`` / ``caxton_restore``), each version the counter with a data
segment naming it (a new module hash, the same state format), health pings off.

* **rollback switch**: a blue-green deployment is live with blue still warm;
  ``rollback`` is timed from the request to its answer, which the node sends
  once the old version serves (every message the new version handled replayed
  into it). The count is checked after each: the old version came back with
  the state. Baseline, on the same node and alternating: SIGKILL of the same
  agent -> its replacement serving (a restart from its snapshot).
* **immediate** and **blue-green deployment**: ``deploy(..., wait=True)`` timed
  from the request to the answer (validation, warm-up, switch). Baseline: a
  spawn of the same module on the same node -> ready, alternating.
"""

from __future__ import annotations

import itertools

import caxton
from caxton.bench.agents import HEALTH_OFF, MANY_RESTARTS
from caxton.bench.context import Context, Results
from caxton.bench.errors import BenchUnavailable
from caxton.bench.results import Measurement
from caxton.bench.stats import median, percentile
from caxton.bench.timing import MS, clock, scaled
from caxton.bench.workloads.restart import kill_and_call

NAME = "deployed"
TIMEOUT = 60.0
#: the previous version stays warm long enough for the timed rollback
KEEP_PREVIOUS = 600.0
_MEMORY = '(memory (export "memory") 1)'


def counter_version(tag: str) -> bytes:
    """The example counter tagged with ``tag`` (its hash differs per tag)."""
    try:
        from caxton.wasm.examples import example_path

        source = example_path("counter").read_text()
    except (ImportError, OSError, ValueError, KeyError) as exc:
        raise BenchUnavailable(f"the counter example agent is missing ({exc})") from None
    if _MEMORY not in source:
        raise BenchUnavailable("the counter example's memory declaration moved")
    return source.replace(_MEMORY, f'{_MEMORY}\n  (data (i32.const 200) "{tag}")').encode()


def _count(client: caxton.Client) -> int:
    return int(client.call(NAME, b"get", timeout=TIMEOUT))


def _timed_deploy(client: caxton.Client, module: bytes, strategy: str) -> float:
    t0 = clock()
    dep = client.deploy(NAME, module, strategy=strategy, keep_previous=KEEP_PREVIOUS,
                        timeout=TIMEOUT)
    elapsed = clock() - t0
    if dep.state != "running":
        raise BenchUnavailable(f"deployment {dep.id} is {dep.state}: {dep.reason}")
    return elapsed


def _timed_spawn(client: caxton.Client, name: str, module: bytes) -> float:
    t0 = clock()
    client.spawn(name, module, health=HEALTH_OFF)
    elapsed = clock() - t0
    client.remove(name)
    return elapsed


def run(ctx: Context) -> Results:
    tags = (f"v{n}" for n in itertools.count(1))
    rollback: list[float] = []
    restart: list[float] = []
    durations: dict[str, list[float]] = {"immediate": [], "blue_green": []}
    spawn: list[float] = []
    with ctx.node("deploy") as node, node.client(timeout=TIMEOUT) as client:
        client.spawn(NAME, counter_version(next(tags)), health=HEALTH_OFF,
                     intensity=MANY_RESTARTS)
        _timed_deploy(client, counter_version(next(tags)), "immediate")  # warm-up
        _timed_spawn(client, "spawned", counter_version("spawned"))
        for rep in range(ctx.plan.repeats):
            ctx.say(f"  deploy: repetition {rep + 1}/{ctx.plan.repeats},"
                    f" {ctx.plan.restarts} of each")
            for _ in range(ctx.plan.restarts):
                for strategy, samples in durations.items():
                    samples.append(_timed_deploy(client, counter_version(next(tags)), strategy))
                    spawn.append(_timed_spawn(client, f"spawned-{len(spawn)}",
                                              counter_version("spawned")))
                # blue-green is live, blue warm: send a few, then roll back
                client.send_many(NAME, [b"+"] * 10)
                before = _count(client)
                t0 = clock()
                client.rollback(NAME, timeout=TIMEOUT)
                rollback.append(clock() - t0)
                if _count(client) != before:
                    raise BenchUnavailable("the rollback did not bring back the state")
                elapsed, reply = kill_and_call(client, NAME, b"get")
                if int(reply) != before:
                    raise BenchUnavailable("the restart did not bring back the state")
                restart.append(elapsed)
    ms = {key: scaled(values, MS) for key, values in durations.items()}
    spawn_ms, back_ms, restart_ms = scaled(spawn, MS), scaled(rollback, MS), scaled(restart, MS)
    return {
        "deploy.rollback": Measurement(median(back_ms), percentile(back_ms, 95),
                                       median(restart_ms), len(back_ms),
                                       {"restart_p95_ms": percentile(restart_ms, 95)}),
        "deploy.immediate": Measurement(median(ms["immediate"]),
                                        percentile(ms["immediate"], 95), median(spawn_ms),
                                        len(ms["immediate"])),
        "deploy.blue_green": Measurement(median(ms["blue_green"]),
                                         percentile(ms["blue_green"], 95), median(spawn_ms),
                                         len(ms["blue_green"])),
    }
