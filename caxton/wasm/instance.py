"""One running agent: a wasm instance behind the guest ABI, under limits.

An ``AgentInstance`` owns a store with memory and table limits, links the
``caxton`` imports the security policy allows (and WASI where allowed),
and turns every call into exactly one ``Outcome``. After a failed outcome
(trap, exhausted budget, bad reply) it is poisoned: the guest's state can no
longer be trusted, so it is never entered again and the supervisor replaces it.

Instances are single-threaded: use one from one thread at a time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TypeVar

import wasmtime

from caxton.wasm.abi import (
    ABI_VERSION,
    EXPORTS,
    MEMORY_EXPORT,
    WASI_MODULE,
)
from caxton.wasm.calls import (
    FAST_PATH_AVAILABLE,
    FAST_PATH_UNAVAILABLE_REASON,
    Backend,
    FastBackend,
    StockBackend,
)
from caxton.wasm.checks import export_problems, import_problems, import_signature_problems
from caxton.wasm.errors import (
    InstancePoisoned,
    InstantiationFailed,
    MessageTooLarge,
    ModuleLoadError,
    WasmError,
)
from caxton.wasm.host import GuestFault, HostImports, HostState, WasiOutput
from caxton.wasm.limits import Limits
from caxton.wasm.module import CompiledModule, compile_bytes
from caxton.wasm.outcome import Outcome
from caxton.wasm.policy import SecurityPolicy
from caxton.wasm.ticker import deadline_ticks, ticker
from caxton.wasm.traps import WASM_ERRORS, classify

__all__ = ["AgentInstance"]

PAGE_SIZE = 65536
_MASK32 = 0xFFFF_FFFF
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_GUEST_ERRORS: tuple[type[BaseException], ...] = (*WASM_ERRORS, GuestFault)

T = TypeVar("T")
#: What guest inputs may be given as (copied to ``bytes`` once).
Bytes = bytes | bytearray | memoryview


class AgentInstance:
    """A guest instantiated under ``limits`` with ``imports`` as its host."""

    def __init__(
        self,
        compiled: CompiledModule,
        limits: Limits,
        imports: HostImports,
        *,
        policy: SecurityPolicy | None = None,
        fast: bool | None = None,
    ) -> None:
        if not isinstance(compiled, CompiledModule):
            raise TypeError(
                f"AgentInstance needs a CompiledModule (from load_module), "
                f"not {type(compiled).__name__}"
            )
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, not {type(limits).__name__}")
        if fast and not FAST_PATH_AVAILABLE:
            raise WasmError(f"the fast call path is unavailable: {FAST_PATH_UNAVAILABLE_REASON}")
        self._fast = FAST_PATH_AVAILABLE if fast is None else fast
        self._limits = limits
        self._policy = policy if policy is not None else SecurityPolicy.preset("default")
        self._fuel = limits.fuel
        self._ticks = deadline_ticks(limits.deadline_ms)
        self._poisoned = False
        self._closed = False
        self._fuel_total = 0
        self.in_call = False  # read by the epoch ticker
        self._host = HostState(imports, max_send_bytes=limits.max_message_bytes)
        self._wasi: WasiOutput | None = None
        self._store: wasmtime.Store | None = None
        self._linker: wasmtime.Linker | None = None
        started = time.perf_counter()
        compiled = self._for_policy(compiled, started)
        self.compiled = compiled
        self._instantiate(compiled, started)
        self.instantiate_s = time.perf_counter() - started

    # -- setup ---------------------------------------------------------------
    def _refuse(
        self, reason: str, message: str, started: float, fuel: int = 0
    ) -> InstantiationFailed:
        self._poisoned = True
        return InstantiationFailed(
            Outcome.failure(
                reason, message, fuel_consumed=fuel, elapsed_s=time.perf_counter() - started
            )
        )

    def _for_policy(self, compiled: CompiledModule, started: float) -> CompiledModule:
        features = self._policy.engine_features()
        if compiled.features == features:
            return compiled
        try:
            return compile_bytes(compiled.wasm, features, sha256=compiled.sha256)
        except ModuleLoadError as exc:
            raise self._refuse(
                "link_error",
                f"module cannot be compiled with the features security policy "
                f"{self._policy.name!r} allows: {exc}",
                started,
            ) from None

    def _instantiate(self, compiled: CompiledModule, started: float) -> None:
        problems = (
            import_problems(compiled.imports, self._policy)
            + import_signature_problems(compiled)
            + export_problems(compiled)
        )
        if problems:
            raise self._refuse("link_error", "; ".join(problems), started)
        engine = compiled.engine
        store = wasmtime.Store(engine)
        features = compiled.features
        store.set_limits(
            memory_size=self._limits.memory_bytes,
            table_elements=self._limits.table_elements,
            instances=1,
            memories=8 if "multi_memory" in features else 1,
            tables=8 if "reference_types" in features else 1,
        )
        linker = wasmtime.Linker(engine)
        self._host.define(linker, self._policy.allows_import)
        uses_wasi = any(module == WASI_MODULE for module, _, _ in compiled.imports)
        if uses_wasi:
            # No args, no environment, no preopened directories, empty stdin;
            # stdout and stderr go to the log through our own fd_write.
            store.set_wasi(wasmtime.WasiConfig())
            linker.define_wasi()
            self._wasi = WasiOutput(self._host)
            self._wasi.define(linker)
        self._store = store
        self._linker = linker
        ticker.register(self)

        store.set_fuel(self._fuel)
        store.set_epoch_deadline(self._ticks)
        self._enter()
        try:
            instance = linker.instantiate(store, compiled.module)
        except _GUEST_ERRORS as exc:
            reason, message = classify(exc, memory_at_limit=False)
            fuel = self._fuel - store.get_fuel()
            self.close()
            raise self._refuse(reason, self._explain(reason, message), started, fuel) from None
        finally:
            self.in_call = False
        exports = instance.exports(store)
        memory = exports[MEMORY_EXPORT]
        assert isinstance(memory, wasmtime.Memory)  # checked by check_exports
        self._memory = memory
        self._host.memory = memory
        backend: Backend = FastBackend(store, memory) if self._fast else StockBackend(store, memory)
        self._backend = backend

        def export(name: str) -> wasmtime.Func | None:
            item = exports.get(name)
            return item if isinstance(item, wasmtime.Func) else None

        def guest(name: str) -> Callable[..., int] | None:
            func = export(name)
            if func is None:
                return None
            sig = EXPORTS[name]
            bound = backend.func(func, len(sig.params), sig.results[0] if sig.results else None)
            return (bound.call0, bound.call1, bound.call2)[len(sig.params)]

        alloc, handle = guest("caxton_alloc"), guest("caxton_handle")
        assert alloc is not None and handle is not None  # checked by check_exports
        self._alloc: Callable[[int], int] = alloc
        self._handle: Callable[[int, int], int] = handle
        self._init = guest("caxton_init")
        self._snapshot = guest("caxton_snapshot")
        self._restore = guest("caxton_restore")
        self._health = guest("caxton_health")
        self._abi_version = guest("caxton_abi_version")

        fuel_so_far = self._fuel - store.get_fuel()
        if uses_wasi:
            self._run_wasi_entry(export("_initialize") or export("_start"), started, fuel_so_far)
        if self._abi_version is not None:
            outcome, version = self._call(self._abi_version)
            if outcome is not None:
                self.close()
                raise InstantiationFailed(outcome)
            if version != ABI_VERSION:
                self.close()
                raise self._refuse(
                    "link_error",
                    f"module speaks Caxton ABI version {version}; this host speaks {ABI_VERSION}",
                    started,
                )
        self._fuel_total += fuel_so_far

    def _run_wasi_entry(self, entry: wasmtime.Func | None, started: float, fuel: int) -> None:
        """Run a WASI reactor's ``_initialize`` (or a command's ``_start``) once."""
        if entry is None:
            return
        store = self._store
        assert store is not None

        def run() -> int:
            try:
                entry(store)
            except wasmtime.ExitTrap as exit_trap:
                if exit_trap.code != 0:
                    raise GuestFault(f"the module exited with code {exit_trap.code}") from None
            return 0

        outcome, _ = self._call(run)
        self._flush_wasi()
        if outcome is not None:
            self.close()
            raise InstantiationFailed(outcome)

    # -- calling ---------------------------------------------------------------
    def _enter(self) -> None:
        self.in_call = True
        ticker.last_use = time.perf_counter()
        if ticker.idle:
            ticker.wake()

    def _usable(self) -> None:
        if self._poisoned:
            raise InstancePoisoned("the instance failed earlier and may not be entered again")
        if self._closed:
            raise InstancePoisoned("the instance is closed")

    def _failed(self, exc: BaseException, started: float) -> Outcome:
        at_limit = self._backend.memory_size() + PAGE_SIZE > self._limits.memory_bytes
        reason, message = classify(exc, memory_at_limit=at_limit)
        return self._fail(reason, self._explain(reason, message), started)

    def _explain(self, reason: str, message: str) -> str:
        """Say which budget ran out, in the limits' own units."""
        if reason == "out_of_fuel":
            return f"fuel budget of {self._limits.fuel} exhausted ({message})"
        if reason == "timeout":
            return f"deadline of {self._limits.deadline_ms} ms exceeded ({message})"
        return message

    def _fail(self, reason: str, message: str, started: float) -> Outcome:
        self._poisoned = True
        fuel = self._fuel - self._backend.fuel_left()
        self._fuel_total += fuel
        self._flush_wasi()
        return Outcome("failed", reason, message, b"", fuel, time.perf_counter() - started)

    def _flush_wasi(self) -> None:
        if self._wasi is not None:
            # If the embedder's log fails, the call's outcome still stands.
            with contextlib.suppress(GuestFault):
                self._wasi.flush()

    def _call(self, body: Callable[..., T], *args: int) -> tuple[Outcome | None, T | None]:
        """Run ``body`` under a fresh budget; an outcome if it failed, else its result."""
        started = time.perf_counter()
        self._backend.set_budget(self._fuel, self._ticks)
        self._enter()
        try:
            return None, body(*args)
        except _GUEST_ERRORS as exc:
            return self._failed(exc, started), None
        finally:
            self.in_call = False

    def _write_input(self, data: bytes) -> int:
        """Copy ``data`` into guest memory obtained from ``caxton_alloc``."""
        if not data:
            return 0
        ptr = self._alloc(len(data)) & _MASK32
        if ptr == 0 or not self._backend.fits(ptr, len(data)):
            raise _alloc_failed(ptr, len(data))
        self._backend.write(ptr, data)
        return ptr

    def _call_with_input(
        self, what: str, func: Callable[[int, int], int], data: bytes, sender: bytes = b""
    ) -> Outcome | int:
        """alloc + write + call, under one budget. An int result or a failed outcome."""
        self._host.begin(sender)
        started = time.perf_counter()
        self._backend.set_budget(self._fuel, self._ticks)
        self._enter()
        try:
            ptr = self._write_input(data)
            return func(ptr, len(data))
        except _AllocFailed as exc:
            return self._fail(exc.reason, f"{what}: {exc}", started)
        except _GUEST_ERRORS as exc:
            return self._failed(exc, started)
        finally:
            self.in_call = False

    def _finish(self, reply: bytes, started: float, message: str = "") -> Outcome:
        fuel = self._fuel - self._backend.fuel_left()
        self._fuel_total += fuel
        self._flush_wasi()
        error = self._host.error
        if error is not None:
            return Outcome("error", None, error, reply, fuel, time.perf_counter() - started)
        if message:
            return Outcome("error", None, message, reply, fuel, time.perf_counter() - started)
        return Outcome("ok", None, "", reply, fuel, time.perf_counter() - started)

    def _read_packed(
        self, what: str, packed: int, cap: int | None, started: float
    ) -> Outcome | bytes:
        packed &= _MASK64
        ptr, length = packed >> 32, packed & _MASK32
        if cap is not None and length > cap:
            return self._fail(
                "bad_reply", f"{what}: {length} bytes exceed the limit of {cap} bytes", started
            )
        if length == 0:
            return b""
        if not self._backend.fits(ptr, length):
            return self._fail(
                "bad_reply",
                f"{what}: {length} bytes at 0x{ptr:x} lie outside linear memory "
                f"({self._backend.memory_size()} bytes)",
                started,
            )
        return self._backend.read(ptr, length)

    # -- the ABI -------------------------------------------------------------
    def handle(self, payload: Bytes, sender: str = "") -> Outcome:
        """Deliver one message; the reply (if any) is in the outcome."""
        if self._poisoned or self._closed:
            self._usable()
        if type(payload) is not bytes:
            payload = _as_bytes(payload, "payload")
        size = len(payload)
        limits = self._limits
        if size > limits.max_message_bytes:
            raise MessageTooLarge(size, limits.max_message_bytes)
        host = self._host
        host.sender = sender.encode() if sender else b""
        host.error = None
        backend = self._backend
        started = time.perf_counter()
        backend.set_budget(self._fuel, self._ticks)
        self.in_call = True
        ticker.last_use = started
        if ticker.idle:
            ticker.wake()
        try:
            if size:
                ptr = self._alloc(size) & _MASK32
                if ptr == 0 or not backend.fits(ptr, size):
                    raise _alloc_failed(ptr, size)
                backend.write(ptr, payload)
            else:
                ptr = 0
            packed = self._handle(ptr, size) & _MASK64
        except _AllocFailed as exc:
            return self._fail(exc.reason, f"caxton_handle: {exc}", started)
        except _GUEST_ERRORS as exc:
            return self._failed(exc, started)
        finally:
            self.in_call = False
        length = packed & _MASK32
        if length:
            out = packed >> 32
            if length > limits.max_reply_bytes or not backend.fits(out, length):
                result = self._read_packed(
                    "caxton_handle reply", packed, limits.max_reply_bytes, started
                )
                assert isinstance(result, Outcome)
                return result
            reply = backend.read(out, length)
        else:
            reply = b""
        fuel = self._fuel - backend.fuel_left()
        self._fuel_total += fuel
        if self._wasi is not None:
            self._flush_wasi()
        elapsed = time.perf_counter() - started
        if host.error is not None:
            return Outcome("error", None, host.error, reply, fuel, elapsed)
        return Outcome("ok", None, "", reply, fuel, elapsed)

    def init(self, data: Bytes = b"") -> Outcome:
        """Call ``caxton_init`` with the agent's init bytes (``ok`` if not exported)."""
        self._usable()
        if type(data) is not bytes:
            data = _as_bytes(data, "init data")
        if len(data) > self._limits.max_message_bytes:
            raise MessageTooLarge(len(data), self._limits.max_message_bytes, "init data")
        if self._init is None:
            return Outcome("ok", None, "", b"", 0, 0.0)
        started = time.perf_counter()
        result = self._call_with_input("caxton_init", self._init, data)
        if isinstance(result, Outcome):
            return result
        rc = _signed32(result)
        return self._finish(b"", started, f"caxton_init returned {rc}" if rc else "")

    def snapshot(self) -> Outcome | None:
        """The guest's serialized state in ``reply``; ``None`` without ``caxton_snapshot``."""
        self._usable()
        if self._snapshot is None:
            return None
        self._host.begin(b"")
        started = time.perf_counter()
        outcome, packed = self._call(self._snapshot)
        if outcome is not None:
            return outcome
        assert packed is not None
        state = self._read_packed("caxton_snapshot", packed, None, started)
        if isinstance(state, Outcome):
            return state
        return self._finish(state, started)

    def restore(self, state: Bytes) -> Outcome:
        """Load a snapshot; ``error`` if the guest refuses it or cannot restore."""
        self._usable()
        if type(state) is not bytes:
            state = _as_bytes(state, "state")
        if len(state) > self._limits.memory_bytes:
            raise MessageTooLarge(len(state), self._limits.memory_bytes, "state")
        if self._restore is None:
            return Outcome("error", None, "the module does not export caxton_restore", b"", 0, 0.0)
        started = time.perf_counter()
        result = self._call_with_input("caxton_restore", self._restore, state)
        if isinstance(result, Outcome):
            return result
        rc = _signed32(result)
        return self._finish(
            b"", started, f"caxton_restore refused the state (returned {rc})" if rc else ""
        )

    def health(self) -> Outcome:
        """``ok`` when healthy (or no ``caxton_health``), ``error`` with the code otherwise."""
        self._usable()
        if self._health is None:
            return Outcome("ok", None, "", b"", 0, 0.0)
        self._host.begin(b"")
        started = time.perf_counter()
        outcome, rc = self._call(self._health)
        if outcome is not None:
            return outcome
        code = _signed32(rc or 0)
        return self._finish(b"", started, f"caxton_health returned {code}" if code else "")

    # -- state ---------------------------------------------------------------
    @property
    def has_snapshot(self) -> bool:
        return self._snapshot is not None and self._restore is not None

    @property
    def memory_bytes(self) -> int:
        """Current size of linear memory (memory never shrinks: also the peak)."""
        if self._closed:
            return 0
        return self._backend.memory_size()

    @property
    def fuel_consumed_total(self) -> int:
        return self._fuel_total

    @property
    def poisoned(self) -> bool:
        return self._poisoned

    @property
    def fast_path(self) -> bool:
        return self._fast

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def policy(self) -> SecurityPolicy:
        return self._policy

    def close(self) -> None:
        """Release the store now rather than at garbage collection."""
        if self._closed:
            return
        self._closed = True
        self.in_call = False
        self._host.memory = None
        store, self._store = self._store, None
        linker, self._linker = self._linker, None
        if linker is not None:
            linker.close()
        if store is not None:
            store.close()

    def __enter__(self) -> AgentInstance:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _AllocFailed(Exception):
    """``caxton_alloc`` gave no usable buffer (``reason`` is the outcome reason)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _alloc_failed(ptr: int, size: int) -> _AllocFailed:
    if ptr == 0:
        return _AllocFailed(
            "memory_limit", f"caxton_alloc returned 0 for {size} bytes (out of memory)"
        )
    return _AllocFailed(
        "bad_reply", f"caxton_alloc returned 0x{ptr:x} for {size} bytes, outside linear memory"
    )


def _as_bytes(data: object, what: str) -> bytes:
    """``bytes`` for bytes-like input, a clear ``TypeError`` for anything else."""
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"{what} must be bytes, not {type(data).__name__}")


def _signed32(value: int) -> int:
    value &= _MASK32
    return value - (1 << 32) if value >= 1 << 31 else value
