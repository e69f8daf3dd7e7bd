"""Shared fixtures: a real node process on a free loopback port and a temp data folder."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.01, what: str = "condition"):
    """Poll a condition until it holds: the event-driven wait tests use for other processes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class NodeProcess:
    address: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def start(self) -> None:
        from caxton.launch import NodeDidNotStart, start_node

        with open(self.log_path, "ab") as log:
            try:
                self.process = start_node(self.address, self.data_dir, output=log)
            except NodeDidNotStart as exc:
                raise AssertionError(f"{exc}:\n{self.log()}") from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        from caxton.launch import stop_node

        return stop_node(self.process)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    proc = NodeProcess(f"tcp://127.0.0.1:{free_port()}", tmp_path / "data",
                       None, tmp_path / "node.log")  # type: ignore[arg-type]
    proc.start()
    yield proc
    proc.terminate()


@pytest.fixture
def client(node: NodeProcess):
    import caxton

    with caxton.connect(node.address, timeout=10) as c:
        yield c
