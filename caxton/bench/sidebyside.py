"""Two nodes that differ in one setting, measured in turns: what that setting costs.

Figures 8 (durability) and 10 (metrics) both ask what one node setting costs
the message path. Each runs two nodes side by side, one echo agent each, and
alternates between them repetition by repetition (swapping which goes first,
so neither always runs warmer): sequential 100-byte calls, then a pipelined
``send_many`` with 256 in flight followed by one call that returns once all of
it was handled.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial

from caxton.bench.agents import HEALTH_OFF, echo_module
from caxton.bench.context import Context
from caxton.bench.plan import PAYLOAD_BYTES, SEND_WINDOW
from caxton.bench.results import Measurement
from caxton.bench.stats import median, percentile
from caxton.bench.timing import US, clock, scaled, time_each

AGENT = "echo"
WARM_UP_CALLS = 200


@dataclass
class Side:
    """One node's series over the repetitions."""

    latencies: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)


def measure(ctx: Context, label: str, nodes: dict[str, Sequence[str]],
            calls: int) -> dict[str, Side]:
    """Run the workload on one node per entry of ``nodes`` (name -> extra arguments)."""
    payload = os.urandom(PAYLOAD_BYTES)
    sides = {name: Side() for name in nodes}
    with ExitStack() as stack:
        started = {name: stack.enter_context(ctx.node(f"{label}-{name}", extra=extra))
                   for name, extra in nodes.items()}
        clients = {name: stack.enter_context(node.client()) for name, node in started.items()}
        for client in clients.values():
            client.spawn(AGENT, echo_module(), health=HEALTH_OFF,
                         mailbox=4 * ctx.plan.pipelined)
            for _ in range(WARM_UP_CALLS):
                client.call(AGENT, payload)
        order = list(nodes)
        for rep in range(ctx.plan.repeats):
            ctx.say(f"  {label}: repetition {rep + 1}/{ctx.plan.repeats}")
            for name in (order if rep % 2 == 0 else order[::-1]):
                client, side = clients[name], sides[name]
                samples, _ = time_each(partial(client.call, AGENT, payload), calls)
                side.latencies += samples
                messages = [payload] * ctx.plan.pipelined
                start = clock()
                client.send_many(AGENT, messages, window=SEND_WINDOW)
                client.call(AGENT, b"sync", timeout=120.0)
                side.rates.append(len(messages) / (clock() - start))
    return sides


def call_row(side: Side, base: Side, **extra: object) -> Measurement:
    us, base_us = scaled(side.latencies, US), scaled(base.latencies, US)
    return Measurement(median(us), percentile(us, 99), median(base_us), len(us),
                       {"baseline_p99_us": percentile(base_us, 99), **extra})


def pipe_row(side: Side, base: Side, **extra: object) -> Measurement:
    return Measurement(median(side.rates), None, median(base.rates), len(side.rates),
                       {"repetitions": side.rates, "baseline_repetitions": base.rates,
                        **extra})
