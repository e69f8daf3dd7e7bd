"""/metrics on a real node: the seeds' series appear, with figures that follow what happened."""

from __future__ import annotations

import os
import signal

import pytest

import caxton
from caxton.observe.metrics import SERIES
from caxton.wasm import example_path
from tests.helpers import wait_until
from tests.observe.conftest import sample


@pytest.mark.timeout(120)
def test_series_follow_calls_kills_and_dead_letters(observed, oclient):
    oclient.spawn("echo", example_path("echo"), limits={"memory_bytes": 4 * 2**20})
    for _ in range(50):
        assert oclient.call("echo", b"hi") == b"hi"
    text = observed.metrics()
    assert sample(text, "caxton_agent_response_duration_seconds_count", agent="echo") == 50
    assert sample(text, "caxton_agent_messages_total", agent="echo", outcome="ok") == 50
    assert sample(text, "caxton_wasm_memory_limit_bytes", agent="echo") == 4 * 2**20
    assert sample(text, "caxton_wasm_memory_bytes", agent="echo") == 65536
    assert (sample(text, "caxton_wasm_fuel_consumed_total", agent="echo") or 0) > 0
    assert sample(text, "caxton_agents", state="running") == 1
    assert sample(text, "caxton_agent_version_active", agent="echo") == 1
    assert (sample(text, "caxton_journal_commit_duration_seconds_count") or 0) > 0
    assert sample(text, "caxton_validations_total", result="passed") == 1

    # a SIGKILL: a DOWN with its reason and a restart
    fuel_before = sample(text, "caxton_wasm_fuel_consumed_total", agent="echo")
    pid = oclient.status("echo").pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: oclient.status("echo").pid not in (None, pid), what="replacement")
    text = observed.metrics()
    assert sample(text, "caxton_agent_down_total", agent="echo", reason="killed") == 1
    assert sample(text, "caxton_wasm_agent_restarts_total", agent="echo") == 1
    # fuel is a counter: the dead instance's fuel is not lost with it
    assert sample(text, "caxton_wasm_fuel_consumed_total", agent="echo") >= fuel_before

    # a poison message: three traps, a dead letter, violations stay 0 (a trap is no refusal)
    oclient.spawn("poison", example_path("hostile/trap_on_message"), max_attempts=3)
    with pytest.raises(caxton.CallFailed):
        oclient.call("poison", b"poison", timeout=30)
    text = observed.metrics()
    assert sample(text, "caxton_dead_letters_total", agent="poison") == 1
    assert sample(text, "caxton_agent_messages_total", agent="poison",
                  outcome="dead_letter") == 1
    assert sample(text, "caxton_agent_down_total", agent="poison", reason="trap") == 3
    assert sample(text, "caxton_agent_mailbox_depth", agent="poison") == 0

    # a fuel bomb is a sandbox refusal: a security violation
    oclient.spawn("bomb", example_path("hostile/fuel_bomb"), max_attempts=1)
    with pytest.raises(caxton.CallFailed):
        oclient.call("bomb", b"go", timeout=30)
    text = observed.metrics()
    assert (sample(text, "caxton_wasm_security_violations_total", agent="bomb") or 0) >= 1
    for name in SERIES:
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


@pytest.mark.timeout(60)
def test_http_endpoint_serves_dashboard_and_refuses_unknown_pages(observed):
    page = observed.get("/").decode()
    assert "<title>Caxton" in page
    assert observed.get("/static/app.js")
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as missing:
        observed.get("/nothing-here")
    assert missing.value.code == 404
    assert observed.overview()["node"]["http"] == observed.http
