"""Each conformance test runs once per backend: SQLite in a temp folder, PostgreSQL on a
throw-away server (a fresh database per test)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from caxton.store import Store, open_store
from caxton.store.throwaway import ThrowawayPostgres
from tests.helpers import tmpfs
from tests.pg import NEEDS_POSTGRES, postgres_server

__all__ = ["Backend", "backend", "postgres_server"]


@dataclass
class Backend:
    """One store location and how to take its storage away and give it back."""

    name: str
    where: str | Path
    #: start an outage (writes fail from now on) and end it
    outage: Callable[[], None]
    recover: Callable[[], None]
    opened: list[Store] = field(default_factory=list)

    def open(self, durability: str = "process") -> Store:
        store = open_store(self.where, durability)
        self.opened.append(store)
        return store




def _sqlite(tmp_path: Path) -> Iterator[Backend]:
    with tmpfs(tmp_path / "disk", "size=8m") as disk:
        filler = disk / "filler"

        def fill() -> None:
            stats = os.statvfs(disk)
            with open(filler, "wb") as fh:
                fh.write(b"\0" * (stats.f_bavail * stats.f_frsize))

        yield Backend("sqlite", disk / "caxton.db", fill, lambda: filler.unlink())


def _postgres(server: ThrowawayPostgres) -> Iterator[Backend]:
    down = [False]

    def outage() -> None:
        server.stop("fast")
        down[0] = True

    def recover() -> None:
        server.start()
        down[0] = False

    yield Backend("postgres", server.new_database(), outage, recover)
    if down[0]:  # a test that failed mid-outage leaves the server up for the next
        recover()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=NEEDS_POSTGRES)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        made = _sqlite(tmp_path)
    else:
        made = _postgres(request.getfixturevalue("postgres_server"))
    chosen = next(made)
    try:
        yield chosen
    finally:
        for store in chosen.opened:
            with contextlib.suppress(Exception):
                store.close()
        with contextlib.suppress(StopIteration):
            next(made)
