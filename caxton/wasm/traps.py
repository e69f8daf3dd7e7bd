"""Classifying what went wrong inside wasmtime into an outcome reason.

wasmtime reports problems two ways: ``Trap`` (with a ``trap_code``) and
``WasmtimeError`` (linking, limits, host errors). In wasmtime 50 ``Trap`` is
not a subclass of ``WasmtimeError``, so callers catch both and hand the
exception here. Messages are multi-line with a backtrace; users get the
"Caused by" part on one line.
"""

from __future__ import annotations

import wasmtime
from wasmtime import TrapCode

__all__ = ["WASM_ERRORS", "classify", "summarize"]

#: The exception types a call into wasmtime can raise for guest misbehaviour.
WASM_ERRORS: tuple[type[BaseException], ...] = (wasmtime.Trap, wasmtime.WasmtimeError)

_BY_CODE = {
    TrapCode.OUT_OF_FUEL: "out_of_fuel",
    TrapCode.INTERRUPT: "timeout",
    TrapCode.STACK_OVERFLOW: "stack_overflow",
}


def summarize(message: str) -> str:
    """One line: the headline plus the causes, without the wasm backtrace."""
    lines = [line.strip() for line in message.splitlines()]
    headline = next((line for line in lines if line), "")
    causes: list[str] = []
    if "Caused by:" in lines:
        for line in lines[lines.index("Caused by:") + 1 :]:
            if not line:
                continue
            # Cause lines may be numbered ("0: memory fault ...").
            head, sep, rest = line.partition(": ")
            causes.append(rest if sep and head.isdigit() else line)
    if headline.startswith("error while executing at wasm backtrace") and causes:
        return "; ".join(_strip_prefix(cause) for cause in reversed(causes))
    if causes:
        return f"{headline}: {'; '.join(causes)}"
    return headline


def _strip_prefix(cause: str) -> str:
    return cause.removeprefix("wasm trap: ")


def classify(exc: BaseException, *, memory_at_limit: bool) -> tuple[str, str]:
    """``(reason, message)`` for an exception raised while running guest code.

    ``memory_at_limit`` says whether the guest's memory cannot grow by another
    page under the store limit: a generic trap in that state is almost always
    the guest reacting to a refused ``memory.grow``, so it is reported as
    ``memory_limit``.
    """
    message = summarize(str(exc))
    if isinstance(exc, wasmtime.Trap):
        code = exc.trap_code
        if code in _BY_CODE:
            return _BY_CODE[code], message
    lowered = message.lower()
    if "all fuel consumed" in lowered:
        return "out_of_fuel", message
    if "wasm trap: interrupt" in str(exc) or lowered == "interrupt":
        return "timeout", message
    if "exceeds memory limits" in lowered or "exceeds table limits" in lowered:
        return "memory_limit", message
    if "unknown import" in lowered or "incompatible import type" in lowered:
        return "link_error", message
    if "call stack exhausted" in lowered:
        return "stack_overflow", message
    if memory_at_limit:
        return "memory_limit", f"{message} (memory is at its limit)"
    return "trap", message
