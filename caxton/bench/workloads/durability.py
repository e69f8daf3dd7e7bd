"""Figure 8: what fsyncing every commit costs (``--durability machine``).

Two nodes run side by side, one with the default durability (``process``: a
commit survives the node's process dying) and one with ``machine`` (every
commit is fsynced, so it survives a power cut too). Each gets one echo agent;
the workload alternates between them repetition by repetition: sequential
100-byte calls (every call is one commit, since its reply waits for it) and a
pipelined ``send_many`` with 256 in flight (commits are grouped by the loop
turn). The baseline of each row is the default node in the same run.
"""

from __future__ import annotations

import os
from functools import partial

from caxton.bench.agents import HEALTH_OFF, echo_module
from caxton.bench.context import Context, Results
from caxton.bench.plan import PAYLOAD_BYTES, SEND_WINDOW
from caxton.bench.results import Measurement
from caxton.bench.stats import median, percentile
from caxton.bench.timing import US, clock, scaled, time_each

AGENT = "echo"
# fsyncs are slow: fewer calls than figure 3, enough for a stable median
CALL_SHARE = 5


def run(ctx: Context) -> Results:
    payload = os.urandom(PAYLOAD_BYTES)
    calls = max(200, ctx.plan.calls // CALL_SHARE)
    latencies: dict[str, list[float]] = {"process": [], "machine": []}
    rates: dict[str, list[float]] = {"process": [], "machine": []}
    with ctx.node("durability-process") as default_node, \
            ctx.node("durability-machine", extra=("--durability", "machine")) as synced_node, \
            default_node.client() as default_client, synced_node.client() as synced_client:
        clients = {"process": default_client, "machine": synced_client}
        for client in clients.values():
            client.spawn(AGENT, echo_module(), health=HEALTH_OFF,
                         mailbox=4 * ctx.plan.pipelined)
            for _ in range(100):
                client.call(AGENT, payload)
        for rep in range(ctx.plan.repeats):
            ctx.say(f"  durability: repetition {rep + 1}/{ctx.plan.repeats}")
            for mode, client in clients.items():
                samples, _ = time_each(partial(client.call, AGENT, payload), calls)
                latencies[mode] += samples
                messages = [payload] * ctx.plan.pipelined
                start = clock()
                client.send_many(AGENT, messages, window=SEND_WINDOW)
                client.call(AGENT, b"sync", timeout=120.0)
                rates[mode].append(len(messages) / (clock() - start))
    synced, default = scaled(latencies["machine"], US), scaled(latencies["process"], US)
    return {
        "dura.call.machine": Measurement(median(synced), percentile(synced, 99),
                                         median(default), len(synced),
                                         {"baseline_p99_us": percentile(default, 99)}),
        "dura.pipe.machine": Measurement(median(rates["machine"]), None,
                                         median(rates["process"]), len(rates["machine"]),
                                         {"repetitions": rates["machine"],
                                          "baseline_repetitions": rates["process"]}),
    }
