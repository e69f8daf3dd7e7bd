"""The shipped alert rules: valid for Prometheus, and each alert unit-tested with promtool."""

from __future__ import annotations

import re
import shutil
import subprocess

from tests.helpers import ROOT, needs

PROMTOOL = shutil.which("promtool")
pytestmark = needs(PROMTOOL is not None, "Debian's prometheus (promtool) is not installed")
OPS = ROOT / "docs" / "ops"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60,
                          cwd=OPS)


def test_alert_rules_check() -> None:
    result = _promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_alert_rules_unit_tests_pass() -> None:
    result = _promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test() -> None:
    alerts = set(re.findall(r"- alert: (\w+)", (OPS / "alerts.yml").read_text()))
    tested = set(re.findall(r"alertname: (\w+)", (OPS / "alerts_test.yml").read_text()))
    assert {"WASMMemoryLimitApproached", "WASMSecurityViolation", "WASMAgentCrashLoop"} <= alerts
    assert alerts == tested


def test_alert_unit_tests_fail_when_a_rule_is_broken(tmp_path) -> None:
    """The unit tests can fail: with the memory threshold moved, promtool says so."""
    (tmp_path / "alerts.yml").write_text(
        (OPS / "alerts.yml").read_text().replace("> 0.9", "> 0.99"))
    (tmp_path / "alerts_test.yml").write_text((OPS / "alerts_test.yml").read_text())
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, "test", "rules", "alerts_test.yml"], capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    assert result.returncode != 0
    assert "WASMMemoryLimitApproached" in result.stdout + result.stderr
