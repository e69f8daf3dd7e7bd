"""Message delivery: mailboxes, acknowledgements, redelivery, snapshots, replay.

The delivery promise, in the order things happen to one message:

1. ``accept`` journals it (the client hears "accepted" only after the turn's
   commit) and appends it to the agent's mailbox.
2. ``dispatch`` hands a window of mailbox messages to the current instance.
3. The instance acknowledges each message after ``caxton_handle`` returns; the
   acknowledgement carries the message's reply and the messages it sent, so
   ``on_acks`` records the message as handled, journals its sends and queues its
   reply in one transaction.
4. If the instance dies first, ``on_down`` puts the unacknowledged window back at
   the head of the mailbox. The message the instance was working on is blamed;
   after ``max_attempts`` deaths it goes to the dead-letter store.
5. A replacement first restores the latest snapshot and replays the messages
   handled since then with their outputs dropped, then gets the mailbox.

Snapshots cut the journal: once a snapshot covering message N is stored, the
handled messages up to N are deleted.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from caxton.errors import (
    AgentNotRunning,
    CallFailed,
    CaxtonError,
    MailboxFull,
    MessageTooLarge,
    StorageUnavailable,
)
from caxton.node import frames
from caxton.node.frames import Deliver, Hello, Probe, Start, TakeSnapshot
from caxton.node.instances import route
from caxton.node.lifecycle import State
from caxton.node.outbox import Outbox
from caxton.node.records import AgentRecord, Message, Waiter
from caxton.observe.hooks import NULL_HOOKS, Hooks
from caxton.store import Store, StoredMessage
from supervisor import SupervisorError

log = logging.getLogger("caxton.node")

# Messages handed to an instance before it acknowledges: enough to keep it
# busy between loop turns, few enough that a crash redelivers little.
DISPATCH_WINDOW = 512
# ... and payload bytes in flight, so that large messages do not pile up in the
# agent process (whose memory, beside the guest's, is capped); one message is
# always let through, however large
DISPATCH_BYTES = 2 * 2**20
EXTERNAL = ""  # sender name of messages from outside any agent
# what a guest did that its sandbox refused (counted as security violations)
SANDBOX_REFUSALS = frozenset({"out_of_fuel", "memory_limit", "timeout", "stack_overflow"})


class Router:
    """Carries every message from its acceptance to its acknowledgement, and owns instances.

    It owns each agent's mailbox, the window in flight to its instance, the
    callers waiting for replies, and the instance fields of the record (pid,
    serving, health, counters): nothing else writes them. It promises that a
    message is journaled before anyone hears it was accepted, that it reaches
    the agent in order and at least once, and that its effects and outputs
    count exactly once. It does not decide when an agent starts or stops (the
    node's ``Agents`` does) and does not commit (the loop turn does).
    """

    observe: Hooks = NULL_HOOKS  # metrics and the flight recorder (caxton.observe.attach)
    #: a cluster node's way to an agent it does not hold: (target, sender, payload) ->
    #: whether another node owns it and the message is kept for it (caxton.node.cluster)
    remote: Callable[[str, str, bytes], bool] | None = None

    def __init__(self, store: Store, outbox: Outbox, agents: dict[str, AgentRecord]) -> None:
        self.store = store
        self.outbox = outbox
        self.agents = agents
        self.on_snapshot_saved: Callable[[AgentRecord], None] = lambda rec: None
        # agents whose mailbox changed this loop turn: dispatched once at its end
        self.dirty: set[AgentRecord] = set()
        # a message was journaled this turn: the turn must end with a commit
        self.accepted = False

    # -- intake -----------------------------------------------------------------

    def route(self, rec: AgentRecord, key: Any = None, instance: Any = None) -> AgentRecord:
        """The instance of ``rec`` a message goes to: by ``key`` on the agent's ring, else
        the least loaded (``caxton.node.instances``); an unscaled agent is its own."""
        if rec.group is None and key is None and instance is None:
            return rec
        return route(rec, key, instance)

    def check_accepts(self, rec: AgentRecord, payload: bytes) -> None:
        if rec.lifecycle.state not in (State.RUNNING, State.READY, State.LOADED):
            raise AgentNotRunning(f"agent {rec.name!r} is {rec.lifecycle.state}",
                                  state=str(rec.lifecycle.state))
        limit = rec.spec.limits.get("max_message_bytes", 0)
        if limit and len(payload) > limit:
            raise MessageTooLarge(
                f"message of {len(payload)} bytes is over the limit of {limit} bytes of agent"
                f" {rec.name!r}",
                size=len(payload), limit=limit)
        if rec.depth >= rec.spec.mailbox:
            raise MailboxFull(f"agent {rec.name!r} has {rec.depth} messages waiting "
                              f"(mailbox bound {rec.spec.mailbox})", bound=rec.spec.mailbox)

    def accept(self, rec: AgentRecord, sender: str, payload: bytes,
               caller: Waiter | None = None, key: Any = None) -> int:
        message_id = self.store.append_message(rec.name, sender, payload)
        rec.mailbox.append(Message(message_id, sender, payload))
        self.accepted = True
        if caller is not None:
            rec.callers[message_id] = caller
        if rec.canary is not None:  # a canary splits by key (caxton.deploy.canary)
            rec.canary.accepted(message_id, key)
        if rec.in_flight:
            self.dirty.add(rec)  # busy: batch what arrives this turn
        else:
            # idle: it waits for nothing, so hand it over now; the journal
            # entry is written while the agent works (nothing is promised
            # before the turn's commit)
            self.dispatch(rec)
        return message_id

    # -- handing messages to the instance ----------------------------------------

    def dispatch(self, rec: AgentRecord) -> None:
        if not rec.serving or rec.held or not rec.mailbox or rec.supervisor is None:
            return
        if rec.canary is not None:
            rec.canary.dispatch(DISPATCH_WINDOW, DISPATCH_BYTES)
            return
        room = DISPATCH_WINDOW - len(rec.in_flight)
        if not rec.in_flight:
            rec.in_flight_bytes = 0  # an empty window holds nothing, whatever was counted
        if room <= 0 or rec.in_flight_bytes >= DISPATCH_BYTES:
            return
        batch = []
        mailbox, in_flight = rec.mailbox, rec.in_flight
        size = rec.in_flight_bytes
        while mailbox and room and size < DISPATCH_BYTES:
            message = mailbox.popleft()
            in_flight[message.id] = message
            batch.append((message.id, message.sender, message.payload, False))
            size += len(message.payload)
            room -= 1
        rec.in_flight_bytes = size
        # If the instance just died, its exit puts the window back in the mailbox.
        with contextlib.suppress(SupervisorError):
            rec.supervisor.send(rec.name, frames.encode(Deliver(batch)))

    # -- the instance's life ---------------------------------------------------------

    def on_hello(self, rec: AgentRecord, hello: Hello) -> None:
        rec.pid = hello.pid
        try:
            self.start_instance(rec, hello.has_snapshot)
        except StorageUnavailable:
            # its start state is in a store that cannot be read now: it waits
            rec.start_deferred = hello.has_snapshot

    def resume_starts(self) -> None:
        """The store is readable again: start the instances that said hello meanwhile."""
        for rec in self.agents.values():
            if rec.start_deferred is not None and rec.supervisor is not None:
                has_snapshot, rec.start_deferred = rec.start_deferred, None
                self.start_instance(rec, has_snapshot)

    def on_ready(self, rec: AgentRecord, info: dict[str, Any]) -> None:
        rec.serving = True
        rec.started_at = time.time()
        rec.health = "healthy"
        rec.memory_bytes = int(info.get("memory_bytes", 0))

    def on_health(self, rec: AgentRecord, healthy: bool, text: str) -> None:
        # The guest's own verdict (caxton_health) is reported, not acted on:
        # only missed pings, which mean the process is stuck, replace it.
        rec.health = "healthy" if healthy else f"unhealthy: {text}"

    def on_unhealthy(self, rec: AgentRecord) -> None:
        """Supervision found the process stuck (missed pings); it is being replaced."""
        rec.health = "unhealthy"

    def on_restarting(self, rec: AgentRecord) -> None:
        rec.restarts += 1

    # -- deployments: holding an instance, and adopting another (caxton.deploy) ---------

    def hold(self, rec: AgentRecord) -> None:
        """Hand the instance nothing more: accepted messages wait in the mailbox (journaled)."""
        rec.held = True

    def release(self, rec: AgentRecord) -> None:
        """Deliver again after ``hold``."""
        rec.held = False
        self.dirty.add(rec)

    def adopt(self, rec: AgentRecord, pid: int | None, info: dict[str, Any]) -> None:
        """A process that was warmed up beside the instance (restored and replayed up to
        every handled message) becomes the instance: serving, with fresh instance fields."""
        rec.pid = pid
        self._snapshot_lost(rec)
        rec.start_deferred = None
        rec.blamed, rec.blame_reason = None, None
        rec.since_snapshot = 0
        self.on_ready(rec, info)
        self.dirty.add(rec)

    def detach(self, rec: AgentRecord) -> None:
        """The instance is being taken down on purpose: its window goes back, in order."""
        if rec.in_flight:
            rec.mailbox.extendleft(reversed(list(rec.in_flight.values())))
            rec.in_flight.clear()
        rec.serving = False
        rec.pid = None
        rec.start_deferred = None
        self._snapshot_lost(rec)

    def start_instance(self, rec: AgentRecord, has_snapshot: bool) -> None:
        """Answer the instance's hello: its start state, then the replay, in order.

        The journal is cut only by snapshots, so the latest snapshot (or the init
        bytes, before the first one) plus the handled messages still journaled
        rebuild the state exactly. An agent without ``caxton_snapshot`` restarts
        fresh: nothing is replayed.
        """
        sup = rec.supervisor
        assert sup is not None
        snapshot = self.store.latest_snapshot(rec.name) if has_snapshot else None
        state = snapshot.state if snapshot is not None else None
        start: list[frames.NodeFrame] = [Start(rec.spec.init, state)]
        if has_snapshot:
            after = snapshot.last_message_id if snapshot is not None else 0
            replay = [(m.id, m.sender, m.payload, True)
                      for m in self.store.handled_messages(rec.name, after)]
            start += [Deliver(replay[i:i + DISPATCH_WINDOW])
                      for i in range(0, len(replay), DISPATCH_WINDOW)]
        # If it died right after its hello, its replacement says hello again.
        with contextlib.suppress(SupervisorError):
            for frame in start:
                sup.send(rec.name, frames.encode(frame))

    # -- what the instance says ----------------------------------------------------

    def on_acks(self, rec: AgentRecord, acks: list[frames.Ack], stats: list[int]) -> None:
        if rec.canary is not None:
            rec.canary.baseline_acked(self.complete(rec, acks, rec.in_flight), acks, stats)
        else:
            self.complete(rec, acks, rec.in_flight)
        rec.memory_bytes, rec.fuel_consumed = stats[0], stats[1]
        if len(stats) >= 4 and (stats[2] or stats[3]):
            rec.logs_dropped += stats[2]
            rec.sends_over_quota += stats[3]
            rec.violations += stats[2] + stats[3]

    def complete(self, rec: AgentRecord, acks: list[frames.Ack],
                 in_flight: dict[int, Message]) -> list[Message]:
        """Messages of ``in_flight`` acknowledged: outputs delivered once, reply answered,
        journal marked handled. Returns them (a canary replays them on the other side)."""
        handled: list[int] = []
        done: list[Message] = []
        for message_id, status, text, reply, sends, _fuel in acks:
            message = in_flight.pop(message_id, None)
            if message is None:
                continue  # a replayed message: its outputs were already delivered once
            rec.in_flight_bytes -= len(message.payload)
            handled.append(message_id)
            done.append(message)
            rec.handled += 1
            if status != "ok":
                rec.failed += 1
            for target, payload in sends:
                self._forward(rec, target, payload)
            caller = rec.callers.pop(message_id, None)
            if caller is not None:
                if status == "ok":
                    self.outbox.reply(caller, reply,
                                      durable=message_id <= self.store.durable_through)
                else:
                    self.outbox.error(caller, CallFailed(
                        f"agent {rec.name!r} reported an error: {text}",
                        reason="error", reply=reply, message_id=message_id))
        if handled:
            self.store.mark_handled(handled)
            rec.since_snapshot += len(handled)
            every = rec.spec.snapshot_every.get("messages", 0)
            if every and rec.since_snapshot >= every:
                self.request_snapshot(rec)
        return done

    def _forward(self, rec: AgentRecord, target: str, payload: bytes) -> None:
        """Journal a message one agent sent another, or dead-letter it with the reason."""
        dest = self.agents.get(target)
        if dest is not None and (dest.group is not None or dest.primary is not None):
            dest = None if dest.primary is not None else route(dest, None, None)
        reason = None
        if dest is None:
            if self.remote is not None and self.remote(target, rec.name, payload):
                return
            reason = f"send to unknown agent {target!r}"
        else:
            try:
                self.check_accepts(dest, payload)
            except (AgentNotRunning, MessageTooLarge, MailboxFull) as exc:
                reason = f"send to {target!r} refused: {exc.message}"
        if reason is None and dest is not None:
            self.accept(dest, rec.name, payload)
            return
        log.warning("agent %s: %s", rec.name, reason)
        stored = self.store.append_message(rec.name, rec.name, payload)
        self.store.dead_letter(rec.name, StoredMessage(stored, rec.name, payload, 0, []),
                               [reason or "refused"])
        self.observe.dead_letter(rec, reason or "refused", "send_refused")

    def on_failed(self, rec: AgentRecord, message_id: int | None, reason: str, text: str) -> None:
        if reason in SANDBOX_REFUSALS:
            rec.violations += 1
        rec.blamed = message_id
        rec.blame_reason = f"{reason}: {text}" if text else reason

    def on_down(self, rec: AgentRecord, reason: str) -> None:
        """The instance is gone: blame, dead-letter, and put the window back in order."""
        rec.serving = False
        rec.pid = None
        rec.health = "down"
        rec.start_deferred = None
        self._snapshot_lost(rec)
        if reason not in ("normal", "shutdown"):
            rec.last_failure = reason
        blamed = rec.blamed
        if blamed is None and _message_can_cause(reason):
            blamed = next(iter(rec.in_flight), None)
        why = rec.blame_reason or reason
        rec.blamed, rec.blame_reason = None, None
        if blamed is not None and blamed in rec.in_flight:
            message = rec.in_flight[blamed]
            message.attempts += 1
            message.reasons.append(why)
            if message.attempts >= rec.spec.max_attempts:
                del rec.in_flight[blamed]
                self._dead_letter(rec, message)
            else:
                self.store.record_attempt(message.id, message.attempts, message.reasons)
        if rec.in_flight:
            rec.mailbox.extendleft(reversed(list(rec.in_flight.values())))
            rec.in_flight.clear()

    def _dead_letter(self, rec: AgentRecord, message: Message) -> None:
        self.observe.dead_letter(rec, message.reasons[-1], "killed")
        log.warning("agent %s: message %d dead-lettered after %d failures: %s",
                    rec.name, message.id, message.attempts, message.reasons[-1])
        self.store.dead_letter(
            rec.name,
            StoredMessage(message.id, message.sender, message.payload, message.attempts, []),
            message.reasons,
        )
        rec.failed += 1
        caller = rec.callers.pop(message.id, None)
        if caller is not None:
            self.outbox.error(caller, CallFailed(
                f"message killed agent {rec.name!r} {message.attempts} times and was "
                f"dead-lettered: {message.reasons[-1]}",
                reason=message.reasons[-1].split(":")[0], reasons=message.reasons,
                message_id=message.id))

    def fail_callers(self, rec: AgentRecord, error: CaxtonError) -> None:
        """Answer every waiting caller (the agent is going away for good)."""
        for caller in rec.callers.values():
            self.outbox.error(caller, error)
        rec.callers.clear()

    # -- snapshots --------------------------------------------------------------------

    def probe_health(self, rec: AgentRecord) -> None:
        if rec.supervisor is not None:
            with contextlib.suppress(SupervisorError):
                rec.supervisor.send(rec.name, frames.encode(Probe()))

    def request_snapshot(self, rec: AgentRecord) -> None:
        if rec.snapshot_pending or not rec.serving or rec.supervisor is None \
                or rec.canary is not None:  # no snapshot can cover both versions' share
            return
        rec.snapshot_pending = True
        try:
            rec.supervisor.send(rec.name, frames.encode(TakeSnapshot()))
        except SupervisorError:
            rec.snapshot_pending = False

    def _snapshot_lost(self, rec: AgentRecord) -> None:
        """The instance asked for a snapshot is gone before it answered.

        Its answer will never come: a flag left up would make every later request
        (a drain's included) wait for it, so the next instance is asked afresh, and
        whoever asked by ``snapshot`` hears why there is none.
        """
        rec.snapshot_pending = False
        for waiter in rec.snapshot_waiters:
            self.outbox.error(waiter, AgentNotRunning(
                f"agent {rec.name!r}: its instance went down before taking the snapshot",
                state=str(rec.lifecycle.state)))
        rec.snapshot_waiters.clear()

    def on_snapshot(self, rec: AgentRecord, last_message_id: int, state: bytes | None) -> None:
        rec.snapshot_pending = False
        rec.last_snapshot_at = time.monotonic()
        if rec.canary is not None:
            pass  # asked before the canary began: it may not cover the canary's share
        elif state is not None:
            self.store.save_snapshot(rec.name, state, last_message_id,
                                     cut=not rec.journal_pinned)
        elif not rec.journal_pinned:
            self.store.cut_journal(rec.name, last_message_id)
        rec.since_snapshot = 0
        result = {"bytes": 0 if state is None else len(state),
                  "last_message_id": last_message_id, "supported": state is not None}
        for waiter in rec.snapshot_waiters:
            self.outbox.ok(waiter, result)
        rec.snapshot_waiters.clear()
        self.on_snapshot_saved(rec)

    def snapshot_due(self, rec: AgentRecord, now: float) -> bool:
        seconds = rec.spec.snapshot_every.get("seconds", 0)
        return bool(seconds and rec.since_snapshot and now - rec.last_snapshot_at >= seconds)


# Deaths a message cannot have caused: a kill from outside, a stop, a hang the
# health check caught (wasm code cannot hang: its deadline interrupts it).
_INNOCENT_REASONS = ("killed", "shutdown", "normal", "unhealthy", "signal:SIGTERM",
                     "signal:SIGINT", "signal:SIGHUP")


def _message_can_cause(reason: str) -> bool:
    """Whether a death nobody reported may be the fault of the message being handled.

    The agent process reports every failure of the guest itself (trap, fuel,
    deadline, memory) with the message it was handling. What is left to blame
    on the oldest unacknowledged message is a crash of the process: a fatal
    signal such as SIGSEGV, an exit code, an exception in the host code.
    """
    return not reason.startswith(_INNOCENT_REASONS)
