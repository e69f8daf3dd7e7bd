"""The validation report: stages, findings, and the contract vectors they ran.

Plain data, serializable to JSON and back, so that a report can be stored
with a deployment, sent over the management protocol and printed by the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ContractVector",
    "Finding",
    "Severity",
    "StageReport",
    "StageStatus",
    "ValidationReport",
]

Severity = Literal["info", "warning", "error"]
StageStatus = Literal["passed", "failed", "skipped"]

_SEVERITIES = ("info", "warning", "error")
_STATUSES = ("passed", "failed", "skipped")


def _as_bytes(value: Any, field_name: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ValueError(f"contract vector {field_name} must be bytes or a string")


@dataclass(frozen=True)
class ContractVector:
    """One input and what the module must do with it.

    ``expect_reply`` checks the reply bytes; ``expect_outcome`` checks the
    status (``ok``, ``error``) or, for a failure, its reason (``trap``,
    ``out_of_fuel``...). Giving neither only checks that the call does not
    fail.
    """

    input: bytes
    expect_reply: bytes | None = None
    expect_outcome: str | None = None
    name: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ContractVector:
        """Accepts bytes or UTF-8 strings for ``input`` and ``expect_reply``."""
        if "input" not in d:
            raise ValueError("contract vector needs an 'input'")
        reply = d.get("expect_reply")
        outcome = d.get("expect_outcome")
        if outcome is not None and not isinstance(outcome, str):
            raise ValueError("contract vector expect_outcome must be a string")
        return cls(
            input=_as_bytes(d["input"], "input"),
            expect_reply=None if reply is None else _as_bytes(reply, "expect_reply"),
            expect_outcome=outcome,
            name=str(d.get("name", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "expect_reply": self.expect_reply,
            "expect_outcome": self.expect_outcome,
            "name": self.name,
        }


@dataclass(frozen=True)
class Finding:
    """Something a stage noticed, phrased for the person deploying the module."""

    severity: Severity
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"severity": self.severity, "message": self.message}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        severity = d.get("severity")
        if severity not in _SEVERITIES:
            raise ValueError(f"finding severity must be one of {_SEVERITIES}, not {severity!r}")
        return cls(severity, str(d.get("message", "")))


@dataclass
class StageReport:
    """One stage of the pipeline: its verdict, how long it took, what it found."""

    name: str
    status: StageStatus = "passed"
    duration_s: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def info(self, message: str) -> None:
        self.findings.append(Finding("info", message))

    def warning(self, message: str) -> None:
        self.findings.append(Finding("warning", message))

    def error(self, message: str) -> None:
        """Record an error; a stage with an error has failed."""
        self.findings.append(Finding("error", message))
        self.status = "failed"

    @property
    def errors(self) -> list[str]:
        return [f.message for f in self.findings if f.severity == "error"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "passed": self.passed,
            "duration_s": round(self.duration_s, 6),
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StageReport:
        status = d.get("status")
        if status not in _STATUSES:
            raise ValueError(f"stage status must be one of {_STATUSES}, not {status!r}")
        return cls(
            name=str(d["name"]),
            status=status,
            duration_s=float(d.get("duration_s", 0.0)),
            findings=[Finding.from_dict(f) for f in d.get("findings", [])],
        )


@dataclass
class ValidationReport:
    """The verdict on a module: passed only if every stage passed."""

    module_sha256: str
    policy: str
    stages: list[StageReport] = field(default_factory=list)
    size_bytes: int = 0
    duration_s: float = 0.0
    profile: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.stages) and all(stage.passed for stage in self.stages)

    @property
    def errors(self) -> list[str]:
        return [message for stage in self.stages for message in stage.errors]

    def stage(self, name: str) -> StageReport:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "module_sha256": self.module_sha256,
            "policy": self.policy,
            "size_bytes": self.size_bytes,
            "duration_s": round(self.duration_s, 6),
            "stages": [stage.to_dict() for stage in self.stages],
            "profile": self.profile,
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ValidationReport:
        return cls(
            module_sha256=str(d.get("module_sha256", "")),
            policy=str(d.get("policy", "")),
            stages=[StageReport.from_dict(s) for s in d.get("stages", [])],
            size_bytes=int(d.get("size_bytes", 0)),
            duration_s=float(d.get("duration_s", 0.0)),
            profile=dict(d.get("profile", {})),
        )

    @classmethod
    def from_json(cls, text: str) -> ValidationReport:
        return cls.from_dict(json.loads(text))
