"""The guest ABI, version 1, as data.

One table of names and signatures shared by the instance (which checks the
exports it is about to call without reflection on every call) and by the
validator (which reports mismatches to the user).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ABI_VERSION",
    "EXPORTS",
    "IMPORTS",
    "IMPORT_MODULE",
    "MEMORY_EXPORT",
    "SEND_NOT_ALLOWED",
    "SEND_OK",
    "SEND_OVER_QUOTA",
    "SEND_TOO_LARGE",
    "SEND_UNKNOWN_AGENT",
    "WASI_MODULE",
    "Signature",
]

ABI_VERSION = 1
IMPORT_MODULE = "caxton"
WASI_MODULE = "wasi_snapshot_preview1"
MEMORY_EXPORT = "memory"

#: Return codes of ``caxton.send``.
SEND_OK = 0
SEND_UNKNOWN_AGENT = -1
SEND_TOO_LARGE = -2
SEND_OVER_QUOTA = -3
SEND_NOT_ALLOWED = -4


@dataclass(frozen=True)
class Signature:
    """A function signature with value types spelled as in WAT (``i32``, ``i64``)."""

    params: tuple[str, ...]
    results: tuple[str, ...]
    required: bool = False

    def __str__(self) -> str:
        params = ", ".join(self.params)
        results = ", ".join(self.results) or "nothing"
        return f"({params}) -> {results}"


EXPORTS: dict[str, Signature] = {
    "caxton_alloc": Signature(("i32",), ("i32",), required=True),
    "caxton_handle": Signature(("i32", "i32"), ("i64",), required=True),
    "caxton_abi_version": Signature((), ("i32",)),
    "caxton_init": Signature(("i32", "i32"), ("i32",)),
    "caxton_snapshot": Signature((), ("i64",)),
    "caxton_restore": Signature(("i32", "i32"), ("i32",)),
    "caxton_health": Signature((), ("i32",)),
}

IMPORTS: dict[str, Signature] = {
    "send": Signature(("i32", "i32", "i32", "i32"), ("i32",)),
    "log": Signature(("i32", "i32", "i32"), ()),
    "now_ms": Signature((), ("i64",)),
    "error": Signature(("i32", "i32"), ()),
    "sender": Signature(("i32", "i32"), ("i32",)),
}
