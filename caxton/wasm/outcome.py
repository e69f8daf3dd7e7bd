"""The result of one call into a guest.

Every call ends in exactly one ``Outcome`` so that the node can journal,
reply and supervise without caring how the guest misbehaved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FAILURE_REASONS", "INSTANTIATION_REASONS", "Outcome", "Status"]

Status = Literal["ok", "error", "failed"]

#: Reasons a call can fail with.
FAILURE_REASONS: tuple[str, ...] = (
    "out_of_fuel",
    "timeout",
    "memory_limit",
    "stack_overflow",
    "trap",
    "bad_reply",
)
#: Instantiation may also fail because imports, exports or features do not
#: match the ABI or the security policy.
INSTANTIATION_REASONS: tuple[str, ...] = (*FAILURE_REASONS, "link_error")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened during one call.

    ``status`` is ``ok``, ``error`` (the guest reported a failure through
    ``caxton.error`` but is still healthy) or ``failed`` (a trap or a broken
    limit; the instance is poisoned). ``reply`` holds the reply bytes, also
    for ``error`` when the guest replied.
    """

    status: Status
    reason: str | None
    message: str
    reply: bytes
    fuel_consumed: int
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict; ``reply`` stays ``bytes`` (msgpack carries it as-is)."""
        return {
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "reply": self.reply,
            "fuel_consumed": self.fuel_consumed,
            "elapsed_s": self.elapsed_s,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Outcome:
        """Inverse of ``to_dict`` (for outcomes that crossed a process boundary)."""
        status = d["status"]
        if status not in ("ok", "error", "failed"):
            raise ValueError(f"outcome.status must be ok, error or failed, not {status!r}")
        reply = d.get("reply", b"")
        if not isinstance(reply, bytes | bytearray):
            raise ValueError("outcome.reply must be bytes")
        return cls(
            status=status,
            reason=d.get("reason"),
            message=str(d.get("message", "")),
            reply=bytes(reply),
            fuel_consumed=int(d.get("fuel_consumed", 0)),
            elapsed_s=float(d.get("elapsed_s", 0.0)),
        )

    @classmethod
    def failure(
        cls, reason: str, message: str, *, fuel_consumed: int = 0, elapsed_s: float = 0.0
    ) -> Outcome:
        return cls("failed", reason, message, b"", fuel_consumed, elapsed_s)
