"""Deployments by request: deploy, rollback, and the version history.

Each request is checked here and handed to ``caxton.deploy`` (which decides)
and the router (which carries out). A ``deploy`` with ``wait`` is answered once
the new version serves (or failed and was rolled back); without, at once with
the deployment's record, which ``deployment`` shows as it moves on. A
``rollback`` is answered once the previous version serves.
"""

from __future__ import annotations

import math
from typing import Any

from caxton.deploy.model import parse_strategy
from caxton.deploy.plan import canary_plan, shadow_plan
from caxton.errors import InvalidRequest
from caxton.node.context import DEFERRED, Handler, NodeContext
from caxton.node.records import Waiter
from caxton.protocol import quote
from caxton.wasm import ModuleLoadError, module_bytes

#: the longest a previous version may be kept for a fast rollback (a week)
MAX_KEEP_PREVIOUS = 7 * 86_400.0
#: the longest warm-up a deployment may ask for (an hour)
MAX_WARM_UP = 3_600.0
#: the most instances one batch of a rolling deployment may switch
MAX_BATCH = 1_024
#: characters of a version label
MAX_VERSION_CHARS = 128


def _seconds(arguments: dict[str, Any], name: str, default: float | None,
             maximum: float) -> float | None:
    value = arguments.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0 <= value <= maximum:
        raise InvalidRequest(f"{name} must be a number of seconds from 0 to {maximum:g}, "
                             f"not {quote(value)}", field=name)
    return float(value)


def deploy(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    rec = ctx.agents.lookup(arguments)
    source = arguments.get("module")
    if not isinstance(source, bytes):
        raise InvalidRequest("module must be bytes (wasm binary or WAT text)", field="module")
    try:
        wasm = module_bytes(source)
    except ModuleLoadError as exc:
        raise InvalidRequest(f"module: {exc}", field="module") from None
    strategy = parse_strategy(arguments.get("strategy", "immediate"))
    version = arguments.get("version")
    if version is not None and (not isinstance(version, str) or not version.strip()
                                or len(version) > MAX_VERSION_CHARS):
        raise InvalidRequest(f"version must be a label of 1-{MAX_VERSION_CHARS} characters, "
                             f"not {quote(version)}", field="version")
    batch_size = arguments.get("batch_size", 1)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) \
            or not 1 <= batch_size <= MAX_BATCH:
        raise InvalidRequest(f"batch_size must be a whole number from 1 to {MAX_BATCH}, "
                             f"not {quote(batch_size)}", field="batch_size")
    warm_up = _seconds(arguments, "warm_up", None, MAX_WARM_UP)
    keep_previous = _seconds(arguments, "keep_previous", 300.0, MAX_KEEP_PREVIOUS)
    wait = arguments.get("wait", True)
    if not isinstance(wait, bool):
        raise InvalidRequest("wait must be true or false", field="wait")
    plan = canary_plan(arguments) if strategy == "canary" else \
        shadow_plan(arguments) if strategy == "shadow" else None
    dep = ctx.deploys.deploy(
        rec, wasm, version=version.strip() if isinstance(version, str) else None,
        strategy=strategy, batch_size=batch_size, warm_up=warm_up,
        keep_previous=300.0 if keep_previous is None else keep_previous,
        vectors=arguments.get("vectors"), waiter=waiter if wait else None, canary=plan)
    return DEFERRED if wait else dep.to_dict()


def promote(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    to_full = arguments.get("to_full", False)
    if not isinstance(to_full, bool):
        raise InvalidRequest("to_full must be true or false", field="to_full")
    return ctx.deploys.promote(arguments.get("id"), to_full).to_dict()


def abort(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    ctx.deploys.abort(arguments.get("id"), waiter)
    return DEFERRED


def deployments(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    name = arguments.get("name")
    if not isinstance(name, str):
        raise InvalidRequest("name must be an agent's name", field="name")
    found = ctx.deploys.of_agent(name)
    if not found and name not in ctx.agents:
        ctx.agents.lookup(arguments)  # NoSuchAgent
    return [d.to_dict() for d in found]


def deployment(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    return ctx.deploys.get(arguments.get("id")).to_dict()


def rollback(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    target = arguments.get("target")
    if isinstance(target, bool) or not isinstance(target, str | int):
        raise InvalidRequest("target must be an agent's name or a deployment id",
                             field="target")
    if isinstance(target, str) and target.isdigit() and target not in ctx.agents:
        target = int(target)  # a deployment id, unless an agent has that name
    ctx.deploys.rollback(target, waiter)
    return DEFERRED


OPERATIONS: dict[str, Handler] = {
    "deploy": deploy,
    "promote": promote,
    "abort": abort,
    "rollback": rollback,
    "deployments": deployments,
    "deployment": deployment,
}
#: of these, the ones that write nothing
READ_ONLY = frozenset({"deployments", "deployment"})
