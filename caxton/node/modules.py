"""The node's modules: validated once, written where agent processes read them, compiled once.

A module reaches an agent process only through here. ``validate`` runs the
validation pipeline (remembering each verdict, so a respawn of the same module
with the same limits costs nothing); ``install`` writes the module file and
fills the compiled-artifact cache, so an agent process only deserializes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from caxton.errors import InvalidRequest, ValidationFailed
from caxton.node.spec import AgentSpec
from caxton.wasm import (
    ContractVector,
    Limits,
    ModuleCache,
    SecurityPolicy,
    ValidationReport,
    load_module,
    validate,
)


class Modules:
    """The module folder and the compiled-artifact cache of one node.

    Promises that a module an agent runs has passed validation under that
    agent's policy and limits, and that its compiled artifact is in the cache
    before any agent process asks for it.
    """

    def __init__(self, directory: Path, cache: ModuleCache) -> None:
        self.directory = directory
        self.directory.mkdir(mode=0o700, exist_ok=True)
        self.cache = cache
        self._validated: dict[tuple[Any, ...], ValidationReport] = {}
        self._installed: set[tuple[str, str]] = set()

    def path(self, sha256: str) -> Path:
        return self.directory / f"{sha256}.wasm"

    def validate(self, spec: AgentSpec, wasm: bytes, raw_vectors: Any) -> None:
        """Raise ``ValidationFailed`` (with the report) unless the module passes."""
        vectors = parse_vectors(raw_vectors)
        key = (spec.module_sha256, spec.security, tuple(sorted(spec.limits.items())),
               tuple(vectors))
        report = self._validated.get(key)
        if report is None:
            report = validate(wasm, policy=spec.security, limits=Limits.from_dict(spec.limits),
                              vectors=vectors)
            self._validated[key] = report
        if not report.passed:
            reasons = [f.message for s in report.stages for f in s.findings
                       if s.status == "failed" and f.severity == "error"]
            raise ValidationFailed(
                "module failed validation: " + ("; ".join(reasons) or "see report"),
                report=report.to_dict())

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
