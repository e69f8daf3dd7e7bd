"""Deployments: a new version of an agent goes live, or comes back out, losing nothing.

This room decides; the router carries out. A deployment validates the module,
starts the new version's processes beside the serving ones (``Beside``),
waits for them to be warm (restored from the latest snapshot, replayed,
healthy), then switches each instance: the router holds it (accepted messages
wait in the journal), its window in flight is acknowledged, the new process
is given what the old one handled since its warm-up, and the agents room
adopts it as the instance. Strategies differ in when each step happens:

* ``immediate``: every instance is held first, then the new processes warm
  up and all switch at once; the old processes stop at the switch.
* ``rolling``: ``batch_size`` instances at a time, each batch warm before it
  switches and switched before the next starts; old processes stop.
* ``blue_green``: the whole new set warms up while the old set serves, then
  all switch at once; the old set stays warm for ``keep_previous`` seconds.

Until a deployment is *finalised* (``keep_previous`` after its switch) the
journal of each instance is kept whole (snapshots do not cut it) and the
previous version's pre-switch snapshot is stored, so a rollback rebuilds the
previous version's state exactly: from its warm process (replaying only what
the new version handled since the switch), or from that snapshot and the
journal after it. Replays drop their outputs, so no effect is applied twice
and none that was acknowledged is lost. ``docs/deployments.md`` has the
timelines and what a node restart does to a deployment in progress.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any

from caxton.deploy.beside import Beside, StartPoint
from caxton.deploy.model import Deployment, DeploymentState, default_version
from caxton.deploy.observed import Observed, set_version
from caxton.deploy.stages import Canaries
from caxton.errors import (
    AgentNotRunning,
    CaxtonError,
    DeploymentFailed,
    InvalidRequest,
    NoSuchDeployment,
    ValidationFailed,
)
from caxton.node.agents import Agents
from caxton.node.instances import instances_of
from caxton.node.lifecycle import State
from caxton.node.modules import Modules
from caxton.node.outbox import Outbox
from caxton.node.records import AgentRecord, Waiter
from caxton.node.router import Router
from caxton.node.spec import AgentSpec
from caxton.store import Store
from supervisor import Event, Runtime, SpecError, TimerHandle

log = logging.getLogger("caxton.deploy")
S = DeploymentState


@dataclass(eq=False)
class Run:
    """A deployment being carried out, or live and not yet finalised (in memory only)."""

    dep: Deployment
    slots: list[AgentRecord]
    target: AgentSpec
    previous: AgentSpec
    batches: list[list[AgentRecord]] = field(default_factory=list)
    batch: int = 0
    #: validating, warming, switching, running, rolling_back, done
    phase: str = "validating"
    phase_started: float = field(default_factory=time.monotonic)
    started: float = field(default_factory=time.monotonic)
    greens: dict[str, Beside] = field(default_factory=dict)
    kept: dict[str, Beside] = field(default_factory=dict)
    back: dict[str, Beside] = field(default_factory=dict)
    waiters: list[Waiter] = field(default_factory=list)
    rollback_waiters: list[Waiter] = field(default_factory=list)
    rollback_reason: str = ""
    cancelled: str | None = None
    timer: TimerHandle | None = None
    watch: Callable[[AgentRecord], None] = lambda rec: None
    observed: Observed | None = None  # metrics, logs and spans (caxton.observe)
    canary_split: Any = None  # the canary's Split, shared by its lanes
    stage_started: float = 0.0

    def instance_changed(self, rec: AgentRecord) -> None:
        """The agents room's call when a held instance acknowledged or went down."""
        self.watch(rec)


