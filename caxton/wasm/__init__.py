"""The WebAssembly agent host: guest ABI v1, limits, fast calls, validation.

This package knows nothing of processes or sockets: it loads a module,
checks it, runs it under limits and classifies what happened. The node wires
``HostImports`` to its router and runs one ``AgentInstance`` per agent
process.
"""

from caxton.wasm.abi import ABI_VERSION
from caxton.wasm.cache import ModuleCache
from caxton.wasm.calls import FAST_PATH_AVAILABLE
from caxton.wasm.errors import (
    InstancePoisoned,
    InstantiationFailed,
    MessageTooLarge,
    ModuleLoadError,
    WasmError,
)
from caxton.wasm.examples import example_path
from caxton.wasm.host import CallbackImports, HostImports, NullImports, RecordingImports
from caxton.wasm.instance import AgentInstance
from caxton.wasm.limits import Limits
from caxton.wasm.module import CompiledModule, load_module
from caxton.wasm.outcome import FAILURE_REASONS, INSTANTIATION_REASONS, Outcome
from caxton.wasm.policy import FEATURES, SecurityPolicy
from caxton.wasm.report import ContractVector, Finding, StageReport, ValidationReport
from caxton.wasm.source import module_bytes
from caxton.wasm.ticker import TICK_MS
from caxton.wasm.validate import STAGES, validate

__all__ = [
    "ABI_VERSION",
    "FAILURE_REASONS",
    "FAST_PATH_AVAILABLE",
    "FEATURES",
    "INSTANTIATION_REASONS",
    "STAGES",
    "TICK_MS",
    "AgentInstance",
    "CallbackImports",
    "CompiledModule",
    "ContractVector",
    "Finding",
    "HostImports",
    "InstancePoisoned",
    "InstantiationFailed",
    "Limits",
    "MessageTooLarge",
    "ModuleCache",
    "ModuleLoadError",
    "NullImports",
    "Outcome",
    "RecordingImports",
    "SecurityPolicy",
    "StageReport",
    "ValidationReport",
    "WasmError",
    "example_path",
    "load_module",
    "module_bytes",
    "validate",
]
