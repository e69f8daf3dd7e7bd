"""Start functions run in child processes by the supervisor tests.

They live in their own importable module because children import their start
function by name after the fork.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from supervisor import ChildLink


def echo(link: ChildLink) -> None:
    """Replies to every message with ["echo", message]; "exit:<reason>" ends it."""
    while True:
        message = link.recv()
        if isinstance(message, str) and message.startswith("exit:"):
            link.exit(message[5:])
        if message == "return":
            return
        if message == "raise":
            raise ValueError("boom")
        link.send(["echo", message])


def sleeper(link: ChildLink) -> None:
    """Blocks forever (until killed)."""
    while True:
        link.recv()


def ready_then_sleep(link: ChildLink, tag: Any = None) -> None:
    link.send(["ready", link.id, os.getpid(), tag])
    while True:
        message = link.recv()
        if message == "crash":
            raise RuntimeError("asked to crash")
        if message == "normal":
            return
        if message == "ping":
            link.send(["pong", link.id])


def crash(link: ChildLink) -> None:
    """Fails before acknowledging its start: a start failure."""
    raise ValueError("boom")


def crash_when_ready(link: ChildLink) -> None:
    """Acknowledges its start, then fails: a crash supervision restarts."""
    link.ready()
    raise ValueError("boom")


def return_at_once(link: ChildLink) -> None:
    return


def exit_code(link: ChildLink, code: int) -> None:
    raise SystemExit(code)


def hard_exit(link: ChildLink, code: int) -> None:
    os._exit(code)


def report(link: ChildLink, reason: str) -> None:
    link.exit(reason)


def ignore_sigterm(link: ChildLink) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    link.send(["ready", link.id, os.getpid(), None])
    while True:
        link.recv()


def graceful_sigterm(link: ChildLink, path: str) -> None:
    def on_term(signum: int, frame: object) -> None:
        with open(path, "a") as fh:
            fh.write(f"{link.id}\n")
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    link.send(["ready", link.id, os.getpid(), None])
    while True:
        link.recv()


def busy_python(link: ChildLink, seconds: float) -> None:
    """Pure-Python busy loop: the health thread still gets the GIL."""
    link.send(["ready", link.id, os.getpid(), None])
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    link.send(["done", link.id])
    while True:
        link.recv()


def trapper(link: ChildLink) -> None:
    """Traps exits and forwards every Exit record to the supervisor."""
    link.trap_exits = True
    link.send(["ready", link.id, os.getpid(), None])
    while True:
        message = link.recv()
        if hasattr(message, "from_id"):
            link.send(["exit_signal", message.from_id, message.pid, message.reason])


def counter(link: ChildLink) -> None:
    """Counts messages; answers "count" with the total (throughput tests)."""
    n = 0
    while True:
        for message in link.recv_many(10000) or [link.recv()]:
            if message == "count":
                link.send(["count", n])
            else:
                n += 1


def blaster(link: ChildLink, n: int) -> None:
    for i in range(n):
        link.send(i)
    link.send("done")
    while True:
        link.recv()


def hold_gil(link: ChildLink, seconds_of_work: int) -> None:
    """Stuck in one C call that never releases the GIL (the health thread
    cannot answer pings meanwhile)."""
    link.send(["ready", link.id, os.getpid(), None])
    link.recv()  # wait for the go
    sum(range(10**12 * seconds_of_work))


def report_pids(link: ChildLink) -> None:
    link.send(["ready", link.id, os.getpid(), None])
    while True:
        link.recv()


def spawn_grandchild(link: ChildLink) -> None:
    """Starts a process of its own and reports its pid (to check that such
    orphans are reaped once their parent is gone)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    link.send(["ready", link.id, os.getpid(), proc.pid])
    while True:
        link.recv()


def own_poller(link: ChildLink) -> None:
    """Uses link.socket in its own zmq.Poller beside a timer-like timeout."""
    import zmq

    poller = zmq.Poller()
    poller.register(link.socket, zmq.POLLIN)
    link.send(["ready", link.id, os.getpid(), None])
    ticks = 0
    while True:
        if dict(poller.poll(20)):
            for message in link.recv_many():
                link.send(["got", message, ticks])
            while (message := link.recv_nowait()) is not None:
                link.send(["got", message, ticks])
        else:
            ticks += 1


# -- the warm pool -------------------------------------------------------------------

PREWARMED: list[Any] = []


def prewarm(marker: str) -> None:
    """The pool's prewarm hook: leaves a mark that the child's start function reports."""
    PREWARMED.append((marker, os.getpid()))


def prewarm_crash(marker: str) -> None:
    """A prewarm hook that takes the pooled child down with it."""
    os._exit(3)


def report_prewarm(link: ChildLink) -> None:
    link.send(["prewarm", os.getpid(), list(PREWARMED)])
    while True:
        link.recv()


