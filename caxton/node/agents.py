"""Every agent of the node and its lifecycle under supervision.

An agent's life is two layers. Its *lifecycle* (``caxton.node.lifecycle``)
is what the user asked for: loaded, running, draining, stopped, failed. Its
*instances* are the processes supervision starts and replaces underneath; an
instance crashing and being replaced does not move the lifecycle. This room
keeps the two in step: it starts and takes down each agent's supervision
subtree, turns supervision's events and the instance's frames into lifecycle
transitions, drains an agent before it stops, gives up on one that
supervision gave up on, and brings every agent back after a node restart.
What happens to messages is the router's business; what a request asks for is
the handlers'.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from caxton.errors import (
    AgentNotRunning,
    CallFailed,
    CaxtonError,
    NoSuchAgent,
    ResourceExhausted,
    SpawnFailed,
)
from caxton.node import frames
from caxton.node.budget import Budget
from caxton.node.cgroups import AgentCaps
from caxton.node.frames import Ack, Acks, Failed, Health, Hello, Log, Ready, Snapshot
from caxton.node.instances import Instances
from caxton.node.lifecycle import Lifecycle, State, Transition
from caxton.node.modules import Modules
from caxton.node.outbox import Outbox
from caxton.node.records import AgentRecord, Message, Waiter
from caxton.node.router import Router
from caxton.node.spec import AgentSpec
from caxton.node.status import agent_status
from caxton.node.supervision import child_spec_for, supervisor_spec_for
from caxton.observe.hooks import NULL_HOOKS, Hooks
from caxton.quotas import Quotas
from caxton.store import Store
from supervisor import Event, Runtime, Supervisor, SupervisorSpec

log = logging.getLogger("caxton.node")

_LOG_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


def _dropped(message: Any) -> None:
    """A frame of a process nobody listens to any more (stopped, or a late frame)."""


class Agents:
    """The registry of agents (name -> record) and the owner of their lifecycles.

    It promises that an agent's lifecycle state is always one the state
    machine allows and is recorded in the store with its reason; that a
    stopped agent was drained (every accepted message handled and snapshotted)
    unless its drain timed out; and that an agent supervision gave up on is
    ``failed`` with every waiter answered. ``changed`` is called whenever the
    loop turn has something to flush; ``on_stopped`` whenever an agent leaves
    ``draining`` (the node's shutdown waits on that).
    """

    observe: Hooks = NULL_HOOKS  # metrics and the flight recorder (caxton.observe.attach)
    #: (agents brought back, agents to bring back) while recovering, else None
    recovering: tuple[int, int] | None = None
    caps: AgentCaps | None = None  # each process's cgroup caps; the node sets them
    node_name = ""  # the node's name, shown in each agent's status; the node sets it

    def __init__(self, registry: dict[str, AgentRecord], *, runtime: Runtime, store: Store,
                 router: Router, outbox: Outbox, modules: Modules, budget: Budget,
                 quotas: Quotas, cache_dir: Path,
                 changed: Callable[[], None], on_stopped: Callable[[], None]) -> None:
        self.runtime = runtime
        self.store = store
        self.router = router
        self.outbox = outbox
        self.modules = modules
        self.budget = budget
        self.quotas = quotas
        self.cache_dir = cache_dir
        self.by_name = registry  # shared with the router, which forwards by name
        self._by_supervisor: dict[str, AgentRecord] = {}
        #: where each supervisor's frames go, by supervisor id: the agent it serves, or
        #: a deployment's handler for a process warming up beside it (``caxton.deploy``)
        self.frame_targets: dict[str, Callable[[Any], None]] = {}
        self._reserved: set[str] = set()
        self._changed = changed
        self._on_stopped = on_stopped
        router.on_snapshot_saved = self._after_snapshot
        runtime.subscribe(self._on_event)
        #: the instances behind each name (scale, and each group's lifecycle)
        self.instances = Instances(self)

    # -- the registry ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.by_name)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name or name in self._reserved

    def reserve(self, name: str) -> None:
        """Hold a name while its spawn is being validated: a second spawn of it is refused."""
        self._reserved.add(name)

    def release(self, name: str) -> None:
        self._reserved.discard(name)

    def changed(self) -> None:
        """Something outside a request changed what the loop turn must flush."""
        self._changed()

    def records(self) -> list[AgentRecord]:
        return list(self.by_name.values())

    def lookup(self, arguments: dict[str, Any]) -> AgentRecord:
        """The agent a request names, or ``NoSuchAgent``."""
        name = arguments.get("name")
        rec = self.by_name.get(name) if isinstance(name, str) else None
        if rec is None or rec.primary is not None:  # NAME#k: reached through NAME only
            raise NoSuchAgent(f"no agent named {name!r}", name=name)
        return rec

    def add(self, spec: AgentSpec) -> AgentRecord:
        name = spec.name

        def record_transition(t: Transition) -> None:
            self.store.record_event(name, "transition", t.source, t.target, t.reason)
            self.store.set_agent_state(name, t.target)

        rec = AgentRecord(spec=spec, lifecycle=Lifecycle(on_transition=record_transition),
                          node=self.node_name)
        self.by_name[name] = rec
        return rec

    def forget(self, rec: AgentRecord) -> None:
        """Drop an agent that never ran (its spawn was refused half-way)."""
        self.by_name.pop(rec.name, None)
        self.store.delete_agent(rec.name)

    def remove(self, rec: AgentRecord) -> None:
        """Take the agent down for good: every waiter answered, every monitor told."""
        if rec.group is not None:
            for inst in rec.group.secondaries():
                self.remove(inst)
        self.abandon(rec, NoSuchAgent(f"agent {rec.name!r} was removed", name=rec.name),
                     "removed")
        self.store.delete_agent(rec.name)
        self.store.record_event(rec.name, "removed", str(rec.lifecycle.state), "unloaded", "")
        del self.by_name[rec.name]
        self.router.dirty.discard(rec)

    def abandon(self, rec: AgentRecord, error: CaxtonError, reason: str) -> None:
        """Take the instance down and answer everyone waiting on the agent with ``error``;
        its monitors get a last DOWN with ``reason`` (removed, or a fenced node's
        ``noconnection``)."""
        self.halt(rec)
        self.router.fail_callers(rec, error)
        for waiters in (rec.spawn_waiters, rec.stop_waiters, rec.snapshot_waiters):
            for w in waiters:
                self.outbox.error(w, error)
            waiters.clear()
        for monitor in rec.monitors:
            self.outbox.event(monitor, {"name": rec.name, "pid": None, "reason": reason,
                                        "time": time.time(), "restarting": False})

    # -- supervision -------------------------------------------------------------------

    def running_specs(self, *, besides: AgentRecord | None = None) -> list[AgentSpec]:
        """The specs of the agents that hold processes now (what the budgets count)."""
        return [r.spec for r in self.by_name.values()
                if r.supervisor is not None and r is not besides]

    def start(self, rec: AgentRecord) -> None:
        """Start the agent's supervision subtree; its first instance says hello later.

        Raises ``ResourceExhausted`` (and starts nothing) past a node budget.
        """
        self.budget.check(rec.spec, self.running_specs(besides=rec))
        sup_spec = supervisor_spec_for(rec.spec)
        self.frame_targets[sup_spec.id] = lambda message: self._on_agent_frame(rec, message)
        rec.supervisor = self._start_process(rec.spec, sup_spec)
        self._by_supervisor[sup_spec.id] = rec

    def _start_process(self, spec: AgentSpec, sup_spec: SupervisorSpec) -> Supervisor:
        config = {
            "name": spec.name,
            "module_path": str(self.modules.path(spec.module_sha256)),
            "cache_dir": str(self.cache_dir),
            "limits": spec.limits,
            "security": spec.security,
            "quotas": self.quotas.to_dict(),
            "timing": self.observe.timing,  # time caxton_handle for the histograms
        }
        targets, sid = self.frame_targets, sup_spec.id
        # wait=False: the loop never blocks on an agent's boot; its start (or
        # its failure to start) arrives as an event
        return self.runtime.start_supervisor(
            sup_spec, [child_spec_for(spec, config, self.caps)],
            on_message=lambda _child, message: targets.get(sid, _dropped)(message), wait=False)

    # -- deployments: a second process for one agent (caxton.deploy) -------------------

    def start_beside(self, spec: AgentSpec, supervisor_id: str,
                     on_frame: Callable[[Any], None]) -> Supervisor:
        """Start a process for ``spec`` beside the agent's own (a deployment's new version):
        its frames go to ``on_frame`` until ``adopt`` makes it the agent's instance.
        Counted against the node's budgets like any process (``ResourceExhausted``)."""
        self.budget.check(spec, self.running_specs())
        self.listen(supervisor_id, on_frame)
        sup_spec = replace(supervisor_spec_for(spec), id=supervisor_id)
        try:
            return self._start_process(spec, sup_spec)
        except BaseException:
            self.frame_targets.pop(supervisor_id, None)
            raise

    def listen(self, supervisor_id: str, on_frame: Callable[[Any], None]) -> None:
        """Send the frames of a process beside an agent to ``on_frame``; the loop turn
        then flushes whatever they caused."""
        changed = self._changed

        def target(message: Any) -> None:
            on_frame(message)
            changed()

        self.frame_targets[supervisor_id] = target

    def adopt(self, rec: AgentRecord, sup: Supervisor, spec: AgentSpec) -> Supervisor | None:
        """Make ``sup`` (started with ``start_beside``) the agent's instance under ``spec``.

        Its frames and events are the agent's from now on; the previous supervisor
        is returned with its frames and events cut off from the agent (the caller
        keeps it warm or stops it). The new spec is stored in this turn's commit.
        """
        old = rec.supervisor
        if old is not None:
            self._by_supervisor.pop(old.id, None)
            self.frame_targets.pop(old.id, None)
        rec.supervisor = sup
        self._by_supervisor[sup.id] = rec
        self.frame_targets[sup.id] = lambda message: self._on_agent_frame(rec, message)
        rec.spec = spec
        self.store.save_agent(rec.name, spec.to_dict(), rec.lifecycle.state)
        return old

    def stop_beside(self, sup: Supervisor) -> None:
        """Stop a process started with ``start_beside`` (or given back by ``adopt``)."""
        self.frame_targets.pop(sup.id, None)
        if self._by_supervisor.get(sup.id) is None:
            sup.stop()

    def restart(self, rec: AgentRecord, waiter: Waiter | None) -> None:
        """A stopped or failed agent starts again; ``waiter`` hears once it serves.
        Each of its instances starts again with it."""
        self.halt(rec)
        self.budget.check(rec.spec, self.running_specs(besides=rec))
        rec.ever_ready = False
        rec.lifecycle.to(State.LOADED, "restarted by request")
        if waiter is not None:
            rec.spawn_waiters.append(waiter)
        self.start(rec)
        if rec.group is not None:
            for inst in rec.group.members[1:]:
                if inst.lifecycle.state in (State.STOPPED, State.FAILED):
                    self.restart(inst, None)

    def halt(self, rec: AgentRecord) -> None:
        """Take the agent's supervision subtree down without counting it as a failure."""
        sup, rec.supervisor = rec.supervisor, None
        if sup is None:
            return
        self._by_supervisor.pop(sup.id, None)
        self.frame_targets.pop(sup.id, None)
        self.router.detach(rec)
        sup.stop()

    # -- draining and stopping ---------------------------------------------------------

    def begin_drain(self, rec: AgentRecord, timeout: float, *, persist: bool) -> None:
        """Stop taking messages, handle what was accepted, snapshot, then stop.

        ``persist=False`` is the node's own shutdown: the agent is stored as
        running, so the next node on this data folder brings it back.
        """
        rec.persist_stop = persist
        rec.lifecycle.to(State.DRAINING, "stop requested" if persist else "node shutting down")
        rec.stop_deadline = self.runtime.call_later(
            timeout, lambda: self._finish_stop(rec, f"drain timed out after {timeout:g}s"))
        self._maybe_finish_drain(rec)

    def _maybe_finish_drain(self, rec: AgentRecord) -> None:
        if rec.lifecycle.state is not State.DRAINING or rec.mailbox or rec.in_flight:
            return
        if rec.serving:
            rec.drain_snapshot = True
            self.router.request_snapshot(rec)

    def _after_snapshot(self, rec: AgentRecord) -> None:
        if rec.lifecycle.state is State.DRAINING and rec.drain_snapshot:
            self._finish_stop(rec, "drained")

    def _finish_stop(self, rec: AgentRecord, reason: str) -> None:
        if rec.lifecycle.state is not State.DRAINING:
            return
        group = rec.group
        if group is not None and reason == "drained" and any(
                i.lifecycle.state is State.DRAINING for i in group.secondaries()):
            group.primary_drained = True  # the agent stops with its last instance
            return
        rec.drain_snapshot = False
        if rec.stop_deadline is not None:
            rec.stop_deadline.cancel()
            rec.stop_deadline = None
        self.halt(rec)
        rec.lifecycle.to(State.STOPPED, reason)
        if not rec.persist_stop:
            self.store.set_agent_state(rec.name, State.RUNNING)
        status = agent_status(rec)
        for waiter in rec.stop_waiters:
            self.outbox.ok(waiter, status)
        rec.stop_waiters.clear()
        self.router.fail_callers(rec, AgentNotRunning(f"agent {rec.name!r} stopped"))
        primary = rec.primary
        if primary is not None:
            self.instances.changed(rec)
            if primary.group.primary_drained and not any(
                    i.lifecycle.state is State.DRAINING for i in primary.group.secondaries()):
                primary.group.primary_drained = False
                self._finish_stop(primary, "drained")
        self._changed()
        self._on_stopped()

    def give_up(self, rec: AgentRecord, reason: str) -> None:
        """Supervision will not bring the agent back: it is ``failed``."""
        if rec.lifecycle.state in (State.FAILED, State.STOPPED):
            return
        primary = rec.primary
        if primary is not None and primary.lifecycle.state not in (State.FAILED, State.STOPPED):
            # an instance supervision gave up on takes its agent with it, every instance
            self.give_up(primary, f"instance {rec.name}: {reason}")
            if rec.lifecycle.state in (State.FAILED, State.STOPPED):
                return
        log.error("agent %s failed: %s", rec.name, reason)
        rec.last_failure = rec.last_failure or reason
        self.halt(rec)
        was_draining = rec.lifecycle.state is State.DRAINING
        rec.lifecycle.to(State.FAILED, reason)
        error = SpawnFailed(f"agent {rec.name!r} failed to start: {reason}", reason=reason)
        for waiter in rec.spawn_waiters:
            self.outbox.error(waiter, error)
        rec.spawn_waiters.clear()
        self.router.fail_callers(rec, CallFailed(f"agent {rec.name!r} failed: {reason}",
                                                 reason="agent_failed"))
        if was_draining:
            for waiter in rec.stop_waiters:
                self.outbox.ok(waiter, agent_status(rec))
            rec.stop_waiters.clear()
            self._on_stopped()
        if rec.group is not None:
            for inst in rec.group.secondaries():
                if inst.lifecycle.state not in (State.STOPPED, State.UNLOADED):
                    self.give_up(inst, reason)
            rec.group.primary_drained = False
        if primary is not None or rec.group is not None:
            self.instances.changed(rec)

    # -- what an instance says ---------------------------------------------------------

    def _on_agent_frame(self, rec: AgentRecord, raw: Any) -> None:
        if rec.supervisor is None:
            return  # the agent was halted; a late frame of its last instance
        acked = frames.acks_of(raw)  # the per-message frame, read directly
        if acked is not None:
            self._on_acks(rec, *acked)
            return
        match frames.decode_from_agent(raw):
            case Acks(acks, stats):
                self._on_acks(rec, acks, stats)
                return
            case Hello() as hello:
                self.router.on_hello(rec, hello)
            case Ready(info):
                self.router.on_ready(rec, info)
                self._on_ready(rec)
            case Failed(message_id, reason, text):
                self.router.on_failed(rec, message_id, reason, text)
            case Snapshot(last_message_id, state):
                self.router.on_snapshot(rec, last_message_id, state)
            case Health(healthy, text):
                self.router.on_health(rec, healthy, text)
            case Log(level, text):
                log.log(_LOG_LEVELS.get(level, logging.INFO), "agent %s: %s", rec.name, text)
        self._after_frame(rec)

    def _on_acks(self, rec: AgentRecord, acks: list[Ack], stats: list[int]) -> None:
        self.router.on_acks(rec, acks, stats)
        self.observe.acked(rec, acks, stats)
        if rec.lifecycle.state is State.DRAINING:
            self._maybe_finish_drain(rec)
        self._after_frame(rec)

    def _after_frame(self, rec: AgentRecord) -> None:
        self.router.dirty.add(rec)
        if rec.deploy is not None:  # a deployment waits on this instance (caxton.deploy)
            rec.deploy.instance_changed(rec)
        self._changed()

    def _on_ready(self, rec: AgentRecord) -> None:
        if rec.lifecycle.state is State.LOADED:
            rec.lifecycle.to(State.READY, "first instance initialised")
            rec.lifecycle.to(State.RUNNING, "serving")
        if not rec.ever_ready:
            rec.ever_ready = True
            status = agent_status(rec)
            for waiter in rec.spawn_waiters:
                self.outbox.ok(waiter, status)
            rec.spawn_waiters.clear()
        if rec.primary is not None:
            self.instances.changed(rec)
        if rec.lifecycle.state is State.DRAINING:
            self._maybe_finish_drain(rec)

    # -- what supervision says ---------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        rec = self._by_supervisor.get(event.supervisor)
        if rec is None:
            return
        kind = event.kind
        if kind == "exited":
            self._on_instance_down(rec, event)
        elif kind == "restarting":
            self.router.on_restarting(rec)
        elif kind == "unhealthy":
            self.router.on_unhealthy(rec)
        elif kind == "start_failed":
            self.give_up(rec, f"first instance did not start: {event.reason or 'unknown'}")
        elif kind in ("gave_up", "manual_wait", "intensity_exceeded", "terminated"):
            self.give_up(rec, f"{kind.replace('_', ' ')}: {event.reason or 'unknown'}")
        self._changed()

    def _on_instance_down(self, rec: AgentRecord, event: Event) -> None:
        """An instance exited; supervision's ``restart`` flag says whether another follows."""
        reason = event.reason or "unknown"
        self.observe.down(rec, event.pid, reason, event.restart)
        self.router.on_down(rec, reason)
        if rec.deploy is not None:  # a deployment waits on this instance (caxton.deploy)
            rec.deploy.instance_changed(rec)
        down = {"name": rec.name, "pid": event.pid, "reason": reason, "time": event.time,
                "restarting": event.restart}
        rec.monitors = [m for m in rec.monitors if self.outbox.event(m, down)]
        if not event.restart:
            # Why it stays down comes as the next event of the same decision
            # (gave_up, manual_wait, intensity_exceeded, start_failed), queued
            # before this callback ran; with none (a temporary agent, or a
            # transient one that exited normally) it is simply over.
            sup = rec.supervisor
            self.runtime.call_soon(lambda: self._stays_down(rec, sup, reason))

    def _stays_down(self, rec: AgentRecord, sup: Supervisor | None, reason: str) -> None:
        if rec.supervisor is sup and sup is not None:
            self.give_up(rec, f"{rec.spec.restart} agent exited: {reason}")

    # -- recovery ----------------------------------------------------------------------

    def bring_back(self, spec_dict: dict[str, Any], state: str, why: str) -> AgentRecord:
        """An agent as the store keeps it, registered with its pending messages and
        started again if it was up (a node restarting, or adopting another's agent)."""
        spec = AgentSpec.from_dict(spec_dict)
        rec = self.add(spec)
        rec.mailbox.extend(
            Message(m.id, m.sender, m.payload, m.attempts, m.reasons)
            for m in self.store.pending_messages(spec.name))
        comes_back = state in (State.LOADED, State.READY, State.RUNNING, State.DRAINING)
        if not comes_back or spec.restart == "temporary":
            rec.lifecycle.state = State(state) if not comes_back else State.FAILED
            return rec
        wasm = self.store.get_module(spec.module_sha256)
        if wasm is None:
            rec.lifecycle.state = State.FAILED
            rec.last_failure = "module missing from the store"
            return rec
        self.modules.install(spec.module_sha256, wasm, spec.security)
        try:
            self.budget.check(spec, self.running_specs(besides=rec))
        except ResourceExhausted as exc:
            rec.lifecycle.state = State.FAILED
            rec.last_failure = f"not restarted: {exc.message}"
            log.error("agent %s not restarted: %s", spec.name, exc.message)
            return rec
        rec.lifecycle.to(State.LOADED, why)
        self.start(rec)
        return rec

    def recover(self) -> None:
        """Bring back every agent of the data folder as it was when the node went down."""
        for _ in self.recover_steps():
            pass

    def recover_steps(self) -> Iterator[tuple[int, int]]:
        """``recover`` one agent a step, yielding (done, total) before each: the node
        runs one step a loop turn, so ping and status are answered meanwhile."""
        stored = list(self.store.load_agents())
        for done, (spec_dict, state) in enumerate(stored):
            self.recovering = (done, len(stored))
            yield done, len(stored)
            self.bring_back(spec_dict, state, "node restarted")
        self.instances.link()
        self.store.commit()
        self.recovering = None

