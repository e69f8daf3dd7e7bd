"""Figure 3: ``call`` round trip with a 100-byte payload, and sequential calls/s.

Workload: one client calls one echo agent with the same random 100-byte
payload, one call at a time (``client.call``), after 200 warm-up calls.
Baseline, in the same run and alternating repetition by repetition: a raw
pyzmq DEALER -> ROUTER echo with msgpack frames between two processes over
the same loopback TCP.
"""

from __future__ import annotations

import os

from caxton.bench.agents import HEALTH_OFF, echo_module
from caxton.bench.context import Context, Results
from caxton.bench.cpu import CpuMeter
from caxton.bench.errors import BenchUnavailable
from caxton.bench.plan import PAYLOAD_BYTES
from caxton.bench.results import Measurement
from caxton.bench.stats import median, percentile
from caxton.bench.timing import US, scaled, time_each
from caxton.bench.zmqecho import EchoClient, EchoServer

AGENT = "echo"
WARM_UP_CALLS = 200


def run(ctx: Context) -> Results:
    echo = echo_module()
    payload = os.urandom(PAYLOAD_BYTES)
    latencies: list[float] = []
    rates: list[float] = []
    base_latencies: list[float] = []
    base_rates: list[float] = []
    n = ctx.plan.calls
    with EchoServer() as server, ctx.node("call") as node, node.client() as client:
        agent = client.spawn(AGENT, echo, health=HEALTH_OFF)
        if agent.pid is None:
            raise BenchUnavailable("the echo agent has no process")
        meter = CpuMeter(node=node.pid, agent=agent.pid)
        raw = EchoClient(server.address)
        try:
            for _ in range(WARM_UP_CALLS):
                client.call(AGENT, payload)
                raw.call(payload)
            if client.call(AGENT, payload) != payload or raw.call(payload) != payload:
                raise BenchUnavailable("an echo answered with something else")
            for rep in range(ctx.plan.repeats):
                ctx.say(f"  call: repetition {rep + 1}/{ctx.plan.repeats}, {n} calls each side")
                with meter:
                    samples, total = time_each(lambda: client.call(AGENT, payload), n)
                latencies += samples
                rates.append(n / total)
                samples, total = time_each(lambda: raw.call(payload), n)
                base_latencies += samples
                base_rates.append(n / total)
        finally:
            raw.close()

    us, base_us = scaled(latencies, US), scaled(base_latencies, US)
    results: Results = {
        "call.rtt": Measurement(median(us), percentile(us, 99), median(base_us), len(us),
                                {"baseline_p99_us": percentile(base_us, 99),
                                 "p95_us": percentile(us, 95)}),
        "call.rate": Measurement(median(rates), None, median(base_rates), len(rates),
                                 {"repetitions": rates, "baseline_repetitions": base_rates,
                                  **meter.per_operation_us(len(latencies))}),
    }
    if ctx.ray is not None:
        try:
            ray_latencies, ray_rates = ctx.ray.calls(payload, n, ctx.plan.repeats)
        except Exception as exc:
            results["call.rtt.ray"] = results["call.rate.ray"] = (
                f"Ray failed: {type(exc).__name__}: {exc}")
        else:
            ray_us = scaled(ray_latencies, US)
            results["call.rtt.ray"] = Measurement(median(us), percentile(us, 99), median(ray_us),
                                                  len(ray_us),
                                                  {"ray_p99_us": percentile(ray_us, 99)})
            results["call.rate.ray"] = Measurement(median(rates), None, median(ray_rates),
                                                   len(ray_rates))
    return results
