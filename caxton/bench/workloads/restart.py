"""Figure 7: SIGKILL -> replacement serving, with a 1 MB snapshot and 100 replays.

Workload: the bench's ``bigstate`` agent (a counter whose state is 1 MiB of
linear memory), automatic snapshots off. Each sample first takes a snapshot
(``client.snapshot``: 1 MiB stored), then gets 99 ``send``s and one ``call``,
so exactly 100 handled messages sit in the journal after the snapshot. The
agent is then SIGKILLed and called at once; the replacement must restore the
1 MiB snapshot and replay the 100 messages before it answers. The answer is
the message count, checked against the count before the kill plus one: the
state really came back. Baseline, on the same node and alternating: the same
kill-and-call on a stateless echo agent.
"""

from __future__ import annotations

import os
import signal

import caxton
from caxton.bench.agents import HEALTH_OFF, MANY_RESTARTS, bigstate_module, echo_module
from caxton.bench.context import Context, Results
from caxton.bench.errors import BenchUnavailable
from caxton.bench.plan import PAYLOAD_BYTES, REPLAYED_MESSAGES, STATE_BYTES
from caxton.bench.results import Measurement
from caxton.bench.stats import median, percentile
from caxton.bench.timing import MS, clock, scaled

STATEFUL = "bigstate"
STATELESS = "echo"
CALL_TIMEOUT = 30.0
NO_AUTOMATIC_SNAPSHOTS = {"messages": 0, "seconds": 0}


def count_of(reply: bytes) -> int:
    if len(reply) != 8:
        raise BenchUnavailable(f"the bigstate agent answered {len(reply)} bytes, not 8")
    return int.from_bytes(reply, "little")


def kill_and_call(client: caxton.Client, name: str, payload: bytes) -> tuple[float, bytes]:
    pid = client.status(name).pid
    if pid is None:
        raise BenchUnavailable(f"{name} has no process to kill")
    t0 = clock()
    os.kill(pid, signal.SIGKILL)
    reply = client.call(name, payload, timeout=CALL_TIMEOUT)
    elapsed = clock() - t0
    if client.status(name).pid in (None, pid):
        raise BenchUnavailable(f"{name}: the call was not answered by a new process")
    return elapsed, reply


def stateful_sample(client: caxton.Client, payload: bytes) -> float:
    snap = client.snapshot(STATEFUL, timeout=CALL_TIMEOUT)
    size = snap.get("bytes")
    if not isinstance(size, int) or size < STATE_BYTES:
        raise BenchUnavailable(f"the snapshot holds {size} bytes, not {STATE_BYTES}")
    client.send_many(STATEFUL, [payload] * (REPLAYED_MESSAGES - 1))
    before = count_of(client.call(STATEFUL, payload, timeout=CALL_TIMEOUT))
    elapsed, reply = kill_and_call(client, STATEFUL, payload)
    after = count_of(reply)
    if after != before + 1:
        raise BenchUnavailable(f"state lost across the restart: count {before} -> {after}")
    return elapsed


def run(ctx: Context) -> Results:
    payload = b"r" * PAYLOAD_BYTES
    stateful: list[float] = []
    stateless: list[float] = []
    with ctx.node("restart") as node, node.client(timeout=CALL_TIMEOUT) as client:
        client.spawn(STATEFUL, bigstate_module(), health=HEALTH_OFF, intensity=MANY_RESTARTS,
                     snapshot_every=NO_AUTOMATIC_SNAPSHOTS)
        client.spawn(STATELESS, echo_module(), health=HEALTH_OFF, intensity=MANY_RESTARTS)
        stateful_sample(client, payload)  # warm-up
        kill_and_call(client, STATELESS, payload)
        for rep in range(ctx.plan.repeats):
            ctx.say(f"  restart: repetition {rep + 1}/{ctx.plan.repeats},"
                    f" {ctx.plan.restarts} kills each")
            for _ in range(ctx.plan.restarts):
                stateful.append(stateful_sample(client, payload))
                elapsed, reply = kill_and_call(client, STATELESS, payload)
                if reply != payload:
                    raise BenchUnavailable("the echo replacement answered with something else")
                stateless.append(elapsed)
    ms, base_ms = scaled(stateful, MS), scaled(stateless, MS)
    return {"restart.state": Measurement(median(ms), percentile(ms, 95), median(base_ms),
                                         len(ms), {"stateless_p95_ms": percentile(base_ms, 95),
                                                   "state_bytes": STATE_BYTES,
                                                   "replayed": REPLAYED_MESSAGES})}
