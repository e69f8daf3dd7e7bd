"""Instances: N processes of one agent behind its name, and which one a message goes to.

An agent scaled to N runs N *instances*. Instance 0 is the agent's own record
(named like the agent); instance k > 0 is a record named ``NAME#k`` (``#`` is
never in an agent's name, so these cannot clash), with its own process,
mailbox, journal, snapshots and counters, exactly as if it were an agent of
its own. What ties them together is the ``Group`` on instance 0:

* a message with a ``key`` goes to the instance that owns the key on the
  consistent-hash ring (``caxton.node.ring``), so one key's state lives in one
  instance; a message without a key goes to the least-loaded instance (the
  fewest messages waiting and in flight); ``instance=k`` names one directly
  (for reading one instance's state);
* scaling up starts new instances, which take over about 1/N of the keys each
  and are in the ring from the request on (their messages wait, journaled, in
  their mailbox while they start);
* scaling down takes the highest instances out of the ring at once and drains
  them (everything they accepted is handled and snapshotted) before they stop.
  A key's state does not move: the keys a leaving instance owned start afresh
  on their new owner, and the leaving instance keeps its state, snapshot and
  journal; scaled up again it comes back with them and owns the same keys.

A ring belongs to an ``InstanceSet``: the instances of one version. Today an
agent has one set; a canary deployment adds a second set for the new version
and splits keys between the two in front of their rings.

``docs/deployments.md`` (Instances) says what an operator sees.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from caxton.errors import AgentNotRunning, CaxtonError, InvalidRequest
from caxton.node.lifecycle import State
from caxton.node.records import AgentRecord, Waiter
from caxton.node.ring import Ring
from caxton.node.status import agent_status
from caxton.protocol import quote

if TYPE_CHECKING:
    from caxton.node.agents import Agents

#: the most instances one agent may run
MAX_INSTANCES = 64
#: bytes of a routing key
MAX_KEY_BYTES = 1024
#: between an agent's name and an instance's index (never in an agent's name)
SEPARATOR = "#"


def instance_name(agent: str, index: int) -> str:
    return agent if index == 0 else f"{agent}{SEPARATOR}{index}"


def split_name(name: str) -> tuple[str, int] | None:
    """``("counter", 2)`` for ``counter#2``; None for an agent's own name."""
    base, sep, index = name.rpartition(SEPARATOR)
    if not sep or not index.isdigit():
        return None
    return base, int(index)


def check_key(key: Any) -> bytes:
    """A routing key as bytes (a string is its UTF-8), or a one-line refusal."""
    if isinstance(key, str):
        data = key.encode("utf-8", "surrogatepass")
    elif isinstance(key, bytes):
        data = key
    else:
        raise InvalidRequest(f"key must be a string or bytes, not {quote(key)}", field="key")
    if len(data) > MAX_KEY_BYTES:
        raise InvalidRequest(f"key of {len(data)} bytes is over the limit of {MAX_KEY_BYTES}",
                             field="key")
    return data


class InstanceSet:
    """The instances of one version and the ring that gives each its keys."""

    __slots__ = ("_by_name", "_turn", "members", "ring")

    def __init__(self, members: list[AgentRecord]) -> None:
        self.members = members
        self.ring = Ring([m.name for m in members])
        self._by_name = {m.name: m for m in members}
        self._turn = 0

    def owner(self, key: bytes) -> AgentRecord:
        return self._by_name[self.ring.owner(key)]

    def least_loaded(self) -> AgentRecord:
        """The instance with the fewest messages waiting and in flight; ties take turns,
        so an idle agent's messages still spread."""
        members = self.members
        n = len(members)
        if n == 1:
            return members[0]
        start = self._turn = (self._turn + 1) % n
        best = members[start]
        depth = best.depth
        for i in range(1, n):
            member = members[(start + i) % n]
            if member.depth < depth:
                best, depth = member, member.depth
        return best


class Group:
    """Every instance of one agent (on instance 0's record, as ``rec.group``)."""

    def __init__(self, primary: AgentRecord) -> None:
        self.primary = primary
        self.serving = InstanceSet([primary])
        #: every instance record by index: serving, leaving, or stopped (dormant)
        self.instances: dict[int, AgentRecord] = {0: primary}
        self.joining: list[AgentRecord] = []
        self.leaving: list[AgentRecord] = []
        self.waiters: list[Waiter] = []
        #: instance 0 drained for a stop; its stop completes with the last other instance's
        self.primary_drained = False

    @property
    def members(self) -> list[AgentRecord]:
        return self.serving.members

    def set_members(self, members: list[AgentRecord]) -> None:
        self.serving = InstanceSet(sorted(members, key=lambda m: m.index))

    def secondaries(self) -> list[AgentRecord]:
        return [r for i, r in sorted(self.instances.items()) if i]


def route(rec: AgentRecord, key: Any, instance: Any) -> AgentRecord:
    """The instance of agent ``rec`` a message goes to (see the module's docstring)."""
    group = rec.group
    if instance is not None:
        if isinstance(instance, bool) or not isinstance(instance, int):
            raise InvalidRequest(f"instance must be an instance's index, not {quote(instance)}",
                                 field="instance")
        found = rec if instance == 0 else (group.instances.get(instance) if group else None)
        if found is None or (group is not None and found not in group.members
                             and found not in group.leaving):
            count = len(group.members) if group else 1
            raise InvalidRequest(f"agent {rec.name!r} has no instance {instance} (it runs "
                                 f"{count}: 0-{count - 1})", field="instance")
        return found
    if key is not None:
        data = check_key(key)
        return rec if group is None else group.serving.owner(data)
    return rec if group is None else group.serving.least_loaded()


