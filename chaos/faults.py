"""The fault injectors: one small class per fault, each doing one thing to the system.

An injector's ``inject`` does the damage at once (a signal, a message, a crash)
and returns a follow-up that the runner starts in its own thread: it waits for
the system to serve again (the recovery time) and checks the fault was
contained. Injectors are composed by the schedule, not by each other, so any
scenario can use any of them.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import caxton
from chaos import ledger, probes
from chaos.node import ManagedNode, NodeHandle
from chaos.scenarios import (
    DEPLOY,
    FLOOD,
    FUEL_BOMB,
    HANG,
    KILL,
    MEMORY_BOMB,
    NODE_CRASH,
    OVERSIZED,
    POISON,
    ROLLBACK,
)
from chaos.schedule import PlannedFault
from chaos.workload import FLOOD_MAILBOX, MAX_ATTEMPTS, MAX_MESSAGE_BYTES, AgentSet

if TYPE_CHECKING:
    from chaos.cluster import ClusterTarget

FollowUp = Callable[[], None]

#: How a dead-lettered message's reasons must start, per message fault.
EXPECTED_REASONS: dict[str, tuple[str, ...]] = {
    POISON: ("trap",),
    FUEL_BOMB: ("out_of_fuel", "timeout"),
    MEMORY_BOMB: ("memory_limit",),
}
BOMB_PAYLOADS = {POISON: ledger.POISON, FUEL_BOMB: ledger.FUEL, MEMORY_BOMB: ledger.MEMORY}
FLOOD_CHUNK = 16
FLOOD_MAX_MESSAGES = FLOOD_MAILBOX * 20


class Skipped(Exception):
    """The fault could not be injected (its target was never there to hit)."""


@dataclass
class FaultRecord:
    """What happened to one planned fault; the checker reads these."""

    planned: PlannedFault
    target: str | None
    status: str = "pending"          # injected | skipped
    injected_at: float | None = None
    recovered_at: float | None = None
    finished_at: float | None = None
    problems: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    restarts_before: dict[str, int] | None = None
    restarts_after: dict[str, int] | None = None

    @property
    def recovery_s(self) -> float | None:
        if self.injected_at is None or self.recovered_at is None:
            return None
        return self.recovered_at - self.injected_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.planned.kind,
            "target": self.target,
            "planned_offset": self.planned.offset,
            "hold_s": self.planned.hold_s,
            "status": self.status,
            "injected_offset": _round(self.injected_at),
            "recovered_offset": _round(self.recovered_at),
            "recovery_s": _round(self.recovery_s),
            "contained": not self.problems,
            "problems": self.problems,
            "info": self.info,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass
class FaultContext:
    """What every injector may use: the node, the agents, the run clock, the abort flag."""

    address: str
    node: NodeHandle | ClusterTarget
    agents: AgentSet
    clock: Callable[[], float]
    stop: threading.Event

    def client(self) -> caxton.Client:
        return caxton.connect(self.address, timeout=probes.PROBE_TIMEOUT_S)

    def recover(self, record: FaultRecord, name: str, *, not_pid: int | None = None) -> None:
        """Wait for ``name`` to serve again and record when (or that it did not)."""
        result = probes.await_serving(self.address, name, self.agents.kind_of(name),
                                      self.clock, self.stop, not_pid=not_pid)
        if result is None:
            if not self.stop.is_set():
                record.problems.append(
                    f"{name} did not serve again within {probes.RECOVERY_DEADLINE_S:g}s")
            return
        record.recovered_at, pid = result
        record.info["serving_pid"] = pid


class Injector:
    kind: str

    def inject(self, ctx: FaultContext, record: FaultRecord) -> FollowUp | None:
        raise NotImplementedError


def _target_pid(ctx: FaultContext, name: str) -> int:
    pid = probes.serving_pid(ctx.address, name, ctx.stop)
    if pid is None:
        raise Skipped(f"{name} had no serving instance to hit")
    return pid


class KillAgent(Injector):
    """SIGKILL the agent's process: the supervisor must replace it, losing nothing."""

    kind = KILL

    def inject(self, ctx: FaultContext, record: FaultRecord) -> FollowUp:
        name = _named(record)
        pid = _target_pid(ctx, name)
        if not probes.signal_quietly(pid, signal.SIGKILL):
            raise Skipped(f"{name}'s process {pid} exited before the kill")
        record.injected_at = ctx.clock()
        record.info["pid"] = pid
        return lambda: ctx.recover(record, name, not_pid=pid)


