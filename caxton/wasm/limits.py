"""Per-instance resource limits.

Limits are plain data so that they can travel in deployment specs and
management messages; ``from_dict`` is the single place where untrusted input
is checked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Limits"]

# Limits are handed to wasmtime as signed 64-bit integers.
_MAX_VALUE = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    """Limits the host enforces on one instance.

    ``fuel`` and ``deadline_ms`` are budgets per call (one inbound message,
    or one ``init`` / ``snapshot`` / ``restore`` / ``health`` call, or the
    instantiation itself including any start function). Snapshots and
    restored states are not capped by ``max_reply_bytes``: they live in
    linear memory, so ``memory_bytes`` bounds them.
    """

    memory_bytes: int = 16 * 2**20
    table_elements: int = 10_000
    fuel: int = 50_000_000
    deadline_ms: int = 1_000
    max_message_bytes: int = 1 * 2**20
    max_reply_bytes: int = 1 * 2**20

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            _check_field(field.name, value)

    def to_dict(self) -> dict[str, int]:
        """Plain dict (JSON / msgpack friendly)."""
        return {field.name: int(getattr(self, field.name)) for field in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Limits:
        """Build limits from untrusted data; missing keys keep their defaults.

        Raises ``ValueError`` naming the offending field on unknown keys,
        non-integers and non-positive values.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"limits must be a mapping, not {type(d).__name__}")
        known = {field.name for field in dataclasses.fields(cls)}
        values: dict[str, int] = {}
        for key, value in d.items():
            if key not in known:
                raise ValueError(
                    f"limits: unknown field {key!r} (known: {', '.join(sorted(known))})"
                )
            _check_field(key, value)
            values[key] = value
        return cls(**values)


def _check_field(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"limits.{name} must be an integer, not {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"limits.{name} must be positive, got {value}")
    if value > _MAX_VALUE:
        raise ValueError(f"limits.{name} is too large ({value} > {_MAX_VALUE})")
