"""Reference rows: the supervision library alone, without a node or WebAssembly.

``benchmarks/bench_supervisor.py`` measures the ``supervisor`` library on its
own (plain Python children forked from its zygote, each beside a bare
``os.fork`` + pipe). Shown under the node's figures, the difference between
the two is what the node and the agent's WebAssembly start-up add. The rows
come from that script's ``run(quick)``, run in a helper interpreter; the
ratio is recomputed here the suite's way (times better than the baseline).
"""

from __future__ import annotations

from typing import Any

from caxton.bench.context import Context, Results, run_helper
from caxton.bench.errors import BenchUnavailable
from caxton.bench.results import Measurement

#: figure key -> (start of the metric's name in bench_supervisor's rows, tail metric)
METRICS: dict[str, tuple[str, str | None]] = {
    "sup.spawn": ("spawn -> child ready p50", "spawn -> child ready p95"),
    "sup.kill.down": ("SIGKILL -> Down delivered", None),
    "sup.kill.serving": ("SIGKILL -> replacement ready", None),
    "sup.uss": ("idle USS per child", None),
}


def find(rows: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    for row in rows:
        if str(row.get("metric", "")).startswith(prefix):
            return row
    names = ", ".join(repr(r.get("metric")) for r in rows)
    raise BenchUnavailable(f"bench_supervisor gave no {prefix!r} row (it gave {names})")


def number(row: dict[str, Any], key: str) -> float:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BenchUnavailable(f"bench_supervisor row {row.get('metric')!r} has no {key}")
    return float(value)


def run(ctx: Context) -> Results:
    ctx.say("  supervisor: benchmarks/bench_supervisor.py run("
            f"quick={ctx.plan.quick})")
    rows = run_helper("caxton.bench.refworker", "supervisor",
                      "quick" if ctx.plan.quick else "full")
    if not isinstance(rows, list):
        raise BenchUnavailable("bench_supervisor.run did not return a list of rows")
    results: Results = {}
    for key, (metric, tail_metric) in METRICS.items():
        row = find(rows, metric)
        tail = None if tail_metric is None else number(find(rows, tail_metric), "value")
        results[key] = Measurement(number(row, "value"), tail, number(row, "baseline"), 1,
                                   {"metric": row.get("metric"), "unit": row.get("unit")})
    return results
