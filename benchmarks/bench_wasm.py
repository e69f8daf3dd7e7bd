"""In-process message rate of the WebAssembly host: fast path against stock path.

Both rates are measured in the same run, on the same module and payload (a
100-byte message to the echo agent), so the ratio is meaningful even on a
busy machine. Target: at least 100k messages/s on the fast path.

    python benchmarks/bench_wasm.py [--seconds 2] [--json]

``measure_handle_rates(seconds)`` returns the figures for other benchmark
suites to reuse.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from caxton.wasm import (
    FAST_PATH_AVAILABLE,
    AgentInstance,
    Limits,
    NullImports,
    example_path,
    load_module,
)

TARGET_PER_S = 100_000
PAYLOAD = bytes(range(100))
BATCH = 1_000


def _rate(instance: AgentInstance, seconds: float) -> tuple[float, int]:
    """Messages per second over about ``seconds``, after a short warm-up."""
    handle = instance.handle
    for _ in range(BATCH):
        handle(PAYLOAD)
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(BATCH):
            outcome = handle(PAYLOAD)
        count += BATCH
        now = time.perf_counter()
        if now >= deadline:
            break
    if outcome.reply != PAYLOAD or not outcome.ok:
        raise RuntimeError(f"echo misbehaved during the benchmark: {outcome}")
    return count / (now - started), count


def measure_handle_rates(seconds: float = 2.0) -> dict[str, Any]:
    """Fast and stock ``handle`` rates for a 100-byte echo, measured back to back.

    The time is split between the two paths (stock, fast, stock, fast) so a
    change in machine load during the run affects both alike.
    """
    compiled = load_module(example_path("echo"))
    limits = Limits()
    stock = AgentInstance(compiled, limits, NullImports(), fast=False)
    fast = None
    if FAST_PATH_AVAILABLE:
        fast = AgentInstance(compiled, limits, NullImports(), fast=True)
    quarter = seconds / 4
    stock_rates: list[float] = []
    fast_rates: list[float] = []
    for _ in range(2):
        stock_rates.append(_rate(stock, quarter)[0])
        if fast is not None:
            fast_rates.append(_rate(fast, quarter)[0])
    stock_rate = max(stock_rates)
    fast_rate = max(fast_rates, default=0.0)
    stock.close()
    if fast is not None:
        fast.close()
    return {
        "payload_bytes": len(PAYLOAD),
        "fast_path_available": FAST_PATH_AVAILABLE,
        "fast_per_s": fast_rate,
        "stock_per_s": stock_rate,
        "ratio": fast_rate / stock_rate if stock_rate else 0.0,
        "target_per_s": TARGET_PER_S,
        "target_met": fast_rate >= TARGET_PER_S,
        "seconds": seconds,
    }


def _report(figures: dict[str, Any]) -> str:
    met = "met" if figures["target_met"] else "not met"
    lines = [
        f"caxton.wasm handle(), {figures['payload_bytes']}-byte echo, in-process",
        f"  stock path (wasmtime-py API): {figures['stock_per_s']:>10,.0f} msg/s   (baseline)",
    ]
    if figures["fast_path_available"]:
        lines.append(
            f"  fast path:                    {figures['fast_per_s']:>10,.0f} msg/s   "
            f"({figures['ratio']:.1f}x the stock path)"
        )
    else:
        lines.append("  fast path:                    unavailable (wasmtime internals missing)")
    lines.append(f"  target ≥{TARGET_PER_S // 1000}k/s: {met}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0, help="total measuring time")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure_handle_rates(args.seconds)
    print(json.dumps(figures, indent=2) if args.json else _report(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
