"""Several nodes on one machine sharing one PostgreSQL database: a cluster to try,
test, benchmark and break (the README's walkthrough, ``tests/cluster``, the
``cluster`` chaos scenarios and the cluster benchmarks all start it here).

Each node is a real ``python -m caxton.node`` process with its own data
folder and loopback address; ``kill``, ``pause`` and ``resume`` send it
SIGKILL, SIGSTOP and SIGCONT.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from caxton.launch import free_loopback_address, spawn_node, stop_node, wait_until_serving


@dataclass
class LocalNode:
    """One node of a local cluster."""

    name: str
    address: str
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class LocalCluster:
    """``count`` nodes named n1..nN over the database at ``url``."""

    url: str
    root: Path
    count: int = 3
    lease_seconds: float = 3.0
    extra: Sequence[str] = ()
    output: IO[bytes] | int | None = None
    nodes: list[LocalNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.nodes:
            self.nodes = [LocalNode(f"n{i}", free_loopback_address(), self.root / f"n{i}")
                          for i in range(1, self.count + 1)]

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __getitem__(self, name: str) -> LocalNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def addresses(self) -> list[str]:
        return [n.address for n in self.nodes]

    def start(self) -> None:
        """Start every node that is not running, then wait for all to serve."""
        for node in self.nodes:
            if not node.alive():
                self._spawn(node)
        for node in self.nodes:
            assert node.process is not None
            wait_until_serving(node.address, node.process, timeout=60)

    def restart(self, name: str) -> None:
        node = self[name]
        self._spawn(node)
        assert node.process is not None
        wait_until_serving(node.address, node.process, timeout=60)

    def _spawn(self, node: LocalNode) -> None:
        node.process = spawn_node(
            node.address, node.data_dir, output=self.output,
            extra=("--name", node.name, "--store", self.url,
                   "--lease-seconds", str(self.lease_seconds), *self.extra))

    def kill(self, name: str) -> None:
        node = self[name]
        assert node.process is not None
        node.process.kill()
        node.process.wait(10)

    def pause(self, name: str) -> None:
        os.kill(self[name].pid, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        os.kill(self[name].pid, signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM to every node at once, then wait for each: stopped one by one, each
        node's agents would move to the ones still running before those stop too."""
        running = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
        for node in running:
            os.kill(node.pid, signal.SIGCONT)  # a paused node cannot drain
            os.kill(node.pid, signal.SIGTERM)
        for node in running:
            assert node.process is not None
            stop_node(node.process, timeout=20)
