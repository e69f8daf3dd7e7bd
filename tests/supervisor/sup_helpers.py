"""Helpers for the supervisor tests: an event and message recorder that waits
through the runtime's loop, and a check for leftover processes. Imported as
``tests.supervisor.sup_helpers``; a test that waits on another process (not on
the loop) uses ``tests.helpers.wait_until``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import psutil

from supervisor import Event, Runtime
from supervisor.cgroups import _mounts, _own_cgroups


def leftovers_of(pid: int, prefix: str = "suptest") -> list[psutil.Process]:
    """Descendants of ``pid`` left by a runtime named ``prefix`` (its zygote
    and children carry that process title), alive or zombie. Processes of
    other tests in the same session are not ours to judge."""
    found = []
    try:
        for proc in psutil.Process(pid).children(recursive=True):
            try:
                if proc.name().startswith(prefix):
                    found.append(proc)
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return found


class Recorder:
    """Collects events and child messages; waits on them through the loop."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.events: list[Event] = []
        self.messages: list[tuple[str, Any]] = []
        runtime.subscribe(self.events.append)

    def on_message(self, child_id: str, message: Any) -> None:
        self.messages.append((child_id, message))

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        assert self.rt.run_until(predicate, timeout), "timed out waiting for a condition"

    def of(self, kind: str, child: str | None = None) -> list[Event]:
        return [e for e in self.events
                if e.kind == kind and (child is None or e.child == child)]

    def wait_event(self, kind: str, child: str | None = None, count: int = 1,
                   timeout: float = 10.0) -> Event:
        self.wait(lambda: len(self.of(kind, child)) >= count, timeout)
        return self.of(kind, child)[count - 1]

    def msgs(self, tag: str, child: str | None = None) -> list[Any]:
        return [m for c, m in self.messages
                if isinstance(m, list) and m and m[0] == tag and (child is None or c == child)]

    def wait_msg(self, tag: str, child: str | None = None, count: int = 1,
                 timeout: float = 10.0) -> Any:
        self.wait(lambda: len(self.msgs(tag, child)) >= count, timeout)
        return self.msgs(tag, child)[count - 1]


def host_allows_memory_cgroups() -> bool:
    """Independently of the runtime's detection: as root, with a memory
    controller mounted (v1) or offered to our cgroup (v2), cgroups must work."""
    if os.geteuid() != 0:
        return False
    mounts, own = _mounts(), _own_cgroups()
    if "memory" in mounts:
        return True
    if "cgroup2" in mounts and "" in own:
        point = mounts["cgroup2"][0]
        try:
            with open(os.path.join(point, own[""].lstrip("/"), "cgroup.controllers")) as fh:
                return "memory" in fh.read().split()
        except OSError:
            return False
    return False
