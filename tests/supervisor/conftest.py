"""Fixtures for the supervisor tests: a real Runtime per test, an event and
message recorder, and a check after every close that no child or zombie
of the runtime is left."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from supervisor import Runtime
from tests.supervisor.sup_helpers import Recorder, leftovers_of


@pytest.fixture
def rt() -> Iterator[Runtime]:
    runtime = Runtime(name="suptest")
    try:
        yield runtime
    finally:
        runtime.close()
    leftovers = leftovers_of(os.getpid())
    assert not leftovers, f"processes or zombies left behind: {leftovers}"


@pytest.fixture
def rec(rt: Runtime) -> Recorder:
    return Recorder(rt)
