"""An agent's lifecycle by request: spawn, stop, restart, remove, snapshot.

A spawn is answered once its module passed validation (in the validator
process, while the loop goes on) and its first instance serves; a stop once the agent has
drained (or its drain timed out); a snapshot once the instance has taken it.
Until then the handler returns ``DEFERRED`` and the agents room answers.
"""

from __future__ import annotations

import hashlib
from typing import Any

from caxton.errors import (
    AgentExists,
    AgentNotRunning,
    CaxtonError,
    InvalidRequest,
    ResourceExhausted,
)
from caxton.node.context import DEFERRED, Handler, NodeContext
from caxton.node.instances import instances_of
from caxton.node.lifecycle import State
from caxton.node.records import Waiter
from caxton.node.spec import AgentSpec, check_name, parse_spawn
from caxton.node.status import agent_status
from caxton.protocol import check_timeout
from caxton.wasm import Limits, ModuleLoadError, module_bytes
from supervisor import SpecError


def spawn(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    name = check_name(arguments.get("name"))
    if name in ctx.agents:
        raise AgentExists(f"an agent named {name!r} already exists", name=name)
    source = arguments.get("module")
    if not isinstance(source, bytes):
        raise InvalidRequest("module must be bytes (wasm binary or WAT text)", field="module")
    try:
        wasm = module_bytes(source)
    except ModuleLoadError as exc:
        raise InvalidRequest(f"module: {exc}", field="module") from None
    sha256 = hashlib.sha256(wasm).hexdigest()
    spec = parse_spawn(arguments, sha256, Limits().to_dict(), ctx.config.maximums)
    try:
        Limits.from_dict(spec.limits)
    except ValueError as exc:
        raise InvalidRequest(f"limits: {exc}", field="limits") from None
    # before the validator spends anything on it; checked again at the start
    ctx.agents.budget.check(spec, ctx.agents.running_specs())

    def validated(failure: CaxtonError | None) -> None:
        # the loop went on while the validator worked: the name was held meanwhile
        ctx.agents.release(name)
        if failure is None:
            try:
                _load_and_start(ctx, waiter, spec, wasm)
            except CaxtonError as exc:
                failure = exc
        if failure is not None:
            ctx.outbox.error(waiter, failure)
        ctx.agents.changed()

    ctx.agents.reserve(name)
    try:
        ctx.modules.validate(spec, wasm, arguments.get("vectors"), validated)
    except BaseException:
        ctx.agents.release(name)
        raise
    return DEFERRED


def _load_and_start(ctx: NodeContext, waiter: Waiter, spec: AgentSpec, wasm: bytes) -> None:
    """A validated module: stored, compiled, and its agent's first instance started."""
    ctx.store.put_module(spec.module_sha256, wasm)
    ctx.modules.install(spec.module_sha256, wasm, spec.security)
    rec = ctx.agents.add(spec)
    rec.spawn_waiters.append(waiter)
    rec.lifecycle.to(State.LOADED, "validated and compiled")
    ctx.store.save_agent(spec.name, spec.to_dict(), State.LOADED)
    ctx.deploys.record_spawn(rec)
    try:
        ctx.agents.start(rec)
    except SpecError as exc:  # parse_spawn mirrors these rules; this is the backstop
        rec.spawn_waiters.clear()
        ctx.agents.forget(rec)
        raise InvalidRequest(str(exc)) from None
    except ResourceExhausted:
        rec.spawn_waiters.clear()
        ctx.agents.forget(rec)
        raise


def stop(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    rec = ctx.agents.lookup(arguments)
    timeout = check_timeout(arguments.get("timeout", 30.0))
    state = rec.lifecycle.state
    if state is State.STOPPED:
        return agent_status(rec)
    if state in (State.RUNNING, State.DRAINING):
        rec.stop_waiters.append(waiter)
        if state is State.RUNNING:
            for inst in instances_of(rec)[1:]:  # each instance drains; the agent stops last
                if inst.lifecycle.state is State.RUNNING:
                    ctx.agents.begin_drain(inst, float(timeout), persist=True)
            ctx.agents.begin_drain(rec, float(timeout), persist=True)
        return DEFERRED
    ctx.agents.halt(rec)
    rec.lifecycle.to(State.STOPPED, "stopped by request")
    return agent_status(rec)


def restart(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    rec = ctx.agents.lookup(arguments)
    if rec.lifecycle.state not in (State.STOPPED, State.FAILED):
        state = str(rec.lifecycle.state)
        raise InvalidRequest(f"agent {rec.name!r} is {state}; only a stopped or failed"
                             " agent can be restarted", state=state)
    ctx.agents.restart(rec, waiter)
    return DEFERRED


def remove(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    rec = ctx.agents.lookup(arguments)
    ctx.deploys.forget(rec.name)
    ctx.agents.remove(rec)
    return None


def snapshot(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    rec = ctx.agents.lookup(arguments)
    if not rec.serving:
        raise AgentNotRunning(f"agent {rec.name!r} has no instance serving now",
                              state=str(rec.lifecycle.state))
    rec.snapshot_waiters.append(waiter)
    ctx.router.request_snapshot(rec)
    return DEFERRED


OPERATIONS: dict[str, Handler] = {
    "spawn": spawn,
    "stop": stop,
    "restart": restart,
    "remove": remove,
    "snapshot": snapshot,
}
