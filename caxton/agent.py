"""The agent process: one wasmtime instance behind a supervisor link.

The node starts this as a supervised child. The process loads the module from
the compiled-artifact cache, says ``hello``, and receives its start state (init
bytes or the latest snapshot) followed by message batches. It handles messages
strictly in order and returns, per message, one acknowledgement that carries
the message's outputs (its reply and the messages it sent). Nothing a message
produces leaves the process before its acknowledgement, so a message whose
instance dies half-way has no visible effect and is simply delivered again.

The frames it exchanges with the node are the named types of
``caxton.node.frames``.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any, NoReturn

import zmq

from caxton.node import frames
from caxton.node.frames import (
    Ack,
    Failed,
    Health,
    Hello,
    Log,
    Probe,
    Ready,
    Snapshot,
    Start,
    Stop,
    TakeSnapshot,
)
from caxton.observe.histogram import HandleTimes, clock_ns
from caxton.quotas import Meter, Quotas
from caxton.wasm import (
    AgentInstance,
    InstantiationFailed,
    Limits,
    ModuleCache,
    SecurityPolicy,
    example_path,
    load_module,
)
from caxton.wasm.abi import SEND_OVER_QUOTA, SEND_TOO_LARGE, SEND_UNKNOWN_AGENT
from supervisor import ChildLink


class _Imports:
    """Host imports for the instance: sends are buffered until the message is acknowledged,
    and both sends and log lines are held to the agent's quotas (``caxton.quotas``)."""

    def __init__(self, link: ChildLink, max_message_bytes: int, quotas: Quotas) -> None:
        self._link = link
        self._max = max_message_bytes
        self.meter = Meter(quotas)
        self.outbox: list[list[Any]] = []
        #: caxton_handle timings for the node's histograms, or None when it wants none
        self.times: HandleTimes | None = None

    def begin_message(self) -> None:
        self.outbox = []
        self.meter.begin_message()

    def send(self, to: str, payload: bytes) -> int:
        if not to:
            return SEND_UNKNOWN_AGENT
        if len(payload) > self._max:
            return SEND_TOO_LARGE
        if not self.meter.may_send(len(payload)):
            return SEND_OVER_QUOTA
        self.outbox.append([to, bytes(payload)])
        return 0

    def log(self, level: int, message: str) -> None:
        if self.meter.may_log(len(message)):
            self._link.send(frames.encode(Log(level, message)))


class _NoImports:
    """Host imports for a warm-up instance: nothing leaves it."""

    def send(self, to: str, payload: bytes) -> int:
        return 0

    def log(self, level: int, message: str) -> None:
        pass


def prewarm(cache_dir: str) -> None:
    """Run by a pooled agent process before it knows its module (see ``supervisor._zygote``).

    It takes the path every agent takes — load a module through the node's
    compiled-artifact cache, instantiate it, ``init``, ``handle`` — with the
    echo example, so the first-run cost of that path (copy-on-write faults on
    the shared interpreter pages, cold code) is paid before a spawn waits for
    it: an agent then starts in about a third of the time.
    """
    policy = SecurityPolicy.preset("default")
    compiled = load_module(example_path("echo"), cache=ModuleCache(cache_dir), policy=policy)
    instance = AgentInstance(compiled, Limits(), _NoImports(), policy=policy)
    instance.init(b"")
    instance.handle(b"prewarm")
    instance.close()
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context(1)
    context.socket(zmq.DEALER).close(0)
    context.term()


