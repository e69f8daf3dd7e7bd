"""Fixtures for the supervisor tests: a real Runtime per test, an event and
message recorder, and a zombie check after every close."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sup_helpers import Recorder, zombies_of

from supervisor import Runtime


@pytest.fixture
def rt() -> Iterator[Runtime]:
    runtime = Runtime(name="suptest")
    try:
        yield runtime
    finally:
        runtime.close()
    leftovers = zombies_of(os.getpid())
    assert not leftovers, f"zombies left behind: {leftovers}"


@pytest.fixture
def rec(rt: Runtime) -> Recorder:
    return Recorder(rt)
