"""The deploy-storm scenario on a real node: deployments (each strategy) and rollbacks
of the ledgers under load and kills, and the checker's verdict over all of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos import plan
from chaos.config import RunConfig
from chaos.scenarios import DEPLOY, KILL, ROLLBACK
from tests.chaos.cli_run import run_passing


def test_the_schedule_deploys_and_rolls_back_ledgers_only() -> None:
    faults = plan(RunConfig(scenario="deploy-storm", seed=13, duration=20.0, agents=2,
                            counters=1))
    kinds = {f.kind for f in faults}
    assert kinds == {DEPLOY, ROLLBACK, KILL}
    assert all(f.target in (0, 1) for f in faults if f.kind in (DEPLOY, ROLLBACK))


@pytest.mark.timeout(170)
def test_a_short_deploy_storm_passes(tmp_path: Path) -> None:
    report = run_passing(tmp_path, "deploy-storm", seed=13, duration=20, agents=2, counters=1)
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
