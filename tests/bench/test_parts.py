"""The benchmark's own parts: statistics, ratios and verdicts, the table, the CLI,
the baselines (real forks and a real pyzmq echo server) and the 1 MB-state agent
under the real WebAssembly host."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from caxton.bench import FIGURES, Measurement, Report, Row, Target, render_table
from caxton.bench.agents import bigstate_module
from caxton.bench.catalogue import BENCHMARKS
from caxton.bench.context import run_helper
from caxton.bench.errors import BenchUnavailable
from caxton.bench.results import NOT_INSTALLED, UNAVAILABLE, Figure, advantage
from caxton.bench.stats import Summary, median, percentile
from caxton.bench.zmqecho import EchoClient, EchoServer

ROOT = Path(__file__).resolve().parents[2]


def test_percentiles_interpolate_between_ranks() -> None:
    samples = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert median(samples) == 3.0
    assert percentile(samples, 0) == 1.0
    assert percentile(samples, 100) == 5.0
    assert percentile(samples, 25) == 2.0
    assert percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    summary = Summary.of(list(map(float, range(1, 101))))
    assert summary.median == pytest.approx(50.5)
    assert summary.p99 == pytest.approx(99.01)
    assert (summary.minimum, summary.maximum, summary.count) == (1.0, 100.0, 100)


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_ratio_reads_as_times_better_for_latencies_and_rates() -> None:
    assert advantage(2.0, 10.0, "lower") == pytest.approx(5.0)  # 2 ms against 10 ms
    assert advantage(10.0, 2.0, "lower") == pytest.approx(0.2)
    assert advantage(30_000.0, 3_000.0, "higher") == pytest.approx(10.0)
    assert advantage(None, 1.0, "lower") is None
    assert advantage(1.0, 0.0, "higher") is None


def test_targets_judge_median_or_ratio() -> None:
    latency = Figure("x", "call", "x", "ms", "lower", "p95", "base",
                     Target("median", "<=", 10.0, "<= 10 ms"))
    assert Row.measured(latency, Measurement(9.9, 12.0, 1.0, 5)).met is True
    assert Row.measured(latency, Measurement(10.1, 12.0, 1.0, 5)).met is False
    versus_ray = Figure("y", "call", "y", "us", "lower", None, "Ray",
                        Target("ratio", ">=", 5.0, ">= 5x"))
    assert Row.measured(versus_ray, Measurement(200.0, None, 1_275.0, 5)).met is True
    assert Row.measured(versus_ray, Measurement(400.0, None, 1_275.0, 5)).met is False
    assert Row.missing(versus_ray, NOT_INSTALLED, "not installed").met is None


def test_every_row_has_a_benchmark_and_a_unique_key() -> None:
    keys = [f.key for f in FIGURES]
    assert len(keys) == len(set(keys))
    assert set(BENCHMARKS) == {"spawn", "kill", "call", "pipeline", "handle", "memory",
                               "restart", "supervisor", "guests",
                               "durability", "validation", "metrics", "deploy",
                               "store", "cluster"}
    for figure in FIGURES:
        if figure.ray:
            assert figure.target is not None and figure.target.on == "ratio"


def test_table_shows_numbers_verdicts_and_reasons() -> None:
    spawn, rate = FIGURES[0], FIGURES[1]
    ray = next(f for f in FIGURES if f.ray)
    rows = [
        Row.measured(spawn, Measurement(12.5, 20.0, 1.5, 100)),
        Row.measured(rate, Measurement(80.0, None, 800.0, 1)),
        Row.missing(ray, NOT_INSTALLED, "not installed (pip install '.[bench]')"),
        Row.missing(FIGURES[4], UNAVAILABLE, "the node did not answer within 60s"),
    ]
    table = render_table(Report({"mode": "quick", "versions": {}}, rows))
    lines = {line.split("  ")[0]: line for line in table.splitlines()}
    assert "12.5 ms" in lines[spawn.title] and "p95 20.0 ms" in lines[spawn.title]
    assert "8.33x worse" in lines[spawn.title] and lines[spawn.title].endswith("NOT MET")
    assert "800 /s" in lines[rate.title] and "10.00x worse" in lines[rate.title]
    assert lines[ray.title].endswith("not installed")
    assert lines[FIGURES[4].title].endswith("unavailable: the node did not answer within 60s")


def test_cli_refuses_an_unknown_benchmark_with_a_clear_message() -> None:
    done = subprocess.run([sys.executable, "-m", "caxton.bench", "--only", "spawn,warp"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "unknown benchmark warp" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_refuses_an_unwritable_json_path_before_running(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "out.json"
    done = subprocess.run([sys.executable, "-m", "caxton.bench", "--json", str(target)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "no such folder" in done.stderr and "Traceback" not in done.stderr
    assert "[spawn]" not in done.stderr  # nothing was run


def test_cli_lists_every_figure() -> None:
    done = subprocess.run([sys.executable, "-m", "caxton.bench", "--list"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    for figure in FIGURES:
        assert figure.key in done.stdout


@pytest.mark.timeout(60)
def test_fork_baselines_measure_real_children() -> None:
    spawn = run_helper("forkbase.py", "spawn", "5")
    assert len(spawn["latencies"]) == 5 and all(t > 0 for t in spawn["latencies"])
    assert spawn["rate"] > 0
    kill = run_helper("forkbase.py", "kill", "3")
    assert len(kill["down"]) == 3
    assert all(s > d > 0 for d, s in zip(kill["down"], kill["serving"], strict=True))
    memory = run_helper("forkbase.py", "memory", "3")
    assert len(memory["uss"]) == 3 and all(u > 0 for u in memory["uss"])
    assert all(p >= u for u, p in zip(memory["uss"], memory["pss"], strict=True))


def test_helper_failure_is_a_readable_reason() -> None:
    with pytest.raises(BenchUnavailable, match=r"forkbase\.py failed: usage"):
        run_helper("forkbase.py", "explode", "1")


@pytest.mark.timeout(60)
def test_pyzmq_echo_baseline_round_trips_and_pipelines() -> None:
    with EchoServer() as server:
        client = EchoClient(server.address)
        try:
            assert client.call(b"x" * 100) == b"x" * 100
            assert client.pipeline([b"y" * 100] * 1_000, window=64) == 1_000
        finally:
            client.close()
        process = server.process
        assert process is not None and process.poll() is None
    assert process.poll() is not None  # the server is gone with the context


def test_bigstate_agent_snapshots_and_restores_one_mebibyte() -> None:
    from caxton.wasm import AgentInstance, Limits, NullImports, load_module, validate

    report = validate(bigstate_module(), policy="default")
    assert report.passed, json.dumps(report.to_dict())[:2000]
    compiled = load_module(bigstate_module())
    first = AgentInstance(compiled, Limits(), NullImports())
    assert first.init(b"").ok
    counts = [int.from_bytes(first.handle(b"inc").reply, "little") for _ in range(3)]
    assert counts == [1, 2, 3]
    snapshot = first.snapshot()
    assert snapshot is not None and snapshot.ok
    assert len(snapshot.reply) == 2**20
    second = AgentInstance(compiled, Limits(), NullImports())
    assert second.restore(snapshot.reply).ok
    assert int.from_bytes(second.handle(b"inc").reply, "little") == 4
    assert not second.restore(b"too short").ok
    first.close()
    second.close()


def test_recorded_rows_set_the_measured_median_beside_the_recorded_figure() -> None:
    from caxton.bench.catalogue import RAY_RECORDED
    from caxton.bench.suite import beside_recorded

    recorded = [f for f in FIGURES if f.recorded is not None]
    assert {f.recorded[0] for f in recorded if f.recorded} == set(RAY_RECORDED)
    call = next(f for f in recorded if f.recorded and f.recorded[0] == "call.rtt")
    row = Row.measured(call, beside_recorded(Measurement(200.0, 390.0, 60.0, 10), 1275.0))
    assert (row.value, row.baseline) == (200.0, 1275.0)
    assert row.met is True  # 6.4x
    assert Row.measured(call, beside_recorded(Measurement(300.0, None, 60.0, 10), 1275.0)
                        ).met is False  # 4.25x
    assert beside_recorded("the node did not answer", 1275.0) == "the node did not answer"
