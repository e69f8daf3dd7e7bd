"""Helper interpreter for figure 5: calls ``benchmarks/bench_wasm.measure_handle_rates``.

Runs apart from the benchmark process so the in-process rate is measured in
an interpreter that holds one wasmtime instance and nothing else.
``python -m caxton.bench.handleworker SECONDS REPEATS`` prints a JSON list of
the dicts returned, after one untimed warm-up call.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

from caxton.bench.nodes import PROJECT_ROOT

BENCH_WASM = PROJECT_ROOT / "benchmarks" / "bench_wasm.py"


def load_measure() -> Any:
    spec = importlib.util.spec_from_file_location("bench_wasm", BENCH_WASM)
    if spec is None or spec.loader is None or not BENCH_WASM.exists():
        raise SystemExit(f"{BENCH_WASM} is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    measure = getattr(module, "measure_handle_rates", None)
    if measure is None:
        raise SystemExit(f"{BENCH_WASM} has no measure_handle_rates")
    return measure


def main(argv: list[str]) -> int:
    seconds, repeats = float(argv[0]), int(argv[1])
    measure = load_measure()
    measure(min(seconds, 0.2))
    json.dump([measure(seconds) for _ in range(repeats)], sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
