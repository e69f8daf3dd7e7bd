"""The store under faults: a full disk, and a data folder that cannot be the truth.

A full disk is a real one: a 4 MiB tmpfs mounted for the test (the tests run
as root, as ``.ci/run`` does), filled to its last 256 KiB.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

import caxton
from caxton.launch import PROJECT_ROOT, child_env, node_command
from caxton.wasm import example_path
from tests.conftest import NodeProcess
from tests.helpers import free_port, tmpfs, wait_until


def fill(disk: Path, leave: int) -> Path:
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
    return filler


def storage(client: caxton.Client) -> dict[str, object]:
    state: dict[str, object] = client.ping()["storage"]
    return state


@pytest.mark.timeout(120)
def test_a_full_disk_refuses_new_work_recovers_on_its_own_and_never_doubles_an_effect(
        tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "size=4m") as disk:
        node = NodeProcess(f"tcp://127.0.0.1:{free_port()}", disk / "data", None,  # type: ignore[arg-type]
                           tmp_path / "node.log")
        node.start()
        try:
            with caxton.connect(node.address, timeout=10) as setup:
                setup.spawn("counter", example_path("counter"),
                            snapshot_every={"messages": 50, "seconds": 0})
            filler = fill(disk, leave=256 * 1024)
            acked = 0
            fault_seen = threading.Event()
            recovered = threading.Event()
            observations: dict[str, object] = {}

            def watch() -> None:
                with caxton.connect(node.address, timeout=5) as watcher:
                    wait_until(lambda: not storage(watcher)["ok"], timeout=60,
                               what="the store to report the full disk")
                    fault_seen.set()
                    observations["fault"] = storage(watcher)["fault"]
                    # new work is refused at once, with the typed error
                    try:
                        watcher.send("counter", b"x" * 8192)
                    except caxton.StorageUnavailable as exc:
                        observations["refused"] = exc.message
                    observations["status"] = watcher.status("counter").state
                    filler.unlink()
                    wait_until(lambda: storage(watcher)["ok"], timeout=30,
                               what="the store to recover once space is free")
                    recovered.set()

            watcher = threading.Thread(target=watch)
            watcher.start()
            after_recovery = 0
            with caxton.connect(node.address, timeout=60) as sender:
                # until the disk has filled and emptied again, then a few more: the
                # tmpfs is small enough that a long run would fill it once more
                while after_recovery < 20:
                    try:
                        sender.send("counter", b"x" * 8192)
                    except caxton.StorageUnavailable:
                        continue  # refused while the disk is full: not acknowledged
                    acked += 1
                    after_recovery += recovered.is_set()
                    assert acked < 5000, "the disk never filled"
            watcher.join(30)
            assert fault_seen.is_set()
            assert "full" in str(observations["fault"])
            assert "cannot write its store" in str(observations["refused"])
            assert observations["status"] == "running"
            with caxton.connect(node.address, timeout=10) as client:
                wait_until(lambda: client.status("counter").mailbox_depth == 0, timeout=30,
                           what="the mailbox to drain")
                assert client.call("counter", b"get") == str(acked).encode()
            node.kill()
            node.start()
            with caxton.connect(node.address, timeout=10) as client:
                assert client.call("counter", b"get") == str(acked).encode()
        finally:
            node.terminate()


def _start_fails(data_dir: Path, tmp_path: Path) -> str:
    """Start a node on ``data_dir`` that must refuse; return what it said."""
    result = subprocess.run(
        node_command(f"tcp://127.0.0.1:{free_port()}", data_dir), capture_output=True,
        text=True, timeout=60, env=child_env(), cwd=str(PROJECT_ROOT))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def used_data_dir(tmp_path: Path) -> Path:
    """A data folder with an agent and its module in it, its node stopped."""
    node = NodeProcess(f"tcp://127.0.0.1:{free_port()}", tmp_path / "data", None,  # type: ignore[arg-type]
                       tmp_path / "node.log")
    node.start()
    with caxton.connect(node.address, timeout=10) as client:
        client.spawn("counter", example_path("counter"))
        client.send("counter", b"inc")
    assert node.terminate() == 0
    return node.data_dir


@pytest.mark.timeout(60)
@pytest.mark.parametrize("damage", ["missing", "empty"])
def test_a_lost_store_beside_stored_modules_refuses_to_start(used_data_dir: Path,
                                                            tmp_path: Path, damage: str) -> None:
    db = used_data_dir / "caxton.db"
    for extra in ("caxton.db-wal", "caxton.db-shm"):
        (used_data_dir / extra).unlink(missing_ok=True)
    if damage == "missing":
        db.unlink()
    else:
        db.write_bytes(b"")
    line = _start_fails(used_data_dir, tmp_path)
    assert f"is {damage} but 1 modules are stored beside it" in line


@pytest.mark.timeout(60)
@pytest.mark.parametrize("damage", ["garbage", "half"])
def test_a_corrupt_store_refuses_to_start_in_one_line(used_data_dir: Path, tmp_path: Path,
                                                     damage: str) -> None:
    db = used_data_dir / "caxton.db"
    data = db.read_bytes()
    db.write_bytes(b"this is not a database " * 200 if damage == "garbage"
                   else data[: len(data) // 2])
    line = _start_fails(used_data_dir, tmp_path)
    assert line.startswith("caxton: cannot open the store")


@pytest.mark.timeout(60)
def test_a_read_only_data_folder_refuses_to_start_in_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        line = _start_fails(ro / "data", tmp_path)
        assert line.startswith("caxton: cannot use the data folder")
        assert "Read-only file system" in line
