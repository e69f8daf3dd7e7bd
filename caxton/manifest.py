"""An agents manifest (``agents.yaml``): what ``caxton apply -f`` makes a node run.

The shape follows ADR-0008's deployment block, under a list of agents::

    agents:
      - name: counter
        module: counter.wasm          # relative to the manifest
        version: "1.2.0"              # optional label of the version
        instances: 3
        limits: {memory_bytes: 16777216, fuel: 100000000, deadline_ms: 500}
        restart: permanent            # permanent | transient | temporary
        policy: backoff               # or a map: {kind: backoff, initial: 0.1, ...}
        deployment:
          strategy: blue-green        # immediate | rolling | blue-green
          batch_size: 1               # rolling only
          stages:
            - validate: 30s
            - warm_up: 60s
            - switch: instant
            - cleanup: 300s

Everything is checked here, before the node is asked anything; a bad manifest
is refused with one line naming the agent and the field (``ManifestError``).
``docs/deployments.md`` (Manifests) says what each field does.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from caxton.errors import CaxtonError

#: the top-level keys a manifest may have
TOP_KEYS = frozenset({"apiVersion", "kind", "agents"})
AGENT_KEYS = frozenset({"name", "module", "version", "instances", "limits", "restart",
                        "policy", "security", "snapshot_every", "mailbox", "health",
                        "deployment"})
DEPLOYMENT_KEYS = frozenset({"strategy", "batch_size", "stages"})
STAGES = ("validate", "warm_up", "switch", "cleanup")
STRATEGIES = {"immediate": "immediate", "rolling": "rolling", "blue-green": "blue_green",
              "blue_green": "blue_green"}
LATER = ("canary", "shadow")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class ManifestError(CaxtonError):
    """A manifest that cannot be applied; the message names the agent and the field."""


@dataclass(frozen=True)
class Deployment:
    """How a changed module goes live: ``Client.deploy``'s options."""

    strategy: str = "immediate"
    batch_size: int = 1
    warm_up: float | None = None
    keep_previous: float = 300.0
    #: ``validate``'s budget, as written (the node's validator has its own limits)
    validate: float | None = None


@dataclass(frozen=True)
class AgentEntry:
    """One agent of the manifest, checked; ``module`` is read and hashed."""

    name: str
    module_path: Path
    wasm: bytes
    sha256: str
    version: str | None = None
    instances: int = 1
    spawn: dict[str, Any] = field(default_factory=dict)
    deployment: Deployment = field(default_factory=Deployment)


