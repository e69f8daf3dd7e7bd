"""The ``caxton`` imports a guest can call, wired to the embedder's callbacks.

The embedder (the node, a test, the validator) provides ``send`` and ``log``
through a ``HostImports`` object; ``now_ms``, ``error`` and ``sender`` are
answered here from the state of the call in progress.

Host functions read guest memory through the ``Caller`` wasmtime hands them,
never through the ``Store``: closures registered with wasmtime live in a
process-wide table until the store is gone, so capturing the store (or the
instance owning it) would keep both alive forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import wasmtime

from caxton.wasm.abi import (
    IMPORT_MODULE,
    IMPORTS,
    SEND_TOO_LARGE,
    SEND_UNKNOWN_AGENT,
    WASI_MODULE,
    Signature,
)

__all__ = [
    "MAX_LOG_BYTES",
    "MAX_WASI_OUTPUT_BYTES",
    "CallbackImports",
    "GuestFault",
    "HostFailure",
    "HostImports",
    "HostState",
    "NullImports",
    "RecordingImports",
    "WasiOutput",
]

#: Log lines and error reasons longer than this are cut (a guest must not be
#: able to make the host buffer unbounded text).
MAX_LOG_BYTES = 64 * 1024
#: WASI stdout + stderr kept per call; the rest is dropped with a notice.
MAX_WASI_OUTPUT_BYTES = 1024 * 1024

_MASK32 = 0xFFFF_FFFF

LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR = 0, 1, 2, 3
_WASI_EBADF = 8


@runtime_checkable
class HostImports(Protocol):
    """What the embedding process provides to a guest."""

    def send(self, to: str, payload: bytes) -> int:
        """Route ``payload`` to agent ``to``; 0 or a negative ABI error code."""
        ...

    def log(self, level: int, message: str) -> None:
        """Record a log line from the guest (level 0 debug .. 3 error)."""
        ...


@dataclass
class CallbackImports:
    """``HostImports`` from two plain callables."""

    send_fn: Callable[[str, bytes], int] = lambda to, payload: SEND_UNKNOWN_AGENT
    log_fn: Callable[[int, str], None] = lambda level, message: None

    def send(self, to: str, payload: bytes) -> int:
        return self.send_fn(to, payload)

    def log(self, level: int, message: str) -> None:
        self.log_fn(level, message)


class NullImports:
    """No agents to talk to and nowhere to log: every send is ``unknown agent``."""

    def send(self, to: str, payload: bytes) -> int:
        return SEND_UNKNOWN_AGENT

    def log(self, level: int, message: str) -> None:
        return None


@dataclass
class RecordingImports:
    """Keeps every send and log line (used by the validator's sandbox)."""

    send_result: int = 0
    sent: list[tuple[str, bytes]] = field(default_factory=list)
    logs: list[tuple[int, str]] = field(default_factory=list)

    def send(self, to: str, payload: bytes) -> int:
        self.sent.append((to, payload))
        return self.send_result

    def log(self, level: int, message: str) -> None:
        self.logs.append((level, message))


class GuestFault(Exception):
    """Raised inside a host function to trap the guest with a clear message.

    wasmtime turns any exception in a host function into a trap and keeps the
    exception aside; the call paths pick it up and report its message.
    """


class HostFailure(GuestFault):
    """The embedder's callback raised: reported as a trap of the call."""


def _valtypes(names: tuple[str, ...]) -> list[wasmtime.ValType]:
    return [wasmtime.ValType.i32() if name == "i32" else wasmtime.ValType.i64() for name in names]


def func_type(signature: Signature) -> wasmtime.FuncType:
    return wasmtime.FuncType(_valtypes(signature.params), _valtypes(signature.results))


def _text(data: bytes) -> str:
    if len(data) > MAX_LOG_BYTES:
        return data[:MAX_LOG_BYTES].decode("utf-8", errors="replace") + "…[truncated]"
    return data.decode("utf-8", errors="replace")


class HostState:
    """Per-instance state behind the ``caxton`` imports.

    Holds no reference to the store or the instance (see module docstring).
    """

    def __init__(self, imports: HostImports, *, max_send_bytes: int) -> None:
        self.imports = imports
        self.max_send_bytes = max_send_bytes
        self.memory: wasmtime.Memory | None = None
        self.sender = b""
        self.error: str | None = None

    def begin(self, sender: bytes) -> None:
        """Reset per-call state before entering the guest."""
        self.sender = sender
        self.error = None

    # -- guest memory, bounds-checked ------------------------------------
    def read_guest(self, caller: wasmtime.Caller, ptr: int, length: int, what: str) -> bytes:
        ptr &= _MASK32
        length &= _MASK32
        memory = self._memory(what)
        if ptr + length > memory.data_len(caller):
            raise GuestFault(
                f"{what}: {length} bytes at 0x{ptr:x} lie outside linear memory "
                f"({memory.data_len(caller)} bytes)"
            )
        if length == 0:
            return b""
        return bytes(memory.read(caller, ptr, ptr + length))

    def write_guest(self, caller: wasmtime.Caller, ptr: int, data: bytes, what: str) -> None:
        ptr &= _MASK32
        memory = self._memory(what)
        if ptr + len(data) > memory.data_len(caller):
            raise GuestFault(
                f"{what}: {len(data)} bytes at 0x{ptr:x} lie outside linear memory "
                f"({memory.data_len(caller)} bytes)"
            )
        if data:
            memory.write(caller, data, ptr)

    def _memory(self, what: str) -> wasmtime.Memory:
        if self.memory is None:
            # Called from a start function, before exports could be looked up.
            raise GuestFault(f"{what} called before the module's memory was available")
        return self.memory

    # -- the imports -------------------------------------------------------
    def send(
        self, caller: wasmtime.Caller, to_ptr: int, to_len: int, msg_ptr: int, msg_len: int
    ) -> int:
        to_raw = self.read_guest(caller, to_ptr, to_len, "caxton.send (agent name)")
        if msg_len & _MASK32 > self.max_send_bytes:
            return SEND_TOO_LARGE
        payload = self.read_guest(caller, msg_ptr, msg_len, "caxton.send (message)")
        try:
            to = to_raw.decode("utf-8")
        except UnicodeDecodeError:
            return SEND_UNKNOWN_AGENT
        try:
            result = self.imports.send(to, payload)
        except Exception as exc:
            raise HostFailure(f"host function caxton.send failed: {exc!r}") from exc
        if isinstance(result, bool) or not isinstance(result, int) or not -(2**31) <= result <= 0:
            raise HostFailure(
                f"host function caxton.send returned {result!r}, not 0 or an error code"
            )
        return result

    def log(self, caller: wasmtime.Caller, level: int, ptr: int, length: int) -> None:
        message = _text(self.read_guest(caller, ptr, length, "caxton.log"))
        self.emit_log(min(max(level, LOG_DEBUG), LOG_ERROR), message)

    def emit_log(self, level: int, message: str) -> None:
        try:
            self.imports.log(level, message)
        except Exception as exc:
            raise HostFailure(f"host function caxton.log failed: {exc!r}") from exc

    def now_ms(self, caller: wasmtime.Caller) -> int:
        return time.time_ns() // 1_000_000

    def error_(self, caller: wasmtime.Caller, ptr: int, length: int) -> None:
        self.error = _text(self.read_guest(caller, ptr, length, "caxton.error")) or "error"

    def sender_(self, caller: wasmtime.Caller, ptr: int, cap: int) -> int:
        cap &= _MASK32
        name = self.sender
        self.write_guest(caller, ptr, name[:cap], "caxton.sender")
        return len(name)

    def functions(self) -> dict[str, Callable[..., Any]]:
        return {
            "send": self.send,
            "log": self.log,
            "now_ms": self.now_ms,
            "error": self.error_,
            "sender": self.sender_,
        }

    def define(self, linker: wasmtime.Linker, allowed: Callable[[str, str], bool]) -> None:
        """Define every ``caxton`` import the policy allows in ``linker``."""
        for name, fn in self.functions().items():
            if allowed(IMPORT_MODULE, name):
                linker.define_func(
                    IMPORT_MODULE, name, func_type(IMPORTS[name]), fn, access_caller=True
                )


class WasiOutput:
    """WASI ``fd_write`` for stdout and stderr, turned into log lines.

    The host defines ``wasi_snapshot_preview1.fd_write`` itself, shadowing
    wasmtime's: wasmtime's own output streams deliver custom output on one of
    its runtime threads (where the embedder's log, a socket say, must not be
    used, and which can outlive the interpreter), and a file would let a guest
    fill the disk. Here output is buffered on the calling thread, capped per
    call, and flushed to the log after each call, a trailing partial line
    included. Every iovec is written, so guests never see a short write.
    """

    def __init__(self, state: HostState) -> None:
        self._state = state
        self._chunks: list[tuple[int, bytes]] = []
        self._size = 0
        self._dropped = 0

    def define(self, linker: wasmtime.Linker) -> None:
        i32 = wasmtime.ValType.i32()
        linker.allow_shadowing = True
        linker.define_func(
            WASI_MODULE,
            "fd_write",
            wasmtime.FuncType([i32, i32, i32, i32], [i32]),
            self.fd_write,
            access_caller=True,
        )
        linker.allow_shadowing = False

    def fd_write(
        self, caller: wasmtime.Caller, fd: int, iovs: int, count: int, written: int
    ) -> int:
        if fd not in (1, 2):
            return _WASI_EBADF
        level = LOG_INFO if fd == 1 else LOG_ERROR
        state = self._state
        count &= _MASK32
        table = state.read_guest(caller, iovs, 8 * count, "fd_write (iovecs)")
        total = 0
        for k in range(count):
            ptr = int.from_bytes(table[8 * k : 8 * k + 4], "little")
            length = int.from_bytes(table[8 * k + 4 : 8 * k + 8], "little")
            data = state.read_guest(caller, ptr, length, "fd_write (data)")
            total += length
            if self._size + length > MAX_WASI_OUTPUT_BYTES:
                self._dropped += length
            elif data:
                self._chunks.append((level, data))
                self._size += length
        state.write_guest(
            caller, written, (total & _MASK32).to_bytes(4, "little"), "fd_write (result)"
        )
        return 0

    def flush(self) -> None:
        chunks, self._chunks, self._size = self._chunks, [], 0
        dropped, self._dropped = self._dropped, 0
        state = self._state
        pending: dict[int, bytes] = {}
        for level, data in chunks:
            *lines, rest = (pending.get(level, b"") + data).split(b"\n")
            for line in lines:
                state.emit_log(level, _text(line))
            pending[level] = rest
        for level, rest in pending.items():
            if rest:
                state.emit_log(level, _text(rest))
        if dropped:
            state.emit_log(
                LOG_WARNING, f"[{dropped} bytes of WASI output dropped: over the per-call cap]"
            )
