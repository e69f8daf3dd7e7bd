"""Figure 6: idle memory per agent (USS and PSS), and the node's own RSS.

Workload: a fresh node; its RSS is read once it answers (the "no agents"
baseline). Then 100 echo agents (and 1,000 in the full run, on another fresh
node) are spawned one by one, each is called once so its handle path has run,
and every agent process's USS and PSS is read with
``psutil.Process(pid).memory_full_info()``; the node's RSS is read last.
The agents' distribution gives the median and p95. Baseline: 100 children
forked by a lean interpreter, idle (the cost floor of one process).
Memory is in MB of 10^6 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from caxton.bench.agents import HEALTH_OFF, echo_module
from caxton.bench.context import Context, Results, run_helper
from caxton.bench.errors import BenchUnavailable
from caxton.bench.plan import PAYLOAD_BYTES
from caxton.bench.results import Measurement
from caxton.bench.stats import median, percentile
from caxton.bench.timing import MB

BASELINE_CHILDREN = 100


@dataclass(frozen=True)
class NodeMemory:
    uss: list[float]
    pss: list[float]
    node: float
    idle_node: float
    helpers: float
    helper_processes: int


def measure_agents(ctx: Context, count: int, echo: bytes) -> NodeMemory:
    payload = b"m" * PAYLOAD_BYTES
    with ctx.node(f"memory-{count}") as node, node.client(timeout=60.0) as client:
        idle_node = node.rss_bytes()
        names = [f"m{i}" for i in range(count)]
        for i, name in enumerate(names):
            if i % 100 == 0:
                ctx.say(f"  memory: spawning agents {i + 1}-{min(i + 100, count)} of {count}")
            client.spawn(name, echo, health=HEALTH_OFF)
        for name in names:
            if client.call(name, payload) != payload:
                raise BenchUnavailable(f"agent {name} did not echo")
        pids = [s.pid for s in client.list_agents() if s.pid is not None]
        if len(pids) != count:
            raise BenchUnavailable(f"only {len(pids)} of {count} agents have a process")
        ctx.say(f"  memory: reading USS/PSS of {count} agent processes")
        infos = [psutil.Process(pid).memory_full_info() for pid in pids]
        node_rss = node.rss_bytes()
        others = [p for p in psutil.Process(node.pid).children(recursive=True)
                  if p.pid not in set(pids)]
        helpers_rss = sum(p.memory_info().rss for p in others if p.is_running())
    return NodeMemory([i.uss / MB for i in infos], [i.pss / MB for i in infos], node_rss / MB,
                      idle_node / MB, helpers_rss / MB, len(others))


def run(ctx: Context) -> Results:
    echo = echo_module()
    base = run_helper("forkbase.py", "memory", str(BASELINE_CHILDREN))
    base_uss = median([u / MB for u in base["uss"]])
    base_pss = median([p / MB for p in base["pss"]])
    results: Results = {}
    first: NodeMemory | None = None
    for count in ctx.plan.memory_agents:
        try:
            m = measure_agents(ctx, count, echo)
        except Exception as exc:  # the other count's figures still stand
            if first is None and count == ctx.plan.memory_agents[-1]:
                raise
            for kind in ("uss", "pss", "node"):
                results[f"mem.{kind}.{count}"] = f"{type(exc).__name__}: {exc}"
            continue
        first = first or m
        uss, pss = m.uss, m.pss
        detail = {"zygote_and_helpers_rss_mb": m.helpers, "helper_processes": m.helper_processes}
        results[f"mem.uss.{count}"] = Measurement(median(uss), percentile(uss, 95), base_uss,
                                                  len(uss), {"total_mb": sum(uss)})
        results[f"mem.pss.{count}"] = Measurement(median(pss), percentile(pss, 95), base_pss,
                                                  len(pss), {"total_mb": sum(pss)})
        results[f"mem.node.{count}"] = Measurement(m.node, None, m.idle_node, 1, detail)
    if ctx.ray is not None and first is not None:
        try:
            ray_uss, ray_pss = ctx.ray.memory(ctx.plan.ray_actors, b"m" * PAYLOAD_BYTES)
        except Exception as exc:
            results["mem.uss.ray"] = results["mem.pss.ray"] = (
                f"Ray failed: {type(exc).__name__}: {exc}")
        else:
            uss, pss = first.uss, first.pss
            results["mem.uss.ray"] = Measurement(median(uss), percentile(uss, 95),
                                                 median([u / MB for u in ray_uss]), len(ray_uss))
            results["mem.pss.ray"] = Measurement(median(pss), percentile(pss, 95),
                                                 median([p / MB for p in ray_pss]), len(ray_pss))
    return results
