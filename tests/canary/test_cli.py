"""``caxton deploy --strategy canary``, ``promote`` and ``abort`` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import caxton
from tests.canary.load import SplitLoad, check_ledger
from tests.canary.modules import failing, good
from tests.conftest import NodeProcess
from tests.helpers import wait_until

FAST = ("--stages", "5:1,50:1,100:0", "--analysis-interval", "0.5", "--min-samples", "50")


def cli(node: NodeProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "caxton.cli.main", "--node", node.address,
                           "--timeout", "30", *args], capture_output=True, text=True,
                          timeout=120)


def test_canary_progress_lines_then_json(node: NodeProcess, tmp_path: Path) -> None:
    v2, v3, v4 = tmp_path / "v2.wat", tmp_path / "v3.wat", tmp_path / "v4.wat"
    v2.write_bytes(good("v2"))
    v3.write_bytes(failing("v3"))
    v4.write_bytes(good("v4"))
    with caxton.connect(node.address, timeout=30) as client:
        client.spawn("led", good("v1"), mailbox=100_000)
        with SplitLoad(node.address, "led") as load:
            load.wait_for(300)
            out = cli(node, "deploy", "led", str(v2), "--strategy", "canary", *FAST)
            assert out.returncode == 0, out.stderr
            lines = out.stdout.splitlines()
            assert lines[0].startswith("✓ Validation passed (")
            expected = ["✓ Canary 5% started (", "→ Monitoring for 1 second...",
                        "✓ Error rate: ", "✓ P99 latency: ", "✓ Promoting to 50%...",
                        "✓ Canary 50% started (", "✓ Promoting to 100%...",
                        "✓ Traffic switched to", "✓ Agent deployed (", "→ Agent led runs"]
            found = [next(i for i, line in enumerate(lines) if line.startswith(e))
                     for e in expected]
            assert found == sorted(found), out.stdout
            assert "(threshold: 1%)" in out.stdout and "(threshold: 100ms)" in out.stdout

            bad = cli(node, "--output", "json", "deploy", "led", str(v3), "--strategy", "canary",
                      *FAST)
            assert bad.returncode == 1
            record = json.loads(bad.stdout)
            assert (record["state"], record["reason"]) == ("rolled_back", "error_rate")
            assert record["canary"]["verdicts"][-1]["decision"] == "rollback"

            started = cli(node, "deploy", "led", str(v4), "--strategy", "canary", "--stages",
                          "5:600,100:0", "--analysis-interval", "0.5", "--no-wait",
                          "--output", "json")
            dep_id = json.loads(started.stdout)["id"]
            wait_until(lambda: any(p["kind"] == "canary"
                                   for p in client.deployment(dep_id).progress),
                       timeout=30, what="the canary to serve")
            aborted = cli(node, "abort", str(dep_id))
            assert aborted.returncode == 0, aborted.stderr
            assert "rolled_back: manual" in aborted.stdout
            again = cli(node, "promote", str(dep_id))
            assert again.returncode == 1 and "not a canary in progress" in again.stderr
            assert "Traceback" not in again.stderr
            load.wait_for(len(load.acked) + 300)
        check_ledger(client, "led", load.acked)
