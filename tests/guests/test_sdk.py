"""The SDKs' own promises, in-process: imports, buffers, panics, limits, toolchain choice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from caxton.guests.toolchain import _has_std, find_rust
from tests.guests.conftest import BuildExample, require_toolchain

QUICK = {"fuel": 5_000_000, "deadline_ms": 2_000}


def test_sender_names_longer_than_the_first_buffer(language: str, build_example: BuildExample,
                                                   caxton_agent: Any) -> None:
    agent = caxton_agent(build_example(language, "pingpong"))
    long_name = "agent-" + "x" * 94
    assert agent.call("ping", sender=long_name) == long_name.encode()
    assert agent.sent == [(long_name, b"pong")]
    assert agent.call("pong", sender="bob") == b"bob"
    assert agent.logs == [(1, "pong from bob")]


def test_big_then_small_messages(language: str, build_example: BuildExample,
                                 caxton_agent: Any) -> None:
    """Buffers grow for a 1 MiB message, are released after, and replies stay exact."""
    echo = caxton_agent(build_example(language, "echo"))
    big = bytes(range(256)) * 4096
    assert echo.call(big) == big
    for n in (0, 1, 100, 70_000, 5):
        payload = bytes([n % 251]) * n
        assert echo.call(payload) == payload
    assert echo.handle(b"").reply == b""  # no reply


@pytest.mark.parametrize(("payload", "reason", "limits"), [
    ("spin", "out_of_fuel", {"fuel": 1_000_000}),
    ("spin", "timeout", {"fuel": 10**13, "deadline_ms": 100}),
    ("grow", "memory_limit", {"memory_bytes": 8 * 65536}),
    ("panic", "trap", {}),
])
def test_failures_classify_in_process(language: str, build_example: BuildExample,
                                      caxton_agent: Any, payload: str, reason: str,
                                      limits: dict[str, int]) -> None:
    agent = caxton_agent(build_example(language, "limits"), limits={**QUICK, **limits})
    assert agent.call("hello") == b"ok"
    outcome = agent.handle(payload)
    assert (outcome.status, outcome.reason) == ("failed", reason), outcome
    assert agent.instance.poisoned


def test_a_rust_panic_message_reaches_the_log(build_example: BuildExample,
                                              caxton_agent: Any) -> None:
    agent = caxton_agent(build_example("rust", "limits"), policy="strict")
    outcome = agent.handle("panic")
    assert outcome.reason == "trap"
    assert [(level, "limits: asked to panic" in text) for level, text in agent.logs] == [(3, True)]


def test_a_refused_init_is_logged_with_its_reason(build_example: BuildExample,
                                                  caxton_agent: Any) -> None:
    from caxton.testing import AgentCallFailed

    with pytest.raises(AgentCallFailed, match="caxton_init returned 1"):
        caxton_agent(build_example("rust", "counter"), init=b"12x")


def test_error_with_a_reply_goes_back_flagged(language: str, build_example: BuildExample,
                                             caxton_agent: Any) -> None:
    agent = caxton_agent(build_example(language, "pingpong"), send_result=-1)
    outcome = agent.handle("nobody", sender="me")
    assert (outcome.status, outcome.message, outcome.reply) == (
        "error", "pingpong: send failed", b"me")
    assert agent.call("count") == b"0"  # not poisoned


def test_the_chosen_rustc_has_the_target() -> None:
    """A rustc without the wasm32 standard library (e.g. rustup's, first on PATH) is passed over."""
    require_toolchain("rust")
    for wasi in (False, True):
        try:
            chosen = find_rust(wasi)
        except Exception:
            continue
        assert _has_std(chosen.rustc, chosen.target)
        assert chosen.target in ("wasm32-unknown-unknown", "wasm32-wasi", "wasm32-wasip1")
        assert (chosen.target != "wasm32-unknown-unknown") is wasi


def test_examples_are_valid_under_the_policy_they_declare(language: str,
                                                          build_example: BuildExample) -> None:
    import tomllib

    from caxton.wasm import validate
    from tests.guests.conftest import project_dir

    for name in ("echo", "counter", "kv", "pingpong", "wasi_hello"):
        config = tomllib.loads((project_dir(language, name) / "caxton.toml").read_text())
        report = validate(build_example(language, name), policy=config["agent"]["policy"])
        assert report.passed, (name, [f.message for s in report.stages for f in s.findings
                                      if f.severity == "error"])
    assert Path(build_example(language, "echo")).stat().st_size < 64_000
