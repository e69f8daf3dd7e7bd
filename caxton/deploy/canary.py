"""A canary lane: one instance's new-version process serving a share of its traffic.

During a canary every instance of the agent keeps its serving process (the
baseline) and gains a process of the new version (the canary), warmed up
beside it on a copy of its state (latest snapshot, replay, catch-up). The
router hands each message to one of them *live* (outputs and reply count):

* a message with a key goes to the canary when the key's hash falls below the
  stage's percentage (``Split``), so a key stays with one version for a whole
  stage;
* a message without a key goes to the canary for ``percent`` of every 100
  (evenly spread, not random, so small stages still see traffic).

Then the *other* process is given the same message as a replay (outputs
dropped) once the live one acknowledged it. Both versions therefore apply
every message exactly once to their own state, and a key that moves to the
canary and back (a promotion, a rollback) finds its state complete on either
side: nothing is lost, nothing applied twice. Within a stage a key's messages
reach each process in order; a stage change waits for both windows in flight
to be acknowledged first (``Deployments._barrier``). The price is that the
canary process handles every message (live or replayed): it costs a second
process's CPU for the duration of the canary, and its figures (latency,
errors, fuel) cover every message it handled, which gives the analysis full
samples from the first stage on.

Snapshots are not taken during a canary: a baseline snapshot would claim
messages the canary has not yet handed it; the journal is kept whole anyway
while a deployment is not finalised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from caxton.deploy.analysis import Window
from caxton.deploy.beside import Beside
from caxton.node import frames
from caxton.node.frames import Deliver
from caxton.node.records import AgentRecord, Message
from caxton.node.ring import key_hash
from caxton.observe.histogram import BOUNDS
from supervisor import SupervisorError

#: latency samples kept per side and window (more are thinned evenly)
MAX_SAMPLES = 4000


class Split:
    """Which version a message goes to at the current stage's percentage."""

    __slots__ = ("_turn", "percent")

    def __init__(self, percent: float) -> None:
        self.percent = percent
        self._turn = 0.0

    def to_canary(self, key: bytes | None) -> bool:
        if key is not None:
            return key_hash(key) % 10_000 < self.percent * 100
        self._turn += self.percent
        if self._turn >= 100.0:
            self._turn -= 100.0
            return True
        return False


@dataclass
class Tally:
    """What one process did in one analysis window."""

    buckets: dict[int, int] = field(default_factory=dict)
    #: (milliseconds, count) of messages under the first bound, from each ack's mean
    fastest: list[tuple[float, int]] = field(default_factory=list)
    errors: int = 0
    total: int = 0
    fuel: int = 0
    memory: int = 0

    def add(self, acks: list[frames.Ack], stats: list[int]) -> None:
        for ack in acks:
            self.total += 1
            if ack[1] != "ok":
                self.errors += 1
            self.fuel += ack[5]
        if stats:
            self.memory = max(self.memory, stats[0])
        if len(stats) < 7:
            return
        # [sum_ns, index, count, ...] after the four fixed figures
        rest_ns, first = float(stats[4]), 0
        for i in range(5, len(stats) - 1, 2):
            index, count = stats[i], stats[i + 1]
            if index == 0:
                first += count
                continue
            self.buckets[index] = self.buckets.get(index, 0) + count
            rest_ns -= count * 1e9 * _middle(index)
        if first:
            # the first bucket holds most handle times of a small agent: its bound alone
            # would hide a version three times slower, so this ack's mean stands in
            mean_ms = max(rest_ns, 0.0) / first / 1e6
            self.fastest.append((min(max(mean_ms, 0.0005), 1000 * BOUNDS[0]), first))

    def merge(self, other: Tally) -> None:
        for index, count in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + count
        self.fastest += other.fastest
        self.errors += other.errors
        self.total += other.total
        self.fuel += other.fuel
        self.memory = max(self.memory, other.memory)

    def window(self, restarts: int) -> Window:
        return Window(latencies(self.buckets, self.fastest), self.errors, self.total, restarts,
                      fuel=self.fuel / self.total if self.total else 0.0,
                      memory_bytes=self.memory)


def _middle(index: int) -> float:
    """A bucket's geometric middle, in seconds."""
    high = BOUNDS[index] if index < len(BOUNDS) else BOUNDS[-1] * 2
    low = BOUNDS[index - 1] if 0 < index <= len(BOUNDS) else high / 2
    return float((high * low) ** 0.5)


