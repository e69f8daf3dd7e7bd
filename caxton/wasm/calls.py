"""Two ways to call into a store: the stock wasmtime-py API and a fast path.

The stock API reflects on the function type, converts every value through
``Val`` and copies memory through intermediate ``bytearray`` objects on each
call: about 13k messages/s for a small echo. The fast path does the same work
with what the instance already knows: export signatures are checked once at
instantiation, calls go through ``wasmtime_func_call_unchecked`` with a
preallocated argument array, and guest memory is a ``memoryview`` over the
linear memory (safe to keep because every engine pins memory in place, and
refreshed whenever the memory has grown).

The fast path relies on wasmtime-py internals (``_bindings``, ``_ffi``, the
private fields of ``Func``/``Memory``/``Store``). They are feature-detected
at import; when anything is missing ``FAST_PATH_AVAILABLE`` is false and
instances use the stock backend.
"""

from __future__ import annotations

import ctypes
from typing import Any, Protocol

import wasmtime

__all__ = [
    "FAST_PATH_AVAILABLE",
    "FAST_PATH_UNAVAILABLE_REASON",
    "Backend",
    "FastBackend",
    "GuestFunc",
    "StockBackend",
]

_MASK32 = 0xFFFF_FFFF


class GuestFunc(Protocol):
    """An export called with 0, 1 or 2 integer arguments and one integer result."""

    def call0(self) -> int: ...
    def call1(self, a: int) -> int: ...
    def call2(self, a: int, b: int) -> int: ...


class Backend(Protocol):
    """What an instance needs from a store, whichever path is used."""

    def set_budget(self, fuel: int, deadline_ticks: int) -> None: ...
    def fuel_left(self) -> int: ...
    def func(self, func: wasmtime.Func, nparams: int, result: str | None) -> GuestFunc: ...
    def memory_size(self) -> int: ...
    def fits(self, ptr: int, length: int) -> bool: ...
    def write(self, ptr: int, data: bytes) -> None: ...
    def read(self, ptr: int, length: int) -> bytes: ...


# -- stock ----------------------------------------------------------------


class _StockFunc:
    def __init__(self, store: wasmtime.Store, func: wasmtime.Func) -> None:
        self._store = store
        self._func = func

    def call0(self) -> int:
        return int(self._func(self._store) or 0)

    def call1(self, a: int) -> int:
        return int(self._func(self._store, _i32(a)) or 0)

    def call2(self, a: int, b: int) -> int:
        return int(self._func(self._store, _i32(a), _i32(b)) or 0)


def _i32(value: int) -> int:
    """Unsigned 32-bit to the signed value wasmtime-py expects."""
    value &= _MASK32
    return value - (1 << 32) if value >= 1 << 31 else value


class StockBackend:
    """The public wasmtime-py API only."""

    fast = False

    def __init__(self, store: wasmtime.Store, memory: wasmtime.Memory) -> None:
        self._store = store
        self._memory = memory

    def set_budget(self, fuel: int, deadline_ticks: int) -> None:
        self._store.set_fuel(fuel)
        self._store.set_epoch_deadline(deadline_ticks)

    def fuel_left(self) -> int:
        return self._store.get_fuel()

    def func(self, func: wasmtime.Func, nparams: int, result: str | None) -> GuestFunc:
        return _StockFunc(self._store, func)

    def memory_size(self) -> int:
        return self._memory.data_len(self._store)

    def fits(self, ptr: int, length: int) -> bool:
        return ptr + length <= self._memory.data_len(self._store)

    def write(self, ptr: int, data: bytes) -> None:
        self._memory.write(self._store, data, ptr)

    def read(self, ptr: int, length: int) -> bytes:
        return bytes(self._memory.read(self._store, ptr, ptr + length))


# -- fast -----------------------------------------------------------------
#
# The C entry points are re-declared without ``argtypes`` and with plain
# ``c_void_p`` results: wasmtime-py's declarations convert and type-check
# every argument and wrap every returned pointer in a new object, which costs
# more than the call itself. Arguments are passed as preconstructed ctypes
# objects of the right C type, so nothing is lost by skipping the checks.
# ``CFUNCTYPE`` functions release the GIL during the call, which the epoch
# ticker needs to run while a guest spins.

FAST_PATH_UNAVAILABLE_REASON = ""
try:
    import wasmtime._func as _wasmtime_func
    from wasmtime import _bindings, _ffi

    def _untyped(name: str, restype: Any) -> Any:
        address = ctypes.cast(getattr(_bindings, name), ctypes.c_void_p).value
        if not address:
            raise AttributeError(f"{name} has no address")
        fn = ctypes.CFUNCTYPE(restype)(address)
        fn.argtypes = None  # type: ignore[assignment]
        fn.restype = restype
        return fn

    _call_unchecked = _untyped("_wasmtime_func_call_unchecked", ctypes.c_void_p)
    _set_fuel = _untyped("_wasmtime_context_set_fuel", ctypes.c_void_p)
    _get_fuel = _untyped("_wasmtime_context_get_fuel", ctypes.c_void_p)
    _set_deadline = _untyped("_wasmtime_context_set_epoch_deadline", None)
    _memory_data = _untyped("_wasmtime_memory_data", ctypes.c_void_p)
    _memory_data_size = _untyped("_wasmtime_memory_data_size", ctypes.c_size_t)
    _ValRaw = _ffi.wasmtime_val_raw_t
    _TrapPtr = ctypes.POINTER(_ffi.wasm_trap_t)
    _ErrorPtr = ctypes.POINTER(_ffi.wasmtime_error_t)
    for _owner, _attr in (
        (_wasmtime_func, "LAST_EXCEPTION"),
        (wasmtime.Trap, "_from_ptr"),
        (wasmtime.WasmtimeError, "_from_ptr"),
        (wasmtime.Store, "_context"),
        (_ValRaw, "i32"),
        (_ValRaw, "i64"),
    ):
        if not hasattr(_owner, _attr):
            raise AttributeError(f"{_owner!r} has no {_attr}")
    if (
        "_func" not in wasmtime.Func.__annotations__
        or "_memory" not in wasmtime.Memory.__annotations__
    ):
        raise AttributeError("Func._func / Memory._memory are gone")
    FAST_PATH_AVAILABLE = True
