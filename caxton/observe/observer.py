"""The node's observer: figures kept on the loop, published for readers on other threads.

The node's rooms report through ``Hooks`` (one call per ack batch, per
instance death, per dead letter, per validation), so the message path gains
a dict lookup and a ``deque.extend`` per batch; each agent process times its
own ``caxton_handle`` calls and the counts ride on its acknowledgements.

Readers (the HTTP endpoint's ``/metrics``, the dashboard's JSON, ``caxton top``
through the ``overview`` operation) never touch the loop's objects: the loop
builds an immutable ``View`` on its tick, but only while somebody has asked
in the last few seconds (``want``), so a node nobody watches builds nothing.
A reader that asks waits at most one tick for a fresh view.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caxton.observe import tracing
from caxton.observe.deploy import Deployments
from caxton.observe.histogram import Histogram, quantile
from caxton.observe.hooks import Hooks
from caxton.observe.logs import event
from caxton.observe.recorder import CRASH_KINDS, PICK, CrashStore, capture, crash_kind, new_ring

__all__ = ["AgentFigures", "Observer", "View"]

log = logging.getLogger("caxton.observe")

#: lifecycle states, so ``caxton_agents{state}`` shows every state, zeros included
STATES = ("unloaded", "loaded", "ready", "running", "draining", "stopped", "failed")
DEFAULT_MEMORY_LIMIT = 16 * 2**20   # caxton.wasm.Limits' default
RATE_WINDOW = 10.0                  # seconds behind a rate and a p99
WANTED_FOR = 10.0                   # seconds views keep being built after a reader asked
DOWNS_KEPT = 50


@dataclass(eq=False)
class AgentFigures:
    """What the observer keeps per agent beside its record."""

    times: Histogram = field(default_factory=Histogram)
    ring: deque[Any] = field(default_factory=new_ring)
    fuel_base: int = 0          # fuel of the agent's dead instances
    dead_letters: int = 0
    history: deque[tuple[float, int, tuple[int, ...]]] = field(default_factory=deque)


@dataclass(frozen=True)
class View:
    """A moment of the node, built on the loop and read anywhere."""

    built: float                              # monotonic
    overview: dict[str, Any]                  # JSON: the dashboard's and top's
    histograms: dict[str, tuple[list[tuple[str, int]], float]]  # agent -> buckets, sum
    downs: dict[tuple[str, str], int]
    dead_letters: dict[str, int]
    commit: tuple[list[tuple[str, int]], float]
    deployment_durations: dict[tuple[str, str], tuple[list[tuple[str, int]], float]]
    validation_times: dict[str, tuple[list[tuple[str, int]], float]]
    rollbacks: dict[str, int]
    validations: dict[str, int]


class Observer(Hooks):
    """Figures, DOWN history, crash records and deployments of one node."""

    timing = True

    def __init__(self, *, name: str, registry: dict[str, Any], store: Any, data_dir: Path,
                 started: float, trace_every: int = 100,
                 node_info: Callable[[], dict[str, Any]] | None = None) -> None:
        self.name = name
        self.registry = registry
        self.store = store
        self.started = started
        self.crashes = CrashStore(data_dir)
        self.deployments = Deployments()
        self.figures: dict[Any, AgentFigures] = {}
        self.downs: deque[dict[str, Any]] = deque(maxlen=DOWNS_KEPT)
        self.down_counts: Counter[tuple[str, str]] = Counter()
        self.dead_letters: Counter[str] = Counter()
        self.validations: Counter[str] = Counter()
        self.commit_times = Histogram()
        self.node_info = node_info or dict
        self._trace_every = max(1, trace_every)
        self._batches = 0
        self._view: View | None = None
        self._changed = threading.Condition()
        self._wanted_until = 0.0
        self._time_commits(store)

    # -- hooks (the loop's thread) ---------------------------------------------------------

    def _figures(self, rec: Any) -> AgentFigures:
        figures = self.figures.get(rec)
        if figures is None:
            figures = self.figures[rec] = AgentFigures()
        return figures

    def acked(self, rec: Any, acks: list[Any], stats: list[int]) -> None:
        figures = self.figures.get(rec) or self._figures(rec)
        figures.ring.extend(map(PICK, acks))
        if len(stats) > 6:
            figures.times.merge_wire(stats[4:])
        self._batches += 1
        if self._batches % self._trace_every == 0 and acks:
            self._trace_message(rec, acks[-1], stats)

    def _trace_message(self, rec: Any, ack: Any, stats: list[int]) -> None:
        """A sampled ``message.handle`` span: the batch's mean handle time, its last message."""
        if tracing.tracer() is None:
            return
        counts = stats[6::2] if len(stats) > 6 else []
        mean = (stats[4] / 1e9 / max(1, sum(counts))) if counts else 0.0
        tracing.record_span("message.handle", mean, {
            "agent": rec.name, "message.id": int(ack[0]), "status": str(ack[1]),
            "fuel": int(ack[5])})

    def down(self, rec: Any, pid: int | None, reason: str, restarting: bool) -> None:
        figures = self._figures(rec)
        figures.fuel_base += rec.fuel_consumed
        full = rec.blame_reason or reason
        kind = crash_kind(full)
        self.down_counts[(rec.name, kind)] += 1
        down = {"agent": rec.name, "pid": pid, "reason": full, "kind": kind,
                "restarting": restarting, "time": time.time()}
        self.downs.appendleft(down)
        event(log, logging.WARNING if kind not in ("normal", "shutdown") else logging.INFO,
              f"agent {rec.name} instance {pid} down: {full}"
              + ("; restarting" if restarting else ""),
              event="down", agent_id=rec.name, pid=pid, reason=kind, detail=full,
              restarting=restarting, restarts=rec.restarts + (1 if restarting else 0))
        if kind in CRASH_KINDS:
            self._record_crash(rec, pid, reason, figures, down)

    def _record_crash(self, rec: Any, pid: int | None, reason: str, figures: AgentFigures,
                      down: dict[str, Any]) -> None:
        blame = (rec.in_flight.get(rec.blamed) if rec.blamed is not None
                 else next(iter(rec.in_flight.values()), None))
        try:
            crash = capture(rec, self.store, figures.ring, pid, reason, blame)
            down["crash"] = self.crashes.record(rec.name, crash)
        except Exception:  # a recorder failure must never cost the node
            log.exception("agent %s: the crash could not be recorded", rec.name)

    def dead_letter(self, rec: Any, reason: str, kind: str) -> None:
        self.dead_letters[rec.name] += 1
        if kind == "killed":  # the router counted it among rec.failed too
            self._figures(rec).dead_letters += 1

    def validated(self, name: str, outcome: Any) -> None:
        if isinstance(outcome, str):
            self.validations["error"] += 1
            event(log, logging.WARNING, f"validation of {name} failed: {outcome}",
                  event="validation_failed", agent_id=name, reason=outcome)
            return
        passed = bool(outcome.passed)
        self.validations["passed" if passed else "failed"] += 1
        root = tracing.record_span("agent.validate", outcome.duration_s,
                                   {"agent": name, "passed": passed})
        end = time.time_ns()
        for stage in reversed(outcome.stages):
            if stage.status != "skipped":
                tracing.record_span(f"validation.{stage.name}", stage.duration_s,
                                    {"status": stage.status}, parent=root, end_ns=end)
                end -= int(stage.duration_s * 1e9)
        if not passed:
            errors = [f"{s.name}: {f.message}" for s in outcome.stages for f in s.findings
                      if s.status == "failed" and f.severity == "error"]
            event(log, logging.WARNING, f"validation of {name} failed: {'; '.join(errors)}",
                  event="validation_failed", agent_id=name,
                  stages={s.name: s.status for s in outcome.stages}, errors=errors)

    def _time_commits(self, store: Any) -> None:
        """Time every journal commit by wrapping the store's bound method: the node's
        call sites stay as they are, and a commit costs two clock reads more."""
        inner = store.commit
        clock = time.perf_counter
        observe = self.commit_times.observe

        def commit() -> bool:
            started = clock()
            try:
                return bool(inner())
            finally:
                observe(clock() - started)

        with contextlib.suppress(AttributeError):  # a store with slots: commits go untimed
            store.commit = commit

    # -- views ------------------------------------------------------------------------------

    def want(self, timeout: float = 1.0) -> View | None:
        """(Any thread.) Ask for a view no older than this call; waits at most ``timeout``."""
        asked = time.monotonic()
        self._wanted_until = asked + WANTED_FOR
        with self._changed:
            self._changed.wait_for(lambda: self._view is not None and self._view.built >= asked,
                                   timeout)
            return self._view

    def latest(self) -> View | None:
        return self._view

    def tick(self) -> None:
        """(Loop.) Build a view while a reader wants them."""
        if time.monotonic() < self._wanted_until:
            self.publish()

    def publish(self) -> View:
        view = self.build()
        with self._changed:
            self._view = view
            self._changed.notify_all()
        return view

    def build(self) -> View:
        now = time.monotonic()
        agents, histograms = [], {}
        states: Counter[str] = Counter()
        for rec in list(self.registry.values()):
            figures = self._figures(rec)
            state = str(rec.lifecycle.state)
            states[state] += 1
            agents.append(self._agent_row(rec, figures, state, now))
            histograms[rec.name] = (figures.times.buckets(), figures.times.total_seconds)
        for gone in [r for r in self.figures if r.name not in self.registry
                     or self.registry[r.name] is not r]:
            del self.figures[gone]
        agents = _group_instances(agents)
        deployments = self.deployments
        overview = {
            "node": {"name": self.name, "pid": os.getpid(), "time": time.time(),
                     "uptime_s": time.time() - self.started, "agents": len(agents),
                     **self.node_info()},
            "agents": agents,
            "states": {s: states.get(s, 0) for s in STATES},
            "downs": list(self.downs),
            "deployments": deployments.in_progress(),
            "dead_letters": sum(self.dead_letters.values()),
        }
        return View(
            built=now, overview=overview, histograms=histograms,
            downs=dict(self.down_counts), dead_letters=dict(self.dead_letters),
            commit=(self.commit_times.buckets(), self.commit_times.total_seconds),
            deployment_durations={k: (h.buckets(), h.total_seconds)
                                  for k, h in deployments.durations.items()},
            validation_times={k: (h.buckets(), h.total_seconds)
                              for k, h in deployments.validation_times.items()},
            rollbacks=dict(deployments.rollbacks), validations=dict(self.validations))

    def _agent_row(self, rec: Any, figures: AgentFigures, state: str,
                   now: float) -> dict[str, Any]:
        spec = rec.spec
        counts = tuple(figures.times.counts)
        history = figures.history
        history.append((now, rec.handled, counts))
        while len(history) > 2 and now - history[1][0] >= RATE_WINDOW:
            history.popleft()
        then, handled_then, counts_then = history[0]
        span = now - then
        recent = [a - b for a, b in zip(counts, counts_then, strict=True)]
        if span <= 0:  # the first view of this agent: its whole life so far
            recent = list(counts)
        p99 = quantile(0.99, recent)
        versions = self.deployments.versions.get(rec.name) or {
            str(getattr(spec, "version", None) or spec.module_sha256[:12]): 1.0}
        sup = rec.supervisor
        errors = max(0, rec.failed - figures.dead_letters)
        return {
            "name": rec.name, "state": state, "versions": versions,
            "instances": 1 if rec.pid is not None else 0, "pid": rec.pid,
            "supervisor": None if sup is None else str(getattr(sup, "id", f"agent:{rec.name}")),
            "health": rec.health if rec.pid is not None else "-",
            "uptime_s": (time.time() - rec.started_at
                         if rec.started_at is not None and rec.pid is not None else None),
            "restarts": rec.restarts, "last_failure": rec.last_failure,
            "memory_bytes": rec.memory_bytes,
            "memory_limit_bytes": int(spec.limits.get("memory_bytes", DEFAULT_MEMORY_LIMIT)),
            "fuel_consumed_total": figures.fuel_base + rec.fuel_consumed,
            "violations": rec.violations, "mailbox_depth": rec.depth,
            "handled": rec.handled, "ok": rec.handled - errors, "errors": errors,
            "dead_letters": figures.dead_letters,
            "rate": (rec.handled - handled_then) / span if span > 0 else 0.0,
            "p99_ms": None if p99 is None else p99 * 1000,
            "policy": spec.policy_kind, "restart": spec.restart,
        }


# what adds up over an agent's instances (records ``NAME#k`` beside ``NAME``)
_SUMMED = ("instances", "restarts", "memory_bytes", "fuel_consumed_total", "violations",
           "mailbox_depth", "handled", "ok", "errors", "dead_letters", "rate")


def _group_instances(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per agent: a scaled agent's instance records fold into its own row, their
    counters summed and its p99 the worst of theirs."""
    grouped: dict[str, dict[str, Any]] = {}
    for row in rows:
        base = row["name"].split("#", 1)[0]
        head = grouped.get(base)
        if head is None:
            grouped[base] = dict(row, name=base)
            continue
        for key in _SUMMED:
            head[key] = (head.get(key) or 0) + (row.get(key) or 0)
        if row.get("p99_ms") is not None:
            head["p99_ms"] = max(head.get("p99_ms") or 0.0, row["p99_ms"])
    return list(grouped.values())

