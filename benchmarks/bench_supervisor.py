"""Supervisor latencies and memory, each beside a bare ``os.fork`` + pipe
baseline measured in the same run.

Figures (targets from the supervisor issue):
  spawn -> child ready            p50 <= 10 ms (p95 reported)
  SIGKILL -> Down delivered       p50 <= 5 ms
  SIGKILL -> replacement ready    p50 <= 20 ms
  idle USS per child, 100 children    <= 8 MB

"ready" means the child's link is connected and its hello reached the
supervisor (the ``started`` event), i.e. it can receive messages. The
baseline forks this very process and waits for one byte on a pipe; its kill
figure is a pidfd becoming readable; its memory is a bare forked child's USS.

    python benchmarks/bench_supervisor.py [--quick] [--json]

``run(quick)`` returns the rows for other benchmark suites to reuse.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from supervisor import ChildLink, ChildSpec, Down, Event, Runtime, SupervisorSpec

MB = 1024 * 1024


def idle_child(link: ChildLink) -> None:
    """The benchmarked child: waits for messages, does nothing."""
    while True:
        link.recv()


# children import their start function by name after the fork: whether this
# file runs as __main__ or is loaded by a suite, they import it by file name
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)
IDLE_MODULE = Path(__file__).stem
IDLE = f"{IDLE_MODULE}:idle_child"


# ------------------------------------------------------------------ baseline
def _bare_fork() -> tuple[int, float]:
    """Fork this process; return (pid, seconds until its first byte arrived)."""
    r, w = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the bare child: say ready, then wait to be killed
        os.close(r)
        os.write(w, b"r")
        while True:
            time.sleep(3600)
    os.close(w)
    os.read(r, 1)
    ready = time.perf_counter() - t0
    os.close(r)
    return pid, ready


def _bare_kill(pid: int) -> float:
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    t0 = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    poller.poll()
    elapsed = time.perf_counter() - t0
    os.waitpid(pid, 0)
    os.close(pidfd)
    return elapsed


def measure_baseline(samples: int) -> dict[str, list[float]]:
    spawn: list[float] = []
    kill: list[float] = []
    replace: list[float] = []
    uss: list[float] = []
    pid, ready = _bare_fork()
    for i in range(samples):
        spawn.append(ready)
        if i < 5:
            time.sleep(0.05)
            uss.append(psutil.Process(pid).memory_full_info().uss)
        t0 = time.perf_counter()
        kill.append(_bare_kill(pid))
        pid, ready = _bare_fork()
        replace.append(time.perf_counter() - t0)
    _bare_kill(pid)
    return {"spawn": spawn, "kill": kill, "replace": replace, "uss": uss}


# ---------------------------------------------------------------- supervisor
def _stamp(stamps: list[float], down: Down) -> None:
    stamps.append(time.perf_counter())


class _Clock:
    """Records when each event kind reached the loop (perf_counter)."""

    def __init__(self, rt: Runtime) -> None:
        self.started: dict[int, float] = {}
        rt.subscribe(self.on_event)

    def on_event(self, event: Event) -> None:
        if event.kind == "started" and event.pid is not None:
            self.started[event.pid] = time.perf_counter()


def measure_supervisor(samples: int, children: int) -> dict[str, list[float]]:
    # the embedder's modules are preloaded in the zygote, as a real embedder
    # would: children then share them instead of importing them each
    rt = Runtime(name="bench", preload=[IDLE_MODULE])
    clock = _Clock(rt)
    spawn: list[float] = []
    down: list[float] = []
    replace: list[float] = []
    try:
        sup = rt.start_supervisor(SupervisorSpec("bench", intensity=10 * samples + 10,
                                                 period=1.0))
        # warm-up: the zygote's first child pays its start-up
        sup.start_child(ChildSpec("warm", IDLE, shutdown="brutal_kill"))
        rt.run_until(lambda: len(clock.started) == 1, 30)
        sup.terminate_child("warm")
        sup.delete_child("warm")

        def ready(pid: int | None) -> bool:
            return pid is not None and pid in clock.started

        for i in range(samples):  # spawn -> ready
            t0 = time.perf_counter()
            sup.start_child(ChildSpec(f"s{i}", IDLE, shutdown="brutal_kill"))
            pid = sup.pid_of(f"s{i}")
            if pid is None or not rt.run_until(partial(ready, pid), 10):
                raise RuntimeError("a child did not become ready")
            spawn.append(clock.started[pid] - t0)
            sup.terminate_child(f"s{i}")
            sup.delete_child(f"s{i}")

        sup.start_child(ChildSpec("victim", IDLE, shutdown="brutal_kill"))
        for _ in range(samples):  # SIGKILL -> Down, and -> replacement ready
            pid = sup.pid_of("victim")
            if pid is None or not rt.run_until(partial(ready, pid), 10):
                raise RuntimeError("the victim did not become ready")
            downs: list[float] = []
            sup.monitor("victim", partial(_stamp, downs))
            t0 = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            if not rt.run_until(partial(bool, downs), 10):
                raise RuntimeError("no Down after SIGKILL")
            down.append(downs[0] - t0)
            new_pid = sup.pid_of("victim")
            if new_pid is None or not rt.run_until(partial(ready, new_pid), 10):
                raise RuntimeError("no replacement after SIGKILL")
            replace.append(clock.started[new_pid] - t0)
        sup.terminate_child("victim")

        for i in range(children):  # idle memory with many children
            sup.start_child(ChildSpec(f"idle{i}", IDLE, shutdown="brutal_kill"))
        pids = [sup.pid_of(f"idle{i}") for i in range(children)]
        rt.run_until(lambda: all(ready(p) for p in pids), 60)
        rt.run_until(lambda: False, 0.5)  # let them settle into idleness
        uss = [float(psutil.Process(p).memory_full_info().uss) for p in pids if p]
    finally:
        rt.close()
    return {"spawn": spawn, "kill": down, "replace": replace, "uss": uss}


# --------------------------------------------------------------------- report
def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _row(name: str, value: float, baseline: float, target: float, unit: str) -> dict[str, Any]:
    return {
        "metric": name,
        "value": round(value, 3),
        "baseline": round(baseline, 3),
        "ratio": round(value / baseline, 2) if baseline > 0 else None,
        "target": target,
        "unit": unit,
        "met": value <= target,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measure everything; one dict per figure (metric, value, baseline,
    ratio, target, unit, met)."""
    samples = 20 if quick else 200
    children = 100
    base = measure_baseline(samples)
    sup = measure_supervisor(samples, children)
    ms = 1000.0
    return [
        _row("spawn -> child ready p50", statistics.median(sup["spawn"]) * ms,
             statistics.median(base["spawn"]) * ms, 10.0, "ms"),
        _row("spawn -> child ready p95", _pct(sup["spawn"], 0.95) * ms,
             _pct(base["spawn"], 0.95) * ms, float("inf"), "ms"),
        _row("SIGKILL -> Down delivered p50", statistics.median(sup["kill"]) * ms,
             statistics.median(base["kill"]) * ms, 5.0, "ms"),
        _row("SIGKILL -> replacement ready p50", statistics.median(sup["replace"]) * ms,
             statistics.median(base["replace"]) * ms, 20.0, "ms"),
        _row(f"idle USS per child ({children} children)", statistics.mean(sup["uss"]) / MB,
             statistics.mean(base["uss"]) / MB, 8.0, "MB"),
    ]


def _print(rows: list[dict[str, Any]]) -> None:
    header = f"{'metric':40} {'value':>10} {'baseline':>10} {'ratio':>7} {'target':>9}  met"
    print(header)
    print("-" * len(header))
    for row in rows:
        target = "-" if row["target"] == float("inf") else f"<= {row['target']:g}"
        met = "-" if row["target"] == float("inf") else ("met" if row["met"] else "NOT MET")
        print(f"{row['metric']:40} {row['value']:>8.2f}{row['unit']:>2} "
              f"{row['baseline']:>8.2f}{row['unit']:>2} {row['ratio']!s:>7} {target:>9}  {met}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    args = parser.parse_args(argv)
    rows = run(quick=args.quick)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        _print(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
