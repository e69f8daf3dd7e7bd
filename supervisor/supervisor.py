"""A supervisor: restart types, policies, strategies and intensity, OTP-style.

Supervisors are plain objects in the supervising process (in OTP they are
cheap processes; here only workers are OS processes). A nested supervisor is a
child entry that holds another Supervisor object; when its restart intensity
is exceeded it terminates its children and reports reason ``shutdown`` to its
parent, which then applies its own restart type, policy and intensity.

Starting is ordered like OTP's: a child is started only once the previous one
acknowledged its start (``ChildLink.ready()``, OTP's ``init_ack``). The
supervisor keeps a start queue and one start in flight; a synchronous caller
(``wait=True``) drives the runtime's ``await_start`` until its own start is
resolved, an asynchronous one (the embedder's ``wait=False``) lets the loop
resolve it and hears of it through events.

Terminating children is synchronous, in reverse start order, like OTP's
supervisor (which is busy while it shuts children down).

The supervisor talks to its runtime only through :class:`supervisor.host.Host`
and is called back through the :class:`supervisor.host.ChildOwner` methods
``child_started`` and ``child_exited``.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from . import reasons, wire
from .errors import (
    ChildExists,
    ChildNotRunning,
    ChildRestarting,
    ChildRunning,
    NoSuchChild,
    SimpleOneForOne,
    SpecError,
    StartFailed,
    SupervisorError,
    SupervisorStopped,
    ZygoteError,
)
from .loop import TimerHandle
from .process import Process
from .records import ChildInfo, ChildState, Down, MonitorRef
from .spec import Backoff, ChildSpec, Manual, Never, SupervisorSpec, check_child_for

if TYPE_CHECKING:
    from .host import Host

__all__ = ["Supervisor"]

S = ChildState

# how the current start of a child came about: it decides what a failure means
_INITIAL = "initial"  # one of the supervisor's initial children: its start fails
_DYNAMIC = "dynamic"  # start_child: the spec is dropped
_MANUAL = "manual"  # restart_child: the spec stays, stopped
_RESTART = "restart"  # supervision restarting it: retried, counting intensity

Outcome = tuple[str, str | None]  # ("ok" | "ignored" | "failed" | "stopped", reason)


class _Child:
    """A supervisor's entry for one child spec (survives restarts)."""

    __slots__ = ("attempts", "gave_up", "last_start", "origin", "outcome", "proc", "spec",
                 "state", "sub", "token")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.proc: Process | None = None
        self.sub: Supervisor | None = None
        self.state = S.STOPPED
        self.attempts = 0
        self.last_start = 0.0
        self.token = 0  # which pending group restart this child belongs to
        self.origin = _INITIAL
        self.outcome: Outcome | None = None  # of the latest start
        self.gave_up = False  # policy Never gave up on it: a group restart leaves it down

    @property
    def active(self) -> bool:
        if self.proc is not None:
            return not self.proc.exited
        return self.sub is not None and self.sub.running

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


