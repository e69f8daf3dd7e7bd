"""The data folder, its files and the IPC socket belong to the node's user alone."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import caxton
from caxton.launch import start_node, stop_node
from tests.conftest import NodeProcess
from tests.helpers import ROOT, free_port

ECHO = ROOT / "examples" / "agents" / "echo.wat"
SECRET = b"caxton-secret-payload-7f3a"
NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"


def _modes(data_dir: Path) -> dict[str, int]:
    """The mode of every entry under ``data_dir`` (itself as ``.``), by relative path."""
    modes = {".": stat.S_IMODE(data_dir.stat().st_mode)}
    for path in data_dir.rglob("*"):
        modes[str(path.relative_to(data_dir))] = stat.S_IMODE(path.lstat().st_mode)
    return modes


def _assert_private(data_dir: Path) -> None:
    for name, mode in _modes(data_dir).items():
        path = data_dir / name
        expected = 0o700 if path.is_dir() else 0o600
        assert mode == expected, f"{name} is {mode:04o}, expected {expected:04o}"


def _spawn_with_secrets(address: str) -> None:
    with caxton.connect(address, timeout=30) as client:
        client.spawn("echo", ECHO, init=SECRET)
        assert client.call("echo", SECRET) == SECRET


def test_every_file_of_a_node_is_private(node: NodeProcess) -> None:
    _spawn_with_secrets(node.address)
    names = set(_modes(node.data_dir))
    # what the node keeps: the store, the lock, the socket, modules and compiled artifacts
    assert {".", "caxton.db", "node.lock", "node.sock", "modules", "cache"} <= names
    assert any(n.startswith("modules/") and n.endswith(".wasm") for n in names)
    assert any(n.startswith("cache/") for n in names)
    assert stat.S_ISSOCK((node.data_dir / "node.sock").stat().st_mode)
    _assert_private(node.data_dir)


def test_a_wider_data_folder_is_tightened_at_start_and_logged(node: NodeProcess) -> None:
    _spawn_with_secrets(node.address)
    node.terminate()
    for path in [node.data_dir, *node.data_dir.rglob("*")]:
        if not path.is_socket():
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert _modes(node.data_dir)["caxton.db"] == 0o644
    node.start()
    _assert_private(node.data_dir)
    assert "was readable by others (folder mode 0755)" in node.log()


@pytest.fixture
def open_parent() -> Iterator[Path]:
    """A folder every user may pass through, as a home or /srv often is (pytest's own
    temporary folders are closed to other users, which would prove nothing)."""
    parent = Path(tempfile.mkdtemp(prefix="caxton-perm-", dir="/tmp"))
    parent.chmod(0o711)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


def _as_nobody(code: str) -> str:
    """Run Python ``code`` as user nobody; its output, stripped."""

    def drop() -> None:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    result = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", code], preexec_fn=drop,
                            capture_output=True, text=True, cwd="/", timeout=30,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


_READ = """
import sys
try:
    data = open({path!r}, "rb").read()
except PermissionError:
    print("denied")
else:
    print("read", {secret!r} in data)
"""

_CONNECT = """
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect({path!r})
except PermissionError:
    print("denied")
else:
    print("connected")
"""


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(SYSTEM_PYTHON),
                    reason="needs root to run a process as another user")
def test_another_user_can_read_no_payload_and_reach_no_socket(open_parent: Path,
                                                                tmp_path: Path) -> None:
    data = open_parent / "data"
    address = f"tcp://127.0.0.1:{free_port()}"
    with open(tmp_path / "node.log", "ab") as log:
        process = start_node(address, data, output=log)
    try:
        _spawn_with_secrets(address)
        stores = [p for p in (data / "caxton.db", data / "caxton.db-wal") if p.exists()]
        # the payload is there for whoever may read the files (this test's root)
        assert any(SECRET in p.read_bytes() for p in stores)
        marker = open_parent / "world-readable"
        marker.write_bytes(SECRET)
        marker.chmod(0o644)
        # the harness works: nobody passes through the parent and reads what is open
        assert _as_nobody(_READ.format(path=str(marker), secret=SECRET)) == "read True"
        sock = str(data / "node.sock")
        for path in stores:
            assert _as_nobody(_READ.format(path=str(path), secret=SECRET)) == "denied"
        assert _as_nobody(_CONNECT.format(path=sock)) == "denied"
        # even with the folder opened to passers-by, each file and the socket hold
        data.chmod(0o711)
        for path in stores:
            assert _as_nobody(_READ.format(path=str(path), secret=SECRET)) == "denied"
        assert _as_nobody(_CONNECT.format(path=sock)) == "denied"
        os.chmod(sock, 0o666)  # and the probe can tell an open socket from a closed one
        assert _as_nobody(_CONNECT.format(path=sock)) == "connected"
    finally:
        stop_node(process)
