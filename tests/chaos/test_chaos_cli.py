"""The command line: usage errors are one line and exit 2, before anything starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("argv", "needle"), [
    (["run"], "--scenario"),
    (["run", "--scenario", "no-such"], "invalid choice"),
    (["run", "--scenario", "mixed", "--duration", "0"], "--duration"),
    (["run", "--scenario", "mixed", "--duration", "ten"], "invalid float"),
    (["run", "--scenario", "mixed", "--seed", "-3"], "--seed"),
    (["run", "--scenario", "mixed", "--agents", "0"], "--agents"),
    (["run", "--scenario", "mixed", "--rate", "-1"], "--rate"),
    (["run", "--scenario", "mixed", "--call-share", "0.9"], "--call-share"),
    (["run", "--scenario", "mixed", "--no-such-flag"], "unrecognized"),
    (["run", "--scenario", "node-crash", "--node", "tcp://127.0.0.1:9"], "node-crash"),
    (["run", "--scenario", "mixed", "--node", "tcp://127.0.0.1:9", "--node-arg", "x"],
     "--node-arg"),
    (["run", "--scenario", "mixed", "--report", "/no/such/folder/r.json"], "does not exist"),
    (["run", "--scenario", "mixed", "--rate", "100000", "--duration", "86400"], "capacity"),
    (["run", "--scenario", "mixed", "--prefix", "bad name"], "--prefix"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_usage_errors_exit_2_with_one_line(capsys, argv, needle):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("chaos: error: ")
    assert needle in lines[0]


@pytest.mark.timeout(30)
def test_an_unreachable_node_is_a_usage_error_not_a_traceback(capsys):
    from tests.conftest import free_port

    address = f"tcp://127.0.0.1:{free_port()}"
    assert main(["run", "--scenario", "poison", "--duration", "5", "--node", address]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and address in err[0]


def test_scenarios_lists_every_scenario(capsys):
    assert main(["scenarios"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["kill-storm", "hangs", "poison", "bombs", "node-crash", "deploy-storm",
                     "mixed", "cluster-kill", "cluster-pause", "cluster-pg-restart", "cluster"]


@pytest.mark.timeout(30)
def test_python_dash_m_chaos_prints_the_seeded_schedule():
    def schedule() -> list[dict[str, object]]:
        out = subprocess.run(
            [sys.executable, "-m", "chaos", "schedule", "--scenario", "node-crash",
             "--seed", "5", "--duration", "30"],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return [json.loads(line) for line in out.splitlines()]

    first = schedule()
    assert [f["kind"] for f in first] == ["node-crash"] * 3
    assert schedule() == first


@pytest.mark.timeout(30)
def test_python_dash_m_chaos_usage_error_exits_2():
    result = subprocess.run([sys.executable, "-m", "chaos", "run", "--scenario", "mixed",
                             "--agents", "-1"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "--agents" in result.stderr