def latencies(buckets: dict[int, int], fastest: list[tuple[float, int]]) -> list[float]:
    """Milliseconds, thinned evenly to at most ``MAX_SAMPLES``: each ack's mean for the
    messages under the first bound, and the other buckets' counts spread evenly
    (geometrically) inside each bucket (a bucket's bound alone would make two nearly
    equal distributions look a whole bucket apart when their median sits near a
    bound)."""
    total = sum(buckets.values()) + sum(c for _, c in fastest)
    thin = max(1.0, total / MAX_SAMPLES)
    samples: list[float] = []
    carry = 0.0
    for mean_ms, count in fastest:
        carry += count / thin
        whole = int(carry)
        carry -= whole
        samples += [mean_ms] * whole
    for index in sorted(buckets):
        count = max(1, round(buckets[index] / thin)) if buckets[index] else 0
        high = BOUNDS[index] if index < len(BOUNDS) else BOUNDS[-1] * 2
        low = BOUNDS[index - 1] if 0 < index <= len(BOUNDS) else high / 2
        ratio = high / low
        samples += [1000 * low * ratio ** ((k + 0.5) / count) for k in range(count)]
    return samples


class Lane:
    """The canary process of one instance, and both sides' tallies (``rec.canary``)."""

    def __init__(self, rec: AgentRecord, beside: Beside, split: Split,
                 on_handled: Callable[[AgentRecord, list[frames.Ack], dict[int, Message]],
                                      list[Message]],
                 on_changed: Callable[[AgentRecord], None]) -> None:
        self.rec = rec
        self.beside = beside
        self.split = split
        self.in_flight: dict[int, Message] = {}
        self.keys: dict[int, bytes] = {}
        self.canary = Tally()
        self.baseline = Tally()
        self.restarts_at = rec.restarts
        self._handled = on_handled
        self._changed = on_changed
        beside.on_acks = self.canary_acked

    # -- routing ------------------------------------------------------------------------

    def accepted(self, message_id: int, key: Any) -> None:
        if key is not None:
            self.keys[message_id] = key.encode("utf-8", "surrogatepass") \
                if isinstance(key, str) else key

    def dispatch(self, window: int, max_bytes: int) -> None:
        """Hand the mailbox's head to the two processes, each message to one, live."""
        rec = self.rec
        if not rec.in_flight and not self.in_flight:
            rec.in_flight_bytes = 0
        room = window - len(rec.in_flight) - len(self.in_flight)
        size = rec.in_flight_bytes
        base: list[tuple[int, str, bytes, bool]] = []
        new: list[tuple[int, str, bytes, bool]] = []
        mailbox, split, keys = rec.mailbox, self.split, self.keys
        while mailbox and room > 0 and size < max_bytes:
            message = mailbox.popleft()
            row = (message.id, message.sender, message.payload, False)
            if split.to_canary(keys.pop(message.id, None)):
                self.in_flight[message.id] = message
                new.append(row)
            else:
                rec.in_flight[message.id] = message
                base.append(row)
            size += len(message.payload)
            room -= 1
        rec.in_flight_bytes = size
        if base and rec.supervisor is not None:
            with contextlib.suppress(SupervisorError):
                rec.supervisor.send(rec.name, frames.encode(Deliver(base)))
        if new:
            self.beside.send(Deliver(new))

    # -- acknowledgements ------------------------------------------------------------------

    def baseline_acked(self, handled: list[Message], acks: list[frames.Ack],
                       stats: list[int]) -> None:
        """The baseline handled these live: the canary replays them."""
        self.baseline.add(acks, stats)
        if handled:
            self.beside.send(Deliver([(m.id, m.sender, m.payload, True) for m in handled]))
            self.beside.through = max(self.beside.through, handled[-1].id)

    def canary_acked(self, acks: list[frames.Ack], stats: list[int]) -> None:
        """The canary's acks: its live messages complete (reply, sends, journal) and go
        to the baseline as replays."""
        self.canary.add(acks, stats)
        live = [a for a in acks if a[0] in self.in_flight]
        if not live:
            return
        rec = self.rec
        handled = self._handled(rec, live, self.in_flight)
        if handled:
            self.beside.through = max(self.beside.through, handled[-1].id)
            # a baseline restarting gets them from the journal with its start state
            if rec.pid is not None and rec.start_deferred is None and rec.supervisor is not None:
                rows = [(m.id, m.sender, m.payload, True) for m in handled]
                with contextlib.suppress(SupervisorError):
                    rec.supervisor.send(rec.name, frames.encode(Deliver(rows)))
        self._changed(rec)

    def take(self) -> tuple[Tally, Tally, int]:
        """This window's tallies (canary, baseline) and the baseline's restarts; a new
        window starts."""
        canary, baseline = self.canary, self.baseline
        self.canary, self.baseline = Tally(), Tally()
        restarts = self.rec.restarts - self.restarts_at
        self.restarts_at = self.rec.restarts
        return canary, baseline, restarts

    def detach(self) -> None:
        """Leave the instance: the canary's unacknowledged messages go back to the head of
        the mailbox (neither process applied them for good), in order."""
        rec = self.rec
        rec.canary = None
        if self.in_flight:
            back = sorted(self.in_flight.values(), key=lambda m: m.id)
            rec.in_flight_bytes -= sum(len(m.payload) for m in back)
            rec.mailbox.extendleft(reversed(back))
            self.in_flight.clear()
        self.keys.clear()
        self.beside.on_acks = None

    @property
    def idle(self) -> bool:
        return not self.in_flight and not self.rec.in_flight


