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


def pick_rate(rates: dict[str, Any], word: str) -> float:
    """The per-second rate of one path in ``measure_handle_rates``' dict."""
    candidates = {k: v for k, v in rates.items()
                  if word in k.lower() and isinstance(v, int | float) and not isinstance(v, bool)}
    if not candidates:
        raise BenchUnavailable(f"measure_handle_rates gave no {word!r} rate (keys: {sorted(rates)})")
    per_second = {k: v for k, v in candidates.items() if "per_s" in k or "rate" in k}
    chosen = per_second or candidates
    return float(chosen[sorted(chosen)[0]])


def run(ctx: Context) -> Results:
    ctx.say(f"  handle: {ctx.plan.repeats} x {ctx.plan.handle_seconds:g}s per path")
    runs = run_helper("caxton.bench.handleworker", str(ctx.plan.handle_seconds),
                      str(ctx.plan.repeats))
    fast = [pick_rate(r, "fast") for r in runs]
    stock = [pick_rate(r, "stock") for r in runs]
    return {"handle.fast": Measurement(median(fast), None, median(stock), len(fast),
                                       {"fast": fast, "stock": stock, "raw": runs})}
