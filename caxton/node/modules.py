"""The node's modules: validated once, written where agent processes read them, compiled once.

A module reaches an agent process only through here. ``validate`` has the
validation pipeline run in the validator process, off the node's loop
(remembering each verdict, so a respawn of the same module with the same
limits costs nothing); ``install`` writes the module file and fills the
compiled-artifact cache, so an agent process only deserializes.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from caxton.errors import InvalidRequest, ValidationFailed
from caxton.node.spec import AgentSpec
from caxton.node.validation import Validator
from caxton.observe.hooks import NULL_HOOKS, Hooks
from caxton.wasm import (
    ContractVector,
    Limits,
    ModuleCache,
    SecurityPolicy,
    ValidationReport,
    load_module,
)

#: validation verdicts remembered (least recently used dropped first)
VERDICTS_KEPT = 1024


class Modules:
    """The module folder and the compiled-artifact cache of one node.

    Promises that a module an agent runs has passed validation under that
    agent's policy and limits, and that its compiled artifact is in the cache
    before any agent process asks for it.
    """

    observe: Hooks = NULL_HOOKS  # validation outcomes: logs, traces (caxton.observe)

    def __init__(self, directory: Path, cache: ModuleCache, validator: Validator) -> None:
        self.directory = directory
        self.directory.mkdir(mode=0o700, exist_ok=True)
        self.cache = cache
        self.validator = validator
        # verdicts by module, policy, limits and vectors; bounded, as every
        # distinct module a client sends would otherwise stay here for good
        self._validated: OrderedDict[tuple[Any, ...], ValidationReport] = OrderedDict()
        self._installed: set[tuple[str, str]] = set()

    def path(self, sha256: str) -> Path:
        return self.directory / f"{sha256}.wasm"

    def validate(self, spec: AgentSpec, wasm: bytes, raw_vectors: Any,
                 done: Callable[[ValidationFailed | None], None]) -> None:
        """Validate off the loop; ``done(None)`` if the module passed, else with the error.

        A remembered verdict calls ``done`` at once; malformed vectors raise
        ``InvalidRequest`` before anything is queued.
        """
        vectors = parse_vectors(raw_vectors)
        key = _key(spec, vectors)
        report = self._validated.get(key)
        if report is not None:
            self._validated.move_to_end(key)
            done(_verdict(report))
            return

        def finished(outcome: ValidationReport | str) -> None:
            self.observe.validated(spec.name, outcome)
            if isinstance(outcome, str):
                done(ValidationFailed(f"module failed validation: {outcome}"))
                return
            self._validated[key] = outcome
            if len(self._validated) > VERDICTS_KEPT:
                self._validated.popitem(last=False)
            done(_verdict(outcome))

        self.validator.submit(wasm, spec.security, Limits.from_dict(spec.limits), vectors,
                              finished)

    def report_for(self, spec: AgentSpec, raw_vectors: Any = None) -> dict[str, Any] | None:
        """The validation report ``validate`` gave this module under ``spec`` (a deployment's
        version history keeps it), while the verdict is remembered."""
        report = self._validated.get(_key(spec, parse_vectors(raw_vectors)))
        return None if report is None else report.to_dict()

    def install(self, sha256: str, wasm: bytes, security: str) -> Path:
        """Write the module where agent processes read it, and fill the compile cache.

        Done once per module and policy in the life of the node.
        """
        path = self.path(sha256)
        if (sha256, security) in self._installed:
            return path
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            # 0600: a module is the node's alone (docs/security.md)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)  # a stale .tmp keeps its old mode
                handle.write(wasm)
            tmp.replace(path)
        load_module(path, cache=self.cache, policy=SecurityPolicy.preset(security))
        self._installed.add((sha256, security))
        return path


def _key(spec: AgentSpec, vectors: list[ContractVector]) -> tuple[Any, ...]:
    return (spec.module_sha256, spec.security, tuple(sorted(spec.limits.items())),
            tuple(vectors))


def _verdict(report: ValidationReport) -> ValidationFailed | None:
    if report.passed:
        return None
    reasons = [f.message for s in report.stages for f in s.findings
               if s.status == "failed" and f.severity == "error"]
    return ValidationFailed("module failed validation: " + ("; ".join(reasons) or "see report"),
                            report=report.to_dict())


def parse_vectors(raw: Any) -> list[ContractVector]:
    """A spawn request's contract vectors, checked field by field."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidRequest("vectors must be a list", field="vectors")
    vectors = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("input"), bytes):
            raise InvalidRequest(f"vectors[{i}] needs an 'input' of bytes", field="vectors")
        vectors.append(ContractVector(input=item["input"], expect_reply=item.get("expect_reply"),
                                      expect_outcome=item.get("expect_outcome"),
                                      name=str(item.get("name", f"vector {i}"))))
    return vectors
