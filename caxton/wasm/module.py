"""Compiling modules (through the on-disk cache when one is given)."""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass, field

import wasmtime

from caxton.wasm.abi import Signature
from caxton.wasm.cache import ModuleCache
from caxton.wasm.engine import engine_for, engine_settings_key
from caxton.wasm.errors import ModuleLoadError
from caxton.wasm.policy import SecurityPolicy
from caxton.wasm.source import ModuleSource, module_bytes
from caxton.wasm.traps import WASM_ERRORS, summarize

__all__ = ["CompiledModule", "compile_bytes", "func_signature", "load_module"]


@dataclass(frozen=True)
class CompiledModule:
    """A module compiled for the engine of one feature set.

    ``exports`` maps each exported function to its signature and
    ``imports`` lists ``(module, name, kind)``; both are read once here so
    instances and the validator need no reflection later.
    """

    sha256: str
    wasm: bytes
    module: wasmtime.Module
    engine: wasmtime.Engine
    features: tuple[str, ...]
    settings_key: str
    exports: dict[str, Signature] = field(default_factory=dict)
    export_kinds: dict[str, str] = field(default_factory=dict)
    imports: tuple[tuple[str, str, str], ...] = ()
    import_signatures: dict[tuple[str, str], Signature] = field(default_factory=dict)
    from_cache: bool = False
    compile_s: float = 0.0

    def has_export(self, name: str) -> bool:
        return name in self.export_kinds


def func_signature(ty: wasmtime.FuncType) -> Signature:
    return Signature(tuple(str(p) for p in ty.params), tuple(str(r) for r in ty.results))


def _kind(ty: object) -> str:
    if isinstance(ty, wasmtime.FuncType):
        return "func"
    if isinstance(ty, wasmtime.MemoryType):
        return "shared memory" if ty.is_shared else "memory"
    if isinstance(ty, wasmtime.TableType):
        return "table"
    if isinstance(ty, wasmtime.GlobalType):
        return "global"
    return "other"


def compile_bytes(
    wasm: bytes,
    features: tuple[str, ...],
    *,
    cache: ModuleCache | None = None,
    sha256: str | None = None,
) -> CompiledModule:
    """Compile wasm bytes for the engine with ``features`` (cache first)."""
    digest = sha256 or hashlib.sha256(wasm).hexdigest()
    engine = engine_for(features)
    settings_key = engine_settings_key(features)
    started = time.perf_counter()
    module = cache.load(digest, settings_key, engine) if cache is not None else None
    from_cache = module is not None
    if module is None:
        try:
            module = wasmtime.Module(engine, wasm)
        except WASM_ERRORS as exc:
            raise ModuleLoadError(f"invalid or unsupported module: {summarize(str(exc))}") from None
        if cache is not None:
            # A cache that cannot be written is only a missed optimisation.
            with contextlib.suppress(OSError):
                cache.store(digest, settings_key, module)
    elapsed = time.perf_counter() - started
    exports: dict[str, Signature] = {}
    kinds: dict[str, str] = {}
    for export in module.exports:
        kinds[export.name] = _kind(export.type)
        if isinstance(export.type, wasmtime.FuncType):
            exports[export.name] = func_signature(export.type)
    imports = tuple((imp.module, imp.name or "", _kind(imp.type)) for imp in module.imports)
    import_signatures = {
        (imp.module, imp.name or ""): func_signature(imp.type)
        for imp in module.imports
        if isinstance(imp.type, wasmtime.FuncType)
    }
    return CompiledModule(
        sha256=digest,
        wasm=wasm,
        module=module,
        engine=engine,
        features=tuple(features),
        settings_key=settings_key,
        exports=exports,
        export_kinds=kinds,
        imports=imports,
        import_signatures=import_signatures,
        from_cache=from_cache,
        compile_s=elapsed,
    )


def load_module(
    source: ModuleSource,
    *,
    cache: ModuleCache | None = None,
    policy: SecurityPolicy | None = None,
) -> CompiledModule:
    """Load and compile a module for the engine of ``policy`` (default preset if none).

    Raises ``ModuleLoadError`` on a missing file, a directory, bytes that are
    neither wasm nor WAT, and modules wasmtime refuses (including modules
    using a WebAssembly feature the policy does not enable).
    """
    chosen = policy if policy is not None else SecurityPolicy.preset("default")
    wasm = module_bytes(source)
    return compile_bytes(wasm, chosen.engine_features(), cache=cache)
