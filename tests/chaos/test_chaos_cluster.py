"""The cluster scenarios on real processes: three ``python -m caxton.node`` over a
throw-away PostgreSQL server the harness starts itself, ledgers dealt out over the
nodes, load sent through every node, and nodes SIGKILLed, SIGSTOPped past their
lease, or the server restarted under it, all in one seeded run (the
single-fault scenarios ``cluster-kill``, ``cluster-pause`` and
``cluster-pg-restart`` inject the same faults one kind at a time, for a longer
look at one). The run must PASS (every acknowledged
number in a ledger exactly once, read through any node) and its faults must have
done what they are for: a node taken over, a paused node fenced, every node's store
refusing and then recovering.

Nothing is simulated; each test waits on the harness's own events (a takeover seen
in ``nodes()``, a ``fenced`` count rising in ``ping()``), never on sleeps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chaos import RunConfig, plan
from chaos.cli import main
from chaos.report import format_summary
from chaos.scenarios import NODE_KILL, NODE_PAUSE, PG_RESTART, SCENARIOS
from tests.helpers import ROOT
from tests.pg import NEEDS_POSTGRES

pytestmark = NEEDS_POSTGRES

#: a rate the three nodes and the server keep up with on two cores, under faults
RATE = 400.0


#: the mixed run's length: two of each fault for this seed (the schedule test says so)
DURATION = 35.0
SEED = 34


def _injected(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in report["fault_log"] if f["kind"] == kind and f["status"] == "injected"]


def _passed_as_every_cluster_run_must(report: dict[str, Any]) -> None:
    """Nothing lost, duplicated or phantom, load acknowledged through every node, every
    node alive at the end, no node unanswered outside the harness's own faults."""
    messages = report["messages"]
    assert messages["lost"] == 0 and messages["duplicated"] == 0, report["reasons"]
    assert messages["phantom"] == 0
    assert messages["acknowledged"] > DURATION * RATE * 0.4
    cluster = report["cluster"]
    assert set(cluster["acknowledged_through"]) == {"n1", "n2", "n3"}
    assert all(count > 0 for count in cluster["acknowledged_through"].values())
    assert {n: r["state"] for n, r in cluster["nodes"].items()} == {
        "n1": "alive", "n2": "alive", "n3": "alive"}
    assert report["node"]["unexpected"] == []
    assert all(a["final_state"] == "running" for a in report["per_agent"].values())
    assert report["verdict"] == "PASS", report["reasons"]


def _fired_node_fault(fault: dict[str, Any]) -> None:
    """A node fault that did its work: the node was declared dead, its agents serve on
    the others, and it is back under a newer epoch."""
    info = fault["info"]
    assert fault["contained"], fault["problems"]
    assert info["agents"], "the node hit owned no agent"
    assert set(info["moved_to"]) == set(info["agents"])
    assert info["node"] not in info["moved_to"].values()
    assert info["taken_over_s"] > 0 and fault["recovery_s"] is not None
    assert info["epoch_after"] > info["epoch_before"]


def _every_killed_node_was_taken_over_and_rejoined(report: dict[str, Any]) -> None:
    kills = _injected(report, NODE_KILL)
    assert len(kills) >= 2
    for fault in kills:
        _fired_node_fault(fault)
        assert fault["info"]["start_attempts"] >= 1
    # survivors counted the takeovers (a node killed later lost its own count)
    assert report["cluster"]["takeovers"] >= 1
    for name, row in report["cluster"]["nodes"].items():
        killed = sum(1 for f in kills if f["info"]["node"] == name)
        assert row["killed"] == killed
        assert row["epoch"] >= 1 + killed  # each restart joined under a new epoch