class HangAgent(Injector):
    """SIGSTOP the agent's process and SIGCONT it ``hold_s`` later.

    A hang longer than the health check's patience gets the instance replaced;
    a shorter one just delays it. Either way the agent must serve again.
    """

    kind = HANG

    def inject(self, ctx: FaultContext, record: FaultRecord) -> FollowUp:
        name = _named(record)
        pid = _target_pid(ctx, name)
        if not probes.signal_quietly(pid, signal.SIGSTOP):
            raise Skipped(f"{name}'s process {pid} exited before the stop")
        record.injected_at = ctx.clock()
        record.info["pid"] = pid
        hold = record.planned.hold_s or 0.0

        def follow_up() -> None:
            def release() -> None:
                ctx.stop.wait(hold)  # the abort flag cuts a hang short, never leaves it
                record.info["continued"] = probes.signal_quietly(pid, signal.SIGCONT)

            releaser = threading.Thread(target=release, name="chaos-sigcont", daemon=True)
            releaser.start()
            ctx.recover(record, name)
            releaser.join()
            record.info["replaced"] = record.info.get("serving_pid") not in (None, pid)

        return follow_up


class MessageBomb(Injector):
    """Send a ledger a message that kills its instance (trap, fuel, memory).

    Contained means: the message is dead-lettered after ``MAX_ATTEMPTS``
    deaths, every reason names the expected failure, the agent serves again,
    and agents the fault did not touch kept their instances.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def inject(self, ctx: FaultContext, record: FaultRecord) -> FollowUp:
        name = _named(record)
        record.restarts_before = probes.restarts_by_agent(ctx.address)
        with ctx.client() as client:
            try:
                message_id = client.send(name, BOMB_PAYLOADS[self.kind])
            except caxton.CaxtonError as exc:
                raise Skipped(f"send to {name} failed: {type(exc).__name__}: {exc}") from None
        record.injected_at = ctx.clock()
        record.info["message_id"] = message_id

        def follow_up() -> None:
            ctx.recover(record, name)
            self._check_dead_letter(ctx, record, name, message_id)
            record.restarts_after = probes.restarts_by_agent(ctx.address)

        return follow_up

    def _check_dead_letter(self, ctx: FaultContext, record: FaultRecord, name: str,
                           message_id: int) -> None:
        try:
            with ctx.client() as client:
                letters = {d.message_id: d for d in client.dead_letters(name)}
        except caxton.CaxtonError as exc:
            record.problems.append(f"dead letters of {name} unreadable: {exc}")
            return
        letter = letters.get(message_id)
        if letter is None:
            record.problems.append(f"message {message_id} was not dead-lettered on {name}")
            return
        record.info["reasons"] = letter.reasons
        if len(letter.reasons) != MAX_ATTEMPTS:
            record.problems.append(f"message {message_id} dead-lettered after "
                                   f"{len(letter.reasons)} failures, not {MAX_ATTEMPTS}")
        expected = EXPECTED_REASONS[self.kind]
        wrong = [r for r in letter.reasons if not r.startswith(expected)]
        if wrong:
            record.problems.append(f"message {message_id} blamed for {wrong[0]!r}, "
                                   f"expected {' or '.join(expected)}")


class OversizedMessage(Injector):
    """Send one byte over the agent's message limit: refused, nothing queued."""

    kind = OVERSIZED

    def inject(self, ctx: FaultContext, record: FaultRecord) -> FollowUp:
        name = _named(record)
        record.restarts_before = probes.restarts_by_agent(ctx.address)
        with ctx.client() as client:
            try:
                message_id = client.send(name, b"\x00" * (MAX_MESSAGE_BYTES + 1))
            except caxton.MessageTooLarge as exc:
                record.info["refused"] = str(exc)
            except caxton.CaxtonError as exc:
                raise Skipped(f"send to {name} failed: {type(exc).__name__}: {exc}") from None
            else:
                record.problems.append(f"an oversized message was accepted as {message_id}")
        record.injected_at = ctx.clock()

        def follow_up() -> None:
            ctx.recover(record, name)
            record.restarts_after = probes.restarts_by_agent(ctx.address)

        return follow_up


