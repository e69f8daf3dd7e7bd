"""The ABI and policy checks shared by instantiation and validation.

Instances refuse what these functions find; the validator reports it. One
implementation keeps the two from disagreeing about what a valid agent is.
"""

from __future__ import annotations

from collections.abc import Iterable

from caxton.wasm.abi import EXPORTS, IMPORT_MODULE, IMPORTS, MEMORY_EXPORT, WASI_MODULE
from caxton.wasm.module import CompiledModule
from caxton.wasm.policy import SecurityPolicy

__all__ = ["export_problems", "import_problems", "import_signature_problems"]


def import_problems(imports: Iterable[tuple[str, str, str]], policy: SecurityPolicy) -> list[str]:
    """Problems with ``(module, name, kind)`` imports under ``policy`` (empty if none)."""
    problems = []
    for module, name, kind in imports:
        qualified = f"{module}.{name}"
        if module == IMPORT_MODULE:
            if name not in IMPORTS or kind != "func":
                problems.append(f"import {qualified} is not part of the Caxton ABI")
            elif not policy.allows_import(module, name):
                problems.append(
                    f"import {qualified} is not allowed by security policy {policy.name!r}"
                )
        elif module == WASI_MODULE:
            if not policy.allows_wasi:
                problems.append(
                    f"import {qualified} (WASI) is not allowed by security policy {policy.name!r}"
                )
        else:
            problems.append(
                f"import {qualified} ({kind}) is not provided by the host "
                f"(only {IMPORT_MODULE}.* and, where the policy allows, WASI)"
            )
    return problems


def export_problems(compiled: CompiledModule) -> list[str]:
    """Problems with the module's exports against the ABI (empty if none)."""
    problems = []
    memory_kind = compiled.export_kinds.get(MEMORY_EXPORT)
    if memory_kind is None:
        problems.append(f"missing export {MEMORY_EXPORT!r} (the linear memory)")
    elif memory_kind != "memory":
        problems.append(
            f"export {MEMORY_EXPORT!r} must be a non-shared memory, not a {memory_kind}"
        )
    for name, expected in EXPORTS.items():
        kind = compiled.export_kinds.get(name)
        if kind is None:
            if expected.required:
                problems.append(f"missing required export {name} {expected}")
            continue
        actual = compiled.exports.get(name)
        if actual is None:
            problems.append(f"export {name} must be a function {expected}, not a {kind}")
        elif (actual.params, actual.results) != (expected.params, expected.results):
            problems.append(f"export {name} has signature {actual}, expected {expected}")
    return problems


def import_signature_problems(compiled: CompiledModule) -> list[str]:
    """``caxton`` imports declared with a signature other than the ABI's."""
    problems = []
    for (module, name), actual in compiled.import_signatures.items():
        expected = IMPORTS.get(name) if module == IMPORT_MODULE else None
        if expected is not None and (actual.params, actual.results) != (
            expected.params,
            expected.results,
        ):
            problems.append(f"import {module}.{name} has signature {actual}, expected {expected}")
    return problems
