"""Engines, one per distinct configuration, shared by the whole process.

A module compiled by one engine cannot be instantiated in a store of another,
so engines are kept in a registry keyed by their settings and reused. Every
engine has fuel metering and epoch interruption (the two limits applied to
each call) and pins linear memory in place (``memory_may_move`` off), which
is what lets the fast call path keep a view of guest memory across calls.

Building an engine with an inconsistent configuration aborts the process
inside wasmtime rather than raising, so the settings are derived here from a
fixed, tested recipe and never from user input directly.
"""

from __future__ import annotations

import importlib.metadata
import platform
import threading

import wasmtime
from wasmtime import _bindings

from caxton.wasm.policy import FEATURES

__all__ = ["WASMTIME_VERSION", "all_engines", "engine_for", "engine_settings_key"]


def _wasmtime_version() -> str:
    try:
        return importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - vendored copy
        return "unknown"


WASMTIME_VERSION = _wasmtime_version()

# Bumped whenever the recipe below changes, so cached artifacts compiled with
# an older recipe are never mistaken for current ones.
_RECIPE_VERSION = 1

_lock = threading.Lock()
_engines: dict[tuple[str, ...], wasmtime.Engine] = {}


def engine_settings_key(features: tuple[str, ...]) -> str:
    """A string naming everything that makes compiled code engine-specific."""
    enabled = "+".join(features) or "mvp"
    return f"wasmtime-{WASMTIME_VERSION}/{platform.machine()}/r{_RECIPE_VERSION}/{enabled}"


def engine_for(features: tuple[str, ...]) -> wasmtime.Engine:
    """The process-wide engine with exactly these optional features enabled."""
    key = tuple(feature for feature in FEATURES if feature in features)
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = wasmtime.Engine(_config(frozenset(key)))
            _engines[key] = engine
        return engine


def all_engines() -> list[wasmtime.Engine]:
    """Engines built so far (the epoch ticker advances each of them)."""
    return list(_engines.values())


def _config(features: frozenset[str]) -> wasmtime.Config:
    config = wasmtime.Config()
    config.consume_fuel = True
    config.epoch_interruption = True
    config.memory_may_move = False
    config.parallel_compilation = False
    # The component-model-async family requires reference types; switch it
    # off so that reference types can be disabled without wasmtime aborting.
    ptr = config.ptr()
    _bindings.wasmtime_config_wasm_component_model_async_set(ptr, False)
    _bindings.wasmtime_config_wasm_component_model_async_stackful_set(ptr, False)
    _bindings.wasmtime_config_wasm_component_model_more_async_builtins_set(ptr, False)
    config.wasm_component_model = False
    # Proposals no policy can enable.
    config.wasm_gc = False
    config.wasm_function_references = False
    config.wasm_exceptions = False
    config.wasm_memory64 = False
    config.wasm_tail_call = False
    config.wasm_wide_arithmetic = False
    config.wasm_custom_page_sizes = False
    config.wasm_stack_switching = False
    config.wasm_multi_value = True
    # Proposals a policy decides on.
    config.wasm_threads = "threads" in features
    config.shared_memory = "threads" in features
    config.wasm_simd = "simd" in features
    config.wasm_relaxed_simd = "simd" in features
    config.wasm_relaxed_simd_deterministic = "simd" in features
    config.wasm_reference_types = "reference_types" in features
    config.wasm_bulk_memory = "bulk_memory" in features
    config.wasm_multi_memory = "multi_memory" in features
    return config
