"""Node-side maximums on every client-chosen limit (issue 12, finding 2).

A spawn that asks for more than the node allows is refused with ``AboveMaximum``
naming the field, the value asked and the maximum; the operator sets the
maximums (``--max-limit NAME=VALUE``); ``caxton validate`` refuses absurd
budgets as a usage error instead of spinning on them.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import caxton
from caxton.errors import AboveMaximum, InvalidRequest
from caxton.launch import free_loopback_address, start_node, stop_node
from caxton.node.spec import Maximums, parse_spawn
from caxton.wasm import Limits
from caxton.wasm.examples import example_path
from tests.helpers import ROOT

DEFAULTS = Limits().to_dict()


def _spawn(maximums: Maximums | None = None, **arguments: Any) -> Any:
    return parse_spawn({"name": "a", **arguments}, "0" * 64, DEFAULTS, maximums)


# (request arguments, the field named, the value asked, the default maximum)
OVER_DEFAULT_MAXIMUMS = [
    ({"limits": {"fuel": 2**62}}, "limits.fuel", 2**62, 10**13),
    ({"limits": {"deadline_ms": 2**63 - 1}}, "limits.deadline_ms", 2**63 - 1, 30_000),
    ({"limits": {"memory_bytes": 2**40}}, "limits.memory_bytes", 2**40, 2**30),
    ({"limits": {"table_elements": 10**9}}, "limits.table_elements", 10**9, 1_000_000),
    ({"limits": {"max_message_bytes": 2**30}}, "limits.max_message_bytes", 2**30, 16 * 2**20),
    ({"limits": {"max_reply_bytes": 2**30}}, "limits.max_reply_bytes", 2**30, 16 * 2**20),
    ({"mailbox": 10**9}, "mailbox", 10**9, 100_000),
    ({"max_attempts": 10**6}, "max_attempts", 10**6, 100),
    ({"snapshot_every": 10**9}, "snapshot_every.messages", 10**9, 1_000_000),
    ({"snapshot_every": {"seconds": 1e9}}, "snapshot_every.seconds", 1e9, 86_400),
    ({"health": {"interval": 1e9, "timeout": 1}}, "health.interval", 1e9, 86_400),
    ({"health": {"misses": 10**6}}, "health.misses", 10**6, 1_000),
    ({"intensity": {"intensity": 10**6}}, "intensity.intensity", 10**6, 1_000),
    ({"intensity": {"period": 1e9}}, "intensity.period", 1e9, 86_400),
    ({"policy": {"kind": "backoff", "maximum": 1e9}}, "policy.maximum", 1e9, 86_400),
    ({"policy": {"kind": "backoff", "initial": 1e9}}, "policy.initial", 1e9, 86_400),
    ({"policy": {"kind": "backoff", "factor": 1e9}}, "policy.factor", 1e9, 1_000),
]


@pytest.mark.parametrize(("arguments", "field", "asked", "maximum"), OVER_DEFAULT_MAXIMUMS,
                         ids=[case[1] for case in OVER_DEFAULT_MAXIMUMS])
def test_every_limit_over_its_maximum_is_refused_by_name(arguments, field, asked, maximum):
    with pytest.raises(AboveMaximum) as refused:
        _spawn(**arguments)
    assert refused.value.data == {"field": field, "asked": asked, "maximum": maximum}
    assert field in refused.value.message and "maximum" in refused.value.message
    assert isinstance(refused.value, InvalidRequest)


def test_values_at_the_maximums_are_accepted():
    most = Maximums()
    spec = _spawn(limits={"fuel": most.fuel, "deadline_ms": most.deadline_ms},
                  mailbox=most.mailbox, max_attempts=most.max_attempts,
                  snapshot_every={"messages": most.snapshot_messages,
                                  "seconds": most.snapshot_seconds},
                  health={"interval": most.health_interval, "timeout": 1.0,
                          "misses": most.health_misses},
                  intensity={"intensity": most.intensity, "period": most.intensity_period})
    assert spec.limits["fuel"] == most.fuel and spec.mailbox == most.mailbox


@pytest.mark.parametrize(("arguments", "field"), [
    ({"health": {"interval": math.nan}}, "health.interval"),
    ({"health": {"interval": math.inf}}, "health.interval"),
    ({"health": {"timeout": math.nan}}, "health.timeout"),
    ({"snapshot_every": {"seconds": math.nan}}, "snapshot_every.seconds"),
    ({"snapshot_every": {"seconds": -math.inf}}, "snapshot_every.seconds"),
    ({"intensity": {"period": math.nan}}, "intensity.period"),
    ({"policy": {"kind": "backoff", "initial": math.nan}}, "policy.initial"),
    ({"policy": {"kind": "backoff", "factor": math.inf}}, "policy.factor"),
    ({"policy": {"kind": "backoff", "jitter": 1.5}}, "policy.jitter"),
])
def test_nan_and_infinite_settings_are_refused(arguments, field):
    with pytest.raises(InvalidRequest) as refused:
        _spawn(**arguments)
    assert refused.value.data["field"] == field


def test_an_operator_maximum_under_a_default_lowers_the_default():
    most = Maximums(fuel=1_000_000, mailbox=100, max_attempts=2, intensity=5)
    spec = _spawn(most)
    assert spec.limits["fuel"] == 1_000_000
    assert spec.limits["deadline_ms"] == DEFAULTS["deadline_ms"]
    assert (spec.mailbox, spec.max_attempts, spec.intensity["intensity"]) == (100, 2, 5)
    with pytest.raises(AboveMaximum) as refused:
        _spawn(most, limits={"fuel": 1_000_001})
    assert refused.value.data == {"field": "limits.fuel", "asked": 1_000_001,
                                  "maximum": 1_000_000}


@pytest.fixture
def strict_node(tmp_path: Path) -> Iterator[str]:
    address = free_loopback_address()
    with open(tmp_path / "node.log", "wb") as log:
        process = start_node(address, tmp_path / "data", output=log,
                             extra=["--max-limit", "fuel=1000000",
                                    "--max-limit", "mailbox=100"])
    yield address
    stop_node(process)


def test_the_node_refuses_a_spawn_over_its_configured_maximums(strict_node):
    with caxton.connect(strict_node, timeout=30) as client:
        with pytest.raises(AboveMaximum) as refused:
            client.spawn("greedy", example_path("echo"), mailbox=101)
        assert refused.value.data == {"field": "mailbox", "asked": 101, "maximum": 100}
        with pytest.raises(AboveMaximum) as refused:
            client.spawn("greedy", example_path("echo"), limits={"fuel": 1_000_001})
        assert refused.value.data["field"] == "limits.fuel"
        assert [a.name for a in client.list_agents()] == []
        client.spawn("modest", example_path("echo"), mailbox=100)
        assert client.call("modest", b"hi") == b"hi"


def test_the_spawn_that_froze_the_node_is_refused_at_once(client):
    # issue 12: fuel 2**62 with a spinning init held the node's loop for 10.7 s
    started = time.monotonic()
    with pytest.raises(AboveMaximum) as refused:
        client.spawn("spinner", example_path("hostile/start_loop"),
                     limits={"fuel": 2**62, "deadline_ms": 10_000})
    assert refused.value.data["field"] == "limits.fuel"
    assert time.monotonic() - started < 5
    assert client.ping(timeout=2)["node"] == "n1"


@pytest.mark.parametrize("flag", ["fuel=0", "fuel=abc", "fuel", "bogus=1", "deadline_ms=-5",
                                  "snapshot_seconds=nan"])
def test_a_bad_max_limit_flag_is_a_usage_error(flag, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "caxton.node", "--data-dir", str(tmp_path / "d"),
         "--listen", free_loopback_address(), "--max-limit", flag],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2, result
    assert "--max-limit" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("flags", "message"), [
    (["--fuel", str(2**62), "--deadline-ms", str(2**63 - 1)], "--fuel 4611686018427387904 is over"),
    (["--deadline-ms", "9223372036854775807"], "--deadline-ms 9223372036854775807 is over"),
    (["--memory-bytes", str(2**40)], "--memory-bytes 1099511627776 is over"),
])
def test_validate_refuses_absurd_budgets_at_once(flags, message):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "caxton.cli.validate",
         str(example_path("hostile/infinite_loop")), *flags],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2, result
    assert message in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 30
