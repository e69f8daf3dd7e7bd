"""The throw-away PostgreSQL server as pytest fixtures, for any test package that needs one.

A package's conftest imports ``postgres_server`` (one server per test session,
stopped at its end) and marks its PostgreSQL tests with ``NEEDS_POSTGRES``:
skipped on a developer's machine without the ``postgresql`` package, run
(and so failing) under ``CI``, where ``.ci/run`` installs it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from caxton.store.throwaway import MISSING, ThrowawayPostgres, pg_bin, throwaway_postgres
from tests.helpers import needs

NEEDS_POSTGRES = needs(pg_bin() is not None, MISSING)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """One running server for the whole session; each test takes its own database."""
    if pg_bin() is None:
        pytest.skip(MISSING)  # reached off CI only: under CI the mark lets it fail
    with throwaway_postgres() as server:
        yield server