except (ImportError, AttributeError, TypeError) as _exc:  # pragma: no cover - wasmtime version
    FAST_PATH_AVAILABLE = False
    FAST_PATH_UNAVAILABLE_REASON = str(_exc)


def _as_void_p(pointer: Any) -> ctypes.c_void_p:
    return ctypes.c_void_p(ctypes.cast(pointer, ctypes.c_void_p).value)


class _FastFunc:
    """An export called through ``wasmtime_func_call_unchecked``.

    The signature was checked at instantiation, which is what makes the
    unchecked call sound.
    """

    __slots__ = (
        "_args",
        "_ctx",
        "_func",
        "_funcref",
        "_i64",
        "_n",
        "_slot0",
        "_slot1",
        "_trap",
        "_trapref",
    )

    def __init__(
        self, ctx: ctypes.c_void_p, func: wasmtime.Func, nparams: int, result: str | None
    ) -> None:
        self._ctx = ctx
        self._func = func  # keeps the wasmtime_func_t alive
        self._funcref = ctypes.byref(func._func)
        n = max(nparams, 1)
        self._n = ctypes.c_size_t(n)
        self._args = (_ValRaw * n)()
        self._slot0 = self._args[0]
        self._slot1 = self._args[1] if n > 1 else self._args[0]
        # Raw values are little-endian unions: an i32 result fills only the
        # low half of the slot, so it must be read back as i32.
        self._i64 = result == "i64"
        self._new_trap()

    def _new_trap(self) -> None:
        self._trap = _TrapPtr()
        self._trapref = ctypes.byref(self._trap)

    def _raise(self, error: int | None) -> None:
        exc: BaseException
        if error:
            exc = wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, _ErrorPtr))
        else:
            exc = wasmtime.Trap._from_ptr(self._trap)
            self._new_trap()  # the Trap object now owns the old pointer
        pending = _wasmtime_func.LAST_EXCEPTION
        if pending is not None:
            # A host function raised: report its exception, like the stock path.
            _wasmtime_func.LAST_EXCEPTION = None
            raise pending
        raise exc

    def call0(self) -> int:
        error = _call_unchecked(self._ctx, self._funcref, self._args, self._n, self._trapref)
        if error or self._trap:
            self._raise(error)
        return int(self._slot0.i64 if self._i64 else self._slot0.i32)

    def call1(self, a: int) -> int:
        self._slot0.i32 = a  # ctypes truncates to 32 bits, as the guest sees it
        error = _call_unchecked(self._ctx, self._funcref, self._args, self._n, self._trapref)
        if error or self._trap:
            self._raise(error)
        return int(self._slot0.i64 if self._i64 else self._slot0.i32)

    def call2(self, a: int, b: int) -> int:
        self._slot0.i32 = a
        self._slot1.i32 = b
        error = _call_unchecked(self._ctx, self._funcref, self._args, self._n, self._trapref)
        if error or self._trap:
            self._raise(error)
        return int(self._slot0.i64 if self._i64 else self._slot0.i32)


class FastBackend:
    """Direct calls and a cached view of linear memory."""

    fast = True

    def __init__(self, store: wasmtime.Store, memory: wasmtime.Memory) -> None:
        self._store = store  # keeps the context pointer valid
        self._ctx = _as_void_p(store._context())
        self._memory = memory
        self._memref = ctypes.byref(memory._memory)
        self._fuel_out = ctypes.c_uint64(0)
        self._fuel_outref = ctypes.byref(self._fuel_out)
        self._budget: tuple[int, int] = (-1, -1)
        self._fuel_in = ctypes.c_uint64(0)
        self._ticks_in = ctypes.c_uint64(0)
        self._size = -1
        self._view = memoryview(bytearray())
        self._refresh()

    def _refresh(self) -> int:
        size = int(_memory_data_size(self._ctx, self._memref))
        if size != self._size:
            if size:
                base = _memory_data(self._ctx, self._memref)
                array = (ctypes.c_ubyte * size).from_address(base)
                self._view = memoryview(array).cast("B")
            else:
                self._view = memoryview(bytearray())
            self._size = size
        return size

    def set_budget(self, fuel: int, deadline_ticks: int) -> None:
        if self._budget != (fuel, deadline_ticks):
            self._budget = (fuel, deadline_ticks)
            self._fuel_in.value = fuel
            self._ticks_in.value = deadline_ticks
        _set_fuel(self._ctx, self._fuel_in)
        _set_deadline(self._ctx, self._ticks_in)

    def fuel_left(self) -> int:
        _get_fuel(self._ctx, self._fuel_outref)
        return int(self._fuel_out.value)

    def func(self, func: wasmtime.Func, nparams: int, result: str | None) -> GuestFunc:
        return _FastFunc(self._ctx, func, nparams, result)

    def memory_size(self) -> int:
        return self._refresh()

    def fits(self, ptr: int, length: int) -> bool:
        """Bounds check against the cached size, refreshing only when it fails."""
        end = ptr + length
        return end <= self._size or end <= self._refresh()

    def write(self, ptr: int, data: bytes) -> None:
        self._view[ptr : ptr + len(data)] = data

    def read(self, ptr: int, length: int) -> bytes:
        return self._view[ptr : ptr + length].tobytes()
