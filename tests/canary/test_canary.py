"""Canary deployments on a real node under load: promoted, or rolled back for a reason.

The agent is the chaos ledger (one bit per sequence number), so after each
canary the version left serving must hold every acknowledged number exactly
once: the split, the replays between the versions and the rollback lose
nothing and apply nothing twice.
"""

from __future__ import annotations

from typing import Any

import caxton
from tests.canary.load import SplitLoad, check_ledger
from tests.canary.modules import failing, good, slow
from tests.conftest import NodeProcess
from tests.helpers import wait_until

FAST: dict[str, Any] = {"stages": [(5, 2), (25, 1), (50, 1), (100, 0)],
                        "analysis_interval": 0.5, "min_samples": 50}


def _canary(client: caxton.Client, module: bytes, **options: Any) -> caxton.Deployment:
    return client.deploy("led", module, strategy="canary", timeout=60, **{**FAST, **options})


def test_a_good_version_is_promoted_to_full_on_its_own(node: NodeProcess) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("led", good("v1"), snapshot_every={"messages": 200}, mailbox=100_000)
        with SplitLoad(node.address, "led") as load:
            load.wait_for(500)
            dep = _canary(client, good("v2"))
            load.wait_for(len(load.acked) + 300)
        assert dep.state == "running", dep.progress
        assert client.status("led").module_sha256 == dep.sha256
        assert dep.canary is not None
        percents = [v["percent"] for v in dep.canary["verdicts"]]
        assert {5.0, 25.0, 50.0} <= set(percents)
        texts = [p["text"] for p in dep.progress]
        for line in ("Canary 5% started", "Promoting to 25%...", "Promoting to 50%...",
                     "Traffic switched to"):
            assert any(t.startswith(line) for t in texts), (line, texts)
        assert load.errors == []
        check_ledger(client, "led", load.acked)


def test_a_version_failing_5_percent_is_rolled_back_at_the_first_stage(
        node: NodeProcess) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("led", good("v1"), snapshot_every={"messages": 200}, mailbox=100_000)
        v1 = client.status("led").module_sha256
        with SplitLoad(node.address, "led") as load:
            load.wait_for(500)
            dep = _canary(client, failing())
            load.wait_for(len(load.acked) + 300)
        assert (dep.state, dep.reason) == ("rolled_back", "error_rate"), dep.progress
        assert dep.canary is not None
        last = dep.canary["verdicts"][-1]
        assert last["percent"] == 5.0 and last["decision"] == "rollback"
        assert 0.03 < last["figures"]["canary_error_rate"] < 0.07
        assert client.status("led").module_sha256 == v1
        assert load.errors == []
        check_ledger(client, "led", load.acked)


def test_a_three_times_slower_version_is_rolled_back_for_latency(node: NodeProcess) -> None:
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("led", good("v1"), snapshot_every={"messages": 200}, mailbox=100_000)
        v1 = client.status("led").module_sha256
        with SplitLoad(node.address, "led") as load:
            load.wait_for(500)
            dep = _canary(client, slow())
            load.wait_for(len(load.acked) + 300)
        assert (dep.state, dep.reason) == ("rolled_back", "latency"), dep.progress
        assert dep.canary is not None
        figures = dep.canary["verdicts"][-1]["figures"]
        assert figures["median_ratio"] > 2.0, figures  # measured ~3x
        assert client.status("led").module_sha256 == v1
        check_ledger(client, "led", load.acked)


def test_abort_is_a_manual_rollback_and_promote_skips_ahead(node: NodeProcess) -> None:
    """With two instances: each gets a lane of its own, keys split on both."""
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("led", good("v1"), snapshot_every={"messages": 200}, mailbox=100_000)
        client.scale("led", instances=2)
        with SplitLoad(node.address, "led") as load:
            load.wait_for(300)
            slow_stages: dict[str, Any] = {"stages": [(5, 600), (100, 0)],
                                           "analysis_interval": 0.5}
            dep = client.deploy("led", good("v2"), strategy="canary", wait=False,
                                **slow_stages)
            wait_until(lambda: any(p["kind"] == "canary"
                                   for p in client.deployment(dep.id).progress),
                       timeout=30, what="the canary to serve")
            load.wait_for(len(load.acked) + 300)
            aborted = client.abort(dep.id)
            assert (aborted.state, aborted.reason) == ("rolled_back", "manual")
            dep2 = client.deploy("led", good("v3"), strategy="canary", wait=False,
                                 **slow_stages)
            wait_until(lambda: any(p["kind"] == "canary"
                                   for p in client.deployment(dep2.id).progress),
                       timeout=30, what="the second canary to serve")
            load.wait_for(len(load.acked) + 300)
            client.promote(dep2.id, to_full=True)
            wait_until(lambda: client.deployment(dep2.id).state == "running", timeout=30,
                       what="the promoted canary")
            load.wait_for(len(load.acked) + 300)
        assert client.status("led").module_sha256 == dep2.sha256
        assert client.deployment(dep2.id).instances == {"led": True, "led#1": True}
        assert load.errors == []
        check_ledger(client, "led", load.acked, instances=2)
