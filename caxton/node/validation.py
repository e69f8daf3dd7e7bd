"""Validation off the node's loop: jobs for the validator process, and their outcomes.

The node hands each module to validate to ``Validator.submit`` with a
callback, and its loop goes on serving. Jobs run one at a time in the
validator process (``caxton.validator``), a supervised child of the node's
runtime. A job that outlives its timeout kills the process; a process that
dies mid-job fails that job with the reason; either way supervision starts a
fresh validator for the next job, and the node never waits on a module.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from caxton.wasm import ContractVector, Limits, ValidationReport
from supervisor import (
    Backoff,
    ChildNotRunning,
    ChildSpec,
    Event,
    Runtime,
    Supervisor,
    SupervisorSpec,
    TimerHandle,
)

log = logging.getLogger("caxton.node")

VALIDATOR = "validator"
SUPERVISOR_ID = "caxton:validator"
# per job: time for compiling and the static stages, on top of the guest's
# own deadlines (init, each vector and the probes each get one)
JOB_MARGIN_SECONDS = 10.0
PROBES = 4

#: a job's outcome: the report, or why there is none
Outcome = ValidationReport | str
Done = Callable[[Outcome], None]


@dataclass
class _Job:
    id: int
    frame: list[Any]
    timeout: float
    done: Done
    timer: TimerHandle | None = field(default=None)


class Validator:
    """The node's validation queue and the process that works it off.

    Promises every submitted job exactly one outcome, in submission order, and
    that no job runs longer than its timeout (nor than ``max_seconds``).
    """

    def __init__(self, runtime: Runtime, *, memory_bytes: int, max_seconds: float) -> None:
        self.runtime = runtime
        self.memory_bytes = memory_bytes
        self.max_seconds = max_seconds
        self._ids = itertools.count(1)
        self._queue: deque[_Job] = deque()
        self._current: _Job | None = None
        self._supervisor: Supervisor | None = None
        # a process was killed for its job and its exit is not seen yet: a job
        # sent now would reach the dying process
        self._replacing = False
        runtime.subscribe(self._on_event)

    def submit(self, wasm: bytes, policy: str, limits: Limits,
               vectors: list[ContractVector], done: Done) -> None:
        """Validate in the validator process; ``done`` is called from the loop."""
        runs = len(vectors) + PROBES
        timeout = min(self.max_seconds, limits.deadline_ms / 1000 * runs + JOB_MARGIN_SECONDS)
        job_id = next(self._ids)
        frame = [job_id, wasm, policy, limits.to_dict(), [v.to_dict() for v in vectors]]
        self._queue.append(_Job(job_id, frame, timeout, done))
        self._pump()

    @property
    def pending(self) -> int:
        return len(self._queue) + (self._current is not None)

    def _ensure_started(self) -> Supervisor:
        if self._supervisor is None or not self._supervisor.running:
            child = ChildSpec(VALIDATOR, "caxton.validator:main",
                              args=({"memory_bytes": self.memory_bytes},),
                              policy=Backoff(initial=0.05, maximum=2.0), shutdown="brutal_kill",
                              title="caxton validator")
            self._supervisor = self.runtime.start_supervisor(
                SupervisorSpec(SUPERVISOR_ID, intensity=100, period=10.0), [child],
                on_message=self._on_message, wait=False)
        return self._supervisor

    def _pump(self) -> None:
        if self._current is not None or self._replacing or not self._queue:
            return
        sup = self._ensure_started()
        job = self._queue[0]
        try:
            sup.send(VALIDATOR, job.frame)
        except ChildNotRunning:
            return  # between two processes: sent when the next one has started
        self._queue.popleft()
        self._current = job
        job.timer = self.runtime.call_later(job.timeout, lambda: self._expire(job))

    def _finish(self, job: _Job, outcome: Outcome) -> None:
        if self._current is not job:
            return
        self._current = None
        if job.timer is not None:
            job.timer.cancel()
        try:
            job.done(outcome)
        finally:
            self._pump()

    def _expire(self, job: _Job) -> None:
        if self._current is not job:
            return
        sup = self._supervisor
        pid = sup.pid_of(VALIDATOR) if sup is not None and sup.running else None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # supervision starts the next one
                self._replacing = True
        self._finish(job, f"validation did not finish within {job.timeout:g}s")

    def _on_message(self, _child: str, message: Any) -> None:
        job = self._current
        if job is None or not isinstance(message, list) or len(message) != 3:
            return
        job_id, report, error = message
        if job_id != job.id:
            return
        self._finish(job, ValidationReport.from_dict(report) if report is not None
                     else f"the validator failed: {error}")

    def _on_event(self, event: Event) -> None:
        if event.supervisor != SUPERVISOR_ID:
            return
        if event.kind == "exited":
            self._replacing = False
            if self._current is not None:
                log.warning("validator exited while validating (%s)", event.reason)
                self._finish(self._current, f"the validator died validating it: {event.reason}")
        elif event.kind == "started":
            self._pump()
