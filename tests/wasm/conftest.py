"""Fixtures for the WebAssembly host tests: real wasmtime instances on both call paths."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from caxton.wasm import (
    FAST_PATH_AVAILABLE,
    AgentInstance,
    HostImports,
    Limits,
    NullImports,
    RecordingImports,
    SecurityPolicy,
    example_path,
    load_module,
)
from caxton.wasm.module import CompiledModule

#: Small budgets keep hostile examples quick to contain.
QUICK = Limits(fuel=5_000_000, deadline_ms=2_000)

MakeInstance = Callable[..., AgentInstance]


@pytest.fixture(
    params=[
        pytest.param(True, id="fast"),
        pytest.param(False, id="stock"),
    ]
)
def fast(request: pytest.FixtureRequest) -> bool:
    """Run a test on the fast call path and on the stock wasmtime-py path."""
    if request.param and not FAST_PATH_AVAILABLE:
        pytest.skip("wasmtime internals for the fast path are not available")
    return bool(request.param)


def compiled(source: str, policy: SecurityPolicy | None = None) -> CompiledModule:
    """An example by name (``"counter"``, ``"hostile/..."``) or inline WAT text."""
    if source.lstrip().startswith("("):
        return load_module(source, policy=policy)
    return load_module(example_path(source), policy=policy)


@pytest.fixture
def make(fast: bool) -> Iterator[MakeInstance]:
    """Build instances on the path under test; closes them at the end."""
    made: list[AgentInstance] = []

    def build(
        source: str,
        *,
        limits: Limits = QUICK,
        imports: HostImports | None = None,
        policy: SecurityPolicy | None = None,
    ) -> AgentInstance:
        instance = AgentInstance(
            compiled(source, policy),
            limits,
            imports if imports is not None else NullImports(),
            policy=policy,
            fast=fast,
        )
        made.append(instance)
        return instance

    yield build
    for instance in made:
        instance.close()


@pytest.fixture
def recording() -> RecordingImports:
    return RecordingImports()
