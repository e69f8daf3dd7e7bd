"""Figure 10: what metrics cost on the message path (``--metrics on`` beside ``off``).

Two nodes run side by side: one with metrics on (the default: agents time each
``caxton_handle`` and the counts ride on their acks, the observer hooks run,
the flight recorder keeps its ring, and the HTTP endpoint is scraped every
second as Prometheus would), one with ``--metrics off``. Each gets one echo
agent; the workload alternates between them repetition by repetition:
sequential 100-byte calls, and a pipelined ``send_many`` with 256 in flight.
The baseline of each row is the metrics-off node in the same run; the target
is a difference of at most 5 %.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from functools import partial

from caxton.bench.agents import HEALTH_OFF, echo_module
from caxton.bench.context import Context, Results
from caxton.bench.plan import PAYLOAD_BYTES, SEND_WINDOW
from caxton.bench.results import Measurement
from caxton.bench.stats import median, percentile
from caxton.bench.timing import US, clock, scaled, time_each
from caxton.launch import free_loopback_address

AGENT = "echo"
SCRAPE_SECONDS = 1.0


class _Scraper:
    """GETs /metrics every second, as a Prometheus server would, until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SCRAPE_SECONDS):
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    response.read()
                self.scrapes += 1
            except OSError:
                pass

    def __enter__(self) -> _Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def run(ctx: Context) -> Results:
    payload = os.urandom(PAYLOAD_BYTES)
    http = free_loopback_address().removeprefix("tcp://")
    latencies: dict[str, list[float]] = {"on": [], "off": []}
    rates: dict[str, list[float]] = {"on": [], "off": []}
    with ctx.node("metrics-on", extra=("--http", http)) as on_node, \
            ctx.node("metrics-off", extra=("--metrics", "off")) as off_node, \
            on_node.client() as on_client, off_node.client() as off_client, \
            _Scraper(f"http://{http}/metrics") as scraper:
        clients = {"on": on_client, "off": off_client}
        for client in clients.values():
            client.spawn(AGENT, echo_module(), health=HEALTH_OFF,
                         mailbox=4 * ctx.plan.pipelined)
            for _ in range(200):
                client.call(AGENT, payload)
        for rep in range(ctx.plan.repeats):
            ctx.say(f"  metrics: repetition {rep + 1}/{ctx.plan.repeats}")
            # alternate which side goes first, so neither always runs warmer
            for mode in (("on", "off") if rep % 2 == 0 else ("off", "on")):
                client = clients[mode]
                samples, _ = time_each(partial(client.call, AGENT, payload), ctx.plan.calls)
                latencies[mode] += samples
                messages = [payload] * ctx.plan.pipelined
                start = clock()
                client.send_many(AGENT, messages, window=SEND_WINDOW)
                client.call(AGENT, b"sync", timeout=120.0)
                rates[mode].append(len(messages) / (clock() - start))
        scrapes = scraper.scrapes
    on, off = scaled(latencies["on"], US), scaled(latencies["off"], US)
    return {
        "metrics.call": Measurement(median(on), percentile(on, 99), median(off), len(on),
                                    {"baseline_p99_us": percentile(off, 99),
                                     "scrapes": scrapes}),
        "metrics.pipe": Measurement(median(rates["on"]), None, median(rates["off"]),
                                    len(rates["on"]),
                                    {"repetitions": rates["on"],
                                     "baseline_repetitions": rates["off"],
                                     "scrapes": scrapes}),
    }
