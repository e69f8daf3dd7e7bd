"""A real node with its HTTP endpoint on a free loopback port, for the observe tests."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import free_port


@dataclass
class ObservedNode:
    address: str
    http: str
    data_dir: Path
    log_path: Path
    process: Any

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://{self.http}{path}", timeout=10) as response:
            body: bytes = response.read()
            return body

    def metrics(self) -> str:
        return self.get("/metrics").decode()

    def overview(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.get("/api/overview"))
        return data

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_observed(tmp_path: Path, *extra: str) -> ObservedNode:
    from caxton.launch import NodeDidNotStart, start_node

    address = f"tcp://127.0.0.1:{free_port()}"
    http = f"127.0.0.1:{free_port()}"
    log_path = tmp_path / "node.log"
    with open(log_path, "ab") as log:
        try:
            process = start_node(address, tmp_path / "data", output=log, log_level="info",
                                 extra=["--http", http, *extra])
        except NodeDidNotStart as exc:
            raise AssertionError(f"{exc}:\n{log_path.read_text()}") from None
    return ObservedNode(address, http, tmp_path / "data", log_path, process)


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[ObservedNode]:
    from caxton.launch import stop_node

    node = start_observed(tmp_path)
    yield node
    stop_node(node.process)


@pytest.fixture
def oclient(observed: ObservedNode) -> Iterator[Any]:
    import caxton

    with caxton.connect(observed.address, timeout=10) as c:
        yield c


def sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one series in a Prometheus text exposition, or None."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None
