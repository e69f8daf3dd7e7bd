"""CPU time per operation, per process: where a round trip's time is spent.

A call crosses three processes (client, node, agent). Reading each one's CPU
time (all its threads, ZeroMQ's I/O thread included) around a timed series and
dividing by the number of operations says which process a figure is bound by,
without a profiler slowing anything down. The numbers go in the JSON detail.
"""

from __future__ import annotations

import os
from types import TracebackType

import psutil


class CpuMeter:
    """Accumulates user+system CPU seconds of named processes over ``with`` blocks."""

    def __init__(self, **pids: int) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._processes.setdefault("client", psutil.Process(os.getpid()))
        self._spent = dict.fromkeys(self._processes, 0.0)
        self._started: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {}
        for name, process in self._processes.items():
            try:
                times = process.cpu_times()
                now[name] = times.user + times.system
            except psutil.Error:  # the process is gone: it spent nothing more
                now[name] = self._started.get(name, 0.0)
        return now

    def __enter__(self) -> CpuMeter:
        self._started = self._now()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for name, value in self._now().items():
            self._spent[name] += value - self._started[name]

    def per_operation_us(self, operations: int) -> dict[str, float]:
        """Microseconds of CPU per operation, for each process."""
        if operations <= 0:
            return {}
        return {f"{name}_cpu_us": round(spent / operations * 1e6, 1)
                for name, spent in self._spent.items()}
