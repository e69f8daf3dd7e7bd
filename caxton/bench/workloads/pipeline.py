"""Figure 4: pipelined messages per second, to one agent and to ten.

Workload (each timed from the first request to the last message handled):
- ``send_many`` of N 100-byte messages with 256 requests in flight, followed by
  one ``call`` to the same agent; mailboxes keep order, so when that call
  returns every message was journaled, delivered and handled;
- ``call_many`` of N 100-byte calls with 64 in flight (replies checked);
- the same to 10 echo agents at once, one client and one thread per agent,
  N/10 messages each (a single client serves one agent per pipeline).
Agents get a mailbox bound of 4N so the pipeline never hits ``MailboxFull``.
Baseline: the raw pyzmq + msgpack echo with the same window, N messages.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import caxton
from caxton.bench.agents import HEALTH_OFF, echo_module
from caxton.bench.context import Context, Results
from caxton.bench.cpu import CpuMeter
from caxton.bench.errors import BenchUnavailable
from caxton.bench.nodes import BenchNode
from caxton.bench.plan import CALL_WINDOW, FAN_OUT_AGENTS, PAYLOAD_BYTES, SEND_WINDOW
from caxton.bench.results import Measurement
from caxton.bench.stats import median
from caxton.bench.timing import clock, quiet_gc
from caxton.bench.zmqecho import EchoClient, EchoServer

Job = Callable[[caxton.Client, str, list[bytes]], None]


def send_job(client: caxton.Client, name: str, payloads: list[bytes]) -> None:
    client.send_many(name, payloads, window=SEND_WINDOW)
    client.call(name, b"sync", timeout=60.0)  # handled after every message sent before it


def call_job(client: caxton.Client, name: str, payloads: list[bytes]) -> None:
    replies = client.call_many(name, payloads, window=CALL_WINDOW, timeout=60.0)
    if len(replies) != len(payloads) or replies[-1] != payloads[-1]:
        raise BenchUnavailable("call_many returned the wrong replies")


def fan_out(node: BenchNode, names: list[str], job: Job, payloads: list[bytes]) -> float:
    """Run ``job`` against every agent at once (a client and a thread each); msgs/s."""
    clients = [node.client(timeout=60.0) for _ in names]
    gate = threading.Barrier(len(names) + 1)
    errors: list[BaseException] = []

    def worker(client: caxton.Client, name: str) -> None:
        gate.wait()
        try:
            job(client, name, payloads)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(c, n)) for c, n in zip(clients, names,
                                                                             strict=True)]
    try:
        for t in threads:
            t.start()
        with quiet_gc():
            gate.wait()
            started = clock()
            for t in threads:
                t.join()
            elapsed = clock() - started
    finally:
        for c in clients:
            c.close()
    if errors:
        raise BenchUnavailable(f"pipelining failed: {type(errors[0]).__name__}: {errors[0]}")
    return len(payloads) * len(names) / elapsed


def one(client: caxton.Client, name: str, job: Job, payloads: list[bytes],
        meter: CpuMeter) -> float:
    with quiet_gc(), meter:
        started = clock()
        job(client, name, payloads)
        return len(payloads) / (clock() - started)


def raw_rate(raw: EchoClient, payloads: list[bytes], window: int) -> float:
    with quiet_gc():
        started = clock()
        answered = raw.pipeline(payloads, window)
        return answered / (clock() - started)


def run(ctx: Context) -> Results:
    echo = echo_module()
    payload = os.urandom(PAYLOAD_BYTES)
    n = ctx.plan.pipelined
    payloads = [payload] * n
    shares = [payload] * (n // FAN_OUT_AGENTS)
    warm = [payload] * min(n, 1_000)
    names = [f"p{i}" for i in range(FAN_OUT_AGENTS)]
    rates: dict[str, list[float]] = {k: [] for k in
                                     ("send1", "call1", "send10", "call10", "raw256", "raw64")}
    with ctx.node("pipeline") as node, node.client(timeout=60.0) as client, \
            EchoServer.like(client.endpoint, ctx.workdir / "pipeline-echo") as server:
        pids = [client.spawn(name, echo, health=HEALTH_OFF, mailbox=4 * n).pid for name in names]
        if pids[0] is None:
            raise BenchUnavailable("the first agent has no process")
        meters = {job: CpuMeter(node=node.pid, agent=pids[0]) for job in ("send", "call")}
        raw = EchoClient(server.address, timeout=60.0)
        try:
            send_job(client, names[0], warm)
            call_job(client, names[0], warm)
            raw.pipeline(warm, SEND_WINDOW)
            for rep in range(ctx.plan.repeats):
                ctx.say(f"  pipeline: repetition {rep + 1}/{ctx.plan.repeats}, {n} messages")
                rates["send1"].append(one(client, names[0], send_job, payloads, meters["send"]))
                rates["call1"].append(one(client, names[0], call_job, payloads, meters["call"]))
                rates["send10"].append(fan_out(node, names, send_job, shares))
                rates["call10"].append(fan_out(node, names, call_job, shares))
                rates["raw256"].append(raw_rate(raw, payloads, SEND_WINDOW))
                rates["raw64"].append(raw_rate(raw, payloads, CALL_WINDOW))
        finally:
            raw.close()

    def measured(key: str, baseline: str, meter: CpuMeter | None = None) -> Measurement:
        cpu = {} if meter is None else meter.per_operation_us(n * ctx.plan.repeats)
        return Measurement(median(rates[key]), None, median(rates[baseline]), len(rates[key]),
                           {"repetitions": rates[key], "baseline_repetitions": rates[baseline],
                            **cpu})

    results: Results = {
        "pipe.send.1": measured("send1", "raw256", meters["send"]),
        "pipe.call.1": measured("call1", "raw64", meters["call"]),
        "pipe.send.10": measured("send10", "raw256"),
        "pipe.call.10": measured("call10", "raw64"),
    }
    if ctx.ray is not None:
        try:
            ray_one = ctx.ray.pipeline(1, payload, n, CALL_WINDOW, ctx.plan.repeats)
            ray_ten = ctx.ray.pipeline(FAN_OUT_AGENTS, payload, n, CALL_WINDOW, ctx.plan.repeats)
        except Exception as exc:
            results["pipe.call.1.ray"] = results["pipe.call.10.ray"] = (
                f"Ray failed: {type(exc).__name__}: {exc}")
        else:
            results["pipe.call.1.ray"] = Measurement(median(rates["call1"]), None,
                                                     median(ray_one), len(ray_one))
            results["pipe.call.10.ray"] = Measurement(median(rates["call10"]), None,
                                                      median(ray_ten), len(ray_ten))
    return results
