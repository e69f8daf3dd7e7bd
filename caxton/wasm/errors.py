"""Exceptions raised by the WebAssembly host.

Everything a guest does wrong while running ends in an ``Outcome`` rather than
an exception; exceptions are kept for the embedder's own mistakes (bad input,
calling a dead instance) and for the few situations where there is no call to
attach an outcome to (loading, instantiation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from caxton.wasm.outcome import Outcome

__all__ = [
    "InstancePoisoned",
    "InstantiationFailed",
    "MessageTooLarge",
    "ModuleLoadError",
    "WasmError",
]


class WasmError(Exception):
    """Base class of every error raised by ``caxton.wasm``."""


class ModuleLoadError(WasmError):
    """The source could not be turned into a compiled module.

    Raised for a missing file, a directory, bytes that are neither a
    WebAssembly binary nor WAT text, and modules wasmtime refuses to compile.
    """


class InstantiationFailed(WasmError):
    """The module could not be instantiated under the given limits and policy.

    ``outcome`` carries the classified reason (``memory_limit``,
    ``out_of_fuel``, ``timeout``, ``stack_overflow``, ``trap`` or
    ``link_error``) so the embedder can treat it like any failed call.
    """

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        super().__init__(f"instantiation failed ({outcome.reason}): {outcome.message}")


class MessageTooLarge(WasmError):
    """An inbound payload exceeds the instance's limit; nothing reached the guest."""

    def __init__(self, size: int, limit: int, what: str = "message") -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"{what} of {size} bytes exceeds the limit of {limit} bytes")


class InstancePoisoned(WasmError):
    """The instance failed earlier (trap, limit, bad reply) and may not be entered again."""
