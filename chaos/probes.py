"""Asking "is it serving again?" the way a user would: with a call that gets answered.

A fault's recovery ends when a call sent after the fault is answered (by a new
instance, for a kill), or when the node answers again after a node crash.
Probes run on clients of their own, so a slow recovery never blocks the load.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import caxton
from chaos.ledger import PING, PONG

RECOVERY_DEADLINE_S = 30.0
PROBE_TIMEOUT_S = 2.0
RETRY_PAUSE_S = 0.01

#: Errors that mean "not serving yet": the probe tries again.
_NOT_YET = (caxton.CallTimeout, caxton.NodeUnavailable, caxton.AgentNotRunning,
            caxton.CallFailed, caxton.MailboxFull)


def probe_payload(kind: str) -> bytes:
    """A message with no effect on the agent's state ("get" for a counter)."""
    return b"get" if kind == "counter" else PING


def reply_is_sane(kind: str, reply: bytes) -> bool:
    return reply.isdigit() if kind == "counter" else reply == PONG


def await_serving(address: str, name: str, kind: str, clock: Callable[[], float],
                  stop: threading.Event, *, not_pid: int | None = None,
                  deadline_s: float = RECOVERY_DEADLINE_S) -> tuple[float, int | None] | None:
    """When (run clock) a probe call to ``name`` was answered, and the pid serving it.

    With ``not_pid`` the answer only counts once the agent's pid is another one
    (the instance was replaced). ``None`` if that did not happen in time.
    """
    deadline = time.monotonic() + deadline_s
    payload = probe_payload(kind)
    with caxton.connect(address, timeout=PROBE_TIMEOUT_S) as client:
        while time.monotonic() < deadline and not stop.is_set():
            try:
                reply = client.call(name, payload, timeout=PROBE_TIMEOUT_S)
                answered = clock()
                pid = client.status(name).pid
            except _NOT_YET:
                stop.wait(RETRY_PAUSE_S)
                continue
            if not reply_is_sane(kind, reply):
                raise RuntimeError(f"{name} answered a probe with {reply[:40]!r}")
            if not_pid is not None and pid == not_pid:
                stop.wait(RETRY_PAUSE_S)
                continue
            return answered, pid
    return None


def serving_pid(address: str, name: str, stop: threading.Event,
                deadline_s: float = 10.0) -> int | None:
    """The pid of the instance serving ``name`` now, waiting while it is between instances."""
    deadline = time.monotonic() + deadline_s
    with caxton.connect(address, timeout=PROBE_TIMEOUT_S) as client:
        while time.monotonic() < deadline and not stop.is_set():
            try:
                status = client.status(name)
            except caxton.NodeUnavailable:
                continue
            if status.pid is not None and status.state == "running":
                return status.pid
            stop.wait(RETRY_PAUSE_S)
    return None


def restarts_by_agent(address: str) -> dict[str, int] | None:
    """Every agent's restart count, or ``None`` when the node does not answer."""
    try:
        with caxton.connect(address, timeout=PROBE_TIMEOUT_S) as client:
            return {s.name: s.restarts for s in client.list_agents()}
    except caxton.CaxtonError:
        return None


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (exited, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def await_gone(pids: list[int], deadline_s: float = 5.0) -> list[int]:
    """Wait for the processes to end; return those still running at the deadline."""
    deadline = time.monotonic() + deadline_s
    left = [pid for pid in pids if not process_gone(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [pid for pid in left if not process_gone(pid)]
    return left


def signal_quietly(pid: int, signum: int) -> bool:
    """Send a signal; False if the process is already gone."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True
