"""A supervisor: restart types, policies, strategies and intensity, OTP-style.

Supervisors are plain objects in the supervising process (in OTP they are
cheap processes; here only workers are OS processes). A nested supervisor is a
child entry that holds another Supervisor object; when its restart intensity
is exceeded it terminates its children and reports reason ``shutdown`` to its
parent, which then applies its own restart type, policy and intensity.

Terminating children is synchronous, in reverse start order, like OTP's
supervisor (which is busy while it shuts children down).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from . import reasons, wire
from .errors import (
    ChildExists,
    ChildNotRunning,
    ChildRunning,
    NoSuchChild,
    SpecError,
    SupervisorError,
    SupervisorStopped,
    ZygoteError,
)
from .loop import TimerHandle
from .process import Process
from .records import ChildInfo, Down, MonitorRef
from .spec import Backoff, ChildSpec, Manual, Never, SupervisorSpec

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["Supervisor"]


class _Child:
    """A supervisor's entry for one child spec (survives restarts)."""

    __slots__ = ("attempts", "last_start", "proc", "spec", "state", "sub", "token")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.proc: Process | None = None
        self.sub: Supervisor | None = None
        self.state = "stopped"
        self.attempts = 0
        self.last_start = 0.0
        self.token = 0  # which pending group restart this child belongs to

    @property
    def active(self) -> bool:
        if self.proc is not None:
            return True
        return self.sub is not None and self.sub.running

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