def load(path: str | Path) -> list[AgentEntry]:
    """Read and check a manifest file; ``ManifestError`` says what is wrong, in one line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ManifestError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse(data, path)


def parse(data: Any, path: Path) -> list[AgentEntry]:
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a map with 'agents', not {_kind(data)}")
    unknown = sorted(set(data) - TOP_KEYS, key=str)
    if unknown:
        raise ManifestError(f"{path}: unknown key {unknown[0]!r} (expected 'agents')")
    agents = data.get("agents")
    if not isinstance(agents, list) or not agents:
        raise ManifestError(f"{path}: 'agents' must be a non-empty list of agents")
    entries: list[AgentEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(agents):
        entry = _agent(item, f"{path}: agents[{i}]", path.parent)
        if entry.name in seen:
            raise ManifestError(f"{path}: agents[{i}].name: {entry.name!r} is listed twice")
        seen.add(entry.name)
        entries.append(entry)
    return entries


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def _agent(item: Any, where: str, base: Path) -> AgentEntry:
    if not isinstance(item, dict):
        raise ManifestError(f"{where}: expected a map (name, module, ...), not {_kind(item)}")
    unknown = sorted(set(item) - AGENT_KEYS, key=str)
    if unknown:
        raise ManifestError(f"{where}: unknown field {unknown[0]!r}")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{where}.name: required, a string")
    where = f"{where} ({name}):"
    module = item.get("module")
    if not isinstance(module, str) or not module:
        raise ManifestError(f"{where} module: required, the path of a .wasm or .wat file")
    module_path = (base / module).resolve()
    try:
        source = module_path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{where} module: cannot read {module}: "
                            f"{exc.strerror or exc}") from None
    from caxton.wasm import ModuleLoadError, module_bytes

    try:
        wasm = module_bytes(source)
    except ModuleLoadError as exc:
        raise ManifestError(f"{where} module: {module}: {exc}") from None
    version = item.get("version")
    if version is not None and (not isinstance(version, str | int | float) or
                                isinstance(version, bool) or not str(version).strip()):
        raise ManifestError(f"{where} version: a label such as \"1.2.0\"")
    instances = item.get("instances", 1)
    if isinstance(instances, bool) or not isinstance(instances, int) or instances < 1:
        raise ManifestError(f"{where} instances: a whole number of at least 1, "
                            f"not {instances!r}")
    spawn: dict[str, Any] = {}
    for key in ("limits", "snapshot_every", "health"):
        if key in item:
            if not isinstance(item[key], dict):
                raise ManifestError(f"{where} {key}: a map, not {_kind(item[key])}")
            spawn[key] = item[key]
    for key in ("restart", "security"):
        if key in item:
            if not isinstance(item[key], str):
                raise ManifestError(f"{where} {key}: a string, not {_kind(item[key])}")
            spawn[key] = item[key]
    if "policy" in item:
        if not isinstance(item["policy"], str | dict):
            raise ManifestError(f"{where} policy: a name or a map, not {_kind(item['policy'])}")
        spawn["policy"] = item["policy"]
    if "mailbox" in item:
        if isinstance(item["mailbox"], bool) or not isinstance(item["mailbox"], int):
            raise ManifestError(f"{where} mailbox: a whole number of messages")
        spawn["mailbox"] = item["mailbox"]
    return AgentEntry(name=name, module_path=module_path, wasm=wasm,
                      sha256=hashlib.sha256(wasm).hexdigest(),
                      version=None if version is None else str(version).strip(),
                      instances=instances, spawn=spawn,
                      deployment=_deployment(item.get("deployment"), where))


def _deployment(value: Any, where: str) -> Deployment:
    if value is None:
        return Deployment()
    if not isinstance(value, dict):
        raise ManifestError(f"{where} deployment: a map (strategy, stages), not {_kind(value)}")
    unknown = sorted(set(value) - DEPLOYMENT_KEYS, key=str)
    if unknown:
        raise ManifestError(f"{where} deployment: unknown field {unknown[0]!r}")
    raw = value.get("strategy", "immediate")
    if not isinstance(raw, str) or raw.strip().lower() not in STRATEGIES:
        later = isinstance(raw, str) and raw.strip().lower() in LATER
        why = (" (not in manifests yet: use `caxton deploy --strategy canary|shadow`)"
               if later else "")
        raise ManifestError(f"{where} deployment.strategy: {raw!r}{why}; use immediate, "
                            "rolling or blue-green")
    strategy = STRATEGIES[raw.strip().lower()]
    batch = value.get("batch_size", 1)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ManifestError(f"{where} deployment.batch_size: a whole number of at least 1")
    stages: dict[str, Any] = {}
    raw_stages = value.get("stages", [])
    if not isinstance(raw_stages, list):
        raise ManifestError(f"{where} deployment.stages: a list such as [validate: 30s, ...]")
    for i, stage in enumerate(raw_stages):
        if not isinstance(stage, dict) or len(stage) != 1:
            raise ManifestError(f"{where} deployment.stages[{i}]: one 'name: duration' each")
        (name, duration), = stage.items()
        if name not in STAGES:
            raise ManifestError(f"{where} deployment.stages[{i}]: unknown stage {name!r} "
                                f"(known: {', '.join(STAGES)})")
        if name == "switch":
            if duration != "instant":
                raise ManifestError(f"{where} deployment.stages[{i}]: switch is 'instant'")
            continue
        stages[name] = _seconds(duration, f"{where} deployment.stages[{i}].{name}")
    return Deployment(strategy=strategy, batch_size=batch, warm_up=stages.get("warm_up"),
                      keep_previous=stages.get("cleanup", 300.0),
                      validate=stages.get("validate"))


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ManifestError(f"{where}: a duration such as 30s, 500ms or 5m, not {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]