def _every_paused_node_was_fenced_and_rejoined_empty(report: dict[str, Any]) -> None:
    pauses = _injected(report, NODE_PAUSE)
    assert len(pauses) >= 2
    for fault in pauses:
        _fired_node_fault(fault)
        assert fault["info"]["fenced"] is True
    nodes = report["cluster"]["nodes"]
    for name, row in nodes.items():
        paused = sum(1 for f in pauses if f["info"]["node"] == name)
        assert row["fenced_by_pause"] == paused
        # ping()["cluster"]["fenced"] of the node's last process: with this seed no
        # paused node is killed after its pause, which would start the count afresh
        assert row["fenced"] >= paused
    # the last paused node holds none of the agents it had (agents do not move back)
    last = pauses[-1]["info"]
    assert not set(last["agents"]) & set(nodes[last["node"]]["agents"])


def _every_node_refused_writes_then_recovered(report: dict[str, Any]) -> None:
    restarts = _injected(report, PG_RESTART)
    assert len(restarts) >= 2
    refused = sum(a["errors"].get("StorageUnavailable", 0) for a in report["per_agent"].values())
    assert refused > 0, "no write was refused: the server's outages were not felt"
    for fault in restarts:
        assert fault["info"]["outage_s"] >= fault["hold_s"]
        assert fault["recovery_s"] is not None
        # no node taken over for an outage of the store alone (a node fault that
        # overlaps the outage takes its own node over, and is not judged here)
        assert fault["info"]["takeovers"] in (0, "not judged (a node fault overlapped)")
        # a commit that landed and was replayed after the server came back would be
        # refused by the journal's primary key
        assert all("duplicate key" not in f for faults in fault["info"]["store_faults"].values()
                   for f in faults)


@pytest.mark.timeout(150)
def test_the_cluster_scenario_passes_and_each_fault_does_its_work(tmp_path: Path) -> None:
    """All three faults, twice each, in one run started as a user starts it (PASS on
    the last line): every SIGKILLed node taken over and back under a new epoch, every
    SIGSTOPped node fenced and back without its agents, every PostgreSQL restart felt
    as refused writes and recovered from without a takeover, and across all of it no
    acknowledged number lost or applied twice."""
    report_path = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "chaos", "run", "--scenario", "cluster", "--seed", str(SEED),
         "--duration", f"{DURATION:g}", "--rate", f"{RATE:g}", "--agents", "4", "--report",
         str(report_path), "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=140)
    print(done.stdout, done.stderr)
    report: dict[str, Any] = json.loads(report_path.read_text())
    print(format_summary(report))  # shown by pytest on a failure
    _passed_as_every_cluster_run_must(report)
    _every_killed_node_was_taken_over_and_rejoined(report)
    _every_paused_node_was_fenced_and_rejoined_empty(report)
    _every_node_refused_writes_then_recovered(report)
    # each kill's and pause's node was unanswered only inside its own outage
    assert len(report["node"]["deliberate_outages"]) == len(
        _injected(report, NODE_KILL) + _injected(report, NODE_PAUSE))
    assert done.returncode == 0 and done.stdout.rstrip().endswith("PASS")


def test_the_mixed_schedule_has_two_of_each_fault() -> None:
    kinds = [f.kind for f in plan(RunConfig(scenario="cluster", seed=SEED, duration=DURATION,
                                            rate=RATE, agents=4))]
    assert sorted(kinds) == sorted([NODE_KILL, NODE_PAUSE, PG_RESTART] * 2)


def test_a_cluster_schedule_is_the_seeds_and_names_ledgers() -> None:
    config = RunConfig(scenario="cluster", seed=4242, duration=60.0, agents=4)
    first, again = plan(config), plan(config)
    assert first == again and first != plan(RunConfig(scenario="cluster", seed=4243,
                                                       duration=60.0, agents=4))
    assert {f.kind for f in first} == {NODE_KILL, NODE_PAUSE, PG_RESTART}
    assert all(f.target in range(4) for f in first if f.kind != PG_RESTART)
    assert all(f.hold_s is not None for f in first)
    assert all(s.cluster == s.name.startswith("cluster") for s in SCENARIOS.values())


def test_a_cluster_scenario_refuses_an_existing_node(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--scenario", "cluster-kill", "--node", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "drop --node" in err[0]