class Supervisor:
    """Supervises an ordered list of children.

    ``on_message(child_id, message)`` is called in the loop for each message a
    child sends; a nested supervisor inherits its parent's handler unless
    ``on_message`` is assigned on it.
    """

    def __init__(self, runtime: Runtime, spec: SupervisorSpec, initial: tuple[ChildSpec, ...],
                 *, parent: Supervisor | None,
                 on_message: Callable[[str, Any], None] | None) -> None:
        self.runtime = runtime
        self.spec = spec
        self.id = spec.id
        self.parent = parent
        self._on_message = on_message
        self._initial = initial
        self._children: list[_Child] = []
        self._by_id: dict[str, _Child] = {}
        self._restarts: list[float] = []
        self._timers: set[TimerHandle] = set()
        self._monitors: dict[MonitorRef, Callable[[Down], None]] = {}
        self._running = False
        self._rand = random.Random()
        self._tokens = itertools.count(1)

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

    def which_children(self) -> list[ChildInfo]:
        """Every child spec in start order, with its pid and state."""
        return [ChildInfo(c.spec.id, c.pid, c.spec.type, c.state, c.spec.restart)
                for c in self._children]

    def count_children(self) -> dict[str, int]:
        """OTP's ``count_children``: specs, active, supervisors, workers."""
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
    def start_child(self, spec: ChildSpec) -> None:
        """Add a child at the end of the start order and start it."""
        self._check_running()
        if not isinstance(spec, ChildSpec):
            raise SpecError("spec", f"must be a ChildSpec, got {spec!r}")
        if spec.id in self._by_id:
            raise ChildExists(spec.id)
        entry = _Child(spec)
        self._children.append(entry)
        self._by_id[spec.id] = entry
        self._start_entry(entry)

    def terminate_child(self, child_id: str) -> None:
        """Stop a child (SIGTERM, then SIGKILL after its shutdown timeout); the
        spec stays, except for a temporary child (as in OTP)."""
        entry = self._entry(child_id)
        self._terminate_entry(entry)

    def restart_child(self, child_id: str) -> None:
        """Start a stopped child again; this is how a ``Manual`` child comes
        back. Does not count towards the restart intensity."""
        self._check_running()
        entry = self._entry(child_id)
        if entry.active:
            raise ChildRunning(child_id)
        entry.attempts = 0
        self._start_entry(entry)

    def delete_child(self, child_id: str) -> None:
        """Forget a stopped child's spec."""
        entry = self._entry(child_id)
        if entry.active:
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
        self.runtime._send(proc, wire.encode(message))

    def monitor(self, child_id: str, callback: Callable[[Down], None]) -> MonitorRef:
        """Exactly one Down for the child's current incarnation; ``noproc`` on
        the next loop turn if it has none."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        ref = MonitorRef.new(child_id)
        entry = self._by_id.get(child_id)
        if entry is not None and entry.sub is not None and entry.sub.running:
            self.runtime._monitors[ref] = entry.sub
            entry.sub._monitors[ref] = callback
            return ref
        self.runtime._monitor(entry.proc if entry is not None else None, ref, callback)
        return ref

    def demonitor(self, ref: MonitorRef) -> None:
        """Stop a monitor; its Down is never delivered after this returns."""
        self.runtime._demonitor(ref)

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
                    self.parent._terminate_entry(entry)
                    return
        if self._running:
            self._shutdown(reasons.SHUTDOWN, None)

    # ========================================================= internals
    def _entry(self, child_id: str) -> _Child:
        entry = self._by_id.get(child_id)
        if entry is None:
            raise NoSuchChild(child_id)
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

    def _start(self) -> None:
        """(Re)start with the initial children, in order. Nested supervisors
        keep their Supervisor objects across the restart."""
        old_subs = {c.spec.id: c.sub for c in self._children if c.sub is not None}
        self._children = []
        self._by_id = {}
        self._restarts = []
        self._running = True
        self.runtime._emit("supervisor_started", self.id, None)
        for spec in self._initial:
            if not self._running:
                break
            entry = _Child(spec)
            entry.sub = old_subs.get(spec.id)
            self._children.append(entry)
            self._by_id[spec.id] = entry
            self._start_entry(entry)

    def _start_entry(self, entry: _Child) -> None:
        entry.last_start = time.monotonic()
        spec = entry.spec
        if spec.type == "supervisor":
            assert spec.supervisor is not None
            if entry.sub is None:
                entry.sub = Supervisor(self.runtime, spec.supervisor, spec.children,
                                       parent=self, on_message=None)
            entry.state = "running"
            self.runtime._emit("started", self.id, spec.id)
            entry.sub._start()
            return
        try:
            entry.proc = self.runtime._spawn(self, spec)
        except ZygoteError as exc:
            entry.proc = None
            entry.state = "restarting"
            reason = f"start_failed: {exc}"
            self.runtime._emit("exited", self.id, spec.id, None, reason)
            self.runtime.call_soon(partial(self._after_failed_start, entry, reason))
            return
        entry.state = "starting"

    def _after_failed_start(self, entry: _Child, reason: str) -> None:
        if self._by_id.get(entry.spec.id) is entry and entry.state == "restarting":
            self._child_exited(entry, reason)

    def _on_ready(self, proc: Process) -> None:
        entry = self._by_id.get(proc.id)
        if entry is not None and entry.proc is proc:
            entry.state = "running"

    def _on_worker_exit(self, proc: Process, reason: str) -> None:
        entry = self._by_id.get(proc.id)
        if entry is None or entry.proc is not proc:
            return
        entry.proc = None
        self._child_exited(entry, reason)

    def _on_sub_exit(self, entry: _Child, sub: Supervisor, reason: str) -> None:
        if self._by_id.get(entry.spec.id) is not entry or entry.sub is not sub:
            return
        if entry.state != "running" or sub.running:
            return
        self.runtime._emit("exited", self.id, entry.spec.id, None, reason)
        self._child_exited(entry, reason)

    # -------------------------------------------------- restart decision
    def _child_exited(self, entry: _Child, reason: str) -> None:
        spec = entry.spec
        if not self._running:
            entry.state = "stopped"
            return
        if spec.restart == "temporary":
            self._remove(entry)
            return
        if spec.restart == "transient" and reasons.is_normal(reason):
            entry.state = "stopped"
            return
        if isinstance(spec.policy, Never):
            entry.state = "stopped"
            self.runtime._emit("gave_up", self.id, spec.id, None, reason)
            return
        if isinstance(spec.policy, Manual):
            entry.state = "manual_wait"
            self.runtime._emit("manual_wait", self.id, spec.id, None, reason)
            return
        if not self._add_restart():
            self._escalate(entry, reason)
            return
        self._restart_group(entry, reason)

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

    def _restart_group(self, failed: _Child, reason: str) -> None:
        group = self._group(failed)
        members: list[_Child] = []
        for other in reversed(group):
            if other is failed:
                continue
            if other.active or other.state == "restarting":
                was_temporary = other.spec.restart == "temporary"
                self._terminate_entry(other)
                if not was_temporary:
                    members.append(other)
        members.append(failed)
        members.sort(key=self._children.index)
        delay = self._delay(failed)
        token = next(self._tokens)
        for member in members:
            member.state = "restarting"
            member.token = token
        self.runtime._emit("restarting", self.id, failed.spec.id, None, reason, delay)
        if delay > 0:
            timer: TimerHandle | None = None

            def fire() -> None:
                if timer is not None:
                    self._timers.discard(timer)
                self._restart_members(members, token)

            timer = self.runtime.call_later(delay, fire)
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
        for member in members:
            if not self._running:
                return
            if (self._by_id.get(member.spec.id) is member and member.state == "restarting"
                    and member.token == token):
                self._start_entry(member)

    def _escalate(self, entry: _Child, reason: str) -> None:
        self.runtime._emit("intensity_exceeded", self.id, entry.spec.id, None, reason)
        self._shutdown(reasons.SHUTDOWN, None)
        parent = self.parent
        if parent is not None:
            for parent_entry in parent._children:
                if parent_entry.sub is self:
                    self.runtime.call_soon(partial(parent._on_sub_exit, parent_entry, self,
                                                   reasons.SHUTDOWN))
                    break

    # ---------------------------------------------------------- shutdown
    def _terminate_entry(self, entry: _Child, deadline: float | None = None) -> None:
        spec = entry.spec
        if entry.proc is not None:
            proc, entry.proc = entry.proc, None
            self.runtime._terminate(proc, spec.shutdown, deadline)
        elif entry.sub is not None and entry.sub.running:
            sub_deadline = deadline
            if isinstance(spec.shutdown, int | float):
                limit = time.monotonic() + float(spec.shutdown)
                sub_deadline = limit if deadline is None else min(deadline, limit)
            entry.sub._shutdown(reasons.SHUTDOWN, sub_deadline)
            self.runtime._emit("exited", self.id, spec.id, None, reasons.SHUTDOWN)
        entry.state = "stopped"
        if spec.restart == "temporary":
            self._remove(entry)

    def _shutdown(self, reason: str, deadline: float | None) -> None:
        self._running = False
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for entry in reversed(list(self._children)):
            self._terminate_entry(entry, deadline)
        for entry in self._children:
            entry.state = "stopped"
        self.runtime._emit("terminated", self.id, None, None, reason)
        monitors, self._monitors = self._monitors, {}
        for ref, callback in monitors.items():
            self.runtime._deliver_down(ref, callback, Down(ref, self.id, None, reason))

    def _remove(self, entry: _Child) -> None:
        if self._by_id.get(entry.spec.id) is entry:
            del self._by_id[entry.spec.id]
            self._children.remove(entry)
        entry.state = "stopped"

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<Supervisor {self.id!r} {state} children={len(self._children)}>"