def instances_of(rec: AgentRecord) -> list[AgentRecord]:
    """The serving instances of an agent, instance 0 first."""
    return list(rec.group.members) if rec.group is not None else [rec]


class Instances:
    """Scaling an agent up and down, and keeping its group right across restarts.

    Promises: a scale is answered once every new instance serves, or every
    leaving one has drained and stopped; a message acknowledged before or
    during a scale is handled exactly once, by the instance that accepted it.
    """

    def __init__(self, agents: Agents) -> None:
        self.agents = agents

    def group(self, rec: AgentRecord) -> Group:
        if rec.group is None:
            rec.group = Group(rec)
        group: Group = rec.group
        return group

    # -- scale ----------------------------------------------------------------------------

    def check_scale(self, rec: AgentRecord, count: Any) -> int:
        """The instance count asked for, or a one-line refusal (before anything changes)."""
        if isinstance(count, bool) or not isinstance(count, int) \
                or not 1 <= count <= MAX_INSTANCES:
            raise InvalidRequest(f"instances must be a whole number from 1 to {MAX_INSTANCES},"
                                 f" not {quote(count)} (stop an agent to run none)",
                                 field="instances")
        if rec.lifecycle.state is not State.RUNNING:
            raise AgentNotRunning(f"agent {rec.name!r} is {rec.lifecycle.state}; only a running"
                                  " agent can be scaled", state=str(rec.lifecycle.state))
        group = rec.group
        if group is not None and (group.joining or group.leaving):
            raise InvalidRequest(f"agent {rec.name!r} is still scaling to "
                                 f"{len(group.members)} instances; wait for it")
        return count

    def scale(self, rec: AgentRecord, count: int, waiter: Waiter,
              drain_timeout: float) -> dict[str, Any] | None:
        """Run ``count`` instances of ``rec`` (checked with ``check_scale``). Returns the
        agent's status when nothing changes; else None, and ``waiter`` hears once done."""
        current = instances_of(rec)
        if count == len(current):
            return agent_status(rec)
        group = self.group(rec)
        agents = self.agents
        if count > len(current):
            specs = [replace(rec.spec, name=instance_name(rec.name, i), instances=1)
                     for i in range(len(current), count)]
            running = agents.running_specs()
            for spec in specs:  # every budget checked before anything starts
                agents.budget.check(spec, running)
                running.append(spec)
            for index, spec in enumerate(specs, start=len(current)):
                inst = group.instances.get(index)
                if inst is None:
                    inst = agents.add(spec)
                    inst.primary, inst.index = rec, index
                    group.instances[index] = inst
                else:  # it comes back with its own state, under the agent's version now
                    inst.spec, inst.ever_ready = spec, False
                inst.version = rec.version
                inst.lifecycle.to(State.LOADED, f"scaled to {count} instances")
                agents.store.save_agent(inst.name, spec.to_dict(), State.LOADED)
                agents.start(inst)
                group.joining.append(inst)
            group.set_members(current + group.joining)
        else:
            group.set_members(current[:count])
            group.leaving = current[count:]
            for inst in group.leaving:
                agents.begin_drain(inst, drain_timeout, persist=True)
        rec.spec = replace(rec.spec, instances=count)
        agents.store.save_agent(rec.name, rec.spec.to_dict(), rec.lifecycle.state)
        group.waiters.append(waiter)
        self.changed(rec)
        return None

    # -- what the agents room tells ---------------------------------------------------------

    def changed(self, inst: AgentRecord) -> None:
        """An instance of a group became ready, stopped or failed: a scale may be done."""
        primary = inst.primary or inst
        group = primary.group
        if group is None:
            return
        if inst in group.leaving and inst.lifecycle.state is State.RUNNING:
            # one that was leaving when the node went down came back: it drains again
            self.agents.begin_drain(inst, 60.0, persist=True)
        pending = group.joining + group.leaving
        if not pending:
            return
        down = [i for i in [*pending, primary]
                if i.lifecycle.state is State.FAILED
                or (i.lifecycle.state is State.STOPPED and i not in group.leaving)]
        if down:
            error: CaxtonError = InvalidRequest(
                f"scaling agent {primary.name!r} was interrupted: instance {down[0].name} is "
                f"{down[0].lifecycle.state} ({down[0].last_failure or 'stopped'})")
            for waiter in group.waiters:
                self.agents.outbox.error(waiter, error)
            group.waiters.clear()
            group.joining, group.leaving = [], []
            return
        joined = all(i.ever_ready and i.lifecycle.state is State.RUNNING for i in group.joining)
        left = all(i.lifecycle.state is State.STOPPED for i in group.leaving)
        if joined and left:
            group.joining, group.leaving = [], []
            status = agent_status(primary)
            for waiter in group.waiters:
                self.agents.outbox.ok(waiter, status)
            group.waiters.clear()

    # -- a node restarted on the same data folder ------------------------------------------

    def link(self) -> None:
        """After recovery: tie every ``NAME#k`` record to its agent, rebuild each ring
        exactly as it was (the instances the agent's spec counts), and drain again the
        instances that were leaving when the node went down."""
        by_name = self.agents.by_name
        for name, inst in list(by_name.items()):
            parts = split_name(name)
            if parts is None:
                continue
            primary = by_name.get(parts[0])
            if primary is None:  # its agent is gone: nothing routes to it
                continue
            inst.primary, inst.index = primary, parts[1]
            self.group(primary).instances[parts[1]] = inst
        for rec in list(by_name.values()):
            group = rec.group
            if group is None or rec.primary is not None:
                continue
            count = rec.spec.instances
            group.set_members([i for k, i in group.instances.items() if k < count])
            group.leaving = [i for k, i in group.instances.items() if k >= count
                             and i.lifecycle.state in (State.LOADED, State.RUNNING)]
            for inst in group.secondaries():
                inst.version = rec.version
