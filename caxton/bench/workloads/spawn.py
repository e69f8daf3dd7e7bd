"""Figure 1: spawn -> agent ready, and spawns per second for 100 agents.

Workload: 100 echo agents spawned one after another by one client
(``client.spawn`` returns once the agent's first instance serves), timed each
and as a batch; then removed. Baseline: a lean interpreter forking 100
children one by one, each writing a byte on a pipe when it runs.
"""

from __future__ import annotations

from caxton.bench.agents import HEALTH_OFF, echo_module
from caxton.bench.context import Context, Results, run_helper
from caxton.bench.errors import BenchUnavailable
from caxton.bench.plan import PAYLOAD_BYTES, SPAWN_AGENTS
from caxton.bench.results import Measurement
from caxton.bench.stats import median, percentile
from caxton.bench.timing import MS, clock, scaled

WARM_UP_SPAWNS = 3


def run(ctx: Context) -> Results:
    echo = echo_module()
    latencies: list[float] = []
    rates: list[float] = []
    with ctx.node("spawn") as node, node.client() as client:
        for i in range(WARM_UP_SPAWNS):
            client.spawn(f"warm-{i}", echo, health=HEALTH_OFF)
        for i in range(WARM_UP_SPAWNS):
            client.remove(f"warm-{i}")
        for round_no in range(ctx.plan.spawn_rounds):
            ctx.say(f"  spawn: round {round_no + 1}/{ctx.plan.spawn_rounds},"
                    f" {SPAWN_AGENTS} agents")
            names = [f"a{round_no}-{i}" for i in range(SPAWN_AGENTS)]
            started = clock()
            for name in names:
                t0 = clock()
                client.spawn(name, echo, health=HEALTH_OFF)
                latencies.append(clock() - t0)
            rates.append(SPAWN_AGENTS / (clock() - started))
            probe = b"s" * PAYLOAD_BYTES
            if client.call(names[-1], probe) != probe:
                raise BenchUnavailable("a freshly spawned agent did not echo")
            for name in names:
                client.remove(name)

    base_latencies: list[float] = []
    base_rates: list[float] = []
    for _ in range(ctx.plan.spawn_rounds):
        base = run_helper("forkbase.py", "spawn", str(SPAWN_AGENTS))
        base_latencies += base["latencies"]
        base_rates.append(base["rate"])

    ms = scaled(latencies, MS)
    results: Results = {
        "spawn.ready": Measurement(median(ms), percentile(ms, 95), median(base_latencies) * MS,
                                   len(ms),
                                   {"baseline_p95_ms": percentile(base_latencies, 95) * MS}),
        "spawn.rate": Measurement(median(rates), None, median(base_rates), len(rates),
                                  {"rounds": rates, "baseline_rounds": base_rates}),
    }
    if ctx.ray is not None:
        try:
            ray_latencies, ray_rate = ctx.ray.spawn(ctx.plan.ray_actors)
        except Exception as exc:
            reason = f"Ray failed: {type(exc).__name__}: {exc}"
            results["spawn.ready.ray"] = results["spawn.rate.ray"] = reason
        else:
            ray_ms = scaled(ray_latencies, MS)
            results["spawn.ready.ray"] = Measurement(
                median(ms), percentile(ms, 95), median(ray_ms), len(ray_ms),
                {"ray_p95_ms": percentile(ray_ms, 95), "ray_actors": len(ray_ms)})
            results["spawn.rate.ray"] = Measurement(median(rates), None, ray_rate, 1)
    return results
