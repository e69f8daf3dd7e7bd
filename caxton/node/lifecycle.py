"""The agent lifecycle state machine.

``unloaded → loaded → ready → running ⇄ draining → stopped``, and ``failed``.
Only these transitions are allowed; each is recorded with its time and reason.
An instance that crashes and is replaced under its restart policy does *not*
leave ``running``: the replacement is an instance-level event (counted in
``restarts``), not a lifecycle transition. The agent moves to ``failed`` only
when supervision gives up on it (policy ``manual`` or ``never``, the restart
intensity exceeded, or an instance that cannot start at all).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """An agent's lifecycle state (the module's docstring has the machine)."""

    UNLOADED = "unloaded"
    LOADED = "loaded"
    READY = "ready"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"
    FAILED = "failed"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.UNLOADED: frozenset({State.LOADED, State.FAILED}),
    State.LOADED: frozenset({State.READY, State.FAILED, State.STOPPED}),
    State.READY: frozenset({State.RUNNING, State.FAILED, State.STOPPED}),
    State.RUNNING: frozenset({State.DRAINING, State.FAILED}),
    State.DRAINING: frozenset({State.RUNNING, State.STOPPED, State.FAILED}),
    State.STOPPED: frozenset({State.LOADED}),
    State.FAILED: frozenset({State.LOADED, State.STOPPED}),
}


class IllegalTransition(RuntimeError):
    """A transition the state machine does not allow: a bug in the caller, never input."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded move of the state machine, with when and why."""

    time: float
    source: State
    target: State
    reason: str


class Lifecycle:
    """One agent's state machine: refuses transitions it does not allow, records the rest."""

    def __init__(
        self,
        state: State = State.UNLOADED,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self.state = state
        self.history: list[Transition] = []
        self._on_transition = on_transition

    def can(self, target: State) -> bool:
        return target in TRANSITIONS[self.state]

    def to(self, target: State, reason: str = "") -> None:
        if not self.can(target):
            raise IllegalTransition(f"{self.state} → {target} is not a lifecycle transition")
        record = Transition(time.time(), self.state, target, reason)
        self.state = target
        self.history.append(record)
        if self._on_transition is not None:
            self._on_transition(record)