class Supervisor:
    """Supervises an ordered list of children.

    ``on_message(child_id, message)`` is called in the loop for each message a
    child sends; a nested supervisor inherits its parent's handler unless
    ``on_message`` is assigned on it. ``wait`` is the supervisor's mode: True
    (OTP) makes its restarts wait for each child's acknowledgement; False (the
    embedder's mode) keeps every start and restart asynchronous.
    """

    def __init__(self, host: Host, spec: SupervisorSpec, initial: tuple[ChildSpec, ...],
                 *, parent: Supervisor | None,
                 on_message: Callable[[str, Any], None] | None, wait: bool = True) -> None:
        self.host = host
        self.spec = spec
        self.id = spec.id
        self.parent = parent
        self.wait = wait
        self.monitors: dict[MonitorRef, Callable[[Down], None]] = {}
        self._on_message = on_message
        self._initial = initial
        self._simple = spec.strategy == "simple_one_for_one"
        self._children: list[_Child] = []
        self._by_id: dict[str, _Child] = {}
        self._restarts: list[float] = []
        self._timers: set[TimerHandle] = set()
        self._running = False
        self._rand = random.Random()
        self._tokens = itertools.count(1)
        self._instances = itertools.count(1)
        self._queue: deque[_Child] = deque()
        self._inflight: _Child | None = None
        self._pumping = False
        self._booting = False
        self._boot_failure: tuple[str, str] | None = None
        self._on_booted: Callable[[str | None], None] | None = None

    # ============================================================ queries
    @property
    def on_message(self) -> Callable[[str, Any], None] | None:
        """Handler for messages from this supervisor's children; a nested
        supervisor without its own handler uses its parent's."""
        if self._on_message is None and self.parent is not None:
            return self.parent.on_message
        return self._on_message

    @on_message.setter
    def on_message(self, handler: Callable[[str, Any], None] | None) -> None:
        if handler is not None and not callable(handler):
            raise TypeError("on_message must be callable or None")
        self._on_message = handler

    @property
    def running(self) -> bool:
        return self._running

    @property
    def alive(self) -> bool:
        """For monitors (``supervisor.host.Watched``): same as ``running``."""
        return self._running

    def which_children(self) -> list[ChildInfo]:
        """Every child spec in start order (for ``simple_one_for_one``, every
        instance), with its pid and state."""
        return [ChildInfo(c.spec.id, c.pid, c.spec.type, c.state, c.spec.restart)
                for c in self._children]

    def count_children(self) -> dict[str, int]:
        """OTP's ``count_children``: specs, active, supervisors, workers."""
        if self._simple:
            template = self._initial[0]
            size = len(self._children)
            return {
                "specs": 1,
                "active": sum(1 for c in self._children if c.active),
                "supervisors": size if template.type == "supervisor" else 0,
                "workers": size if template.type == "worker" else 0,
            }
        return {
            "specs": len(self._children),
            "active": sum(1 for c in self._children if c.active),
            "supervisors": sum(1 for c in self._children if c.spec.type == "supervisor"),
            "workers": sum(1 for c in self._children if c.spec.type == "worker"),
        }

    def pid_of(self, child_id: str) -> int | None:
        return self._entry(child_id).pid

    def child_supervisor(self, child_id: str) -> Supervisor:
        """The Supervisor object of a nested supervisor child (the same object
        across its restarts)."""
        entry = self._entry(child_id)
        if entry.sub is None:
            if entry.spec.type != "supervisor":
                raise SupervisorError(f"{child_id!r} is a worker, not a supervisor")
            raise ChildNotRunning(child_id)
        return entry.sub

    # ========================================================== dynamic
    def start_child(self, spec: ChildSpec | tuple[Any, ...], *,
                    wait: bool = True) -> int | None:
        """Add a child at the end of the start order and start it; return its
        pid (None for a nested supervisor or a child that returned "ignore").

        For ``simple_one_for_one`` pass a tuple: an instance of the template
        is started with those arguments appended (its id is
        ``"<template id>#<n>"``).

        ``wait=True`` returns once the child acknowledged its start and raises
        :class:`StartFailed` (keeping no spec) if it failed first; ``wait=False``
        returns after the fork (the start is queued if another is under way)
        and reports through ``started``/``start_failed``/``ignored`` events."""
        self._check_running()
        if self._simple:
            if not isinstance(spec, tuple):
                raise SimpleOneForOne(f"supervisor {self.id!r} is simple_one_for_one: "
                                      "start_child takes a tuple of extra arguments")
            template = self._initial[0]
            instance = f"{template.id}#{next(self._instances)}"
            if template.supervisor is not None:  # nested supervisors take no arguments
                spec = dataclasses.replace(
                    template, id=instance,
                    supervisor=dataclasses.replace(template.supervisor, id=instance))
            else:
                spec = dataclasses.replace(template, id=instance, args=template.args + spec)
        elif not isinstance(spec, ChildSpec):
            raise SpecError("spec", f"must be a ChildSpec, got {spec!r}")
        else:
            check_child_for("spec", spec, self.spec)
        if spec.id in self._by_id:
            raise ChildExists(spec.id)
        entry = _Child(spec)
        self._children.append(entry)
        self._by_id[spec.id] = entry
        self._enqueue(entry, _DYNAMIC)
        self._pump()
        if not wait:
            return entry.pid
        self._drive(lambda: entry.outcome is not None)
        return self._result(entry)

    def terminate_child(self, child_id: str | int) -> None:
        """Stop a child (SIGTERM, then SIGKILL after its shutdown timeout); the
        spec stays, except for a temporary child (as in OTP). A pending restart
        is cancelled (under ``rest_for_one`` also those of the children after
        it). ``simple_one_for_one`` takes the instance's pid."""
        if self._simple:
            if not isinstance(child_id, int) or isinstance(child_id, bool):
                raise SimpleOneForOne(f"supervisor {self.id!r} is simple_one_for_one: "
                                      "terminate_child takes a pid")
            for entry in self._children:
                if entry.pid == child_id:
                    self._terminate([entry], restart=False)
                    return
            raise NoSuchChild(str(child_id), "no such instance")
        entry = self._entry(child_id)  # type: ignore[arg-type]
        cancelled = entry.state is S.RESTARTING
        token = entry.token
        self._terminate([entry], restart=False)
        if cancelled and self.spec.strategy == "rest_for_one":
            index = self._children.index(entry) if entry in self._children else -1
            for later in self._children[index + 1:] if index >= 0 else []:
                if later.state is S.RESTARTING and later.token == token:
                    later.state = S.STOPPED

    def restart_child(self, child_id: str, *, wait: bool = True) -> int | None:
        """Start a stopped child again; this is how a ``Manual`` child comes
        back. Does not count towards the restart intensity. A failure keeps
        the spec (stopped) and raises :class:`StartFailed` (``wait=True``)."""
        self._check_running()
        if self._simple:
            raise SimpleOneForOne("restart_child does not apply to simple_one_for_one")
        entry = self._entry(child_id)
        if entry.state is S.RESTARTING:
            raise ChildRestarting(child_id)
        if entry.active or entry.state is S.STARTING:
            raise ChildRunning(child_id)
        entry.attempts = 0
        entry.gave_up = False
        self._enqueue(entry, _MANUAL)
        self._pump()
        if not wait:
            return entry.pid
        self._drive(lambda: entry.outcome is not None)
        return self._result(entry)

    def delete_child(self, child_id: str) -> None:
        """Forget a stopped child's spec."""
        if self._simple:
            raise SimpleOneForOne("delete_child does not apply to simple_one_for_one")
        entry = self._entry(child_id)
        if entry.state is S.RESTARTING:
            raise ChildRestarting(child_id)
        if entry.active or entry.state is S.STARTING:
            raise ChildRunning(child_id)
        self._remove(entry)

    # ========================================================= messaging
    def send(self, child_id: str, message: Any) -> None:
        """Send a msgpack-able message to a child (queued until it connects)."""
        entry = self._by_id.get(child_id)
        if entry is None:
            raise NoSuchChild(child_id)
        proc = entry.proc
        if proc is None:
            raise ChildNotRunning(child_id)
        self.host.send(proc, wire.encode(message))

    def monitor(self, child_id: str, callback: Callable[[Down], None]) -> MonitorRef:
        """Exactly one Down for the child's current incarnation; ``noproc`` on
        the next loop turn if it has none."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        ref = MonitorRef.new(child_id)
        entry = self._by_id.get(child_id)
        if entry is not None and entry.sub is not None:
            self.host.monitor(entry.sub, ref, callback)
        else:
            self.host.monitor(entry.proc if entry is not None else None, ref, callback)
        return ref

    def demonitor(self, ref: MonitorRef) -> None:
        """Stop a monitor; its Down is never delivered after this returns."""
        self.host.demonitor(ref)

    def link(self, a: str, b: str) -> None:
        """Link two running workers: when one exits abnormally the other is
        killed with the same reason, unless it traps exits (then it receives an
        :class:`Exit`). Links belong to the current incarnations."""
        if a == b:
            raise SupervisorError("a child cannot be linked to itself")
        pa, pb = self._live_worker(a), self._live_worker(b)
        pa.links.add(pb)
        pb.links.add(pa)

    def unlink(self, a: str, b: str) -> None:
        pa, pb = self._by_id.get(a), self._by_id.get(b)
        if pa is not None and pb is not None and pa.proc is not None and pb.proc is not None:
            pa.proc.links.discard(pb.proc)
            pb.proc.links.discard(pa.proc)

    def stop(self) -> None:
        """Terminate the children in reverse start order, then this supervisor.
        A nested supervisor is terminated through its parent (it stays there as
        a stopped child)."""
        if self.parent is not None:
            for entry in self.parent._children:
                if entry.sub is self:
                    self.parent._terminate([entry], restart=False)
                    return
        if self._running:
            self._shutdown(reasons.SHUTDOWN, None)

    # ===================================================== start (boot)
    def boot(self) -> None:
        """Start (called once by the runtime for a top-level supervisor): the
        initial children in order; with ``wait`` return once all acknowledged,
        or raise :class:`StartFailed` after terminating the ones started."""
        self._begin(None)
        if self.wait:
            self._drive(lambda: not self._booting)
            if self._boot_failure is not None:
                raise StartFailed(*self._boot_failure)

    def _begin(self, on_booted: Callable[[str | None], None] | None) -> None:
        """(Re)start with the initial children, in order. Nested supervisors
        keep their Supervisor objects across the restart; ``on_booted`` hears
        once whether every initial child started (None) or why not."""
        old_subs = {c.spec.id: c.sub for c in self._children if c.sub is not None}
        self._children = []
        self._by_id = {}
        self._restarts = []
        self._queue.clear()
        self._inflight = None
        self._running = True
        self._booting = True
        self._boot_failure = None
        self._on_booted = on_booted
        self.host.emit("supervisor_started", self.id, None)
        if not self._simple:
            for spec in self._initial:
                entry = _Child(spec)
                entry.sub = old_subs.get(spec.id)
                self._children.append(entry)
                self._by_id[spec.id] = entry
                self._enqueue(entry, _INITIAL)
        self._pump()
        self._check_booted()

    def _check_booted(self) -> None:
        if not self._booting:
            return
        if any(c.origin == _INITIAL and c.state is S.STARTING for c in self._children):
            return
        self._booting = False
        callback, self._on_booted = self._on_booted, None
        if callback is not None:
            callback(None)

    def _fail_boot(self, entry: _Child, reason: str) -> None:
        """OTP: an initial child that fails to start fails the supervisor's
        start; the children already started are terminated."""
        self._booting = False
        self._boot_failure = (entry.spec.id, reason)
        callback, self._on_booted = self._on_booted, None
        self._shutdown(f"failed_to_start_child: {entry.spec.id}: {reason}", None)
        if callback is not None:
            callback(reason)

    # ==================================================== start machinery
    def _enqueue(self, entry: _Child, origin: str) -> None:
        entry.state = S.STARTING
        entry.origin = origin
        entry.outcome = None
        self._queue.append(entry)

    def _pump(self) -> None:
        """Launch the next queued start if none is in flight (one at a time:
        the next child starts once the previous acknowledged)."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._inflight is None and self._queue and self._running:
                entry = self._queue.popleft()
                if entry.state is not S.STARTING or self._by_id.get(entry.spec.id) is not entry:
                    continue
                self._inflight = entry
                self._launch(entry)
        finally:
            self._pumping = False

    def _launch(self, entry: _Child) -> None:
        entry.last_start = time.monotonic()
        spec = entry.spec
        if spec.type == "supervisor":
            assert spec.supervisor is not None
            if entry.sub is None:
                entry.sub = Supervisor(self.host, spec.supervisor, spec.children,
                                       parent=self, on_message=None, wait=self.wait)
            sub = entry.sub
            sub._begin(partial(self._sub_booted, entry, sub))
            return
        try:
            entry.proc = self.host.spawn(self, spec)
        except ZygoteError as exc:
            entry.proc = None
            self._start_failed(entry, f"spawn_failed: {exc}", None)

    def _drive(self, done: Callable[[], bool]) -> None:
        """Synchronous mode: wait (outside the loop) for the start in flight,
        then the next, until ``done()``."""
        while not done():
            proc = self._awaited_proc()
            if proc is None:
                return
            self.host.await_start(proc)
            if not (proc.acked or proc.finalized):
                return  # the runtime closed under us

    def _awaited_proc(self) -> Process | None:
        entry = self._inflight
        if entry is None:
            return None
        if entry.proc is not None:
            return entry.proc
        if entry.sub is not None:
            return entry.sub._awaited_proc()
        return None

    def _result(self, entry: _Child) -> int | None:
        outcome = entry.outcome
        if outcome is not None and outcome[0] == "failed":
            raise StartFailed(entry.spec.id, outcome[1] or "unknown")
        return entry.pid

    def _resolved(self, entry: _Child, outcome: Outcome) -> None:
        entry.outcome = outcome
        if self._inflight is entry:
            self._inflight = None
        self._pump()
        self._check_booted()

    # ------------------------------------------------ ChildOwner (runtime)
    def child_started(self, proc: Process) -> None:
        """The runtime saw the child's acknowledgement."""
        entry = self._by_id.get(proc.id)
        if entry is None or entry.proc is not proc or entry.state is not S.STARTING:
            return
        entry.state = S.RUNNING
        self.host.emit("started", self.id, proc.id, proc.pid)
        self._resolved(entry, ("ok", None))

    def child_exited(self, proc: Process, reason: str) -> None:
        """The runtime saw the child's process end. The restart decision is
        made here, before the ``exited`` event, which carries it."""
        if proc.terminating:
            self.host.emit("exited", self.id, proc.id, proc.pid, reason,
                           restart=proc.restart_after)
            return
        entry = self._by_id.get(proc.id)
        if entry is None or entry.proc is not proc:
            self.host.emit("exited", self.id, proc.id, proc.pid, reason)
            return
        entry.proc = None
        if not proc.acked:
            if proc.ignored:
                self._ignored(entry)
            else:
                self._start_failed(entry, reason, proc.pid)
            return
        self._on_exit(entry, reason, proc.pid)

    def _sub_booted(self, entry: _Child, sub: Supervisor, failure: str | None) -> None:
        if self._by_id.get(entry.spec.id) is not entry or entry.sub is not sub:
            return
        if entry.state is not S.STARTING:
            return
        if failure is None:
            entry.state = S.RUNNING
            self.host.emit("started", self.id, entry.spec.id)
            self._resolved(entry, ("ok", None))
        else:
            self._start_failed(entry, failure, None)

    def _sub_exited(self, entry: _Child, sub: Supervisor, reason: str) -> None:
        """A nested supervisor stopped by itself (intensity, auto-shutdown)."""
        if self._by_id.get(entry.spec.id) is not entry or entry.sub is not sub or sub.running:
            return
        if entry.state is S.STARTING:
            self._start_failed(entry, reason, None)
        elif entry.state is S.RUNNING:
            self._on_exit(entry, reason, None)

    def _ignored(self, entry: _Child) -> None:
        """OTP's ``ignore``: no process, not restarted; a temporary child's (or
        an instance's) spec is not kept."""
        self.host.emit("ignored", self.id, entry.spec.id)
        if entry.spec.restart == "temporary" or self._simple:
            self._remove(entry)
        entry.state = S.IGNORED
        self._resolved(entry, ("ignored", None))

    def _start_failed(self, entry: _Child, reason: str, pid: int | None) -> None:
        """The child failed before acknowledging this start."""
        if entry.origin == _RESTART and self._running:
            # OTP: a failed restart is tried again, each try counting intensity
            if not self._add_restart():
                entry.state = S.STOPPED
                self.host.emit("exited", self.id, entry.spec.id, pid, reason)
                self._abort_group(entry, None)
                self._resolved(entry, ("failed", reason))
                self.host.call_soon(partial(self._escalate, entry, reason))
                return
            token = next(self._tokens)
            entry.state = S.RESTARTING
            entry.token = token
            self.host.emit("exited", self.id, entry.spec.id, pid, reason, restart=True)
            self._abort_group(entry, token)
            self._resolved(entry, ("failed", reason))
            self.host.call_soon(partial(self._restart_group, entry, reason, token))
            return
        self.host.emit("exited", self.id, entry.spec.id, pid, reason)
        self.host.emit("start_failed", self.id, entry.spec.id, pid, reason)
        if entry.origin == _INITIAL and self._booting:
            self._queue.clear()
            self._inflight = None
            entry.state = S.STOPPED
            entry.outcome = ("failed", reason)
            self._fail_boot(entry, reason)
            return
        if entry.origin == _DYNAMIC:
            self._remove(entry)
        entry.state = S.STOPPED
        self._resolved(entry, ("failed", reason))

    def _abort_group(self, failed: _Child, token: int | None) -> None:
        """A restart in a group failed: the members still queued behind it are
        not started now; they wait for the retry (token) or stay down."""
        for other in list(self._queue):
            if other is not failed and other.origin == _RESTART and other.state is S.STARTING:
                self._queue.remove(other)
                if token is None:
                    other.state = S.STOPPED
                else:
                    other.state = S.RESTARTING
                    other.token = token

    # -------------------------------------------------- restart decision
    def _on_exit(self, entry: _Child, reason: str, pid: int | None) -> None:
        plan = self._decide(entry, reason)
        self.host.emit("exited", self.id, entry.spec.id, pid, reason,
                       restart=plan == "restart")
        child_id = entry.spec.id
        if plan == "gave_up":
            self.host.emit("gave_up", self.id, child_id, None, reason)
        elif plan == "manual":
            self.host.emit("manual_wait", self.id, child_id, None, reason)
        elif plan == "escalate":
            self.host.call_soon(partial(self._escalate, entry, reason))
        elif plan == "auto_shutdown":
            self.host.call_soon(partial(self._auto_shutdown, entry))
        elif plan == "restart":
            # after the event and the Downs: observers hear of the exit before
            # the restart (and its fork round trip) happens
            self.host.call_soon(partial(self._restart_group, entry, reason, entry.token))

    def _decide(self, entry: _Child, reason: str) -> str:
        spec = entry.spec
        if not self._running:
            entry.state = S.STOPPED
            return "stopped"
        if spec.restart == "temporary":
            self._remove(entry)
            return self._auto_shutdown_due(entry) or "removed"
        if spec.restart == "transient" and reasons.is_normal(reason):
            if self._simple:
                self._remove(entry)
            entry.state = S.STOPPED
            return self._auto_shutdown_due(entry) or "stopped"
        if isinstance(spec.policy, Never):
            entry.state = S.STOPPED
            entry.gave_up = True
            return "gave_up"
        if isinstance(spec.policy, Manual):
            entry.state = S.MANUAL_WAIT
            return "manual"
        if not self._add_restart():
            entry.state = S.STOPPED
            return "escalate"
        entry.state = S.RESTARTING
        entry.token = next(self._tokens)
        return "restart"

    def _auto_shutdown_due(self, entry: _Child) -> str | None:
        """OTP's do_auto_shutdown: after a significant child ended for good by
        itself (not through terminate_child)."""
        mode = self.spec.auto_shutdown
        if mode == "never" or not entry.spec.significant:
            return None
        if mode == "any_significant":
            return "auto_shutdown"
        for other in self._children:
            if other is not entry and other.spec.significant and (
                    other.active or other.state in (S.STARTING, S.RESTARTING)):
                return None
        return "auto_shutdown"

    def _add_restart(self) -> bool:
        """OTP's add_restart/can_restart: keep the restarts of the last
        ``period`` seconds, add this one; more than ``intensity`` -> give up."""
        now = time.monotonic()
        threshold = now - self.spec.period
        self._restarts = [t for t in self._restarts if t >= threshold]
        self._restarts.append(now)
        return len(self._restarts) <= self.spec.intensity

    def _group(self, entry: _Child) -> list[_Child]:
        strategy = self.spec.strategy
        if strategy == "one_for_all":
            return list(self._children)
        if strategy == "rest_for_one":
            return self._children[self._children.index(entry):]
        return [entry]

    def _restart_group(self, failed: _Child, reason: str, token: int) -> None:
        """OTP's restart/2: terminate the live members of the failed child's
        group in reverse start order, then start every non-temporary member
        again in start order, including ones stopped with ``terminate_child``
        (OTP's ``tree`` case); a ``Manual`` child waiting, or one its ``Never``
        policy gave up on, stays down."""
        if (not self._running or self._by_id.get(failed.spec.id) is not failed
                or failed.state is not S.RESTARTING or failed.token != token):
            return
        group = self._group(failed)
        for other in reversed(group):
            if other is failed or other.state is S.RESTARTING:
                continue
            if other.active or other.state is S.STARTING:
                self._terminate([other], restart=other.spec.restart != "temporary",
                                pump=False)
        members = [c for c in group
                   if c is failed or (c.spec.restart != "temporary" and not c.gave_up
                                      and c.state is not S.MANUAL_WAIT
                                      and self._by_id.get(c.spec.id) is c
                                      and (c.state is not S.RESTARTING or c.token == token)
                                      and not c.active)]
        delay = self._delay(failed)
        for member in members:
            member.state = S.RESTARTING
            member.token = token
        self.host.emit("restarting", self.id, failed.spec.id, None, reason, delay)
        if delay > 0:
            timer: TimerHandle | None = None

            def fire() -> None:
                if timer is not None:
                    self._timers.discard(timer)
                self._restart_members(members, token)

            timer = self.host.call_later(delay, fire)
            self._timers.add(timer)
        else:
            self._restart_members(members, token)

    def _delay(self, entry: _Child) -> float:
        policy = entry.spec.policy
        if not isinstance(policy, Backoff):
            return 0.0
        if time.monotonic() - entry.last_start >= policy.reset_after:
            entry.attempts = 0
        delay = policy.delay(entry.attempts, self._rand.random())
        entry.attempts += 1
        return delay

    def _restart_members(self, members: list[_Child], token: int) -> None:
        if not self._running:
            return
        todo = [m for m in members
                if self._by_id.get(m.spec.id) is m and m.state is S.RESTARTING
                and m.token == token]
        for member in todo:
            self._enqueue(member, _RESTART)
        self._pump()
        if self.wait:
            self._drive(lambda: all(m.state is not S.STARTING for m in todo))

    def _escalate(self, entry: _Child, reason: str) -> None:
        if not self._running:
            return
        self.host.emit("intensity_exceeded", self.id, entry.spec.id, None, reason)
        self._shutdown(reasons.SHUTDOWN, None)
        self._tell_parent(reasons.SHUTDOWN)

    def _auto_shutdown(self, entry: _Child) -> None:
        if not self._running:
            return
        self.host.emit("auto_shutdown", self.id, entry.spec.id)
        self._shutdown(reasons.SHUTDOWN, None)
        self._tell_parent(reasons.SHUTDOWN)

    def _tell_parent(self, reason: str) -> None:
        parent = self.parent
        if parent is None:
            return
        for parent_entry in parent._children:
            if parent_entry.sub is self:
                self.host.call_soon(partial(parent._sub_exited, parent_entry, self, reason))
                return

    # ---------------------------------------------------------- shutdown
    def _terminate(self, entries: list[_Child], *, restart: bool,
                   deadline: float | None = None, pump: bool = True) -> None:
        """Stop each entry (its process, nested supervisor, queued or pending
        start); ``restart`` is what their ``exited`` events say."""
        was_inflight = False
        for entry in entries:
            if entry in self._queue:
                self._queue.remove(entry)
            if self._inflight is entry:
                self._inflight = None
                was_inflight = True
            spec = entry.spec
            if entry.proc is not None:
                proc, entry.proc = entry.proc, None
                proc.restart_after = restart
                self.host.terminate([proc], spec.shutdown, deadline)
            elif entry.sub is not None and entry.sub.running:
                sub_deadline = deadline
                if isinstance(spec.shutdown, int | float):
                    limit = time.monotonic() + float(spec.shutdown)
                    sub_deadline = limit if deadline is None else min(deadline, limit)
                entry.sub._shutdown(reasons.SHUTDOWN, sub_deadline)
                self.host.emit("exited", self.id, spec.id, None, reasons.SHUTDOWN,
                               restart=restart)
            entry.state = S.STOPPED
            if entry.outcome is None:
                entry.outcome = ("stopped", reasons.SHUTDOWN)
            if spec.restart == "temporary" or self._simple:
                self._remove(entry)
        if was_inflight and pump:
            self._pump()

    def _shutdown(self, reason: str, deadline: float | None) -> None:
        self._running = False
        self._booting = False
        self._on_booted = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._queue.clear()
        self._inflight = None
        if self._simple:
            # OTP stops a simple_one_for_one supervisor's instances together
            procs = []
            for entry in self._children:
                if entry.proc is not None:
                    proc, entry.proc = entry.proc, None
                    procs.append(proc)
            self.host.terminate(procs, self._initial[0].shutdown, deadline)
            self._terminate(list(reversed(self._children)), restart=False,
                            deadline=deadline, pump=False)
        else:
            for entry in reversed(list(self._children)):
                self._terminate([entry], restart=False, deadline=deadline, pump=False)
        for entry in self._children:
            entry.state = S.STOPPED
        self.host.emit("terminated", self.id, None, None, reason)
        monitors, self.monitors = self.monitors, {}
        for ref, callback in monitors.items():
            self.host.deliver_down(ref, callback, Down(ref, self.id, None, reason))

    # ========================================================= internals
    def _entry(self, child_id: str) -> _Child:
        entry = self._by_id.get(child_id)
        if entry is None:
            raise NoSuchChild(str(child_id))
        return entry

    def _live_worker(self, child_id: str) -> Process:
        entry = self._entry(child_id)
        if entry.spec.type != "worker":
            raise SupervisorError(f"{child_id!r}: only workers can be linked")
        if entry.proc is None or entry.proc.exited:
            raise ChildNotRunning(child_id)
        return entry.proc

    def _check_running(self) -> None:
        if not self._running:
            raise SupervisorStopped(f"supervisor {self.id!r} is not running")

    def _remove(self, entry: _Child) -> None:
        if self._by_id.get(entry.spec.id) is entry:
            del self._by_id[entry.spec.id]
            self._children.remove(entry)
        entry.state = S.STOPPED

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<Supervisor {self.id!r} {state} children={len(self._children)}>"
