"""Helper interpreter running the other parts' own benchmark functions.

The WebAssembly host and the supervision library each ship a benchmark
(``benchmarks/bench_wasm.py``, ``benchmarks/bench_supervisor.py``); the suite
reuses their measurements rather than re-implementing them, in an interpreter
of their own so nothing of the suite's state weighs on them:

    python -m caxton.bench.refworker wasm SECONDS REPEATS
        -> a JSON list of ``measure_handle_rates(SECONDS)`` dicts, after one
           untimed warm-up call
    python -m caxton.bench.refworker supervisor quick|full
        -> the JSON list of rows of ``run(quick)``
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from typing import Any

from caxton.bench.nodes import PROJECT_ROOT

BENCHMARKS_DIR = PROJECT_ROOT / "benchmarks"


def load(module: str, function: str) -> Any:
    path = BENCHMARKS_DIR / f"{module}.py"
    spec = importlib.util.spec_from_file_location(module, path)
    if spec is None or spec.loader is None or not path.exists():
        raise SystemExit(f"{path} is missing")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    found = getattr(loaded, function, None)
    if found is None:
        raise SystemExit(f"{path} has no {function}()")
    return found


def _finite(value: Any) -> Any:
    """JSON has no infinity: an unbounded target becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def main(argv: list[str]) -> int:
    if argv[:1] == ["wasm"] and len(argv) == 3:
        measure = load("bench_wasm", "measure_handle_rates")
        seconds, repeats = float(argv[1]), int(argv[2])
        measure(min(seconds, 0.2))
        result: Any = [measure(seconds) for _ in range(repeats)]
    elif argv[:1] == ["supervisor"] and len(argv) == 2 and argv[1] in ("quick", "full"):
        result = load("bench_supervisor", "run")(argv[1] == "quick")
    else:
        print("usage: python -m caxton.bench.refworker wasm SECONDS REPEATS"
              " | supervisor quick|full", file=sys.stderr)
        return 2
    json.dump(_finite(result), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