class FloodAgent(Injector):
    """Queue slow messages on the flood victim until its mailbox bound refuses one."""

    kind = FLOOD

    def inject(self, ctx: FaultContext, record: FaultRecord) -> FollowUp:
        name = record.target
        assert name is not None
        record.restarts_before = probes.restarts_by_agent(ctx.address)
        record.injected_at = ctx.clock()
        sent = 0
        with ctx.client() as client:
            try:
                while sent < FLOOD_MAX_MESSAGES:
                    client.send_many(name, [ledger.SLOW] * FLOOD_CHUNK, window=FLOOD_CHUNK)
                    sent += FLOOD_CHUNK
            except caxton.MailboxFull as exc:
                record.info["refused_after"] = sent
                record.info["refused"] = str(exc)
                depth = client.status(name).mailbox_depth
                record.info["depth_at_refusal"] = depth
                if depth > FLOOD_MAILBOX:
                    record.problems.append(f"{name} holds {depth} messages, over its "
                                           f"bound of {FLOOD_MAILBOX}")
            except caxton.CaxtonError as exc:
                raise Skipped(f"flood of {name} failed: {type(exc).__name__}: {exc}") from None
            else:
                record.problems.append(f"{sent} messages queued on {name} and none refused "
                                       f"(mailbox bound {FLOOD_MAILBOX})")

        def follow_up() -> None:
            ctx.recover(record, name)
            record.restarts_after = probes.restarts_by_agent(ctx.address)

        return follow_up


class CrashNode(Injector):
    """SIGKILL the node and start it again on the same data folder and address.

    Recovery is the node answering again; the follow-up also times every
    workload agent serving again and checks no agent process outlived the node.
    """

    kind = NODE_CRASH

    def inject(self, ctx: FaultContext, record: FaultRecord) -> FollowUp:
        node = ctx.node
        if not isinstance(node, ManagedNode):
            raise Skipped("the node was not started by the harness")
        try:
            with ctx.client() as client:
                agent_pids = [s.pid for s in client.list_agents() if s.pid is not None]
        except caxton.CaxtonError:
            agent_pids = []
        record.injected_at = ctx.clock()
        record.info["node_pid"] = node.crash()

        def follow_up() -> None:
            record.info["start_attempts"] = node.start()
            record.recovered_at = ctx.clock()
            record.info["new_node_pid"] = node.pid
            orphans = probes.await_gone(agent_pids)
            if orphans:
                record.problems.append(f"agent processes {orphans} outlived the node")
            serving: list[float] = []
            for name in ctx.agents.workload:
                result = probes.await_serving(ctx.address, name, ctx.agents.kind_of(name),
                                              ctx.clock, ctx.stop)
                if result is None:
                    if not ctx.stop.is_set():
                        record.problems.append(f"{name} did not serve again after the crash")
                else:
                    serving.append(result[0])
            if serving and record.injected_at is not None:
                record.info["agents_serving_s"] = round(max(serving) - record.injected_at, 4)

        return follow_up


#: how long a deployment fault waits for its deployment to end (kills slow its warm-up)
DEPLOY_DEADLINE_S = 60.0
#: kept for a rollback this long, so the storm's rollbacks find something to undo
KEEP_PREVIOUS_S = 30.0
STRATEGIES = ("immediate", "rolling", "blue_green")
_versions = itertools.count(1)


def _one_version_live(client: caxton.Client, name: str, record: FaultRecord) -> None:
    """Exactly one version of ``name`` runs, and the agent runs that version's module."""
    deployments = client.deployments(name)
    live = [d for d in deployments if d.state == "running"]
    if len(live) != 1:
        record.problems.append(f"{name} has {len(live)} running versions "
                               f"({', '.join(d.version for d in live) or 'none'}), not one")
        return
    status = client.status(name)
    if status.module_sha256 != live[0].sha256:
        record.problems.append(f"{name} runs module {status.module_sha256[:12]}, its running "
                               f"version {live[0].version} is {live[0].sha256[:12]}")


