"""Figure 3: ``call`` round trip with a 100-byte payload, and sequential calls/s.

Workload: one client calls one echo agent with the same random 100-byte
payload, one call at a time (``client.call``), after 200 warm-up calls.
The client is what ``caxton.connect`` gives a user on the node's host, so it
talks to the node over the node's IPC socket (``caxton.endpoint``). Baseline,
in the same run and alternating repetition by repetition: a raw pyzmq DEALER ->
ROUTER echo with msgpack frames between two processes over the same transport.
A second pair of rows repeats both over loopback TCP (``local=False``), the
path of a client on another host minus the network.
"""

from __future__ import annotations

import os
from collections.abc import Callable

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


class _Series:
    """Latencies and rates of one side of a comparison, over the repetitions."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.rates: list[float] = []

    def run(self, action: Callable[[], object], n: int) -> None:
        samples, total = time_each(action, n)
        self.latencies += samples
        self.rates.append(n / total)


def _compare(ctx: Context, label: str, call: Callable[[], bytes], raw: EchoClient,
             payload: bytes, meter: CpuMeter | None = None) -> tuple[_Series, _Series]:
    for _ in range(WARM_UP_CALLS):
        call()
        raw.call(payload)
    if call() != payload or raw.call(payload) != payload:
        raise BenchUnavailable("an echo answered with something else")
    caxton_side, raw_side = _Series(), _Series()
    n = ctx.plan.calls
    for rep in range(ctx.plan.repeats):
        ctx.say(f"  call{label}: repetition {rep + 1}/{ctx.plan.repeats}, {n} calls each side")
        if meter is not None:
            with meter:
                caxton_side.run(call, n)
        else:
            caxton_side.run(call, n)
        raw_side.run(lambda: raw.call(payload), n)
    return caxton_side, raw_side


def _rtt(side: _Series, base: _Series, transport: str) -> Measurement:
    us, base_us = scaled(side.latencies, US), scaled(base.latencies, US)
    return Measurement(median(us), percentile(us, 99), median(base_us), len(us),
                       {"baseline_p99_us": percentile(base_us, 99),
                        "p95_us": percentile(us, 95), "transport": transport})


def run(ctx: Context) -> Results:
    echo = echo_module()
    payload = os.urandom(PAYLOAD_BYTES)
    scratch = ctx.workdir / "call-echo"
    with ctx.node("call") as node, node.client() as client:
        agent = client.spawn(AGENT, echo, health=HEALTH_OFF)
        if agent.pid is None:
            raise BenchUnavailable("the echo agent has no process")
        meter = CpuMeter(node=node.pid, agent=agent.pid)
        transport = client.endpoint.split("://")[0]
        with EchoServer.like(client.endpoint, scratch) as server:
            raw = EchoClient(server.address)
            try:
                local, local_raw = _compare(ctx, "", lambda: client.call(AGENT, payload), raw,
                                            payload, meter)
            finally:
                raw.close()
        with node.client(local=False) as tcp_client, EchoServer() as server:
            raw = EchoClient(server.address)
            try:
                tcp, tcp_raw = _compare(ctx, " over TCP",
                                        lambda: tcp_client.call(AGENT, payload), raw, payload)
            finally:
                raw.close()

    results: Results = {
        "call.rtt": _rtt(local, local_raw, transport),
        "call.rate": Measurement(median(local.rates), None, median(local_raw.rates),
                                 len(local.rates),
                                 {"repetitions": local.rates,
                                  "baseline_repetitions": local_raw.rates,
                                  **meter.per_operation_us(len(local.latencies))}),
        "call.rtt.tcp": _rtt(tcp, tcp_raw, "tcp"),
    }
    if ctx.ray is not None:
        us = scaled(local.latencies, US)
        try:
            ray_latencies, ray_rates = ctx.ray.calls(payload, ctx.plan.calls, ctx.plan.repeats)
        except Exception as exc:
            results["call.rtt.ray"] = results["call.rate.ray"] = (
                f"Ray failed: {type(exc).__name__}: {exc}")
        else:
            ray_us = scaled(ray_latencies, US)
            results["call.rtt.ray"] = Measurement(median(us), percentile(us, 99), median(ray_us),
                                                  len(ray_us),
                                                  {"ray_p99_us": percentile(ray_us, 99)})
            results["call.rate.ray"] = Measurement(median(local.rates), None, median(ray_rates),
                                                   len(ray_rates))
    return results
