"""``caxton apply -f agents.yaml`` and ``caxton agents scale`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import caxton
from tests.conftest import NodeProcess
from tests.deploy.modules import counter, counter_v2
from tests.deploy.test_cli import cli

MANIFEST = """\
apiVersion: caxton/v1
agents:
  - name: c
    module: {module}
    version: "{version}"
    instances: {instances}
    limits: {{memory_bytes: 16777216, deadline_ms: 500}}
    restart: permanent
    policy: backoff
    snapshot_every: {{messages: 10}}
    deployment:
      strategy: blue-green
      stages:
        - validate: 30s
        - warm_up: 0s
        - switch: instant
        - cleanup: 300s
"""


def _manifest(tmp_path: Path, module: str, version: str, instances: int) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(MANIFEST.format(module=module, version=version, instances=instances))
    return path


def test_apply_spawns_deploys_scales_and_is_idempotent(node: NodeProcess, client: caxton.Client,
                                                       tmp_path: Path) -> None:
    (tmp_path / "v1.wat").write_bytes(counter("v1"))
    (tmp_path / "v2.wat").write_bytes(counter_v2())
    manifest = _manifest(tmp_path, "v1.wat", "1.0", 2)

    out = cli(node, "apply", "-f", str(manifest))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("✓ c: spawned (module ")
    assert "✓ c: scaled from 1 to 2 instances" in out.stdout
    assert len(client.status("c").instances) == 2
    for _ in range(3):
        client.send("c", b"inc", instance=0)

    again = cli(node, "apply", "-f", str(manifest))
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "Nothing to change: 1 agent as the manifest says"
    as_json = json.loads(cli(node, "--output", "json", "apply", "-f", str(manifest)).stdout)
    assert as_json["changed"] is False and as_json["agents"][0]["actions"] == ["unchanged"]
    assert [d.strategy for d in client.deployments("c")] == ["initial"]

    manifest = _manifest(tmp_path, "v2.wat", "2.0", 3)
    dry = cli(node, "apply", "-f", str(manifest), "--dry-run")
    assert dry.returncode == 0 and dry.stdout.strip() == "c: would deploy, scale"
    assert len(client.status("c").instances) == 2
    out = cli(node, "apply", "-f", str(manifest))
    assert out.returncode == 0, out.stderr
    assert "✓ c: deployed version 2.0 (blue_green, deployment 2)" in out.stdout
    assert "✓ c: scaled from 2 to 3 instances" in out.stdout
    status = client.status("c")
    assert status.version == "2.0" and len(status.instances) == 3
    assert client.call("c", b"get", instance=0) == b"3"          # state kept across versions
    assert cli(node, "apply", "-f", str(manifest)).stdout.startswith("Nothing to change")


@pytest.mark.parametrize(("body", "message"), [
    ("agents: []\n", "'agents' must be a non-empty list"),
    ("agents:\n  - name: c\n    module: v1.wat\n    replicas: 2\n", "unknown field 'replicas'"),
    ("agents:\n  - name: c\n", "(c): module: required"),
    ("agents:\n  - name: c\n    module: nope.wasm\n", "module: cannot read nope.wasm"),
    ("agents:\n  - name: c\n    module: v1.wat\n    instances: 0\n", "instances: a whole"),
    ("agents:\n  - name: c\n    module: v1.wat\n    deployment: {strategy: canary}\n",
     "deployment.strategy: 'canary' (not in manifests yet"),
    ("agents:\n  - name: c\n    module: v1.wat\n    deployment:\n      stages: [warm_up: soon]\n",
     "stages[0].warm_up: a duration"),
    ("agents:\n  - {name: c, module: v1.wat\n", "not valid YAML at line"),
    ("agents:\n  - name: c\n    module: v1.wat\n  - name: c\n    module: v1.wat\n",
     "'c' is listed twice"),
])
def test_a_bad_manifest_is_one_line_naming_the_field(node: NodeProcess, client: caxton.Client,
                                                     tmp_path: Path, body: str,
                                                     message: str) -> None:
    (tmp_path / "v1.wat").write_bytes(counter("v1"))
    path = tmp_path / "agents.yaml"
    path.write_text(body)
    out = cli(node, "apply", "-f", str(path))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert client.list_agents() == []


def test_cli_scale_and_keys(node: NodeProcess, client: caxton.Client, tmp_path: Path) -> None:
    client.spawn("c", counter("v1"))
    out = cli(node, "agents", "scale", "c", "--instances", "3", "--output", "json")
    assert out.returncode == 0, out.stderr
    assert [i["index"] for i in json.loads(out.stdout)["instances"]] == [0, 1, 2]
    text = cli(node, "agents", "status", "c").stdout
    assert "INSTANCE" in text and len([ln for ln in text.splitlines()
                                       if ln.strip().startswith(("0 ", "1 ", "2 "))]) == 3
    replies = [cli(node, "call", "c", "inc", "--key", "alice").stdout.strip() for _ in range(3)]
    assert replies == ["1", "2", "3"]                     # one key: one instance's count
    bad = cli(node, "agents", "scale", "c", "--instances", "0")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "instances must be" in bad.stderr
    down = cli(node, "agents", "scale", "c", "--instances", "1")
    assert down.returncode == 0 and "runs 1 instance" in down.stdout
