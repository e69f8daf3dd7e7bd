"""Node liveness, sampled all through a run: does the node answer, and is it the same one?

A ping that goes unanswered, or a node pid that changes, is only acceptable
inside an outage the harness caused itself (a node-crash fault). The sampler
records raw samples; ``summarize`` judges them once the outages are known.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

import caxton

PING_EVERY_S = 0.1
PING_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Sample:
    sent: float          # seconds from the start of the run
    latency: float | None  # None: no answer within PING_TIMEOUT_S
    pid: int | None


@dataclass
class LivenessSampler:
    """A thread pinging the node every ``PING_EVERY_S`` on a client of its own."""

    address: str
    clock: Any  # () -> seconds since the start of the run
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chaos-liveness", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(PING_TIMEOUT_S + 5)

    def _run(self) -> None:
        client = caxton.connect(self.address, timeout=PING_TIMEOUT_S)
        try:
            while not self._stop.is_set():
                sent = self.clock()
                try:
                    pid = int(client.ping()["pid"])
                    self.samples.append(Sample(sent, self.clock() - sent, pid))
                except caxton.CaxtonError:
                    self.samples.append(Sample(sent, None, None))
                self._stop.wait(PING_EVERY_S)
        finally:
            client.close()


def summarize(samples: list[Sample], outages: list[tuple[float, float]]) -> dict[str, Any]:
    """Judge the samples against the deliberate outages ``[(start, end), ...]``.

    A failed ping is excused when its wait overlapped a deliberate outage; a pid
    change is excused when a deliberate outage began before the second sample
    was answered (a ping sent just before a crash can be answered by the new node).
    """

    def in_outage(start: float, end: float) -> bool:
        return any(start <= o_end and end >= o_start for o_start, o_end in outages)

    unexpected: list[dict[str, Any]] = []
    answered = [s for s in samples if s.latency is not None]
    for s in samples:
        if s.latency is None and not in_outage(s.sent, s.sent + PING_TIMEOUT_S):
            unexpected.append({"at": round(s.sent, 3), "what": "no answer to ping"})
    for before, after in itertools.pairwise(answered):
        answered_at = after.sent + (after.latency or 0.0)
        if before.pid != after.pid and not in_outage(before.sent, answered_at):
            unexpected.append({"at": round(after.sent, 3),
                               "what": f"node pid changed {before.pid} -> {after.pid}"})
    latencies = sorted(s.latency for s in answered if s.latency is not None)
    return {
        "pings": len(samples),
        "answered": len(answered),
        "unanswered": len(samples) - len(answered),
        "unexpected": unexpected,
        "node_pids": sorted({s.pid for s in answered if s.pid is not None}),
        "max_latency_s": round(latencies[-1], 4) if latencies else None,
        "deliberate_outages": [[round(a, 3), round(b, 3)] for a, b in outages],
    }
