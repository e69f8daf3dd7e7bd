"""``caxton deploy``, ``deployments`` and ``rollback`` from the command line, as documented."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import caxton
from tests.conftest import NodeProcess
from tests.deploy.modules import counter, counter_v2


def cli(node: NodeProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "caxton.cli.main", "--node", node.address,
                           "--timeout", "30", *args], capture_output=True, text=True,
                          timeout=120)


def test_deploy_list_show_and_rollback(node: NodeProcess, client: caxton.Client,
                                       tmp_path: Path) -> None:
    v1, v2 = tmp_path / "v1.wat", tmp_path / "v2.wat"
    v1.write_bytes(counter("v1"))
    v2.write_bytes(counter_v2())
    client.spawn("c", str(v1))
    client.send_many("c", [b"inc"] * 4)

    out = cli(node, "deploy", "c", str(v2), "--strategy", "blue-green", "--version", "v2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("✓ Validation passed (") and lines[0].endswith("s)")
    assert any(line.startswith("✓ Agent deployed (") for line in lines)
    assert "→ Agent c runs version v2" in out.stdout
    assert client.call("c", b"get") == b"4"

    listing = cli(node, "deployments", "list", "c")
    assert listing.returncode == 0, listing.stderr
    assert "blue_green" in listing.stdout and "running" in listing.stdout
    as_json = json.loads(cli(node, "--output", "json", "deployments", "list", "c").stdout)
    assert [d["state"] for d in as_json] == ["draining", "running"]
    show = cli(node, "deployments", "show", str(as_json[1]["id"]))
    assert "deploying -> running" in show.stdout

    back = cli(node, "rollback", "c")
    assert back.returncode == 0, back.stderr
    assert "✓ Previous version restored (" in back.stdout and "Rollback complete" in back.stdout
    assert client.status("c").module_sha256 == as_json[0]["sha256"]
    assert client.call("c", b"get") == b"4"

    no_wait = json.loads(cli(node, "deploy", "c", str(v2), "--no-wait", "--output",
                             "json").stdout)
    # a verdict the node remembers lets it go straight on to deploying
    assert no_wait["state"] in ("validating", "deploying")
    assert client.deployment(no_wait["id"]).id == no_wait["id"]


def test_errors_are_one_line(node: NodeProcess, client: caxton.Client, tmp_path: Path) -> None:
    v1 = tmp_path / "v1.wat"
    v1.write_bytes(counter("v1"))
    client.spawn("c", str(v1))
    for args, text in ((("rollback", "c"), "no deployment to roll back"),
                       (("deploy", "nobody", str(v1)), "no agent named"),
                       (("deploy", "c", str(v1)), "already runs"),
                       (("deployments", "show", "77"), "no deployment 77")):
        out = cli(node, *args)
        assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
        assert text in out.stderr and "Traceback" not in out.stderr
