"""`caxton.testing` works from a user's project that only has Caxton installed.

The user's project lives in a temp folder outside this repository, with no
conftest of ours: its fixtures come from the ``pytest11`` entry point of the
installed distribution. It runs in a pytest subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from caxton.wasm import example_path
from tests.guests.conftest import require_toolchain
from tests.helpers import ROOT

USER_TESTS = '''
import os
import signal

import psutil

PIDS = []


def test_node_serves_an_agent(caxton_node, caxton_client):
    caxton_client.spawn("counter", COUNTER, snapshot_every=2)
    for _ in range(3):
        caxton_client.send("counter", b"inc")
    assert caxton_client.call("counter", b"get") == b"3"
    PIDS.append(caxton_node.process.pid)
    PIDS.extend(p.pid for p in caxton_node.descendants())
    assert len(PIDS) >= 2  # the node and at least the agent's process


def test_the_node_left_no_process():
    assert PIDS
    alive = [pid for pid in PIDS if psutil.pid_exists(pid)
             and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert alive == []


def test_agent_in_process(caxton_agent):
    counter = caxton_agent(COUNTER, init=b"41")
    assert counter.call("inc") == b"42"
    counter.restart()
    assert counter.call("get") == b"42"
    assert counter.snapshot() == (42).to_bytes(8, "little")


def test_build_a_project(caxton_build, caxton_agent):
    module = caxton_build(PROJECT)
    agent = caxton_agent(module)
    assert agent.call("inc") == b"1"
'''


def _user_project(tmp_path: Path, project: Path | None) -> Path:
    user = tmp_path / "user-project"
    (user / "tests").mkdir(parents=True)
    header = f"COUNTER = {str(example_path('counter'))!r}\nPROJECT = {str(project)!r}\n"
    (user / "tests" / "test_agents.py").write_text(header + USER_TESTS)
    return user


@pytest.mark.timeout(300)
def test_fixtures_work_in_a_users_project(tmp_path: Path) -> None:
    require_toolchain("c")
    subprocess.run([sys.executable, "-m", "caxton.cli.main", "new", "mine", "--lang", "c",
                    "--dir", str(tmp_path)], check=True, capture_output=True, timeout=60)
    user = _user_project(tmp_path, tmp_path / "mine")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=user, capture_output=True, text=True, timeout=280, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout
    assert not (user / "conftest.py").exists()  # the fixtures came from the entry point


@pytest.mark.timeout(300)
def test_the_wheel_carries_the_plugin_sdks_and_templates(tmp_path: Path) -> None:
    """What `pip install caxton` installs: the plugin's entry point, the SDKs, the templates."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=280, check=False)
    if done.returncode != 0:
        # this environment's setuptools cannot build the wheel (too old, or no
        # `wheel` package): let pip fetch the build requirements, as
        # `pip install` does
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
             str(ROOT)], capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("caxton-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("caxton/testing.py", "caxton/sdk/c/caxton_agent.h",
                   "caxton/sdk/c/caxton_agent.c", "caxton/sdk/rust/caxton-agent/src/lib.rs",
                   "caxton/sdk/rust/caxton-agent/Cargo.toml",
                   "caxton/templates/rust/src/lib.rs", "caxton/templates/rust/caxton.toml",
                   "caxton/templates/c/src/agent.c", "caxton/templates/c/vectors.json"):
        assert needed in names, needed
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]" in text and "caxton = caxton.testing" in text
