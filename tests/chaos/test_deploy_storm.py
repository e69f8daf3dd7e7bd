"""The deploy-storm scenario on a real node: deployments (each strategy) and rollbacks
of the ledgers under load and kills, and the checker's verdict over all of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chaos import plan
from chaos.config import RunConfig
from chaos.scenarios import DEPLOY, KILL, ROLLBACK

ROOT = Path(__file__).resolve().parents[2]


def test_the_schedule_deploys_and_rolls_back_ledgers_only() -> None:
    faults = plan(RunConfig(scenario="deploy-storm", seed=13, duration=20.0, agents=2,
                            counters=1))
    kinds = {f.kind for f in faults}
    assert kinds == {DEPLOY, ROLLBACK, KILL}
    assert all(f.target in (0, 1) for f in faults if f.kind in (DEPLOY, ROLLBACK))


@pytest.mark.timeout(170)
def test_a_short_deploy_storm_passes(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "chaos", "run", "--scenario", "deploy-storm", "--seed", "13",
         "--duration", "20", "--agents", "2", "--counters", "1", "--report", str(report_path),
         "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=160)
    report = json.loads(report_path.read_text())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("PASS")
    assert report["verdict"] == "PASS" and report["reasons"] == []
    messages = report["messages"]
    assert messages["lost"] == 0 and messages["duplicated"] == 0
    assert messages["acknowledged"] > 20 * 1000 * 0.5
    by_kind = report["faults"]["by_kind"]
    assert by_kind[DEPLOY].get("injected", 0) >= 5
    assert by_kind[ROLLBACK].get("injected", 0) >= 2
    assert all(c.get("not_contained", 0) == 0 for c in by_kind.values())
    log = report["fault_log"]
    deploys = [f for f in log if f["kind"] == DEPLOY and f["status"] == "injected"]
    assert {f["info"]["strategy"] for f in deploys} == {"immediate", "rolling", "blue_green"}
    assert all(f["info"]["outcome"] in ("running", "rolled_back", "draining", "retired")
               for f in deploys)
    rolled = [f for f in log if f["kind"] == ROLLBACK and f["status"] == "injected"]
    assert any(f["info"]["outcome"] == "rolled_back" for f in rolled)
