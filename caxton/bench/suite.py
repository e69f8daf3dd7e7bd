"""Run the selected benchmarks and turn whatever they produce into table rows.

A benchmark that fails never stops the run: its rows are kept, marked
"unavailable" with the reason, and the next benchmark starts on a fresh node.
Ray is started once for the whole run, and only when a selected benchmark has
Ray rows and ``import ray`` can work.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from caxton.bench import catalogue
from caxton.bench.context import Context, Results
from caxton.bench.errors import BenchError, BenchUnavailable
from caxton.bench.plan import Plan
from caxton.bench.raybench import RaySession, ray_missing
from caxton.bench.report import Report, environment
from caxton.bench.results import NOT_INSTALLED, SKIPPED, UNAVAILABLE, Measurement, Row
from caxton.bench.workloads import (
    call,
    cluster,
    deploy,
    durability,
    guests,
    handle,
    kill,
    memory,
    metrics,
    pipeline,
    restart,
    spawn,
    store,
    supervisor,
    validation,
)

RUNNERS: dict[str, Callable[[Context], Results]] = {
    "spawn": spawn.run,
    "kill": kill.run,
    "call": call.run,
    "pipeline": pipeline.run,
    "handle": handle.run,
    "memory": memory.run,
    "restart": restart.run,
    "supervisor": supervisor.run,
    "durability": durability.run,
    "metrics": metrics.run,  # what metrics cost (issue 16)
    "validation": validation.run,
    "deploy": deploy.run,  # deployments (issue 13)
    "guests": guests.run,  # Rust and C agents (issue 17)
    "store": store.run,  # journal throughput on PostgreSQL beside SQLite (issue 15)
    "cluster": cluster.run,  # cross-node calls, failover, two nodes' rate (issue 15)
}


def select(only: Sequence[str] | None) -> list[str]:
    """The benchmarks to run, in table order; ``BenchError`` names an unknown one."""
    if not only:
        return list(catalogue.BENCHMARKS)
    wanted = {name.strip() for item in only for name in item.split(",") if name.strip()}
    unknown = sorted(wanted - set(catalogue.BENCHMARKS))
    if unknown:
        raise BenchError(f"unknown benchmark {', '.join(unknown)} (choose from: "
                         f"{', '.join(catalogue.BENCHMARKS)})")
    return [name for name in catalogue.BENCHMARKS if name in wanted]


def open_ray(names: Sequence[str], say: Callable[[str], None]) -> tuple[RaySession | None, str]:
    if not any(f.ray for name in names for f in catalogue.figures_of(name)):
        return None, "not selected"
    missing = ray_missing()
    if missing is not None:
        return None, missing
    say("starting Ray (num_cpus=2)")
    try:
        return RaySession(), ""
    except Exception as exc:
        return None, f"Ray did not start: {type(exc).__name__}: {exc}"


def rows_for(name: str, plan: Plan, results: Results, failure: str,
             ray: RaySession | None, ray_reason: str) -> list[Row]:
    rows: list[Row] = []
    for figure in catalogue.figures_of(name):
        result = results.get(figure.key)
        if figure.recorded is not None:
            result = beside_recorded(results.get(figure.recorded[0]), figure.recorded[1])
        if figure.full_only and plan.quick:
            rows.append(Row.missing(figure, SKIPPED, "full run only"))
        elif figure.ray and ray is None and ray_reason.startswith("not installed"):
            rows.append(Row.missing(figure, NOT_INSTALLED, ray_reason))
        elif figure.ray and ray is None:
            rows.append(Row.missing(figure, UNAVAILABLE, ray_reason))
        elif isinstance(result, Measurement):
            rows.append(Row.measured(figure, result))
        else:
            rows.append(Row.missing(figure, UNAVAILABLE, result or failure or "not measured"))
    return rows


def beside_recorded(source: Measurement | str | None, recorded: float) -> Measurement | str | None:
    """Another figure's measurement, set beside a value recorded once instead of its baseline."""
    if not isinstance(source, Measurement):
        return source
    return Measurement(source.value, source.tail, recorded, source.samples,
                       {"recorded_baseline": recorded})


def run_benchmarks(
    plan: Plan,
    only: Sequence[str] | None = None,
    *,
    profile_dir: Path | None = None,
    data_root: Path | None = None,
    say: Callable[[str], None] | None = None,
    node_args: Sequence[str] = (),
) -> Report:
    """Run the selected benchmarks (all by default) and return the report.

    Nodes keep their data folders (SQLite journal included) in a fresh folder
    under ``data_root`` (default: the system's temporary folder); the journal's
    commits cost what that file system makes them cost.
    """
    names = select(only)
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    started = time.monotonic()
    meta = environment(plan)
    if data_root is not None:
        data_root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="caxton-bench-", dir=data_root))
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    ray, ray_reason = open_ray(names, say)
    rows: list[Row] = []
    timings: dict[str, float] = {}
    try:
        ctx = Context(plan, workdir, ray, profile_dir, say, node_args)
        for name in names:
            say(f"[{name}]")
            t0 = time.monotonic()
            results: Results = {}
            failure = ""
            try:
                results = RUNNERS[name](ctx)
            except BenchUnavailable as exc:
                failure = str(exc)
            except Exception as exc:  # one broken part must not hide the other figures
                failure = f"{type(exc).__name__}: {exc}"
                say(traceback.format_exc().rstrip())
            if failure:
                say(f"  unavailable: {failure}")
            timings[name] = time.monotonic() - t0
            rows += rows_for(name, plan, results, failure, ray, ray_reason)
    finally:
        meta["versions"]["ray"] = ray.version if ray is not None else None
        if ray is not None:
            ray.close()
        shutil.rmtree(workdir, ignore_errors=True)
    meta["benchmarks"] = names
    meta["data_root"] = str(workdir.parent)
    meta["seconds_per_benchmark"] = {k: round(v, 2) for k, v in timings.items()}
    meta["duration_s"] = round(time.monotonic() - started, 2)
    return Report(meta, rows)