# -- OTP suite (supervisor_1, supervisor_3, supervisor_deadlock) -------------------------


def otp_child(link: ChildLink, control: str | None = None, *extra: Any) -> Any:
    """OTP's ``supervisor_1:start_child``. ``control`` names a file read at each
    start: ``fail`` (or ``fail:N``, N more times) fails before acknowledging,
    ``ignore`` returns "ignore"; anything else starts normally. Once started
    it answers "ping", and ends on "crash", "normal" or "exit:<reason>"."""
    if control is not None and os.path.exists(control):
        with open(control) as fh:
            mode = fh.read().strip()
        if mode == "ignore":
            return "ignore"
        if mode == "fail" or (mode.startswith("fail:") and int(mode[5:]) > 0):
            if mode.startswith("fail:"):
                with open(control, "w") as fh:
                    fh.write(f"fail:{int(mode[5:]) - 1}")
            raise RuntimeError("start refused")
    link.ready()
    link.send(["ready", link.id, os.getpid(), list(extra)])
    while True:
        message = link.recv()
        if message == "crash":
            raise RuntimeError("asked to crash")
        if message == "normal":
            return None
        if isinstance(message, str) and message.startswith("exit:"):
            link.exit(message[5:])
        if message == "ping":
            link.send(["pong", link.id])


def ignore(link: ChildLink) -> str:
    """Returns "ignore" before acknowledging: OTP's ``ignore``."""
    return "ignore"


def slow_sigterm(link: ChildLink, seconds: float) -> None:
    """Takes ``seconds`` to exit after SIGTERM (OTP's ``supervisor_2``)."""
    def on_term(signum: int, frame: object) -> None:
        time.sleep(seconds)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    link.send(["ready", link.id, os.getpid(), None])
    while True:
        link.recv()


def send_then_ready(link: ChildLink, count: int) -> None:
    """Sends messages before acknowledging its start (sends do not ack)."""
    for i in range(count):
        link.send(["early", link.id, i])
    link.ready()
    link.send(["ready", link.id, os.getpid(), None])
    while True:
        link.recv()


def chatty(link: ChildLink) -> None:
    """On "go", sends numbered messages until told to stop."""
    link.send(["ready", link.id, os.getpid(), None])
    n = 0
    while link.recv() != "go":
        pass
    while True:
        link.send(["tick", n])
        n += 1
        if link.poll(0) and link.recv_nowait() == "stop":
            link.send(["stopped", n])
            while True:
                link.recv()
        time.sleep(0.001)


def exit_before_ready(link: ChildLink, reason: str) -> None:
    link.exit(reason)


def slow_start(link: ChildLink, seconds: float, path: str | None = None) -> None:
    """Takes ``seconds`` before acknowledging its start; with ``path``, only
    once that file exists (its first start is quick)."""
    if path is None or os.path.exists(path):
        time.sleep(seconds)
    if path is not None:
        with open(path, "a"):
            pass
    link.ready()
    link.send(["ready", link.id, os.getpid(), None])
    while True:
        if link.recv() == "crash":
            raise RuntimeError("asked to crash")


def forker(link: ChildLink, ignore_term: bool = False, escape: bool = False) -> None:
    """Forks a grandchild that sleeps (with SIGTERM ignored if asked, so that
    only a SIGKILL ends it; in a session of its own if ``escape``, out of the
    child's process group), reports ["grandchild", pid], then waits."""
    done_r, done_w = os.pipe()  # close-on-exec: EOF once the grandchild is set up
    pid = os.fork()
    if pid == 0:
        try:
            os.close(done_r)
            if escape:
                os.setsid()
            if ignore_term:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)  # survives the exec
            os.execv("/bin/sleep", ["sleep", "600"])
        finally:
            os._exit(127)
    os.close(done_w)
    os.read(done_r, 1)
    os.close(done_r)
    link.send(["grandchild", pid])
    while True:
        link.recv()


def hog(link: ChildLink, megabytes: int) -> None:
    """Acknowledges its start, then touches ``megabytes`` MiB of fresh memory
    page by page, reporting ["hogged"] if it got through."""
    link.ready()
    chunks = []
    for _ in range(megabytes):
        chunk = bytearray(1 << 20)
        for offset in range(0, len(chunk), 4096):
            chunk[offset] = 1
        chunks.append(chunk)
    link.send(["hogged", len(chunks)])
    while True:
        link.recv()


def spinner(link: ChildLink, seconds: float) -> None:
    """Burns CPU for ``seconds`` of wall-clock time, then reports
    ["spun", cpu seconds used, wall seconds]."""
    link.ready()
    start, cpu = time.monotonic(), time.process_time()
    while time.monotonic() - start < seconds:
        pass
    link.send(["spun", time.process_time() - cpu, time.monotonic() - start])
    while True:
        link.recv()
