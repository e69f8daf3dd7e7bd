"""Ray side by side: the same workloads as Ray actors, in the same run.

Ray is the runtime a user would otherwise pick for "a Python process per
stateful worker, with messages", so figures 1, 3, 4 and 6 are also measured
with Ray actors doing the same echo (``ray.init(num_cpus=2)``). Ray is an
optional extra (``pip install '.[bench]'``); without it the Ray rows say
"not installed" and nothing here is imported.

The actor class is built inside ``RaySession`` so cloudpickle ships it by
value: Ray's worker processes then need nothing of this project on their path.
"""

from __future__ import annotations

import importlib.util
import time
from collections import deque
from typing import Any

import psutil

clock = time.perf_counter


def ray_missing() -> str | None:
    """Why Ray cannot be used, or ``None`` when it can be imported."""
    if importlib.util.find_spec("ray") is None:
        return "not installed (pip install '.[bench]')"
    return None


def _echo_actor_class(ray: Any) -> Any:
    @ray.remote(num_cpus=0)
    class Echo:
        def echo(self, payload: bytes) -> bytes:
            return payload

        def pid(self) -> int:
            import os

            return os.getpid()

    return Echo


class RaySession:
    """One local Ray instance for the whole run (starting Ray costs seconds)."""

    def __init__(self) -> None:
        import ray

        self._ray = ray
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="error", ignore_reinit_error=True)
        self._echo = _echo_actor_class(ray)
        self.version = str(getattr(ray, "__version__", "unknown"))

    # -- actors -------------------------------------------------------------------------

    def _start(self) -> tuple[Any, int]:
        actor = self._echo.remote()
        return actor, int(self._ray.get(actor.pid.remote()))

    def _kill(self, actors: list[Any]) -> None:
        for actor in actors:
            self._ray.kill(actor)

    # -- figure 1: actor creation -----------------------------------------------------------

    def spawn(self, count: int) -> tuple[list[float], float]:
        """Create ``count`` actors one by one, each until it answers; latencies and rate."""
        warm, _ = self._start()
        self._kill([warm])
        latencies: list[float] = []
        actors: list[Any] = []
        try:
            started = clock()
            for _ in range(count):
                t0 = clock()
                actors.append(self._start()[0])
                latencies.append(clock() - t0)
            total = clock() - started
        finally:
            self._kill(actors)
        return latencies, count / total

    # -- figure 3: sequential calls ---------------------------------------------------------

    def calls(self, payload: bytes, count: int, repeats: int) -> tuple[list[float], list[float]]:
        """Sequential ``ray.get(actor.echo.remote(payload))``: latencies and a rate per repeat."""
        actor, _ = self._start()
        get = self._ray.get
        try:
            for _ in range(min(200, count)):
                get(actor.echo.remote(payload))
            latencies: list[float] = []
            rates: list[float] = []
            for _ in range(repeats):
                started = clock()
                for _ in range(count):
                    t0 = clock()
                    reply = get(actor.echo.remote(payload))
                    latencies.append(clock() - t0)
                rates.append(count / (clock() - started))
                if reply != payload:
                    raise RuntimeError("the Ray echo actor answered with something else")
        finally:
            self._kill([actor])
        return latencies, rates

    # -- figure 4: pipelined calls ----------------------------------------------------------

    def pipeline(self, actors: int, payload: bytes, count: int, window: int,
                 repeats: int) -> list[float]:
        """Calls with up to ``window`` in flight per actor, spread round-robin; rates."""
        handles = [self._start()[0] for _ in range(actors)]
        get = self._ray.get
        try:
            rates: list[float] = []
            for attempt in range(repeats + 1):  # the first is the warm-up
                n = count if attempt else min(count, 1_000)
                in_flight: deque[Any] = deque()
                started = clock()
                for i in range(n):
                    in_flight.append(handles[i % actors].echo.remote(payload))
                    if len(in_flight) >= window * actors:
                        get(in_flight.popleft())
                while in_flight:
                    get(in_flight.popleft())
                if attempt:
                    rates.append(n / (clock() - started))
        finally:
            self._kill(handles)
        return rates

    # -- figure 6: idle memory ---------------------------------------------------------------

    def memory(self, count: int, payload: bytes) -> tuple[list[int], list[int]]:
        """USS and PSS (bytes) of ``count`` idle actors, each called once."""
        started = [self._start() for _ in range(count)]
        try:
            for actor, _ in started:
                self._ray.get(actor.echo.remote(payload))
            infos = [psutil.Process(pid).memory_full_info() for _, pid in started]
        finally:
            self._kill([actor for actor, _ in started])
        return [int(i.uss) for i in infos], [int(i.pss) for i in infos]

    def close(self) -> None:
        self._ray.shutdown()