#: messages a shadow may be behind before copies are skipped (counted, not compared): a
#: hanging shadow never makes the node hold more than this for it
SHADOW_BACKLOG = 20_000


class ShadowLane(Lane):
    """A shadow: every message the live process handles, copied to the new version.

    The live process keeps all the traffic (the split is 0 %). Once it
    acknowledged a message, the shadow process gets a copy *as live* (so it
    computes its reply and sends), and its acknowledgement is compared with the
    live one (status, reply, sends) and dropped: nothing it says leaves the
    node, its state is its own process's. A shadow that falls behind by
    ``SHADOW_BACKLOG`` is sent no more copies until it catches up (those are
    counted as ``skipped``); one that dies ends the shadow.
    """

    def __init__(self, rec: AgentRecord, beside: Beside,
                 on_changed: Callable[[AgentRecord], None]) -> None:
        super().__init__(rec, beside, Split(0.0), lambda _r, _a, _f: [], on_changed)
        self.expected: dict[int, tuple[str, bytes, list[Any]]] = {}
        self.compared = 0
        self.equal = 0
        self.skipped = 0
        self.diverged = False
        self.examples: list[dict[str, Any]] = []
        self.canary_all = Tally()
        self.baseline_all = Tally()

    def baseline_acked(self, handled: list[Message], acks: list[frames.Ack],
                       stats: list[int]) -> None:
        self.baseline.add(acks, stats)
        self.baseline_all.add(acks, stats)
        if not handled:
            return
        if len(self.expected) >= SHADOW_BACKLOG or self.diverged:
            # a shadow that misses a message no longer has the live state: stop copying
            self.skipped += len(handled)
            self.diverged = True
            return
        outcome = {a[0]: (a[1], a[3], list(a[4])) for a in acks}
        for m in handled:
            self.expected[m.id] = outcome[m.id]
        self.beside.send(Deliver([(m.id, m.sender, m.payload, False) for m in handled]))
        self.beside.through = max(self.beside.through, handled[-1].id)

    def canary_acked(self, acks: list[frames.Ack], stats: list[int]) -> None:
        self.canary.add(acks, stats)
        self.canary_all.add(acks, stats)
        for message_id, status, _text, reply, sends, _fuel in acks:
            want = self.expected.pop(message_id, None)
            if want is None:
                continue  # a replay of its warm-up
            self.compared += 1
            if want == (status, reply, list(sends)):
                self.equal += 1
            elif len(self.examples) < 5:
                self.examples.append({"message_id": message_id, "live": _short(want),
                                      "shadow": _short((status, reply, list(sends)))})
        self._changed(self.rec)

    @property
    def idle(self) -> bool:
        return not self.expected and not self.rec.in_flight


def _short(outcome: tuple[str, bytes, list[Any]]) -> dict[str, Any]:
    status, reply, sends = outcome
    return {"status": status, "reply": reply[:64].hex(), "sends": len(sends)}
