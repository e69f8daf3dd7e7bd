"""A scaled agent is one row on the dashboard, its instances counted and summed."""

from __future__ import annotations

import pytest

from caxton.wasm import example_path
from tests.helpers import wait_until


@pytest.mark.timeout(120)
def test_a_scaled_agent_is_one_row_with_its_instances(observed, oclient) -> None:
    oclient.spawn("echo", example_path("echo"))
    oclient.scale("echo", instances=3)
    for i in range(30):
        oclient.call("echo", b"hi", key=f"k{i}")

    def row():  # type: ignore[no-untyped-def]
        rows = [a for a in observed.overview()["agents"] if a["name"].startswith("echo")]
        return rows if rows and rows[0]["instances"] == 3 and rows[0]["handled"] >= 30 else None

    rows = wait_until(row, timeout=30, what="one echo row with three instances")
    assert [r["name"] for r in rows] == ["echo"]
