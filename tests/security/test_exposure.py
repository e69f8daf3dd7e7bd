"""A node reachable from other hosts needs keys, or an explicit --insecure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import caxton
from caxton.launch import child_env, start_node, stop_node
from caxton.security.exposure import is_local_only
from tests.helpers import ROOT, free_port
from tests.security.conftest import Keyring


def _node(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A node command that is expected to refuse to start."""
    return subprocess.run([sys.executable, "-m", "caxton.node", *args], capture_output=True,
                          text=True, env=child_env(), cwd=ROOT, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("address", [
    "tcp://127.0.0.1:7700", "tcp://127.8.9.10:1", "tcp://localhost:7700", "tcp://[::1]:7700",
    "ipc:///tmp/node.sock", "inproc://x"])
def test_local_addresses(address: str) -> None:
    assert is_local_only(address)


@pytest.mark.parametrize("address", [
    "tcp://0.0.0.0:7700", "tcp://*:7700", "tcp://[::]:7700", "tcp://192.0.2.2:7700",
    "tcp://eth0:7700", "tcp://example.org:7700", "ws://127.0.0.1:7700", "tcp://", "garbage"])
def test_addresses_other_hosts_may_reach(address: str) -> None:
    assert not is_local_only(address)


def test_listening_on_every_interface_without_keys_is_refused_in_one_line(
        tmp_path: Path) -> None:
    result = _node("--data-dir", str(tmp_path / "data"), "--listen",
                   f"tcp://0.0.0.0:{free_port()}")
    assert result.returncode == 1
    line = _one_line(result)
    assert "refusing to listen on tcp://0.0.0.0:" in line and "--insecure" in line
    assert not (tmp_path / "data").exists()  # refused before it touched anything


def test_caxton_node_start_refuses_it_too(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "caxton.cli.main", "node", "start", "--data-dir",
         str(tmp_path / "data"), "--listen", f"tcp://*:{free_port()}"],
        capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert "refusing to listen on tcp://*:" in _one_line(result)


def test_insecure_overrides_with_a_warning(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "node.log"
    with open(log_path, "ab") as log:
        # served on every interface; this test only ever reaches it over loopback
        process = start_node(f"tcp://0.0.0.0:{port}", tmp_path / "data", output=log,
                             extra=["--insecure"])
    try:
        with caxton.connect(f"tcp://127.0.0.1:{port}", timeout=10) as client:
            assert client.ping()["node"] == "n1"
    finally:
        stop_node(process)
    log_text = log_path.read_text()
    assert "WARNING" in log_text and "WITHOUT keys (--insecure)" in log_text


@pytest.mark.parametrize("case", ["secret only", "folder only", "missing secret",
                                  "public as secret", "no folder", "open secret"])
def test_bad_key_options_are_refused_in_one_line(tmp_path: Path, keyring: Keyring,
                                                 case: str) -> None:
    secret, folder = str(keyring.node_secret), str(keyring.authorized)
    options = {
        "secret only": ["--secret-key", secret],
        "folder only": ["--authorized-keys", folder],
        "missing secret": ["--secret-key", str(tmp_path / "nope"), "--authorized-keys", folder],
        "public as secret": ["--secret-key", str(keyring.authorized / "admin.key"),
                             "--authorized-keys", folder],
        "no folder": ["--secret-key", secret, "--authorized-keys", str(tmp_path / "nope")],
        "open secret": ["--secret-key", secret, "--authorized-keys", folder],
    }[case]
    expected = {
        "secret only": "need both", "folder only": "need both",
        "missing secret": "no such file", "public as secret": "holds no secret key",
        "no folder": "no such folder", "open secret": "chmod 600",
    }[case]
    if case == "open secret":
        keyring.node_secret.chmod(0o644)
    result = _node("--data-dir", str(tmp_path / "data"), "--listen",
                   f"tcp://0.0.0.0:{free_port()}", *options)
    assert result.returncode == 1
    assert expected in _one_line(result)


def test_an_authorized_folder_others_can_write_is_refused(tmp_path: Path,
                                                          keyring: Keyring) -> None:
    keyring.authorized.chmod(0o777)
    result = _node("--data-dir", str(tmp_path / "data"), "--secret-key",
                   str(keyring.node_secret), "--authorized-keys", str(keyring.authorized))
    assert result.returncode == 1
    assert "writable by group or others" in _one_line(result)
