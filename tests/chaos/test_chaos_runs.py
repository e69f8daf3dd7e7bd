"""Real runs against real nodes: a mixed run passes, a broken node fails, seeds replay.

Each run starts a node subprocess (or uses the test's), spawns ledger agents,
sends real load and injects real faults; nothing here is simulated.
"""

from __future__ import annotations

import pytest

import caxton
from chaos import FAULT_KINDS, RunConfig, plan, run
from chaos.scenarios import FLOOD, MESSAGE_FAULTS, NODE_CRASH, OVERSIZED, POISON
from tests.chaos.cli_run import run_passing


@pytest.mark.timeout(170)
def test_a_short_mixed_run_passes(tmp_path):
    report = run_passing(tmp_path, "mixed", seed=2024, duration=25, agents=3, counters=1)
    messages = report["messages"]
    assert messages["via_call"] > 0 and messages["via_send"] > 0

    by_kind = report["faults"]["by_kind"]
    assert set(by_kind) == set(FAULT_KINDS)
    for kind, counts in by_kind.items():
        assert counts.get("injected", 0) >= 1, kind
        assert counts.get("not_contained", 0) == 0, kind
    log = report["fault_log"]
    assert all(f["recovery_s"] is not None for f in log if f["status"] == "injected")
    for fault in log:
        if fault["kind"] in MESSAGE_FAULTS and fault["kind"] != OVERSIZED:
            assert len(fault["info"]["reasons"]) == 3
        if fault["kind"] == POISON:
            assert all(r.startswith("trap") for r in fault["info"]["reasons"])
        if fault["kind"] in (OVERSIZED, FLOOD):
            assert "refused" in fault["info"]
    crashes = [f for f in log if f["kind"] == NODE_CRASH]
    assert len(report["node"]["deliberate_outages"]) == len(crashes)
    assert report["node"]["unexpected"] == []
    assert len(report["node"]["node_pids"]) == len(crashes) + 1
    assert all(a["final_state"] == "running" for a in report["per_agent"].values())
    assert report["recovery"]["all"]["count"] == report["faults"]["injected"]


@pytest.mark.timeout(90)
def test_the_checker_fails_a_node_that_drops_unacknowledged_messages():
    config = RunConfig(scenario="kill-storm", seed=7, duration=8.0,
                       node_module="tests.chaos.lossy_node")
    result = run(config)
    assert result.exit_code == 1
    assert not result.verdict.passed
    lost = result.report["messages"]["lost"]
    assert lost > 0
    lost_reasons = [r for r in result.report["reasons"] if "acknowledged messages lost" in r]
    assert lost_reasons
    assert sum(a.get("lost", 0) for a in result.report["per_agent"].values()) == lost


@pytest.mark.timeout(90)
def test_the_same_seed_replays_the_same_faults_on_two_nodes(node):
    """One run on a node the harness starts, one on an existing node (``--node``)."""

    def faults_of(config: RunConfig) -> list[tuple[str, float, str | None]]:
        result = run(config)
        assert result.verdict.passed, result.verdict.reasons
        log = result.report["fault_log"]
        assert all(f["status"] == "injected" for f in log)
        for fault in log:  # injected on time, give or take a busy machine
            assert fault["injected_offset"] - fault["planned_offset"] < 3.0
        return [(f["kind"], f["planned_offset"], f["target"]) for f in log]

    common = {"scenario": "kill-storm", "seed": 99, "duration": 5.0, "rate": 400.0,
              "agents": 3, "prefix": "same-"}
    own = faults_of(RunConfig(**common))
    theirs = faults_of(RunConfig(node=node.address, **common))
    assert own == theirs
    planned = plan(RunConfig(**common))
    assert own == [(f.kind, f.offset, f"same-ledger-{f.target}") for f in planned]
    with caxton.connect(node.address) as client:  # the harness cleaned up after itself
        assert client.list_agents() == []


@pytest.mark.timeout(60)
def test_a_taken_agent_name_is_a_usage_error_and_the_users_agent_is_left_alone(node, capsys):
    from caxton.wasm.examples import example_path
    from chaos.cli import main

    with caxton.connect(node.address) as client:
        client.spawn("mine-ledger-1", example_path("counter"))
        client.send("mine-ledger-1", b"inc")
        code = main(["run", "--scenario", "poison", "--duration", "5", "--agents", "2",
                     "--node", node.address, "--prefix", "mine-"])
        assert code == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and "mine-ledger-1" in err[0]
        # the run spawned mine-ledger-0 before it hit the taken name: it removed that one only
        assert [s.name for s in client.list_agents()] == ["mine-ledger-1"]
        assert client.call("mine-ledger-1", b"get") == b"1"
