"""The node as a member of a cluster: lease, routing, takeover, adoption, fencing.

A node whose store is PostgreSQL is a cluster member (``caxton.cluster``
keeps the rows and the links). This room is what the node does with them,
once a tick and around each request:

* **lease**: every store transaction renews it through the guard; an idle
  node renews once a tick;
* **routing**: a request naming an agent another node owns is forwarded to
  that node over a link; a spawn goes to the node asked for, or the least
  loaded; a message an agent sends to another node's agent is kept in the
  store as a *transfer* in the sender's transaction, and the owner takes it
  into its journal in its own (nothing lost, nothing twice);
* **takeover**: a peer whose lease lapsed is declared dead, once, by
  whichever survivor's conditional update wins, and its agents are dealt out
  to the live nodes; each node *adopts* the agents placed on it that it does
  not run, from their snapshot and journal;
* **fencing**: a refused guard means another node owns this one's agents
  now. The node takes every instance down, answers every held
  acknowledgement with an error (none of them is true any more), forgets its
  uncommitted writes and joins again under a new epoch.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import psycopg

from caxton import protocol
from caxton.cluster.links import POKE, Links
from caxton.cluster.membership import ID_BLOCK, Member, Membership
from caxton.errors import (
    AgentExists,
    AgentNotRunning,
    CaxtonError,
    InvalidRequest,
    MailboxFull,
    MessageTooLarge,
    NodeUnavailable,
    StorageUnavailable,
)
from caxton.node.router import EXTERNAL
from caxton.store.base import StoredMessage
from caxton.store.postgres import PostgresStore

if TYPE_CHECKING:
    from caxton.node.node import Node

log = logging.getLogger("caxton.cluster")

#: requests that name an agent in ``name`` and go to the node that owns it
ROUTED = frozenset({"call", "send", "send_batch", "stop", "restart", "remove", "status",
                    "monitor", "snapshot", "dead_letters", "deploy", "deployments",
                    "crashes", "crash", "scale"})
#: how long an owner looked up in the store is trusted before asking again
OWNER_CACHE_SECONDS = 1.0
#: transfers taken into the journal per scan
TRANSFERS_PER_SCAN = 1000
#: how often a node looks for transfers to its agents without being poked: the
#: bound on a cross-node send's delay when its poke was lost
TRANSFER_LOOK_SECONDS = 1.0
#: a peer whose connection dropped (its process died) is taken over once it has
#: also been silent this long, without waiting out its lease
DISCONNECTED_SILENCE = 0.5


class ClusterRole:
    """This node's membership and what follows from it (see the module's docstring)."""

    def __init__(self, node: Node, store: PostgresStore, url: str) -> None:
        self.node = node
        self.store = store
        config = node.config
        self.lease = config.lease_seconds
        self.address = config.advertise or node.address
        gate = node.gate
        self.membership = Membership(
            url, node.name, self.address, lease_seconds=self.lease,
            public_key=None if gate is None else gate.public_key.decode())
        store.join_cluster(node.name, int(self.lease * 1000))
        store.guard = lambda db, seq: self.membership.guard(db, self._local_count(), seq)
        store.landed = self.membership.landed
        store.id_blocks = self._id_block
        self.links = Links(node.runtime.context, node.outbox,
                           add_reader=node.runtime.add_reader,
                           remove_reader=node.runtime.remove_reader,
                           changed=node._schedule_flush,
                           curve=None if gate is None else gate.key_pair)
        self.members: dict[str, Member] = {}
        self._owners: dict[str, tuple[str, float]] = {}
        self._pokes: set[str] = set()
        self._scan_due = True
        self._next_transfer_look = 0.0
        #: since when this node's own lease has renewed without a gap: it judges
        #: others only after a whole lease of its own health (a store outage
        #: lapses every lease at once; the first node back must not take all)
        self._healthy_since: float | None = None
        self.takeovers = 0
        self.fenced_count = 0
        self.membership.join()
        store.new_id_block()
        node.router.remote = self.send_remote
        node.deploys.allocate_id = self.membership.next_deployment_id

    def _id_block(self) -> tuple[int, int]:
        try:
            return self.membership.id_block()
        except psycopg.Error as exc:
            raise _unreachable(exc) from None

    # -- what the node shows ------------------------------------------------------------

    def _local_count(self) -> int:
        return sum(1 for r in self.node.agents.records() if r.primary is None)

    def nodes(self) -> list[dict[str, Any]]:
        try:
            members = self.membership.members()
        except psycopg.Error as exc:
            raise _unreachable(exc) from None
        self._see(members)
        return [m.as_dict(self.lease) | {"self": m.name == self.node.name} for m in members]

    def report(self) -> dict[str, Any]:
        return {"epoch": self.membership.epoch, "lease_s": self.lease,
                "peers": sorted(self.links.peers()), "takeovers": self.takeovers,
                "fenced": self.fenced_count, "forwarded": self.links.forwarded}

    # -- requests -----------------------------------------------------------------------

    def intercept(self, identity: bytes, request: protocol.Request) -> bool:
        """Forward a request that belongs to another node; True when it was."""
        operation, arguments = request.operation, request.arguments
        if operation == POKE:
            self._scan_due = True
            self.node.runtime.call_soon(self.scan)
            return False  # answered by its handler
        if operation == "spawn":
            return self._route_spawn(identity, request)
        if operation not in ROUTED:
            return False
        name = arguments.get("name")
        if not isinstance(name, str) or name in self.node.agents:
            return False
        owner = self._owner(name)
        if owner is None or owner == self.node.name:
            return False  # no node owns it (the handler says so), or it is being adopted
        if not self._linked(owner):
            raise NodeUnavailable(
                f"agent {name!r} is on node {owner}, which is not reachable now; if it was"
                " lost, another node takes its agents over within its lease: retry",
                node=owner, name=name)
        self.links.forward(owner, identity, request)
        return True

    def _owner(self, name: str) -> str | None:
        now = time.monotonic()
        cached = self._owners.get(name)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            member = self.membership.owner(name)
        except psycopg.Error as exc:
            raise _unreachable(exc) from None
        if member is None:
            return None
        self._owners[name] = (member.name, now + OWNER_CACHE_SECONDS)
        return member.name

    def _route_spawn(self, identity: bytes, request: protocol.Request) -> bool:
        arguments = request.arguments
        target = arguments.get("node")
        if target is None:
            target = self._least_loaded()
        elif not isinstance(target, str) or (target != self.node.name
                                             and not self._linked(target)):
            raise InvalidRequest(f"node must be the name of a live node, not "
                                 f"{protocol.quote(target)} (client.nodes() lists them)",
                                 field="node")
        if target != self.node.name:
            self.links.forward(target, identity, request._replace(
                arguments=arguments | {"node": target}))
            return True
        name = arguments.get("name")
        if isinstance(name, str) and name not in self.node.agents:
            try:
                holder = self.membership.claim(name)
            except psycopg.Error as exc:
                raise _unreachable(exc) from None
            if holder is not None and holder != self.node.name:
                raise AgentExists(f"an agent named {name!r} already exists on node {holder}",
                                  name=name, node=holder)
        return False

    def _linked(self, peer: str) -> bool:
        """Whether there is a link to ``peer``; a node that joined since the last tick
        is looked up at once."""
        if peer in self.links.peers():
            return True
        try:
            self._see(self.membership.members())
        except psycopg.Error:
            return False
        return peer in self.links.peers()

    def _least_loaded(self) -> str:
        with contextlib.suppress(psycopg.Error):  # a node that joined since the last tick
            self._see(self.membership.members())
        live = [m for m in self.members.values()
                if m.state == "alive" and not m.lapsed(self.lease) and not self._gone(m)
                and (m.name == self.node.name or m.name in self.links.peers())]
        try:
            placed = self.membership.placed_counts()
        except psycopg.Error:  # the last counts the tick saw
            placed = {m.name: m.agents for m in live}
        counts = {m.name: placed.get(m.name, 0) for m in live}
        counts.setdefault(self.node.name, placed.get(self.node.name, 0))
        return min(counts, key=lambda n: (counts[n], n))

    def send_remote(self, target: str, sender: str, payload: bytes) -> bool:
        """An agent's message to an agent this node does not hold: a transfer when some
        node owns it (this one too, while it adopts it); False when none does."""
        try:
            owner = self._owner(target.split("#", 1)[0])
        except StorageUnavailable:
            owner = ""  # unknown for now: kept, and its owner finds it on a scan
        if owner is None:
            return False
        self.store.transfer(target, sender, payload)
        self.node.router.accepted = True  # the turn ends with a commit
        if owner == self.node.name:
            self._scan_due = True
        elif owner:
            self._pokes.add(owner)
        return True

    def after_commit(self) -> None:
        """Transfers are in the store: their owners may look now.

        A poke only makes the owner prompt: one that cannot be sent (no link yet to a
        node that just joined, a dropped connection) is made up for by the owner's own
        look at its transfers every ``TRANSFER_LOOK_SECONDS``.
        """
        if self._pokes and self.store.fault is None:
            for peer in self._pokes:
                if self._linked(peer):
                    self.links.poke(peer)
            self._pokes.clear()

    # -- the tick -----------------------------------------------------------------------

    def tick(self) -> None:
        if self.store.fenced:
            self.rejoin()
            return
        if not self.store.dirty:
            self.store.renew()
        now = time.monotonic()
        if self.store.fault is not None:
            self._healthy_since = None
            return
        if self._healthy_since is None:
            self._healthy_since = now
        try:
            members = self.membership.members()
        except psycopg.Error as exc:
            log.warning("cluster: cannot read the members: %s", str(exc).strip())
            return
        self._see(members)
        if self.store.ids_left < ID_BLOCK // 2:  # never a round trip on the message path
            with contextlib.suppress(StorageUnavailable):
                self.store.new_id_block()
        if now - self._healthy_since > self.lease:
            for member in members:
                if member.name == self.node.name:
                    continue
                if member.lapsed(self.lease):
                    self._take_over(member)
                elif self._gone(member):
                    self._take_over(member, DISCONNECTED_SILENCE)
        if now >= self._next_transfer_look:
            self._next_transfer_look = now + TRANSFER_LOOK_SECONDS
            self._scan_due = True
        if self._scan_due or self.membership_changed():
            self.scan()

    def _gone(self, member: Member) -> bool:
        """Its connection dropped and it has been silent since: its process is gone."""
        return (member.state == "alive" and member.name in self.links.disconnected
                and member.age > DISCONNECTED_SILENCE)

    def membership_changed(self) -> bool:
        try:
            return self.membership.count_here() != self._local_count()
        except psycopg.Error:
            return False

    def _see(self, members: list[Member]) -> None:
        """Links follow the members: one to each live peer, none to a lapsed one."""
        previous, self.members = self.members, {m.name: m for m in members}
        for m in members:
            if m.name == self.node.name:
                continue
            was = previous.get(m.name)
            if m.state == "alive" and not m.lapsed(self.lease) and not self._gone(m):
                if was is not None and was.epoch != m.epoch:
                    self.links.lost(m.name, "it restarted")
                    self.links.disconnected.pop(m.name, None)
                self.links.connect(m.name, m.address, m.public_key)
            elif m.name in self.links.peers():
                self._forget_owners(m.name)
                why = ("its connection dropped" if self._gone(m) else "its lease lapsed"
                       if m.state == "alive" else f"it is {m.state}")
                self.links.lost(m.name, why)

    def _forget_owners(self, node: str) -> None:
        self._owners = {a: o for a, o in self._owners.items() if o[0] != node}

    def _take_over(self, member: Member, silence: float | None = None) -> None:
        heirs = sorted((m for m in self.members.values()
                        if m.state == "alive" and not m.lapsed(self.lease)
                        and not self._gone(m) and m.name != member.name),
                       key=lambda m: (m.agents, m.name))
        names = [m.name for m in heirs] or [self.node.name]
        try:
            moved = self.membership.take_over(member, names, silence)
        except psycopg.Error as exc:  # another survivor holds the row: it is on it
            log.info("cluster: takeover of %s not done here: %s", member.name,
                     str(exc).strip())
            return
        if moved is None:
            return  # another survivor was first, or the member renewed after all
        self.takeovers += 1
        self._forget_owners(member.name)
        for heir in {h for _, h in moved}:
            if heir == self.node.name:
                self._scan_due = True
            else:
                self.links.poke(heir)
        if self._scan_due:
            self.scan()

    # -- adoption and transfers ----------------------------------------------------------

    def scan(self) -> None:
        """Adopt the agents placed here that this node does not run, then take the
        transfers waiting for its agents."""
        self._scan_due = False
        if self.store.fault is not None or self.store.fenced:
            return
        agents = self.node.agents
        try:
            placed = self.membership.placed_here()
        except psycopg.Error:
            self._scan_due = True
            return
        adopted: list[str] = []
        for name, epoch, kept in placed:
            if name in agents:
                continue
            try:
                if not kept:
                    self.membership.drop_orphan(name)
                    continue
                if not adopted:
                    self.store.new_id_block()  # ids above every id the agent had
                # a deployment its old node died in is settled as a restart settles it
                self.node.deploys.prepare_recovery(only={name})
                for spec, state in self.store.load_agent(name):
                    agents.bring_back(spec, state, f"adopted (placement epoch {epoch})")
            except (StorageUnavailable, psycopg.Error):
                self._scan_due = True
                break
            adopted.append(name)
            log.info("cluster: adopted agent %s (placement epoch %d)", name, epoch)
        if adopted:
            agents.instances.link()
            self.node.deploys.recovered(only=set(adopted))
        self._take_transfers()
        self.node._schedule_flush()

    def _take_transfers(self) -> None:
        try:
            waiting = self.store.transfers(TRANSFERS_PER_SCAN)
        except StorageUnavailable:
            return
        router, by_name = self.node.router, self.node.agents.by_name
        full: set[str] = set()
        for transfer_id, target, sender, payload in waiting:
            if target in full:
                continue
            rec = by_name.get(target)
            if rec is None:
                continue  # adopted on a later scan
            dest = router.route(rec) if rec.group is not None else rec
            try:
                router.check_accepts(dest, payload)
            except MailboxFull:
                full.add(target)
                self._scan_due = True
                continue
            except (AgentNotRunning, MessageTooLarge) as exc:
                stored = self.store.append_message(target, sender, payload)
                self.store.dead_letter(target, StoredMessage(stored, sender, payload, 0, []),
                                       [f"send from {sender!r} refused: {exc.message}"])
                self.store.drop_transfer(transfer_id)
                continue
            router.accept(dest, sender or EXTERNAL, payload)
            self.store.drop_transfer(transfer_id)
        if len(waiting) == TRANSFERS_PER_SCAN:
            self._scan_due = True

    # -- fencing -------------------------------------------------------------------------

    def rejoin(self) -> None:
        """Fenced: let go of every agent and every held promise, then join again."""
        self.fenced_count += 1
        log.error("cluster: node %s was fenced (epoch %d): another node owns its agents now;"
                  " stopping its %d instances and joining again", self.node.name,
                  self.membership.epoch, len(self.node.agents))
        agents, router, outbox = self.node.agents, self.node.router, self.node.outbox
        gone = StorageUnavailable("this node was fenced: its agents moved to another node;"
                                  " nothing it had not acknowledged was applied",
                                  fault="fenced")
        for rec in agents.records():
            agents.abandon(rec, gone, "noconnection")
        agents.by_name.clear()
        router.dirty.clear()
        outbox.fail_promises(gone)
        self.store.discard()
        self._owners.clear()
        self._pokes.clear()
        self._healthy_since = None
        try:
            self.membership.join()
            self.store.new_id_block()
        except (psycopg.Error, CaxtonError) as exc:
            log.error("cluster: cannot join again yet: %s", exc)
            self.store.fenced = True  # tried again next tick
            return
        self._scan_due = True
        self.node._schedule_flush()

    def close(self) -> None:
        """A clean exit: the node's agents go to the others at once."""
        self.membership.leave()
        self.links.close()
        self.membership.close()


def _unreachable(exc: psycopg.Error) -> StorageUnavailable:
    """The membership's connection failed: the request cannot be placed or routed now."""
    return StorageUnavailable(f"the cluster's store cannot be reached: {exc}", fault=str(exc))
