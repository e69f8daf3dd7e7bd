"""Figure 9: another client's ping while a hostile module is being validated.

Validation runs the module's ``caxton_init`` under the limits its spawn asks
for; a spawn whose init spins until its deadline used to freeze the node's
loop for that long. Workload: one client spawns a module whose init spins
(deadline 2 s, repeated ``repeats`` times) while another pings the node every
2 ms; the figure is that client's ping latency meanwhile. Baseline, in the
same run: the same pings against the same node with nothing validating.
"""

from __future__ import annotations

import threading
import time

import caxton
from caxton.bench.agents import spin_init_module
from caxton.bench.context import Context, Results
from caxton.bench.results import Measurement
from caxton.bench.stats import median, percentile
from caxton.bench.timing import US, clock, scaled

DEADLINE_MS = 2000
PING_EVERY_S = 0.002


def _pings(client: caxton.Client, until: threading.Event) -> list[float]:
    samples = []
    while not until.is_set():
        start = clock()
        client.ping()
        samples.append(clock() - start)
        time.sleep(PING_EVERY_S)
    return samples


def run(ctx: Context) -> Results:
    busy: list[float] = []
    idle: list[float] = []
    with ctx.node("validation") as node, node.client() as pinger:
        for rep in range(ctx.plan.repeats):
            ctx.say(f"  validation: repetition {rep + 1}/{ctx.plan.repeats}")
            done = threading.Event()

            def hostile(rep: int = rep, done: threading.Event = done) -> None:
                with node.client(timeout=60.0) as spawner:
                    try:
                        spawner.spawn(f"spinner-{rep}", spin_init_module(),
                                      limits={"deadline_ms": DEADLINE_MS, "fuel": 10**12})
                    except caxton.ValidationFailed:
                        pass  # refused, as it must be
                    finally:
                        done.set()

            spawner = threading.Thread(target=hostile)
            spawner.start()
            busy += _pings(pinger, done)
            spawner.join()
            quiet = threading.Event()
            threading.Timer(DEADLINE_MS / 1000, quiet.set).start()
            idle += _pings(pinger, quiet)
    busy_us, idle_us = scaled(busy, US), scaled(idle, US)
    return {
        "valid.ping": Measurement(percentile(busy_us, 99), max(busy_us),
                                  percentile(idle_us, 99), len(busy_us),
                                  {"median_us": median(busy_us),
                                   "baseline_median_us": median(idle_us)}),
    }
