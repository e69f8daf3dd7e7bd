"""Security policies: which imports, features and sizes a module may use.

A policy is checked statically by the validation pipeline and enforced at run
time by the instance (imports outside the policy are not linked, features
outside it are disabled in the engine that compiles the module). Every preset
sets every field: nothing is left unlimited by accident.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from caxton.wasm.abi import IMPORT_MODULE, IMPORTS

__all__ = ["FEATURES", "PRESETS", "SecurityPolicy"]

#: WebAssembly proposals a policy can switch on. Everything else beyond the
#: MVP (plus multi-value, which every toolchain emits) stays off in all engines.
FEATURES: tuple[str, ...] = ("threads", "simd", "reference_types", "bulk_memory", "multi_memory")

_STRICT_IMPORTS = ("log", "now_ms")
_DEFAULT_IMPORTS = ("log", "now_ms", "send", "error", "sender")

_INT_FIELDS = ("max_imports", "max_memory_pages", "max_table_elements", "max_module_bytes")


@dataclass(frozen=True)
class SecurityPolicy:
    """What a module is allowed to ask of the host.

    ``allowed_imports`` holds qualified names such as ``"caxton.send"``; WASI
    preview1 functions are allowed as a block by ``allows_wasi``.
    ``max_memory_pages`` bounds the *declared* minimum of each memory (the
    run-time cap is ``Limits.memory_bytes``).
    """

    name: str
    allowed_imports: frozenset[str]
    allows_wasi: bool
    max_imports: int
    max_memory_pages: int
    max_table_elements: int
    max_module_bytes: int
    features: frozenset[str]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("policy.name must be a non-empty string")
        object.__setattr__(self, "allowed_imports", _check_imports(self.allowed_imports))
        object.__setattr__(self, "features", _check_features(self.features))
        if not isinstance(self.allows_wasi, bool):
            raise ValueError("policy.allows_wasi must be a boolean")
        for field in _INT_FIELDS:
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"policy.{field} must be a non-negative integer, got {value!r}")

    @classmethod
    def preset(cls, name: str) -> SecurityPolicy:
        """One of ``strict``, ``default``, ``relaxed``; ``ValueError`` otherwise."""
        try:
            return PRESETS[name]
        except (KeyError, TypeError):
            raise ValueError(
                f"unknown security policy {name!r} (choose from: {', '.join(PRESETS)})"
            ) from None

    def allows_import(self, module: str, name: str) -> bool:
        """Whether an import ``module.name`` may be linked under this policy."""
        if module == "wasi_snapshot_preview1":
            return self.allows_wasi
        return f"{module}.{name}" in self.allowed_imports

    def engine_features(self) -> tuple[str, ...]:
        """The enabled features in a canonical order (the engine cache key)."""
        return tuple(feature for feature in FEATURES if feature in self.features)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON / msgpack friendly), the inverse of ``from_dict``."""
        return {
            "name": self.name,
            "allowed_imports": sorted(self.allowed_imports),
            "allows_wasi": self.allows_wasi,
            "max_imports": self.max_imports,
            "max_memory_pages": self.max_memory_pages,
            "max_table_elements": self.max_table_elements,
            "max_module_bytes": self.max_module_bytes,
            "features": list(self.engine_features()),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SecurityPolicy:
        """Build a policy from a preset plus overrides.

        ``preset`` (or a ``name`` that is a preset) picks the starting point,
        ``default`` otherwise; any other given field overrides it. A policy
        with overrides is named ``custom`` unless ``name`` says otherwise.
        Raises ``ValueError`` naming the offending field.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"policy must be a mapping, not {type(d).__name__}")
        known = {field.name for field in dataclasses.fields(cls)} | {"preset"}
        for key in d:
            if key not in known:
                raise ValueError(
                    f"policy: unknown field {key!r} (known: {', '.join(sorted(known))})"
                )
        base_name = d.get("preset")
        if base_name is None:
            base_name = d["name"] if d.get("name") in PRESETS else "default"
        base = cls.preset(base_name)
        overrides = {key: value for key, value in d.items() if key not in ("preset", "name")}
        changed = {key: value for key, value in overrides.items() if _differs(base, key, value)}
        name = d.get("name") or (base.name if not changed else "custom")
        values = dataclasses.asdict(base)
        values.update(overrides)
        values["name"] = name
        return cls(**values)


def _differs(base: SecurityPolicy, key: str, value: Any) -> bool:
    current = getattr(base, key)
    if isinstance(current, frozenset):
        try:
            return frozenset(value) != current
        except TypeError:
            return True
    return bool(current != value)


def _check_imports(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError("policy.allowed_imports must be a list of names like 'caxton.send'")
    known = {f"{IMPORT_MODULE}.{name}" for name in IMPORTS}
    result = frozenset(value)
    for item in result:
        if item not in known:
            choices = ", ".join(sorted(known))
            raise ValueError(f"policy.allowed_imports: unknown import {item!r} (known: {choices})")
    return result


def _check_features(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError("policy.features must be a list of feature names")
    result = frozenset(value)
    for item in result:
        if item not in FEATURES:
            raise ValueError(
                f"policy.features: unknown feature {item!r} (known: {', '.join(FEATURES)})"
            )
    return result


def _qualified(names: Iterable[str]) -> frozenset[str]:
    return frozenset(f"{IMPORT_MODULE}.{name}" for name in names)


PRESETS: dict[str, SecurityPolicy] = {
    "strict": SecurityPolicy(
        name="strict",
        allowed_imports=_qualified(_STRICT_IMPORTS),
        allows_wasi=False,
        max_imports=8,
        max_memory_pages=256,
        max_table_elements=1_000,
        max_module_bytes=2 * 2**20,
        features=frozenset({"bulk_memory"}),
    ),
    "default": SecurityPolicy(
        name="default",
        allowed_imports=_qualified(_DEFAULT_IMPORTS),
        allows_wasi=False,
        max_imports=16,
        max_memory_pages=1_024,
        max_table_elements=10_000,
        max_module_bytes=8 * 2**20,
        features=frozenset({"bulk_memory", "reference_types"}),
    ),
    "relaxed": SecurityPolicy(
        name="relaxed",
        allowed_imports=_qualified(_DEFAULT_IMPORTS),
        allows_wasi=True,
        max_imports=64,
        max_memory_pages=4_096,
        max_table_elements=100_000,
        max_module_bytes=32 * 2**20,
        features=frozenset({"bulk_memory", "reference_types", "simd", "multi_memory"}),
    ),
}
