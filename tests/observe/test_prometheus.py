"""A real Prometheus server (Debian's ``prometheus``) scrapes a real node.

Prometheus is started on a free loopback port with a throw-away TSDB folder,
scraping the node's ``/metrics`` every second; the test queries its HTTP API
until an agent's series comes back, then stops it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from caxton.wasm import example_path
from tests.helpers import free_port, needs, wait_until

PROMETHEUS = shutil.which("prometheus")
pytestmark = needs(PROMETHEUS is not None,
                   "Debian's prometheus is not installed (.ci/run installs it)")


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
    except OSError:
        return []
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def prometheus(tmp_path: Path, observed):
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: caxton\n"
        f"    static_configs:\n      - targets: ['{observed.http}']\n")
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 (open for the server's life)
    assert PROMETHEUS is not None
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or _ready(base), timeout=30,
                   what="prometheus ready")
        assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


@pytest.mark.timeout(120)
def test_prometheus_scrapes_an_agents_series(observed, oclient, prometheus):
    oclient.spawn("echo", example_path("echo"))
    for _ in range(10):
        oclient.call("echo", b"hi")
    result = wait_until(
        lambda: _query(prometheus, 'caxton_agent_messages_total{agent="echo",outcome="ok"}'),
        timeout=30, interval=0.2, what="the echo agent's series in Prometheus")
    assert result[0]["metric"]["job"] == "caxton"
    assert float(result[0]["value"][1]) == 10
    histogram = wait_until(lambda: _query(
        prometheus, 'histogram_quantile(0.99, caxton_agent_response_duration_seconds_bucket'
                    '{agent="echo"})'), timeout=30, interval=0.2, what="p99 of echo")
    assert 0 < float(histogram[0]["value"][1]) < 1.0
    ratio = wait_until(lambda: _query(
        prometheus, 'caxton_wasm_memory_bytes{agent="echo"} / '
                    'caxton_wasm_memory_limit_bytes{agent="echo"}'), timeout=30, interval=0.2,
        what="memory ratio")
    assert float(ratio[0]["value"][1]) == pytest.approx(65536 / 16777216)
    up = _query(prometheus, 'up{job="caxton"}')
    assert up and up[0]["value"][1] == "1"
