"""The bare-process baselines: what ``os.fork`` and a pipe cost with nothing on top.

Run as its own small interpreter (``python caxton/bench/forkbase.py MODE N``,
by path, JSON on stdout) so the forking parent is a lean process with only the
standard library and psutil loaded; forking the benchmark process itself would
charge the baseline for whatever that process happened to import.

Modes:
    spawn N    fork N children one by one; each writes one byte on a pipe when
               ready (the parent times fork -> byte), then waits to be killed
    kill N     N times: SIGKILL a ready child, time until its pidfd is readable
               (the "Down") and until a forked replacement is ready
    memory N   fork N idle children and read their USS and PSS
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import sys
import time
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def fork_ready() -> int:
    """Fork one child and return its pid once it has said it is ready."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: say ready, then idle until killed
        try:
            _die_with_parent()
            os.close(r)
            os.write(w, b"r")
            while True:
                signal.pause()
        finally:
            os._exit(0)
    os.close(w)
    try:
        if os.read(r, 1) != b"r":
            raise RuntimeError(f"child {pid} died before it was ready")
    finally:
        os.close(r)
    return pid


def _reap(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def spawn(count: int) -> dict[str, Any]:
    _reap([fork_ready() for _ in range(5)])  # warm-up
    latencies: list[float] = []
    pids: list[int] = []
    try:
        started = time.perf_counter()
        for _ in range(count):
            t0 = time.perf_counter()
            pids.append(fork_ready())
            latencies.append(time.perf_counter() - t0)
        total = time.perf_counter() - started
    finally:
        _reap(pids)
    return {"latencies": latencies, "rate": count / total}


def kill(count: int) -> dict[str, Any]:
    down: list[float] = []
    serving: list[float] = []
    pid = fork_ready()
    try:
        for i in range(count + 1):  # the first round is the warm-up
            pidfd = os.pidfd_open(pid)
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            t0 = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            poller.poll()
            t_down = time.perf_counter()
            os.close(pidfd)
            os.waitpid(pid, 0)
            pid = fork_ready()
            t_ready = time.perf_counter()
            if i:
                down.append(t_down - t0)
                serving.append(t_ready - t0)
    finally:
        _reap([pid])
    return {"down": down, "serving": serving}


def memory(count: int) -> dict[str, Any]:
    import psutil

    pids = [fork_ready() for _ in range(count)]
    try:
        infos = [psutil.Process(pid).memory_full_info() for pid in pids]
    finally:
        _reap(pids)
    return {"uss": [i.uss for i in infos], "pss": [i.pss for i in infos]}


MODES = {"spawn": spawn, "kill": kill, "memory": memory}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in MODES or not argv[1].isdigit():
        print(f"usage: python forkbase.py {{{'|'.join(MODES)}}} COUNT",
              file=sys.stderr)
        return 2
    json.dump(MODES[argv[0]](int(argv[1])), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
