"""A three-node cluster on one machine, over its own database on the throw-away
PostgreSQL server; every test gets a fresh one and its nodes' logs on failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from caxton.cluster.local import LocalCluster
from caxton.store.throwaway import ThrowawayPostgres
from tests.pg import NEEDS_POSTGRES, postgres_server

__all__ = ["cluster", "postgres_server"]

pytestmark = NEEDS_POSTGRES


@pytest.fixture
def cluster(postgres_server: ThrowawayPostgres, tmp_path: Path) -> Iterator[LocalCluster]:
    log_path = tmp_path / "nodes.log"
    with open(log_path, "ab") as log:
        nodes = LocalCluster(postgres_server.new_database(), tmp_path, count=3, output=log,
                             extra=("--log-level", "info"))
        try:
            with nodes:
                yield nodes
        finally:
            print(log_path.read_text(errors="replace")[-20000:])
