"""Figure 5: in-process ``caxton_handle`` rate for a 100-byte echo, fast vs stock path.

Workload: the WebAssembly host's own measurement
(``benchmarks/bench_wasm.measure_handle_rates(seconds)``), run in a helper
interpreter after a warm-up, once per repetition: one instance of the echo
agent handles 100-byte messages back to back through the fast call path and
through the stock wasmtime-py API. The stock path is the baseline.
"""

from __future__ import annotations

from typing import Any

from caxton.bench.context import Context, Results, run_helper
from caxton.bench.errors import BenchUnavailable
from caxton.bench.results import Measurement
from caxton.bench.stats import median


def rate_of(figures: dict[str, Any], key: str) -> float:
    """One path's messages/s from ``measure_handle_rates``' dict."""
    value = figures.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BenchUnavailable(f"measure_handle_rates gave no {key!r} (keys: {sorted(figures)})")
    if value <= 0:
        raise BenchUnavailable(f"measure_handle_rates measured no {key!r} (fast path available:"
                               f" {figures.get('fast_path_available')})")
    return float(value)


def run(ctx: Context) -> Results:
    ctx.say(f"  handle: {ctx.plan.repeats} x {ctx.plan.handle_seconds:g}s per path")
    runs = run_helper("caxton.bench.refworker", "wasm", str(ctx.plan.handle_seconds),
                      str(ctx.plan.repeats))
    fast = [rate_of(r, "fast_per_s") for r in runs]
    stock = [rate_of(r, "stock_per_s") for r in runs]
    return {"handle.fast": Measurement(median(fast), None, median(stock), len(fast),
                                       {"fast": fast, "stock": stock, "raw": runs})}
