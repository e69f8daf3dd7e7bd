"""Hypothesis profiles for the fuzz tests, and the node they fuzz (one per module).

``ci`` (the default, what ``.ci/run`` runs): 200 examples per test, well under a
minute for the package. ``long``: 5,000 per test, for a run before a release or
after a change to the decoder or a handler: ``CAXTON_FUZZ=long pytest tests/fuzz``.
No example database is written: a failure prints its example and the blob to
replay it with ``@reproduce_failure``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.target import FuzzTarget

_COMMON = settings(
    deadline=None,  # an example waits on another process: its time is not the test's
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
settings.register_profile("ci", _COMMON, max_examples=200)
settings.register_profile("long", _COMMON, max_examples=5_000)

#: the profile every fuzz test runs under: ``CAXTON_FUZZ`` names it (default ``ci``)
PROFILE = os.environ.get("CAXTON_FUZZ", "ci")
FUZZ = settings.get_profile(PROFILE)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    """A node with a ``keeper`` agent whose state the fuzzing must not touch, and an
    ``echo`` agent for the messages to reach; one node for the whole module."""
    directory: Path = tmp_path_factory.mktemp("fuzz")
    fuzz = FuzzTarget.start(directory)
    try:
        yield fuzz
        fuzz.check_healthy()
        print(f"\nfuzzed {fuzz.examples} frames, answered: {fuzz.replies}")
    finally:
        fuzz.close()
