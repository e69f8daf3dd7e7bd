"""Shared fixtures: a real node process on a free loopback port and a temp data folder."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import free_port


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