def main(link: ChildLink, config: dict[str, Any]) -> None:
    """Entry point in the agent process (a supervised child of the node)."""
    limits = Limits.from_dict(config["limits"])
    policy = SecurityPolicy.preset(config["security"])
    compiled = load_module(
        Path(config["module_path"]), cache=ModuleCache(config["cache_dir"]), policy=policy
    )
    imports = _Imports(link, limits.max_message_bytes, Quotas.from_dict(config.get("quotas")))
    if config.get("timing"):
        imports.times = HandleTimes()
    try:
        instance = AgentInstance(compiled, limits, imports, policy=policy)
    except InstantiationFailed as exc:
        link.exit(f"instantiate_failed: {exc}")
    link.send(frames.encode(Hello(os.getpid(), instance.has_snapshot)))
    start = _await_start(link)
    init, snapshot = start.init, start.snapshot
    if snapshot is not None and instance.has_snapshot:
        outcome = instance.restore(snapshot)
        if not outcome.ok:
            link.exit(f"restore_failed: {outcome.reason or outcome.status}: {outcome.message}")
    else:
        outcome = instance.init(init)
        if not outcome.ok:
            link.exit(f"init_failed: {outcome.reason or outcome.status}: {outcome.message}")
    # The module, the instance and the imports live as long as the process: out
    # of the collector's sight, a full collection no longer walks them.
    gc.freeze()
    link.send(frames.encode(Ready({"memory_bytes": instance.memory_bytes,
                                   "fast_path": instance.fast_path})))
    _serve(link, instance, imports)


def _await_start(link: ChildLink) -> Start:
    """Wait for the node's start frame, dropping anything queued before it.

    Frames the node addressed to this agent before it learnt that the previous
    instance died can reach this one first; they belong to the dead instance's
    window, which the node puts back in the mailbox and sends again after start.
    """
    while True:
        frame = frames.decode_from_node(link.recv())
        if isinstance(frame, Start):
            return frame


def _serve(link: ChildLink, instance: AgentInstance, imports: _Imports) -> None:
    """Handle frames in order; every frame already queued is answered by one ack frame."""
    last_handled = 0
    acks: list[Ack] = []
    times = imports.times

    def flush_acks() -> None:
        if acks:
            link.send(frames.acks_frame(acks[:], _stats(instance, imports)))
            acks.clear()

    def fail(message_id: int | None, reason: str | None, text: str, what: str) -> NoReturn:
        flush_acks()
        link.send(frames.encode(Failed(message_id, reason or "failed", text)))
        link.exit(f"{what}{reason}: {text}"[:500])

    while True:
        batch = [link.recv()]
        batch += link.recv_many(64)
        for raw in batch:
            messages = frames.deliveries_of(raw)  # the per-message frame, read directly
            if messages is not None:
                if times is not None:
                    times.mark = clock_ns()
                for message_id, sender, payload, replay in messages:
                    imports.begin_message()
                    outcome = instance.handle(payload, sender)
                    if times is not None:  # one clock read a message: its end, the next's start
                        now = clock_ns()
                        times.add(now - times.mark)
                        times.mark = now
                    if outcome.status == "failed":
                        fail(message_id, outcome.reason, outcome.message, "")
                    last_handled = message_id
                    if replay:
                        acks.append((message_id, outcome.status, "", b"", [],
                                     outcome.fuel_consumed))
                    else:
                        acks.append((message_id, outcome.status, outcome.message,
                                     outcome.reply, imports.outbox, outcome.fuel_consumed))
                continue
            frame = frames.decode_from_node(raw)
            if type(frame) is TakeSnapshot:
                flush_acks()
                snap = instance.snapshot()
                if snap is not None and snap.status == "failed":
                    fail(None, snap.reason, snap.message, "snapshot_failed: ")
                state = snap.reply if snap is not None and snap.ok else None
                link.send(frames.encode(Snapshot(last_handled, state)))
            elif type(frame) is Probe:
                flush_acks()
                probe = instance.health()
                if probe.status == "failed":
                    fail(None, probe.reason, probe.message, "health_failed: ")
                link.send(frames.encode(Health(probe.ok, probe.message)))
            elif type(frame) is Stop:
                flush_acks()
                link.exit("normal")
        flush_acks()


def _stats(instance: AgentInstance, imports: _Imports) -> list[int]:
    """What rides on every ack: [memory_bytes, fuel_total, logs_dropped, sends_refused]
    (the last two counted since the previous ack), then, when the node asked for
    timings, ``[handle_ns_sum, bucket, count, ...]`` since the previous ack
    (``caxton.observe.histogram``)."""
    stats = [instance.memory_bytes, instance.fuel_consumed_total, *imports.meter.take_counts()]
    if imports.times is not None:
        stats += imports.times.take()
    return stats
