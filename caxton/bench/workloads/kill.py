"""Figure 2: SIGKILL -> Down delivered, and SIGKILL -> replacement serving.

Workload: one echo agent (policy ``immediate``, no health pings). Each sample
SIGKILLs the agent's current process from outside and at once calls it: the
call is answered by the replacement (checked: the status then shows a new pid),
and a second client iterating ``client.monitor`` in its own thread stamps the
``Down`` event when it arrives. Both are timed from the ``kill``.
Baseline: a lean interpreter SIGKILLs a forked child, waits on its pidfd (the
bare "Down") and forks a replacement that says ready on a pipe.
"""

from __future__ import annotations

import os
import queue
import select
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import caxton
from caxton.bench.agents import HEALTH_OFF, MANY_RESTARTS, echo_module
from caxton.bench.context import Context, Results, run_helper
from caxton.bench.errors import BenchUnavailable
from caxton.bench.plan import PAYLOAD_BYTES
from caxton.bench.results import Measurement
from caxton.bench.stats import median, percentile
from caxton.bench.timing import MS, clock, scaled

AGENT = "victim"
EVENT_TIMEOUT = 15.0
SUBSCRIBE_ATTEMPTS = 3

#: When a Down arrived and the event itself; an exception if the watcher failed.
Stamp = tuple[float, caxton.Down | BaseException]


@contextmanager
def watching(address: str, name: str) -> Iterator[queue.Queue[Stamp]]:
    """Stamp every Down of ``name`` with the local clock, from a thread of its own.

    The monitor iterator blocks between events, so it cannot share a thread
    with the code that kills. The thread ends when the agent is removed (the
    node then sends a last ``removed`` event); if the monitor fails, the error
    is queued so the waiting side reports it instead of timing out blind.
    """
    stamps: queue.Queue[Stamp] = queue.Queue()

    def watch() -> None:
        try:
            with caxton.connect(address, timeout=EVENT_TIMEOUT) as watcher:
                for down in watcher.monitor(name):
                    stamps.put((clock(), down))
                    if down.reason == "removed":
                        return
        except BaseException as exc:
            stamps.put((clock(), exc))

    thread = threading.Thread(target=watch, name="down-watcher", daemon=True)
    thread.start()
    try:
        yield stamps
    finally:
        thread.join(EVENT_TIMEOUT)


def next_down(stamps: queue.Queue[Stamp], timeout: float) -> tuple[float, caxton.Down]:
    stamp, event = stamps.get(timeout=timeout)
    if isinstance(event, BaseException):
        raise BenchUnavailable(f"the monitor failed: {type(event).__name__}: {event}")
    return stamp, event


def wait_down(stamps: queue.Queue[Stamp], pid: int) -> float:
    """When the Down of process ``pid`` arrived (events of earlier kills are skipped)."""
    while True:
        try:
            stamp, down = next_down(stamps, EVENT_TIMEOUT)
        except queue.Empty:
            raise BenchUnavailable(f"no Down for pid {pid} within {EVENT_TIMEOUT:g}s") from None
        if down.pid == pid:
            return stamp


def kill_and_call(client: caxton.Client, payload: bytes) -> tuple[int, float, float]:
    """SIGKILL the agent, call it at once; (killed pid, kill time, answered time)."""
    pid = client.status(AGENT).pid
    if pid is None:
        raise BenchUnavailable("the agent has no process to kill")
    t0 = clock()
    os.kill(pid, signal.SIGKILL)
    reply = client.call(AGENT, payload, timeout=EVENT_TIMEOUT)
    t_serving = clock()
    if reply != payload:
        raise BenchUnavailable("the replacement answered with something else")
    return pid, t0, t_serving


def confirm_subscription(client: caxton.Client, stamps: queue.Queue[Stamp],
                         payload: bytes) -> None:
    """Kill until a Down reaches the watcher: from then on its subscription is live.

    The monitor request races the first kill (they travel on different
    sockets), so a first kill may go unseen; it is simply tried again.
    """
    for _ in range(SUBSCRIBE_ATTEMPTS):
        pid, _, _ = kill_and_call(client, payload)
        try:
            while next_down(stamps, EVENT_TIMEOUT)[1].pid != pid:
                pass
            return
        except queue.Empty:
            continue
    raise BenchUnavailable("the monitor never delivered a Down")


def exit_then_down(client: caxton.Client, stamps: queue.Queue[Stamp],
                   payload: bytes) -> tuple[float, float]:
    """One kill split in two: kill -> process gone (its pidfd), and -> Down delivered.

    The first part is the kernel tearing the process down (an agent maps far
    more than a bare child); the rest is the node noticing and telling the
    monitor. The replacement is awaited with a call afterwards.
    """
    pid = client.status(AGENT).pid
    if pid is None:
        raise BenchUnavailable("the agent has no process to kill")
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        t0 = clock()
        os.kill(pid, signal.SIGKILL)
        poller.poll(int(EVENT_TIMEOUT * 1000))
        t_exit = clock()
    finally:
        os.close(pidfd)
    t_down = wait_down(stamps, pid)
    client.call(AGENT, payload, timeout=EVENT_TIMEOUT)
    return t_exit - t0, t_down - t0


def run(ctx: Context) -> Results:
    echo = echo_module()
    payload = b"k" * PAYLOAD_BYTES
    down: list[float] = []
    serving: list[float] = []
    with ctx.node("kill") as node, node.client() as client:
        client.spawn(AGENT, echo, health=HEALTH_OFF, intensity=MANY_RESTARTS)
        with watching(node.address, AGENT) as stamps:
            confirm_subscription(client, stamps, payload)
            for rep in range(ctx.plan.repeats):
                ctx.say(f"  kill: repetition {rep + 1}/{ctx.plan.repeats},"
                        f" {ctx.plan.kills} kills")
                for _ in range(ctx.plan.kills):
                    pid, t0, t_serving = kill_and_call(client, payload)
                    t_down = wait_down(stamps, pid)
                    if client.status(AGENT).pid in (None, pid):
                        raise BenchUnavailable("the call was not answered by a new process")
                    down.append(t_down - t0)
                    serving.append(t_serving - t0)
            split = [exit_then_down(client, stamps, payload) for _ in range(ctx.plan.kills)]
            restarts = client.status(AGENT).restarts
            client.remove(AGENT)

    base = run_helper("forkbase.py", "kill", str(len(down)))
    down_ms, serving_ms = scaled(down, MS), scaled(serving, MS)
    return {
        "kill.down": Measurement(median(down_ms), percentile(down_ms, 95),
                                 median(base["down"]) * MS, len(down_ms),
                                 {"restarts_seen": restarts,
                                  "kill_to_exit_ms": median([e for e, _ in split]) * MS,
                                  "kill_to_down_same_kills_ms":
                                      median([d for _, d in split]) * MS}),
        "kill.serving": Measurement(median(serving_ms), percentile(serving_ms, 95),
                                    median(base["serving"]) * MS, len(serving_ms)),
    }
