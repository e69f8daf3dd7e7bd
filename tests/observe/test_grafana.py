"""The shipped Grafana dashboard: valid JSON over series the node really serves, and
every query accepted by a real Prometheus (``promtool`` parses each expression)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from caxton.observe.metrics import SERIES
from tests.helpers import ROOT, needs

DASHBOARD = ROOT / "docs" / "ops" / "grafana-dashboard.json"


def _queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def test_dashboard_queries_use_only_served_series() -> None:
    known = {s.removesuffix("_total") for s in SERIES}
    used = set()
    for expr in _queries():
        for name in re.findall(r"\b(caxton_[a-z_]+)", expr):
            base = re.sub(r"_(bucket|count|sum|total)$", "", name)
            assert base in known, f"{name} in {expr!r} is not a series the node serves"
            used.add(base)
    for needed in ("caxton_wasm_memory_bytes", "caxton_wasm_fuel_consumed",
                   "caxton_wasm_security_violations", "caxton_wasm_agent_restarts",
                   "caxton_agent_response_duration_seconds"):
        assert needed in used


@needs(shutil.which("promtool") is not None, "promtool is not installed")
def test_dashboard_queries_parse(tmp_path) -> None:
    exprs = [e.replace("$job", ".*").replace("$agent", ".*") for e in _queries()]
    rules = "groups:\n  - name: dashboard\n    rules:\n" + "".join(
        f"      - record: caxton:panel_{i}\n        expr: {json.dumps(e)}\n"
        for i, e in enumerate(exprs))
    (tmp_path / "rules.yml").write_text(rules)
    result = subprocess.run(["promtool", "check", "rules", str(tmp_path / "rules.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
