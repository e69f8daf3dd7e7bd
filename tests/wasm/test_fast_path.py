"""The fast call path agrees with the stock path, including across memory growth."""

from __future__ import annotations

import pytest

from caxton.wasm import FAST_PATH_AVAILABLE, AgentInstance, Limits, NullImports, WasmError
from caxton.wasm.calls import FAST_PATH_UNAVAILABLE_REASON
from tests.wasm.conftest import compiled

pytestmark = pytest.mark.skipif(not FAST_PATH_AVAILABLE, reason=FAST_PATH_UNAVAILABLE_REASON)


def _pair(name: str) -> tuple[AgentInstance, AgentInstance]:
    module = compiled(name)
    return (
        AgentInstance(module, Limits(), NullImports(), fast=True),
        AgentInstance(module, Limits(), NullImports(), fast=False),
    )


def test_fast_is_the_default_when_available() -> None:
    instance = AgentInstance(compiled("echo"), Limits(), NullImports())
    assert instance.fast_path
    assert not AgentInstance(compiled("echo"), Limits(), NullImports(), fast=False).fast_path


def test_same_replies_and_fuel_on_both_paths() -> None:
    fast, stock = _pair("kv")
    import msgpack

    requests = [["put", f"k{n}", "v" * n] for n in range(0, 3000, 97)]
    requests += [["get", f"k{n}"] for n in range(0, 3000, 97)] + [["del", "k0"], ["bad"]]
    for request in requests:
        payload = msgpack.packb(request)
        a, b = fast.handle(payload), stock.handle(payload)
        assert (a.status, a.reply, a.message, a.fuel_consumed) == (
            b.status,
            b.reply,
            b.message,
            b.fuel_consumed,
        )
    snap_fast, snap_stock = fast.snapshot(), stock.snapshot()
    assert snap_fast is not None and snap_stock is not None
    assert snap_fast.reply == snap_stock.reply
    assert fast.memory_bytes == stock.memory_bytes


def test_memory_view_follows_growth() -> None:
    fast, _ = _pair("echo")
    sizes = [10, 70_000, 300_000, 5, 1_000_000, 64]
    for size in sizes:
        payload = bytes((i * 7 + size) % 256 for i in range(size))
        assert fast.handle(payload).reply == payload
    assert fast.memory_bytes >= 1_000_000


def test_fast_path_can_be_required_only_when_available(monkeypatch: pytest.MonkeyPatch) -> None:
    import caxton.wasm.instance as instance_module

    monkeypatch.setattr(instance_module, "FAST_PATH_AVAILABLE", False)
    with pytest.raises(WasmError, match="fast call path is unavailable"):
        AgentInstance(compiled("echo"), Limits(), NullImports(), fast=True)
    # and the automatic choice falls back to the stock path
    assert not AgentInstance(compiled("echo"), Limits(), NullImports()).fast_path


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "stock"])
def test_dropped_instances_are_freed_without_close(fast: bool) -> None:
    # Host functions live in a process-wide table until their store is gone;
    # if they held the instance, no instance would ever be freed.
    import gc
    import weakref

    import wasmtime._func

    module = compiled("pingpong")
    gc.collect()
    baseline = len(wasmtime._func.FUNCTIONS.handles)
    refs = []
    for _ in range(20):
        instance = AgentInstance(module, Limits(), NullImports(), fast=fast)
        assert instance.handle(b"count").ok
        refs.append(weakref.ref(instance))
        del instance
    gc.collect()
    assert all(ref() is None for ref in refs)
    assert len(wasmtime._func.FUNCTIONS.handles) == baseline
