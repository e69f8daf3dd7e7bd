"""Clocks and units shared by the benchmarks.

Every latency is taken with ``perf_counter`` around the public call a user
makes; the garbage collector is paused during a timed series (and run just
before it) so a collection triggered by the benchmark's own bookkeeping does
not land on a random sample of one side of a comparison.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MS = 1e3
US = 1e6
MB = 1e6  # memory figures are in MB of 10^6 bytes (stricter than MiB against the targets)

clock = time.perf_counter


@contextmanager
def quiet_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_each(action: Callable[[], object], count: int) -> tuple[list[float], float]:
    """Run ``action`` ``count`` times; return each duration and the total (seconds)."""
    samples: list[float] = []
    append = samples.append
    with quiet_gc():
        started = clock()
        for _ in range(count):
            t0 = clock()
            action()
            append(clock() - t0)
        total = clock() - started
    return samples, total


def scaled(samples: list[float], factor: float) -> list[float]:
    return [s * factor for s in samples]
