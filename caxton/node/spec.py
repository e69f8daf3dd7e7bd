"""An agent's deployment spec: what ``spawn`` asked for, checked in one place.

Kept as plain data (msgpack-able maps) so the store can persist it and a node
restarted on the same data folder rebuilds every agent exactly as spawned.
Every field is checked here and a bad one is refused with its name, the way
OTP checks a child spec before it starts anything.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from caxton.errors import InvalidRequest

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
RESTART_TYPES = ("permanent", "transient", "temporary")
POLICY_KINDS = ("immediate", "backoff", "manual", "never")
SECURITY_PRESETS = ("strict", "default", "relaxed")
LIMIT_FIELDS = (
    "memory_bytes",
    "table_elements",
    "fuel",
    "deadline_ms",
    "max_message_bytes",
    "max_reply_bytes",
)


@dataclass(frozen=True)
class AgentSpec:
    """What a spawn asked for, checked: persisted as is, so a restarted node rebuilds it."""

    name: str
    module_sha256: str
    init: bytes = b""
    restart: str = "permanent"
    policy: dict[str, Any] = field(default_factory=lambda: {"kind": "immediate"})
    limits: dict[str, int] = field(default_factory=dict)
    health: dict[str, float] | None = field(
        default_factory=lambda: {"interval": 1.0, "timeout": 1.0, "misses": 3}
    )
    snapshot_every: dict[str, float] = field(
        default_factory=lambda: {"messages": 1000, "seconds": 30.0}
    )
    security: str = "default"
    mailbox: int = 10_000
    max_attempts: int = 3
    intensity: dict[str, float] = field(default_factory=lambda: {"intensity": 20, "period": 10.0})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentSpec:
        return cls(**data)

    @property
    def policy_kind(self) -> str:
        return str(self.policy["kind"])


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidRequest(
            f"agent name {name!r} is invalid: use 1-128 letters, digits, '.', '_', ':' or '-',"
            " starting with a letter or digit",
            field="name",
        )
    return name


def _number(value: Any, field_name: str, *, minimum: float, integer: bool = False) -> float:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or value < minimum:
        kind = "an integer" if integer else "a number"
        raise InvalidRequest(f"{field_name} must be {kind} >= {minimum}", field=field_name)
    return value  # type: ignore[no-any-return]


def parse_policy(value: Any) -> dict[str, Any]:
    """``"immediate"`` or ``{"kind": "backoff", "initial": .., "factor": .., ...}``."""
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, dict) or value.get("kind") not in POLICY_KINDS:
        raise InvalidRequest(
            f"policy must be one of {', '.join(POLICY_KINDS)} (or a map with 'kind')",
            field="policy",
        )
    policy: dict[str, Any] = {"kind": value["kind"]}
    if value["kind"] == "backoff":
        defaults = {"initial": 0.1, "factor": 2.0, "maximum": 30.0, "jitter": 0.1}
        for key, default in defaults.items():
            policy[key] = float(_number(value.get(key, default), f"policy.{key}", minimum=0))
        if policy["factor"] < 1:
            raise InvalidRequest("policy.factor must be >= 1", field="policy.factor")
    unknown = set(value) - {"kind", "initial", "factor", "maximum", "jitter"}
    if unknown:
        raise InvalidRequest(f"policy has unknown fields: {sorted(unknown)}", field="policy")
    return policy


def parse_health(value: Any) -> dict[str, float] | None:
    if value is None or value is False or value == "off":
        return None
    if not isinstance(value, dict):
        raise InvalidRequest("health must be a map {interval, timeout, misses} or 'off'",
                             field="health")
    health = {"interval": 1.0, "timeout": 1.0, "misses": 3}
    for key in value:
        if key not in health:
            raise InvalidRequest(f"health has an unknown field {key!r}", field=f"health.{key}")
    health["interval"] = _number(value.get("interval", 1.0), "health.interval", minimum=0.01)
    health["timeout"] = _number(value.get("timeout", 1.0), "health.timeout", minimum=0.01)
    health["misses"] = _number(value.get("misses", 3), "health.misses", minimum=1, integer=True)
    if health["timeout"] > health["interval"]:
        raise InvalidRequest("health.timeout must be <= health.interval (one ping in flight)",
                             field="health.timeout")
    return health


def parse_snapshot_every(value: Any) -> dict[str, float]:
    """An int means "every N messages"; a map may give messages and/or seconds (0 = off)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"messages": value}
    if not isinstance(value, dict):
        raise InvalidRequest("snapshot_every must be a message count or {messages, seconds}",
                             field="snapshot_every")
    result = {"messages": 1000, "seconds": 30.0}
    for key in value:
        if key not in result:
            raise InvalidRequest(f"snapshot_every has an unknown field {key!r}",
                                 field=f"snapshot_every.{key}")
    result["messages"] = _number(value.get("messages", 1000), "snapshot_every.messages",
                                 minimum=0, integer=True)
    result["seconds"] = _number(value.get("seconds", 30.0), "snapshot_every.seconds", minimum=0)
    return result


def parse_limits(value: Any, defaults: dict[str, int]) -> dict[str, int]:
    if value is None:
        return dict(defaults)
    if not isinstance(value, dict):
        raise InvalidRequest("limits must be a map", field="limits")
    limits = dict(defaults)
    for key, amount in value.items():
        if key not in LIMIT_FIELDS:
            raise InvalidRequest(
                f"limits has an unknown field {key!r} (known: {', '.join(LIMIT_FIELDS)})",
                field=f"limits.{key}",
            )
        limits[key] = int(_number(amount, f"limits.{key}", minimum=1, integer=True))
    return limits


def parse_intensity(value: Any) -> dict[str, float]:
    if value is None:
        return {"intensity": 20, "period": 10.0}
    if not isinstance(value, dict):
        raise InvalidRequest("intensity must be a map {intensity, period}", field="intensity")
    return {
        "intensity": _number(value.get("intensity", 20), "intensity.intensity", minimum=0,
                             integer=True),
        "period": _number(value.get("period", 10.0), "intensity.period", minimum=0.001),
    }


def parse_spawn(arguments: dict[str, Any], module_sha256: str,
                default_limits: dict[str, int]) -> AgentSpec:
    """Build a spec from a spawn request's arguments, refusing any bad field by name."""
    restart = arguments.get("restart", "permanent")
    if restart not in RESTART_TYPES:
        raise InvalidRequest(f"restart must be one of {', '.join(RESTART_TYPES)}",
                             field="restart")
    security = arguments.get("security", "default")
    if security not in SECURITY_PRESETS:
        raise InvalidRequest(f"security must be one of {', '.join(SECURITY_PRESETS)}",
                             field="security")
    init = arguments.get("init", b"")
    if not isinstance(init, bytes):
        raise InvalidRequest("init must be bytes", field="init")
    return AgentSpec(
        name=check_name(arguments.get("name")),
        module_sha256=module_sha256,
        init=init,
        restart=restart,
        policy=parse_policy(arguments.get("policy", "immediate")),
        limits=parse_limits(arguments.get("limits"), default_limits),
        health=parse_health(arguments.get("health", {})),
        snapshot_every=parse_snapshot_every(arguments.get("snapshot_every", {})),
        security=security,
        mailbox=int(_number(arguments.get("mailbox", 10_000), "mailbox", minimum=1,
                            integer=True)),
        max_attempts=int(_number(arguments.get("max_attempts", 3), "max_attempts", minimum=1,
                                 integer=True)),
        intensity=parse_intensity(arguments.get("intensity")),
    )
