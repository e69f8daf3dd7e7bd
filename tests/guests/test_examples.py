"""The Rust and C examples pass the very behaviour tests the WAT examples pass.

The test functions of ``tests/wasm/test_examples.py`` take a ``make`` that
builds an instance of an example by name; here ``make("counter")`` builds the
Rust or C counter instead of ``counter.wat``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
import pytest

from caxton.wasm import AgentInstance, HostImports, Limits, NullImports, load_module
from tests.guests.conftest import BuildExample
from tests.wasm import test_examples as wat
from tests.wasm.conftest import QUICK

MakeInstance = Callable[..., AgentInstance]

SAME_BEHAVIOURS = [
    wat.test_counter_counts_and_get_does_not,
    wat.test_counter_snapshot_format,
    wat.test_kv_put_get_del,
    wat.test_kv_garbage_bytes_are_errors,
    wat.test_kv_snapshot_restore_round_trip,
    wat.test_kv_refuses_a_corrupt_state_and_keeps_its_own,
    wat.test_pingpong_between_two_agents,
    wat.test_pingpong_reports_a_refused_send,
]
_MALFORMED = wat.test_kv_malformed_requests_are_errors.pytestmark[0].args[1]  # type: ignore[attr-defined]


@pytest.fixture
def make(language: str, build_example: BuildExample) -> Iterator[MakeInstance]:
    """Like tests/wasm's ``make``, but an example name means the compiled Rust or C one."""
    made: list[AgentInstance] = []

    def build(source: str, *, limits: Limits = QUICK, imports: HostImports | None = None,
              **_: Any) -> AgentInstance:
        compiled = load_module(build_example(language, source))
        instance = AgentInstance(compiled, limits,
                                 imports if imports is not None else NullImports())
        made.append(instance)
        return instance

    yield build
    for instance in made:
        instance.close()


@pytest.mark.parametrize("behaviour", SAME_BEHAVIOURS, ids=lambda f: f.__name__[5:])
def test_same_behaviour_as_wat(make: MakeInstance,
                               behaviour: Callable[[MakeInstance], None]) -> None:
    behaviour(make)


@pytest.mark.parametrize(("request_", "message"), _MALFORMED)
def test_kv_malformed_requests_as_wat(make: MakeInstance, request_: list[object],
                                      message: str) -> None:
    wat.test_kv_malformed_requests_are_errors(make, request_, message)


def test_kv_state_moves_between_wat_rust_and_c(language: str, build_example: BuildExample,
                                               caxton_agent: Any) -> None:
    """kv.wat and its twins share a snapshot format: a state restores across languages."""
    from caxton.wasm import example_path

    def put_all(runner: Any) -> None:
        for n in range(20):
            runner.call(msgpack.packb(["put", f"k{n}", n]))
        runner.call(msgpack.packb(["del", "k3"]))

    source = caxton_agent(example_path("kv"))
    twin = caxton_agent(build_example(language, "kv"))
    put_all(source)
    put_all(twin)
    assert twin.snapshot() == source.snapshot()
    fresh = caxton_agent(build_example(language, "kv"))
    assert fresh.restore(source.snapshot()).ok
    assert msgpack.unpackb(fresh.call(msgpack.packb(["get", "k7"]))) == 7
    assert msgpack.unpackb(fresh.call(msgpack.packb(["get", "k3"]))) is None
    back = caxton_agent(example_path("kv"))
    assert back.restore(twin.snapshot()).ok
    assert msgpack.unpackb(back.call(msgpack.packb(["get", "k19"]))) == 19


def test_counter_restart_keeps_the_count(language: str, build_example: BuildExample,
                                         caxton_agent: Any) -> None:
    counter = caxton_agent(build_example(language, "counter"), init=b"40")
    assert counter.call("inc") == b"41"
    counter.restart()
    assert counter.call("inc") == b"42"
    assert counter.snapshot() == struct.pack("<Q", 42)
    refused = counter.restore(b"short")
    assert refused.status == "error"
    assert counter.call("get") == b"42"


def test_counter_refuses_bad_init(language: str, build_example: BuildExample) -> None:
    instance = AgentInstance(load_module(build_example(language, "counter")), QUICK, NullImports())
    try:
        outcome = instance.init(b"4x")
        assert outcome.status == "error"
        assert not instance.poisoned
    finally:
        instance.close()
