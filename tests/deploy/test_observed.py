"""Deployments in the node's metrics: durations by strategy and outcome, rollbacks by
reason, and the version each agent runs, scraped from a real node's /metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import caxton
from tests.deploy.modules import counter, counter_v2
from tests.observe.conftest import ObservedNode, start_observed


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[ObservedNode]:
    from caxton.launch import stop_node

    node = start_observed(tmp_path)
    yield node
    stop_node(node.process)


def _value(metrics: str, pattern: str) -> float:
    match = re.search(rf"^{pattern} ([0-9.e+-]+)$", metrics, re.MULTILINE)
    assert match is not None, f"no {pattern} in /metrics"
    return float(match.group(1))


def test_deployment_metrics(observed: ObservedNode) -> None:
    with caxton.connect(observed.address, timeout=30) as client:
        client.spawn("c", counter("v1"))
        client.deploy("c", counter("v2"), strategy="blue_green", version="2.0")
        text = observed.metrics()
        assert _value(text, r'caxton_agent_version_active\{agent="c",version="2.0"\}') == 1.0
        assert _value(text, r'caxton_deployment_duration_seconds_count\{status="success",'
                            r'strategy="blue_green"\}') == 1.0
        client.rollback("c")
        client.call("c", b"+")
        client.snapshot("c")                         # v1's state, which v3 refuses
        with pytest.raises(caxton.DeploymentFailed):
            client.deploy("c", counter_v2("v3", reads_v1=False), strategy="immediate")
        text = observed.metrics()
        assert _value(text, r'caxton_deployment_rollback_total\{reason="requested"\}') == 1.0
        assert _value(text, r'caxton_deployment_rollback_total\{reason="restore_failed"\}') \
            == 1.0
        assert _value(text, r'caxton_deployment_duration_seconds_count\{status="rolled_back",'
                            r'strategy="immediate"\}') == 1.0
        version = client.status("c").version
        assert _value(text, rf'caxton_agent_version_active\{{agent="c",version="{version}"\}}') \
            == 1.0
