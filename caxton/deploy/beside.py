"""A process of another version, warming up beside an agent's instance.

A deployment starts the new version's process next to the one serving, under
a supervisor of its own; it receives no live message until the switch. Its
warm-up is the path a replacement instance takes (``Router.start_instance``):
the start state (the agent's latest snapshot, or for a rollback the previous
version's pre-switch snapshot), the handled messages since, replayed with
their outputs dropped, then one health probe. It is *warm* once the probe's
answer says healthy: by then every replayed message was handled, since the
agent process handles its link in order.

At the switch, ``catch_up`` replays what the serving instance handled since
the warm-up began, so both processes have seen exactly the same messages; the
agents room then adopts this process as the instance. A warm-up that fails
(a restore that returns an error or traps, an init that fails, an unhealthy
probe, three deaths) calls ``on_failed`` with the reason, once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from caxton.errors import CaxtonError
from caxton.node import frames
from caxton.node.agents import Agents
from caxton.node.frames import Acks, Deliver, Failed, Health, Hello, Probe, Ready, Start
from caxton.node.router import DISPATCH_WINDOW
from caxton.node.spec import AgentSpec
from caxton.store import Store
from supervisor import Event, Supervisor, SupervisorError

log = logging.getLogger("caxton.deploy")

#: deaths of a warming process that end its warm-up (a kill from outside is retried)
MAX_DEATHS = 3
#: exits that no retry can cure: the module cannot take this state
_FATAL = ("restore_failed", "init_failed", "instantiate_failed")

#: (state, last message id it covers): where a warm-up starts; None: the latest snapshot
StartPoint = tuple[bytes | None, int]


class Beside:
    """One process of ``spec`` beside the instance of agent ``spec.name``.

    It owns nothing the router owns: it reads the journal and snapshots from the
    store and talks to its own process only. ``through`` is the last handled
    message it was given (replays are sent in order, so once ``warm`` it has
    handled every one of them).
    """

    def __init__(self, agents: Agents, store: Store, spec: AgentSpec, supervisor_id: str, *,
                 start: StartPoint | None, on_warm: Callable[[Beside], None],
                 on_failed: Callable[[Beside, str], None]) -> None:
        self.agents = agents
        self.store = store
        self.spec = spec
        self.supervisor_id = supervisor_id
        self.start_point = start
        self.on_warm = on_warm
        self.on_failed = on_failed
        self.supervisor: Supervisor | None = None
        self.pid: int | None = None
        self.info: dict[str, Any] = {}
        self.replays = True     # restored from a snapshot: handled messages are replayed
        self.through = 0
        self.warm = False
        self.failed: str | None = None
        self.deaths = 0
        self.last_failure = ""
        self.is_kept = False    # a previous instance kept warm, not a new one warming up
        #: serving a canary's share: its acks go here, and any exit fails it
        self.on_acks: Callable[[list[frames.Ack], list[int]], None] | None = None

    # -- its life -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the process (``ResourceExhausted`` past a node budget)."""
        self.supervisor = self.agents.start_beside(self.spec, self.supervisor_id, self.on_frame)

    @classmethod
    def kept(cls, agents: Agents, store: Store, spec: AgentSpec, sup: Supervisor,
             pid: int | None, through: int, on_failed: Callable[[Beside, str], None]) -> Beside:
        """A previous instance kept warm after a switch (blue-green): it has handled every
        message up to ``through`` and nothing since."""
        kept = cls(agents, store, spec, sup.id, start=None, on_warm=lambda _b: None,
                   on_failed=on_failed)
        kept.supervisor, kept.pid, kept.through, kept.warm = sup, pid, through, True
        kept.is_kept = True
        agents.listen(sup.id, kept.on_frame)
        return kept

    def stop(self) -> None:
        sup, self.supervisor = self.supervisor, None
        self.warm = False
        if sup is not None:
            self.agents.stop_beside(sup)

    def _fail(self, reason: str) -> None:
        if self.failed is not None:
            return
        self.failed = reason
        self.stop()
        self.on_failed(self, reason)

    # -- what its process says ----------------------------------------------------------------

    def send(self, frame: frames.NodeFrame) -> None:
        """A frame for the process (dropped if it is down: a canary then rolls back)."""
        self._send(frame)

    def _send(self, frame: frames.NodeFrame) -> None:
        if self.supervisor is not None:
            with contextlib.suppress(SupervisorError):
                self.supervisor.send(self.spec.name, frames.encode(frame))

    def on_frame(self, raw: Any) -> None:
        try:
            frame = frames.decode_from_agent(raw)
        except frames.FrameError as exc:
            self._fail(f"bad frame: {exc}")
            return
        match frame:
            case Hello(pid, has_snapshot):
                self.pid, self.warm = pid, False
                try:
                    self._start(has_snapshot)
                except CaxtonError as exc:
                    self._fail(exc.message)
            case Ready(info):
                self.info = dict(info)
                self._send(Probe())
            case Health(healthy, text):
                if not healthy:
                    self._fail(f"unhealthy: {text}")
                elif not self.warm and self.failed is None:
                    self.warm = True
                    self.on_warm(self)
            case Failed(_message_id, reason, text):
                self.last_failure = f"{reason}: {text}" if text else reason
            case Acks(acks, stats):
                if self.on_acks is not None:
                    self.on_acks(acks, stats)
            case _:
                pass

    def _start(self, has_snapshot: bool) -> None:
        """Answer a hello: the start state, then the handled messages after it."""
        if self.start_point is not None:
            state, after = self.start_point
        else:
            snapshot = self.store.latest_snapshot(self.spec.name)
            state, after = (None, 0) if snapshot is None else (snapshot.state,
                                                               snapshot.last_message_id)
        self.replays = has_snapshot
        self._send(Start(self.spec.init, state if has_snapshot else None))
        self.through = after
        if has_snapshot:
            self._replay(after)
        else:  # a version without caxton_snapshot starts fresh: nothing to replay
            self.through = self._last_handled(after)

    def _replay(self, after: int) -> None:
        rows = [(m.id, m.sender, m.payload, True)
                for m in self.store.handled_messages(self.spec.name, after)]
        for i in range(0, len(rows), DISPATCH_WINDOW):
            self._send(Deliver(rows[i:i + DISPATCH_WINDOW]))
        if rows:
            self.through = rows[-1][0]

    def _last_handled(self, after: int) -> int:
        rows = self.store.handled_messages(self.spec.name, after)
        return rows[-1].id if rows else after

    def catch_up(self) -> None:
        """Replay what the serving instance handled since this one's warm-up: call it with
        the instance held and nothing in flight, just before the switch."""
        if self.replays:
            self._replay(self.through)
        else:
            self.through = self._last_handled(self.through)

    def on_event(self, event: Event) -> None:
        """Supervision's events about this process (before it is adopted)."""
        if self.on_acks is not None:  # a canary serving live traffic: no second chance
            if event.kind in ("exited", "gave_up", "intensity_exceeded", "start_failed"):
                self._fail(f"canary process went down: {event.reason or event.kind}")
            return
        if self.is_kept:  # a kept instance that dies is no longer the state it kept
            if event.kind in ("exited", "gave_up", "intensity_exceeded", "start_failed"):
                self._fail(f"previous instance went down: {event.reason or event.kind}")
            return
        if event.kind == "exited":
            self.deaths += 1
            self.warm = False
            reason = event.reason or "unknown"
            why = f"{reason} ({self.last_failure})" if self.last_failure else reason
            if reason.startswith(_FATAL) or self.deaths >= MAX_DEATHS or not event.restart:
                self._fail(f"new instance died in its warm-up: {why}")
            else:
                log.warning("deploy: %s warming up died (%s); trying again", self.spec.name, why)
        elif event.kind in ("gave_up", "manual_wait", "intensity_exceeded", "start_failed"):
            self._fail(f"new instance could not start: {event.kind.replace('_', ' ')}: "
                       f"{event.reason or 'unknown'}")