class DeployVersion(Injector):
    """Deploy a new version of a ledger (strategies in turn), without waiting for it.

    Contained means: the deployment ends (running, or rolled back on its own when
    kills cost its warm-up too many deaths) within ``DEPLOY_DEADLINE_S``, the agent
    serves again, exactly one version is live and it is the one the agent runs;
    the checker's ledgers show that no acknowledged message was lost or applied
    twice across the switch.
    """

    kind = DEPLOY

    def inject(self, ctx: FaultContext, record: FaultRecord) -> FollowUp:
        name = _named(record)
        number = next(_versions)
        strategy = STRATEGIES[number % len(STRATEGIES)]
        with ctx.client() as client:
            try:
                dep = client.deploy(name, ledger.versioned(f"chaos-v{number}"),
                                    strategy=strategy, version=f"chaos-v{number}",
                                    keep_previous=KEEP_PREVIOUS_S, wait=False,
                                    timeout=probes.RECOVERY_DEADLINE_S)
            except (caxton.InvalidRequest, caxton.AgentNotRunning,
                    caxton.NodeUnavailable) as exc:  # one still in progress, or the node down
                raise Skipped(f"deploy to {name} refused: {exc}") from None
        record.injected_at = ctx.clock()
        record.info.update(deployment=dep.id, strategy=strategy, version=dep.version)

        def follow_up() -> None:
            deadline = time.monotonic() + DEPLOY_DEADLINE_S
            state = dep.state
            with ctx.client() as client:
                while time.monotonic() < deadline and not ctx.stop.is_set():
                    try:
                        state = client.deployment(dep.id).state
                    except caxton.NodeUnavailable:
                        state = "unknown"
                    if state in ("running", "rolled_back", "failed", "retired", "draining"):
                        break
                    ctx.stop.wait(0.02)
                record.info["outcome"] = state
                if state == "failed":
                    record.problems.append(f"deployment {dep.id} failed: "
                                           f"{client.deployment(dep.id).reason}")
                elif state in ("validating", "deploying", "unknown") and not ctx.stop.is_set():
                    record.problems.append(f"deployment {dep.id} still {state} after "
                                           f"{DEPLOY_DEADLINE_S:g}s")
            ctx.recover(record, name)
            with ctx.client() as client:
                _one_version_live(client, name, record)

        return follow_up


class RollbackDeployment(Injector):
    """Roll back a ledger's latest deployment (live and not finalised, or in progress).

    Contained means: the rollback is answered ``rolled_back``, the previous version
    serves, exactly one version is live; the ledgers judge the state it came back
    with (the messages the undone version handled, replayed, none twice).
    """

    kind = ROLLBACK

    def inject(self, ctx: FaultContext, record: FaultRecord) -> FollowUp:
        name = _named(record)
        with ctx.client() as client:
            try:
                live = [d for d in client.deployments(name)
                        if d.strategy != "initial" and not d.finalised
                        and d.state in ("validating", "deploying", "running")]
            except caxton.CaxtonError as exc:
                raise Skipped(f"deployments of {name} unreadable: {exc}") from None
        if not live:
            raise Skipped(f"{name} has no deployment to roll back")
        target = live[-1].id
        record.injected_at = ctx.clock()
        record.info["deployment"] = target

        def follow_up() -> None:
            with caxton.connect(ctx.address, timeout=DEPLOY_DEADLINE_S) as client:
                try:
                    dep = client.rollback(target, timeout=DEPLOY_DEADLINE_S)
                    record.info["outcome"] = dep.state
                    if dep.state != "rolled_back":
                        record.problems.append(f"rollback of {target} left it {dep.state}")
                except (caxton.InvalidRequest, caxton.NoSuchDeployment) as exc:
                    # finalised or ended on its own meanwhile: nothing was undone
                    record.info["outcome"] = f"refused: {exc}"
                except caxton.CaxtonError as exc:
                    record.problems.append(f"rollback of {target} failed: "
                                           f"{type(exc).__name__}: {exc}")
            ctx.recover(record, name)
            with ctx.client() as client:
                _one_version_live(client, name, record)

        return follow_up


def _named(record: FaultRecord) -> str:
    if record.target is None:
        raise Skipped("the fault has no target agent")
    return record.target


INJECTORS: dict[str, Injector] = {
    injector.kind: injector
    for injector in (KillAgent(), HangAgent(), MessageBomb(POISON), MessageBomb(FUEL_BOMB),
                     MessageBomb(MEMORY_BOMB), OversizedMessage(), FloodAgent(), CrashNode(),
                     DeployVersion(), RollbackDeployment())
}


def target_name(planned: PlannedFault, agents: AgentSet) -> str | None:
    """The agent a planned fault hits (the flood victim for floods, none for the node)."""
    if planned.kind == FLOOD:
        return agents.flood_victim
    if planned.target is None:
        return None
    return agents.workload[planned.target]