class Deployments:
    """Every deployment of the node: its record, its run, its recovery after a restart."""

    def __init__(self, *, store: Store, agents: Agents, router: Router, modules: Modules,
                 outbox: Outbox, runtime: Runtime, changed: Callable[[], None]) -> None:
        self.store = store
        self.agents = agents
        self.router = router
        self.modules = modules
        self.outbox = outbox
        self.runtime = runtime
        self._changed = changed
        self.records: dict[int, Deployment] = {}
        self._runs: dict[str, Run] = {}
        self._besides: dict[str, Beside] = {}
        self._next_id = 1
        self.canaries = Canaries(self)
        runtime.subscribe(self._on_event)

    # -- records ----------------------------------------------------------------------

    def _save(self, dep: Deployment) -> None:
        self.records[dep.id] = dep
        self.store.save_deployment(dep.id, dep.agent, dep.state, dep.to_dict())

    #: a cluster's shared counter of deployment ids (None: this node's own count)
    allocate_id: Callable[[], int] | None = None

    def _new_id(self) -> int:
        if self.allocate_id is not None:
            return self.allocate_id()
        deployment_id = self._next_id
        self._next_id += 1
        return deployment_id

    def of_agent(self, name: str) -> list[Deployment]:
        return sorted((d for d in self.records.values() if d.agent == name), key=lambda d: d.id)

    def get(self, deployment_id: Any) -> Deployment:
        dep = self.records.get(deployment_id) if isinstance(deployment_id, int) else None
        if dep is None:
            raise NoSuchDeployment(f"no deployment {deployment_id!r}", id=deployment_id)
        return dep

    def active(self, name: str) -> Deployment | None:
        """The version an agent runs now (its latest running deployment)."""
        live = [d for d in self.of_agent(name) if d.state == S.RUNNING]
        return live[-1] if live else None

    def record_spawn(self, rec: AgentRecord, version: str | None = None) -> None:
        """An agent was spawned: its first version, live at once."""
        for old in self.of_agent(rec.name):  # a previous agent of the same name was removed
            self.records.pop(old.id, None)
        dep = Deployment(id=self._new_id(), agent=rec.name,
                         version=version or default_version(rec.spec.module_sha256),
                         sha256=rec.spec.module_sha256, strategy="initial",
                         report=self.modules.report_for(rec.spec))
        dep.instances = {rec.name: True}
        dep.to(S.DEPLOYING, "spawned")
        dep.to(S.RUNNING, "first instance serving")
        dep.finalised = True
        rec.version = dep.version
        set_version(self.agents.observe, rec.name, dep.version)
        self._save(dep)

    # -- deploy ---------------------------------------------------------------------------

    def deploy(self, rec: AgentRecord, wasm: bytes, *, version: str | None, strategy: str,
               batch_size: int, warm_up: float | None, keep_previous: float, vectors: Any,
               waiter: Waiter | None, canary: dict[str, Any] | None = None) -> Deployment:
        """Start a deployment; ``waiter`` (if any) hears once it is live or has failed."""
        if rec.lifecycle.state is not State.RUNNING:
            raise AgentNotRunning(f"agent {rec.name!r} is {rec.lifecycle.state}; only a running"
                                  " agent can be deployed to", state=str(rec.lifecycle.state))
        current = self._runs.get(rec.name)
        if current is not None and current.phase != "running":
            raise InvalidRequest(f"deployment {current.dep.id} of agent {rec.name!r} is still "
                                 f"{current.phase}; roll it back or wait for it",
                                 deployment=current.dep.id)
        sha256 = hashlib.sha256(wasm).hexdigest()
        if sha256 == rec.spec.module_sha256:
            raise InvalidRequest(f"agent {rec.name!r} already runs this module "
                                 f"(version {rec.version or default_version(sha256)})")
        group = rec.group
        if group is not None and (group.joining or group.leaving):
            raise InvalidRequest(f"agent {rec.name!r} is still scaling; deploy once it is done")
        if current is not None:
            self._finalise(current)  # a new version lets go of the one kept for rollback
        active = self.active(rec.name)
        slots = instances_of(rec)  # rolling goes through them batch_size at a time
        dep = Deployment(
            id=self._new_id(), agent=rec.name, version=version or default_version(sha256),
            sha256=sha256, strategy=strategy, batch_size=batch_size, warm_up=warm_up,
            keep_previous=keep_previous,
            previous={"deployment": active.id if active else None,
                      "version": rec.version or default_version(rec.spec.module_sha256),
                      "sha256": rec.spec.module_sha256})
        dep.instances = {s.name: False for s in slots}
        dep.canary = canary
        run = Run(dep=dep, slots=slots, target=replace(rec.spec, module_sha256=sha256),
                  previous=rec.spec)
        if waiter is not None:
            run.waiters.append(waiter)
        run.observed = Observed(self.agents.observe, dep)
        self._runs[rec.name] = run
        self._save(dep)

        def validated(failure: ValidationFailed | None) -> None:
            self._validated(run, wasm, failure, vectors)
            self._changed()

        try:
            self.modules.validate(run.target, wasm, vectors, validated)
        except BaseException:
            self._runs.pop(rec.name, None)
            self.records.pop(dep.id, None)
            raise
        return dep

    def _validated(self, run: Run, wasm: bytes, failure: ValidationFailed | None,
                   vectors: Any) -> None:
        dep = run.dep
        seconds = time.monotonic() - run.phase_started
        if failure is None and run.cancelled is not None:
            failure = ValidationFailed(run.cancelled)
        if run.observed is not None:
            run.observed.validated(seconds, failure is None)
        if failure is not None:
            dep.report = failure.data.get("report")
            dep.stage("validate", seconds, f"Validation failed: {failure.message}", ok=False)
            dep.to(S.FAILED, failure.message)
            self._end(run, failure)
            return
        dep.report = self.modules.report_for(run.target, vectors)
        dep.stage("validate", seconds, "Validation passed")
        try:
            self.store.put_module(dep.sha256, wasm)
            self.modules.install(dep.sha256, wasm, run.target.security)
        except (CaxtonError, OSError) as exc:
            dep.to(S.FAILED, f"cannot install the module: {exc}")
            self._end(run, DeploymentFailed(dep.reason, deployment=dep.to_dict()))
            return
        dep.to(S.DEPLOYING, f"{dep.strategy} deployment started")
        for slot in run.slots:
            slot.journal_pinned = True
        size = len(run.slots) if dep.strategy != "rolling" else max(1, dep.batch_size)
        run.batches = [run.slots[i:i + size] for i in range(0, len(run.slots), size)]
        self._save(dep)
        self._next_batch(run)

    # -- the forward path: warm up, switch, batch after batch ------------------------------

    def _next_batch(self, run: Run) -> None:
        if run.batch >= len(run.batches):
            self._deployed(run)
            return
        slots = run.batches[run.batch]
        run.phase, run.phase_started = "warming", time.monotonic()
        if run.dep.strategy == "immediate":
            for slot in slots:
                self.router.hold(slot)
        for slot in slots:
            spec = replace(slot.spec, module_sha256=run.dep.sha256)
            green = Beside(self.agents, self.store, spec, f"agent:{slot.name}@{run.dep.id}",
                           start=None,
                           on_warm=lambda _b: self._warm(run),
                           on_failed=lambda _b, why: self._abort(run, why))
            run.greens[slot.name] = green
            try:
                green.start()
            except (CaxtonError, SpecError) as exc:
                self._abort(run, f"cannot start the new version: {exc}")
                return
            self._besides[green.supervisor_id] = green

    def _warm(self, run: Run) -> None:
        if run.dep.strategy in ("canary", "shadow"):
            self.canaries.warm(run)
            return
        if run.phase not in ("warming", "switching"):
            return
        slots = run.batches[run.batch]
        if not all(run.greens[s.name].warm for s in slots):
            return
        if run.phase == "warming":
            wait = (run.dep.warm_up or 0.0) - (time.monotonic() - run.phase_started)
            if wait > 0:
                if run.timer is None:
                    run.timer = self.runtime.call_later(wait, lambda: self._warmed(run))
                return
            self._warmed(run)
        else:
            self._maybe_switch(run)

    def _warmed(self, run: Run) -> None:
        run.timer = None
        if run.phase != "warming":
            return
        slots = run.batches[run.batch]
        n = len(slots)
        run.dep.stage("warm_up", time.monotonic() - run.phase_started,
                      f"New version warmed up ({n} instance{'s' if n > 1 else ''})")
        run.phase, run.phase_started = "switching", time.monotonic()
        run.watch = lambda _rec: self._maybe_switch(run)
        for slot in slots:
            self.router.hold(slot)
            slot.deploy = run
        self._maybe_switch(run)

    def _maybe_switch(self, run: Run) -> None:
        """Switch the batch once every old instance has acknowledged its window."""
        if run.phase != "switching":
            return
        slots = run.batches[run.batch]
        if any(s.in_flight for s in slots) or not all(run.greens[s.name].warm for s in slots):
            return
        keep = run.dep.strategy == "blue_green"
        for slot in slots:
            green = run.greens.pop(slot.name)
            snapshot = self.store.latest_snapshot(slot.name)
            self.store.save_deploy_snapshot(
                run.dep.id, slot.name, None if snapshot is None else snapshot.state,
                0 if snapshot is None else snapshot.last_message_id)
            self._swap(run, slot, green, green.spec, keep=keep)
            run.dep.instances[slot.name] = True
        run.dep.stage("switch", time.monotonic() - run.phase_started,
                      f"Traffic switched to {run.dep.version}")
        self._save(run.dep)
        run.batch += 1
        self._next_batch(run)

    def _swap(self, run: Run, slot: AgentRecord, new: Beside, spec: AgentSpec, *,
              keep: bool) -> None:
        """``new`` becomes ``slot``'s instance; the old one is kept warm or stopped."""
        new.catch_up()
        assert new.supervisor is not None
        was_serving, old_pid, old_spec = slot.serving, slot.pid, slot.spec
        self._besides.pop(new.supervisor_id, None)
        old = self.agents.adopt(slot, new.supervisor, spec)
        self.router.adopt(slot, new.pid, new.info)
        new.supervisor = None  # the agents room owns it now
        if old is not None:
            if keep and was_serving:
                kept = Beside.kept(self.agents, self.store, old_spec, old, old_pid, new.through,
                                   on_failed=lambda b, why: self._kept_lost(run, slot, b, why))
                run.kept[slot.name] = kept
                self._besides[old.id] = kept
            else:
                self.agents.stop_beside(old)
        slot.deploy = None
        self.router.release(slot)

    def _deployed(self, run: Run) -> None:
        dep = run.dep
        run.phase = "running"
        dep.switched_at = time.time()
        dep.to(S.RUNNING, "every instance switched")
        for slot in run.slots:
            slot.version = dep.version
        previous = self._previous(dep)
        if previous is not None and previous.state == S.RUNNING:
            previous.to(S.DRAINING, f"replaced by {dep.version} (deployment {dep.id})")
            self._save(previous)
        dep.stage("deploy", time.monotonic() - run.started, "Agent deployed")
        self._save(dep)
        set_version(self.agents.observe, dep.agent, dep.version)
        if run.observed is not None:
            run.observed.end("success")
        for waiter in run.waiters:
            self.outbox.ok(waiter, dep.to_dict())
        run.waiters.clear()
        run.timer = self.runtime.call_later(max(0.0, dep.keep_previous),
                                            lambda: self._finalise(run))

    def settle_for_scale(self, rec: AgentRecord) -> None:
        """Before a scale: a deployment in progress refuses it; a live one not yet finalised
        is finalised (the instances a rollback would restore are about to change)."""
        run = self._runs.get(rec.name)
        if run is None:
            return
        if run.phase != "running":
            raise InvalidRequest(f"deployment {run.dep.id} of agent {rec.name!r} is still "
                                 f"{run.phase}; scale once it is done", deployment=run.dep.id)
        self._finalise(run)

    def _previous(self, dep: Deployment) -> Deployment | None:
        previous_id = (dep.previous or {}).get("deployment")
        return self.records.get(previous_id) if isinstance(previous_id, int) else None

    def _finalise(self, run: Run) -> None:
        """Let go of the previous version: its warm processes, its snapshot, the whole journal."""
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        for kept in run.kept.values():
            self._besides.pop(kept.supervisor_id, None)
            kept.stop()
        run.kept.clear()
        self._unpin(run)
        dep = run.dep
        dep.finalised = True
        previous = self._previous(dep)
        if previous is not None and previous.state == S.DRAINING:
            previous.to(S.RETIRED, f"deployment {dep.id} finalised")
            self._save(previous)
        self._save(dep)
        run.phase = "done"
        if self._runs.get(dep.agent) is run:
            del self._runs[dep.agent]
        self._changed()

    def _unpin(self, run: Run) -> None:
        for slot in run.slots:
            slot.journal_pinned = False
            if slot.name in self.agents.by_name:
                snapshot = self.store.latest_snapshot(slot.name)
                if snapshot is not None:
                    self.store.cut_journal(slot.name, snapshot.last_message_id)
        self.store.drop_deploy_snapshots(run.dep.id)

    def _kept_lost(self, run: Run, slot: AgentRecord, kept: Beside, why: str) -> None:
        """A previous instance kept warm died: a rollback now starts it again from its
        pre-switch snapshot."""
        log.warning("deploy: %s kept for rollback went down (%s)", slot.name, why)
        self._besides.pop(kept.supervisor_id, None)
        if run.kept.get(slot.name) is kept:
            del run.kept[slot.name]

    # -- failing and rolling back --------------------------------------------------------

    def _abort(self, run: Run, why: str) -> None:
        """The forward path failed: undo what it did, then the deployment is rolled back."""
        if run.phase not in ("validating", "warming", "switching"):
            return
        log.warning("deploy: deployment %d of %s failed: %s", run.dep.id, run.dep.agent, why)
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        for green in run.greens.values():
            self._besides.pop(green.supervisor_id, None)
            green.stop()
        run.greens.clear()
        run.dep.stage("warm_up", time.monotonic() - run.phase_started,
                      f"New version failed: {why}", ok=False)
        for slot in run.slots:
            if not run.dep.instances.get(slot.name):
                slot.deploy = None
                self.router.release(slot)
        self._roll_back(run, why)

    def rollback(self, target: Any, waiter: Waiter) -> Deployment:
        """Roll back an agent's latest deployment (by agent name) or deployment ``target``."""
        if isinstance(target, str):
            run = self._runs.get(target)
            if run is None:
                live = [d for d in self.of_agent(target) if d.state == S.RUNNING
                        and d.previous is not None and d.strategy != "initial"]
                if not live:
                    raise NoSuchDeployment(f"agent {target!r} has no deployment to roll back",
                                           name=target)
                dep = live[-1]
            else:
                dep = run.dep
        else:
            dep = self.get(target)
            run = self._runs.get(dep.agent)
            if run is not None and run.dep is not dep:
                run = None
        if run is None:
            raise InvalidRequest(
                f"deployment {dep.id} is {dep.state}{', finalised' if dep.finalised else ''}:"
                " its previous version's state is gone; deploy that version again instead",
                deployment=dep.id)
        if run.phase == "rolling_back":
            run.rollback_waiters.append(waiter)
            return dep
        run.rollback_waiters.append(waiter)
        if run.phase == "validating":
            run.cancelled = "rolled back by request during validation"
            return dep
        if run.phase in ("canary", "barrier") and run.dep.strategy == "shadow":
            raise InvalidRequest(f"deployment {run.dep.id} is a shadow: abort it instead",
                                 deployment=run.dep.id)
        if run.phase in ("canary", "barrier"):
            self.canaries.roll_back(run, "manual")
        elif run.phase in ("warming", "switching"):
            self._abort(run, "rolled back by request")
        else:
            self._roll_back(run, "rolled back by request")
        return dep

    def _canary_run(self, deployment_id: Any) -> Run:
        dep = self.get(deployment_id)
        run = self._runs.get(dep.agent)
        if run is None or run.dep is not dep or dep.strategy not in ("canary", "shadow") \
                or run.phase not in (
                "warming", "switching", "canary", "barrier", "validating"):
            raise InvalidRequest(f"deployment {dep.id} is not a canary in progress (it is "
                                 f"{dep.state})", deployment=dep.id)
        return run

    def promote(self, deployment_id: Any, to_full: bool) -> Deployment:
        """A canary's next stage now (or 100 %), whatever the analysis says."""
        run = self._canary_run(deployment_id)
        if run.phase != "canary":
            raise InvalidRequest(f"deployment {run.dep.id} is {run.phase}; promote it once its"
                                 " canary serves", deployment=run.dep.id)
        if run.dep.strategy == "shadow":
            raise InvalidRequest(f"deployment {run.dep.id} is a shadow: it ends after its "
                                 "duration (parallel switches if its verdict is good)",
                                 deployment=run.dep.id)
        self.canaries.promote(run, to_full=to_full)
        return run.dep

    def abort(self, deployment_id: Any, waiter: Waiter) -> Deployment:
        """A canary back out now, reason ``manual``; ``waiter`` hears once it is."""
        run = self._canary_run(deployment_id)
        run.rollback_waiters.append(waiter)
        if run.phase == "validating":
            run.cancelled = "aborted by request during validation"
        elif run.phase == "warming":
            self._abort(run, "manual")
        elif run.dep.strategy == "shadow" and run.phase == "canary":
            self.canaries._shadow_end(run, "aborted by request")
        else:
            self.canaries.roll_back(run, "manual")
        return run.dep

    def _roll_back(self, run: Run, reason: str) -> None:
        """Bring the previous version back on every switched instance, then close."""
        run.phase, run.phase_started = "rolling_back", time.monotonic()
        run.rollback_reason = reason
        if run.observed is not None:
            run.observed.rollback(reason)
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        switched = [s for s in run.slots if run.dep.instances.get(s.name)]
        for slot in switched:
            kept = run.kept.pop(slot.name, None)
            if kept is not None and kept.warm:
                kept.on_failed = lambda _b, why: self._rollback_failed(run, why)
                run.back[slot.name] = kept
                continue
            if kept is not None:
                self._besides.pop(kept.supervisor_id, None)
                kept.stop()
            saved = self.store.deploy_snapshot(run.dep.id, slot.name)
            start: StartPoint = saved if saved is not None else (None, 0)
            spec = replace(slot.spec, module_sha256=run.previous.module_sha256)
            try:
                self._install(spec)
                back = Beside(self.agents, self.store, spec,
                              f"agent:{slot.name}@{run.dep.id}r{len(run.dep.events)}",
                              start=start, on_warm=lambda _b: self._back_warm(run),
                              on_failed=lambda _b, why: self._rollback_failed(run, why))
                back.start()
            except (CaxtonError, SpecError, OSError) as exc:
                self._rollback_failed(run, f"cannot start the previous version: {exc}")
                return
            self._besides[back.supervisor_id] = back
            run.back[slot.name] = back
        self._back_warm(run)

    def _install(self, spec: AgentSpec) -> None:
        wasm = self.store.get_module(spec.module_sha256)
        if wasm is None:
            raise InvalidRequest("the previous version's module is missing from the store")
        self.modules.install(spec.module_sha256, wasm, spec.security)

    def _back_warm(self, run: Run) -> None:
        if run.phase != "rolling_back":
            return
        if not all(b.warm for b in run.back.values()):
            return
        run.dep.stage("divert", time.monotonic() - run.phase_started, "Messages diverted")
        run.phase_started = time.monotonic()
        run.watch = lambda _rec: self._maybe_switch_back(run)
        run.phase = "switching_back"
        for slot in run.slots:
            if slot.name in run.back:
                self.router.hold(slot)
                slot.deploy = run
        self._maybe_switch_back(run)

    def _maybe_switch_back(self, run: Run) -> None:
        if run.phase != "switching_back":
            return
        slots = [s for s in run.slots if s.name in run.back]
        if any(s.in_flight for s in slots):
            return
        if not all(b.warm for b in run.back.values()):
            run.phase = "rolling_back"  # a process went down: wait for it again
            for slot in slots:
                slot.deploy = None
                self.router.release(slot)
            return
        for slot in slots:
            back = run.back.pop(slot.name)
            saved = self.store.deploy_snapshot(run.dep.id, slot.name)
            if saved is None or saved[0] is None:
                self.store.delete_snapshot(slot.name)
            else:
                self.store.save_snapshot(slot.name, saved[0], saved[1], cut=False)
            self._besides.pop(back.supervisor_id, None)
            self._swap(run, slot, back, back.spec, keep=False)
            run.dep.instances[slot.name] = False
        run.dep.stage("restore", time.monotonic() - run.phase_started,
                      "Previous version restored")
        self._rolled_back(run)

    def _rolled_back(self, run: Run) -> None:
        dep = run.dep
        reason = run.rollback_reason
        dep.to(S.ROLLED_BACK, reason)
        for slot in run.slots:
            slot.version = (dep.previous or {}).get("version")
        set_version(self.agents.observe, dep.agent, (dep.previous or {}).get("version"))
        if run.observed is not None:
            run.observed.end("rolled_back")
        previous = self._previous(dep)
        if previous is not None and previous.state == S.DRAINING:
            previous.to(S.RUNNING, f"deployment {dep.id} rolled back")
            self._save(previous)
        self._unpin(run)
        self._save(dep)
        self._end(run, DeploymentFailed(f"deployment {dep.id} of {dep.agent!r} was rolled back:"
                                        f" {reason}", deployment=dep.to_dict()))

    def _rollback_failed(self, run: Run, why: str) -> None:
        """The previous version could not come back: the new one keeps serving."""
        if run.phase not in ("rolling_back", "switching_back"):
            return
        log.error("deploy: rollback of deployment %d failed: %s", run.dep.id, why)
        for back in run.back.values():
            self._besides.pop(back.supervisor_id, None)
            if not back.is_kept:
                back.stop()
        run.back.clear()
        for slot in run.slots:
            if slot.deploy is run:
                slot.deploy = None
                self.router.release(slot)
        run.dep.stage("restore", time.monotonic() - run.phase_started,
                      f"Rollback failed: {why}", ok=False)
        run.dep.reason = f"rollback failed: {why}"
        self._save(run.dep)
        error = DeploymentFailed(f"rollback of deployment {run.dep.id} failed: {why}",
                                 deployment=run.dep.to_dict())
        if any(run.dep.instances.values()):
            # still live as the new version: it can be tried again, or finalised
            run.phase = "running" if run.dep.state == S.RUNNING else "done"
            for waiter in run.rollback_waiters + run.waiters:
                self.outbox.error(waiter, error)
            run.rollback_waiters.clear()
            run.waiters.clear()
            if run.dep.state == S.RUNNING:
                run.timer = self.runtime.call_later(max(0.0, run.dep.keep_previous),
                                                    lambda: self._finalise(run))
            return
        self._end(run, error)

    def _end(self, run: Run, error: CaxtonError) -> None:
        """The deployment is over without going live (or came back out)."""
        run.phase = "done"
        if run.observed is not None:
            run.observed.end("failed")
        for waiter in run.waiters:
            self.outbox.error(waiter, error)
        run.waiters.clear()
        for waiter in run.rollback_waiters:
            if run.dep.state == S.ROLLED_BACK or run.dep.state == S.FAILED:
                self.outbox.ok(waiter, run.dep.to_dict())
            else:
                self.outbox.error(waiter, error)
        run.rollback_waiters.clear()
        for slot in run.slots:
            slot.journal_pinned = False
            if slot.deploy is run:
                slot.deploy = None
                self.router.release(slot)
        if self._runs.get(run.dep.agent) is run:
            del self._runs[run.dep.agent]
        self._save(run.dep)
        self._changed()

    # -- supervision's events about processes beside an instance ----------------------------

    def _on_event(self, event: Event) -> None:
        beside = self._besides.get(event.supervisor)
        if beside is not None:
            beside.on_event(event)
            self._changed()

    def forget(self, name: str) -> None:
        """The agent was removed: stop whatever runs beside it."""
        run = self._runs.pop(name, None)
        if run is None:
            return
        if run.timer is not None:
            run.timer.cancel()
        for beside in [*run.greens.values(), *run.kept.values(), *run.back.values()]:
            self._besides.pop(beside.supervisor_id, None)
            beside.stop()
        for slot in run.slots:
            if slot.canary is not None:
                slot.canary.detach()
        run.phase = "done"

    # -- a node restarted on the same data folder ------------------------------------------

    def prepare_recovery(self, only: Collection[str] | None = None) -> None:
        """Before the agents come back: settle every deployment the node died in
        (``only``: of these agents, which a cluster node adopts from a lost one).

        A deployment still validating failed; one still deploying is rolled
        back (each instance it had switched gets the previous version's module and
        pre-switch snapshot back, and replays the journal after it); one live but
        not finalised stays live and can still be rolled back (from the snapshot).
        So a restarted node runs exactly one version of each agent.
        """
        for body in self.store.load_deployments():
            dep = Deployment.from_dict(body)
            if only is None or dep.agent in only:
                self.records[dep.id] = dep
        self._next_id = max(self.records, default=0) + 1
        specs = {spec["name"]: (spec, state) for spec, state in self.store.load_agents()}
        for dep in sorted(self.records.values(), key=lambda d: d.id):
            if only is not None and dep.agent not in only:
                continue
            if dep.state == S.VALIDATING:
                dep.to(S.FAILED, "the node restarted during validation")
                self._save(dep)
            elif dep.state == S.DEPLOYING:
                for name, switched in dep.instances.items():
                    if switched and name in specs:
                        spec, state = specs[name]
                        spec = dict(spec, module_sha256=(dep.previous or {})["sha256"])
                        self.store.save_agent(name, spec, state)
                        saved = self.store.deploy_snapshot(dep.id, name)
                        if saved is None or saved[0] is None:
                            self.store.delete_snapshot(name)
                        else:
                            self.store.save_snapshot(name, saved[0], saved[1], cut=False)
                    dep.instances[name] = False
                dep.stage("restore", 0.0, "Rolled back: the node restarted mid-deployment")
                dep.to(S.ROLLED_BACK, "the node restarted mid-deployment")
                self.store.drop_deploy_snapshots(dep.id)
                self._save(dep)

    def recovered(self, only: Collection[str] | None = None) -> None:
        """After the agents came back: versions shown, live deployments kept rollback-able
        (``only``: for these agents, adopted by a cluster node)."""
        for rec in self.agents.records():
            if only is not None and (rec.primary or rec).name not in only:
                continue
            active = self.active((rec.primary or rec).name)
            rec.version = active.version if active is not None else None
            if rec.primary is None:
                set_version(self.agents.observe, rec.name, rec.version)
        for dep in self.records.values():
            if dep.state != S.RUNNING or dep.finalised or dep.strategy == "initial":
                continue
            if only is not None and dep.agent not in only:
                continue
            live = self.agents.by_name.get(dep.agent)
            if live is not None:
                self._keep_rollbackable(dep, live)
        self.store.commit()

    def _keep_rollbackable(self, dep: Deployment, rec: AgentRecord) -> None:
        previous = replace(rec.spec, module_sha256=(dep.previous or {})["sha256"])
        slots = instances_of(rec)
        run = Run(dep=dep, slots=slots, target=rec.spec, previous=previous, phase="running")
        for slot in slots:
            slot.journal_pinned = True
        self._runs[dep.agent] = run
        left = (dep.switched_at or time.time()) + dep.keep_previous - time.time()
        run.timer = self.runtime.call_later(max(0.0, left), lambda: self._finalise(run))
