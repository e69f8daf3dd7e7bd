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

import threading
import urllib.request

from caxton.bench import sidebyside
from caxton.bench.context import Context, Results
from caxton.launch import free_loopback_address

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
    http = free_loopback_address().removeprefix("tcp://")
    with _Scraper(f"http://{http}/metrics") as scraper:
        sides = sidebyside.measure(ctx, "metrics", {"on": ("--http", http),
                                                    "off": ("--metrics", "off")},
                                   calls=ctx.plan.calls)
        scrapes = scraper.scrapes
    on, off = sides["on"], sides["off"]
    return {
        "metrics.call": sidebyside.call_row(on, off, scrapes=scrapes),
        "metrics.pipe": sidebyside.pipe_row(on, off, scrapes=scrapes),
    }
