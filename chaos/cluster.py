"""The cluster as a chaos target: three nodes over a PostgreSQL server the harness starts.

The cluster scenarios (``cluster-kill``, ``cluster-pause``, ``cluster-pg-restart``,
``cluster``) run the same load, schedule and checker as the single-node ones,
against ``ClusterTarget``: a throw-away PostgreSQL server
(``caxton.store.throwaway``) and three real ``python -m caxton.node``
processes sharing one database on it (``caxton.cluster.local.LocalCluster``).
The ledgers are dealt out over the three nodes, and the load enters through
all of them, so most messages are forwarded to another node's agent.

The faults here are the cluster's own: a node SIGKILLed (its agents must
fail over with their state, and it rejoins when restarted), a node SIGSTOPped
past its lease (the others take it over; resumed, it must be fenced, so that
nothing it does lands, and rejoin with no agents), and the server stopped and
started under load (every node refuses writes meanwhile and recovers on its
own; nobody is taken over for it). A node fault aims at the node that owns a
given ledger when it fires, so every one moves agents. Node faults run one at
a time, so a failover is measured on its own and two nodes stay up to read
through; a server restart may overlap one (the takeover then waits for the
server, which is worth testing too).

Everything is observed through the client API, through whichever nodes are
up: a request to any node reaches the agent's owner.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import caxton
from caxton.cluster.local import LocalCluster, LocalNode
from caxton.launch import NodeDidNotStart, NodeExited
from caxton.store.throwaway import MISSING, ThrowawayPostgres, pg_bin
from chaos import probes
from chaos.errors import HarnessError, UsageError
from chaos.faults import FaultContext, FaultRecord, FollowUp, Injector, Skipped
from chaos.liveness import LivenessSampler, summarize
from chaos.node import log_tail
from chaos.scenarios import NODE_FAULTS, NODE_KILL, NODE_PAUSE, PG_RESTART
from chaos.workload import AgentSet, spawn_arguments

NODE_COUNT = 3
#: the nodes' lease (``--lease-seconds``): a node unrenewed this long is lost to the others;
#: half the node's default, so failovers come quickly and a node whose loop stalls shows
LEASE_S = 1.5
#: how long a restarted node may take to answer, retries included (its old agent
#: processes may hold its data folder's lock a moment after the SIGKILL)
RESTART_DEADLINE_S = 60.0
#: how long a cluster fault waits for each of its events (takeover, fence, recovery)
EVENT_DEADLINE_S = probes.RECOVERY_DEADLINE_S
POLL_S = 0.02
#: how long the run's agents may take to spawn, refused spawns tried again
SPAWN_DEADLINE_S = 60.0
#: how long stopping the cluster waits for a fault still recovering (the run was cut)
STOP_WAIT_S = 60.0


def check_usable() -> None:
    """Refuse a cluster run, before anything starts, on a machine without PostgreSQL."""
    if pg_bin() is None:
        raise UsageError(f"the cluster scenarios need PostgreSQL: {MISSING}")


class ClusterTarget:
    """Three nodes n1..n3 over one database on a server of the harness's own.

    It stands where ``ManagedNode`` stands for a single node (``start``,
    ``address``, ``alive``, ``stop``, ``log_path``), plus what the cluster's
    faults do to it. A node the harness took down on purpose is *down*, so
    ``alive`` stays true and requests go through the others meanwhile.
    """

    can_crash = True

    def __init__(self, *, count: int = NODE_COUNT, lease_seconds: float = LEASE_S,
                 extra_args: Sequence[str] = (), keep_data: bool = False) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="chaos-cluster-"))
        self.log_path = self.workdir / "nodes.log"
        self.count = count
        self.lease_seconds = lease_seconds
        self.extra_args = tuple(extra_args)
        self.keep_data = keep_data
        self.server: ThrowawayPostgres | None = None
        self.cluster: LocalCluster | None = None
        self._log: IO[bytes] | None = None
        self._down: dict[str, str] = {}  # node name -> "killed" | "paused"
        self._state = threading.Lock()
        #: one node fault at a time; one server restart at a time
        self.node_fault = threading.Lock()
        self.store_fault = threading.Lock()
        #: node faults begun so far and in progress (a server restart's verdict reads them)
        self.node_faults_begun = 0
        self.node_faults_active = 0
        #: what the harness did to each node: the epochs it must have at the end
        self.kills: Counter[str] = Counter()
        self.fences: Counter[str] = Counter()

    # -- what the runner uses ------------------------------------------------------------

    def start(self) -> None:
        check_usable()
        try:
            self.server = ThrowawayPostgres()
            self.server.start()
            url = self.server.new_database()
        except (RuntimeError, OSError) as exc:
            raise HarnessError(f"the PostgreSQL server did not start: {exc}") from None
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.cluster = LocalCluster(url, self.workdir, count=self.count,
                                    lease_seconds=self.lease_seconds, output=self._log,
                                    extra=("--log-level", "info", *self.extra_args))
        try:
            self.cluster.start()
        except NodeDidNotStart as exc:
            raise HarnessError(f"the cluster did not start: {exc}: {self.log_tail()}") from None

    @property
    def names(self) -> list[str]:
        return [node.name for node in self._nodes()]

    @property
    def addresses(self) -> list[str]:
        return [node.address for node in self._nodes()]

    def address_of(self, name: str) -> str:
        return self._local()[name].address

    def name_of(self, address: str) -> str:
        for node in self._nodes():
            if node.address == address:
                return node.name
        return address

    def live_addresses(self) -> list[str]:
        """The nodes not taken down on purpose right now (requests go through these)."""
        with self._state:
            return [n.address for n in self._nodes() if n.name not in self._down]

    @property
    def address(self) -> str:
        """A node that is up: where a single request goes (any node forwards it)."""
        live = self.live_addresses()
        return live[0] if live else self.addresses[0]

    def alive(self) -> bool:
        """False only when a node exited without the harness taking it down."""
        return self.exit_code() is None

    def exit_code(self) -> int | None:
        with self._state:
            for node in self._nodes():
                if node.name not in self._down and node.process is not None:
                    code = node.process.poll()
                    if code is not None:
                        return code
        return None

    def exited(self) -> str | None:
        """Which node exited on its own, for the verdict."""
        with self._state:
            for node in self._nodes():
                if (node.name not in self._down and node.process is not None
                        and node.process.poll() is not None):
                    return f"{node.name} (exit code {node.process.returncode})"
        return None

    def stop(self) -> None:
        """Stop the nodes (a stopped one is continued first), then the server.

        A fault still recovering (an interrupted run) is let finish first, so that
        no node is restarted, nor the server started, after this."""
        held = [lock for lock in (self.node_fault, self.store_fault)
                if lock.acquire(timeout=STOP_WAIT_S)]
        try:
            if self.cluster is not None:
                self.cluster.stop()
        finally:
            if self._log is not None:
                self._log.close()
            if self.server is not None:
                self.server.close()
            if not self.keep_data:
                shutil.rmtree(self.workdir, ignore_errors=True)
            for lock in held:
                lock.release()

    def log_tail(self, lines: int = 5) -> str:
        return log_tail(self.log_path, lines)

    # -- what the faults do ----------------------------------------------------------------

    def kill(self, name: str) -> int:
        """SIGKILL a node; returns its pid."""
        with self._state:
            self._down[name] = "killed"
            pid = self._local()[name].pid
        self._cluster().kill(name)
        self.kills[name] += 1
        return pid

    def restart(self, name: str) -> int:
        """Start a killed node again on its data folder and address; returns the attempts.

        A start refused because the killed node's agent processes still hold the
        data folder's lock for a moment is tried again (as ``ManagedNode`` does).
        """
        deadline = time.monotonic() + RESTART_DEADLINE_S
        attempts = 0
        while True:
            attempts += 1
            try:
                self._cluster().restart(name)
                break
            except NodeExited:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with self._state:
            self._down.pop(name, None)
        return attempts

    def pause(self, name: str) -> None:
        with self._state:
            self._down[name] = "paused"
        self._cluster().pause(name)

    def resume(self, name: str) -> None:
        self._cluster().resume(name)
        with self._state:
            self._down.pop(name, None)

    def pid_of(self, name: str) -> int:
        return self._local()[name].pid

    def stop_server(self) -> None:
        self._server().stop("fast")

    def start_server(self) -> None:
        self._server().start()

    def node_fault_begins(self) -> None:
        with self._state:
            self.node_faults_begun += 1
            self.node_faults_active += 1

    def node_fault_ends(self) -> None:
        with self._state:
            self.node_faults_active -= 1

    # -- internals -----------------------------------------------------------------------

    def _cluster(self) -> LocalCluster:
        if self.cluster is None:
            raise HarnessError("the cluster was not started")
        return self.cluster

    def _server(self) -> ThrowawayPostgres:
        if self.server is None:
            raise HarnessError("the PostgreSQL server was not started")
        return self.server

    def _nodes(self) -> list[LocalNode]:
        return [] if self.cluster is None else list(self.cluster.nodes)

    def _local(self) -> dict[str, LocalNode]:
        return {node.name: node for node in self._nodes()}


# -- looking at the cluster through any node -------------------------------------------------


class Eyes:
    """Clients to the nodes for one thread, one per address, asked in turn.

    ``ask`` tries the live nodes until one answers; a node that does not answer
    costs ``PROBE_TIMEOUT_S`` and the next one is asked.
    """

    def __init__(self, target: ClusterTarget) -> None:
        self.target = target
        self._clients: dict[str, caxton.Client] = {}
        self._turn = 0
        #: errors the asked nodes answered, by type: what the report shows of a recovery
        self.errors: Counter[str] = Counter()

    def client(self, address: str) -> caxton.Client:
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = caxton.connect(
                address, timeout=probes.PROBE_TIMEOUT_S)
        return client

    def ask(self, question: Callable[[caxton.Client], Any]) -> Any:
        """The first answer from a live node (they are asked in turn); raises the last
        error when none answered."""
        live = self.target.live_addresses()
        if not live:
            raise caxton.NodeUnavailable("no node is up")
        error: caxton.CaxtonError | None = None
        for step in range(len(live)):
            address = live[(self._turn + step) % len(live)]
            try:
                answer = question(self.client(address))
            except caxton.CaxtonError as exc:
                self.errors[type(exc).__name__] += 1
                error = exc
                continue
            self._turn += 1
            return answer
        assert error is not None
        raise error

    def members(self) -> dict[str, dict[str, Any]]:
        """The cluster's nodes as a live node sees them, by name."""
        return {m["name"]: m for m in self.ask(lambda c: c.nodes())}

    def owner(self, name: str) -> str | None:
        """The node that runs ``name``: asked of every live node (its owner answers from
        its own table, with no store lookup, so this works during a server outage)."""
        for address in self.target.live_addresses():
            try:
                node = self.client(address).status(name).node
            except caxton.CaxtonError as exc:
                self.errors[type(exc).__name__] += 1
                continue
            if node is not None:
                return str(node)
        return None

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> Eyes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def until(stop: threading.Event, what: Callable[[], Any],
          deadline_s: float = EVENT_DEADLINE_S) -> Any:
    """Poll ``what`` until it returns something true (returned), or None at the deadline
    or on abort. A ``CaxtonError`` counts as "not yet"."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and not stop.is_set():
        try:
            value = what()
        except caxton.CaxtonError:
            value = None
        if value:
            return value
        stop.wait(POLL_S)
    return None


def serving_elsewhere(eyes: Eyes, name: str, kind: str, away_from: str | None) -> str | None:
    """The node ``name`` answered a probe call on, if it is not ``away_from``."""
    payload = probes.probe_payload(kind)

    def probe(client: caxton.Client) -> str | None:
        reply = client.call(name, payload, timeout=probes.PROBE_TIMEOUT_S)
        if not probes.reply_is_sane(kind, reply):
            raise RuntimeError(f"{name} answered a probe with {reply[:40]!r}")
        node = client.status(name).node
        return None if node is None or node == away_from else str(node)

    result: str | None = eyes.ask(probe)
    return result


def await_agents(ctx: FaultContext, eyes: Eyes, names: Sequence[str],
                 away_from: str | None = None) -> tuple[float | None, dict[str, str]]:
    """Wait for every agent in ``names`` to answer a probe (on a node other than
    ``away_from``): when the last one did (run clock), and where each serves."""
    where: dict[str, str] = {}
    last: float | None = ctx.clock()
    for name in names:
        node = until(ctx.stop, functools.partial(serving_elsewhere, eyes, name,
                                                 ctx.agents.kind_of(name), away_from))
        if node is None:
            return None, where
        where[name] = node
        last = ctx.clock()
    return last, where


# -- the agents --------------------------------------------------------------------------------


def spawn_agents(target: ClusterTarget, agents: AgentSet, spawned: list[str],
                 warnings: list[str]) -> None:
    """Deal the agents out over the nodes (agent ``i`` on node ``i mod 3``), each spawn
    sent through the first node (so most are forwarded to their node).

    A spawn refused because its node was lost or fenced meanwhile (a node whose
    loop stalls past its lease is taken over: ``docs/chaos.md`` says when) is
    tried again until ``SPAWN_DEADLINE_S``, and each refusal is kept in
    ``warnings`` for the verdict: the run starts from its planned placement,
    and the report says it did not at first.
    """
    names = target.names
    with Eyes(target) as eyes:
        for index, name in enumerate(agents.all):
            module, options = spawn_arguments(agents, name)
            node = names[index % len(names)]
            deadline = time.monotonic() + SPAWN_DEADLINE_S
            while True:
                try:
                    eyes.client(target.address).spawn(name, module, node=node, **options)
                    break
                except caxton.AgentExists:
                    # a spawn heard as failed that landed, or a failed spawn's name
                    # still held: it counts once an instance runs
                    if _runs(eyes, name):
                        break
                    problem = "its name was held by a spawn that did not complete"
                except (caxton.StorageUnavailable, caxton.NodeUnavailable,
                        caxton.InvalidRequest) as exc:
                    if (isinstance(exc, caxton.InvalidRequest)
                            and exc.data.get("field") != "node"):
                        raise HarnessError(f"could not spawn {name}: {exc}") from None
                    problem = f"{type(exc).__name__}: {exc}"
                except caxton.CaxtonError as exc:
                    raise HarnessError(f"could not spawn {name}: {type(exc).__name__}: "
                                       f"{exc}") from None
                warnings.append(f"the spawn of {name} on {node} was refused ({problem}); "
                                "it was tried again")
                if time.monotonic() > deadline:
                    raise HarnessError(f"could not spawn {name} on {node} within "
                                       f"{SPAWN_DEADLINE_S:g}s: {problem}")
                time.sleep(0.2)
            spawned.append(name)


def _runs(eyes: Eyes, name: str) -> bool:
    try:
        status: caxton.AgentStatus = eyes.ask(functools.partial(caxton.Client.status,
                                                                name=name))
    except caxton.CaxtonError:
        return False
    return status.state == "running"


# -- the faults --------------------------------------------------------------------------------


def _target(ctx: FaultContext) -> ClusterTarget:
    if not isinstance(ctx.node, ClusterTarget):
        raise Skipped("a cluster fault needs the cluster the harness starts")
    return ctx.node


def _acquire(lock: threading.Lock, stop: threading.Event) -> None:
    """Take ``lock`` (the previous fault of its kind is still recovering), unless aborted."""
    while not lock.acquire(timeout=0.1):
        if stop.is_set():
            raise Skipped("the run ended while another fault was recovering")


class _NodeFault(Injector):
    """What a node kill and a node pause share: find the ledger's owner and what it owns,
    hit it, wait for the others to take it over (state ``dead``) and for its agents to
    serve on the survivors; ``_after`` brings it back."""

    def _hit(self, target: ClusterTarget, name: str) -> None:
        raise NotImplementedError

    def _after(self, ctx: FaultContext, target: ClusterTarget, eyes: Eyes,
               record: FaultRecord, node: str, before: dict[str, Any]) -> None:
        raise NotImplementedError

    def inject(self, ctx: FaultContext, record: FaultRecord) -> FollowUp:
        target = _target(ctx)
        ledger = record.target
        if ledger is None:
            raise Skipped("the fault has no target ledger")
        _acquire(target.node_fault, ctx.stop)
        eyes = Eyes(target)
        try:
            node = until(ctx.stop, lambda: eyes.owner(ledger), 10.0)
            if node is None:
                raise Skipped(f"no node answered for {ledger}'s owner")
            owned = [name for name in ctx.agents.all if eyes.owner(name) == node]
            # its own report (epoch, times fenced), asked of it directly while it can
            # still answer: it needs no store, so it is there during a server outage
            before: dict[str, Any] = eyes.client(target.address_of(node)).ping()["cluster"]
            record.target = node
            record.info.update(ledger=ledger, node=node, agents=owned,
                               epoch_before=before["epoch"])
        except BaseException:
            eyes.close()
            target.node_fault.release()
            raise
        target.node_fault_begins()
        record.injected_at = ctx.clock()
        self._hit(target, node)

        def follow_up() -> None:
            try:
                self._failover(ctx, eyes, record, node, owned)
                self._after(ctx, target, eyes, record, node, before)
            finally:
                target.node_fault_ends()
                eyes.close()
                target.node_fault.release()

        return follow_up

    def _failover(self, ctx: FaultContext, eyes: Eyes, record: FaultRecord, node: str,
                  owned: list[str]) -> None:
        """The survivors take ``node`` over and its agents serve on them: recovery."""
        start = record.injected_at or 0.0
        taken = until(ctx.stop, lambda: eyes.members()[node]["state"] == "dead")
        if taken is None:
            if not ctx.stop.is_set():
                record.problems.append(f"{node} was never taken over (its state stayed "
                                       f"{self._state(eyes, node)})")
            return
        record.info["taken_over_s"] = round(ctx.clock() - start, 4)
        served, where = await_agents(ctx, eyes, owned, away_from=node)
        if served is None:
            if not ctx.stop.is_set():
                missing = [n for n in owned if n not in where]
                record.problems.append(f"{', '.join(missing)} did not serve on another "
                                       f"node within {EVENT_DEADLINE_S:g}s of {node}'s loss")
            return
        record.recovered_at = served
        record.info["moved_to"] = where
        record.info["errors_seen"] = dict(eyes.errors)

    @staticmethod
    def _state(eyes: Eyes, node: str) -> str:
        try:
            return str(eyes.members()[node]["state"])
        except (caxton.CaxtonError, KeyError):
            return "unknown"

    @staticmethod
    def _rejoined(ctx: FaultContext, eyes: Eyes, record: FaultRecord, node: str,
                  epoch: int) -> None:
        """The others see ``node`` alive again under a newer epoch."""
        def back() -> bool:
            member = eyes.members()[node]
            return bool(member["state"] == "alive" and member["epoch"] > epoch)

        if until(ctx.stop, back) is None:
            if not ctx.stop.is_set():
                record.problems.append(f"{node} did not rejoin the cluster (state "
                                       f"{_NodeFault._state(eyes, node)})")
            return
        record.info["epoch_after"] = eyes.members()[node]["epoch"]


class KillNode(_NodeFault):
    """SIGKILL the node that owns the target ledger, then restart it.

    Contained means: the others take it over (``dead``), every agent it owned
    serves on a survivor (recovery), and restarted after ``hold_s`` it answers
    and rejoins under a new epoch; the ledgers judge the failover (an
    acknowledged message the adopting node's replay missed is lost, one it
    applied twice is duplicated).
    """

    kind = NODE_KILL

    def _hit(self, target: ClusterTarget, name: str) -> None:
        target.kill(name)

    def _after(self, ctx: FaultContext, target: ClusterTarget, eyes: Eyes,
               record: FaultRecord, node: str, before: dict[str, Any]) -> None:
        ctx.stop.wait(record.planned.hold_s or 0.0)
        try:
            record.info["start_attempts"] = target.restart(node)
        except NodeDidNotStart as exc:
            record.problems.append(f"{node} did not start again: {exc}: {target.log_tail()}")
            return
        record.info["back_at"] = ctx.clock()
        self._rejoined(ctx, eyes, record, node, int(before["epoch"]))


class PauseNode(_NodeFault):
    """SIGSTOP the node that owns the target ledger past its lease, then SIGCONT it.

    The others see a partition: its lease lapses and they take it over. It is
    resumed ``hold_s`` after its agents serve elsewhere. Contained means, on
    top of the failover: it notices it was fenced (its ``fenced`` count rises;
    every write it tried meanwhile was refused), stops its stale instances, and
    rejoins under a new epoch with none of the agents it had.
    """

    kind = NODE_PAUSE

    def _hit(self, target: ClusterTarget, name: str) -> None:
        target.pause(name)

    def _after(self, ctx: FaultContext, target: ClusterTarget, eyes: Eyes,
               record: FaultRecord, node: str, before: dict[str, Any]) -> None:
        address = target.address_of(node)
        fenced_before = int(before["fenced"])
        ctx.stop.wait(record.planned.hold_s or 0.0)
        target.resume(node)
        resumed = ctx.clock()
        with caxton.connect(address, timeout=probes.PROBE_TIMEOUT_S) as client:
            answered = until(ctx.stop, client.ping)
            record.info["back_at"] = ctx.clock()
            if answered is None:
                if not ctx.stop.is_set():
                    record.problems.append(f"{node} did not answer after SIGCONT")
                return

            def fenced() -> bool:
                report = client.ping()["cluster"]
                return bool(report["fenced"] > fenced_before
                            and report["epoch"] > before["epoch"])

            if until(ctx.stop, fenced) is None:
                if not ctx.stop.is_set():
                    record.problems.append(f"{node} was not fenced after its resume "
                                           f"(cluster report {client.ping()['cluster']})")
                return
            record.info["fenced"] = True
            record.info["fenced_s"] = round(ctx.clock() - resumed, 4)
            target.fences[node] += 1
            stale = set(record.info.get("agents", ()))

            def let_go() -> bool:
                return not stale & {s.name for s in client.list_agents()}

            if until(ctx.stop, let_go) is None and not ctx.stop.is_set():
                kept = sorted(stale & {s.name for s in client.list_agents()})
                record.problems.append(f"{node} still runs {', '.join(kept)} after it was "
                                       "fenced")
        self._rejoined(ctx, eyes, record, node, int(before["epoch"]))


class RestartServer(Injector):
    """Stop the PostgreSQL server (``pg_ctl stop -m fast``: sessions are cut), keep it
    down for ``hold_s`` (0.5-4 s, either side of the lease), start it again.

    Contained means: every node's store is healthy again and every workload agent
    serves (recovery); and, unless a node fault overlapped, no node was taken
    over for it: no epoch rose (every lease lapses during a long outage; a node
    back judges the others only after a whole lease of its own renewals).
    """

    kind = PG_RESTART

    def inject(self, ctx: FaultContext, record: FaultRecord) -> FollowUp:
        target = _target(ctx)
        _acquire(target.store_fault, ctx.stop)
        eyes = Eyes(target)
        try:
            epochs = until(ctx.stop, lambda: {n: m["epoch"] for n, m in eyes.members().items()},
                           10.0)
            if epochs is None:
                raise Skipped("no node could list the cluster before the restart")
            begun = target.node_faults_begun
            overlapped = target.node_faults_active > 0
            record.target = "postgresql"
            record.info["epochs_before"] = epochs
            record.injected_at = ctx.clock()
            target.stop_server()
        except BaseException:
            eyes.close()
            target.store_fault.release()
            raise
        record.info["stopped_s"] = round(ctx.clock() - record.injected_at, 4)

        def follow_up() -> None:
            try:
                ctx.stop.wait(record.planned.hold_s or 0.0)
                try:
                    target.start_server()
                except RuntimeError as exc:
                    record.problems.append(f"the server did not start again: {exc}")
                    return
                record.info["outage_s"] = round(ctx.clock() - (record.injected_at or 0.0), 4)
                self._recovered(ctx, target, eyes, record)
                nonlocal overlapped
                overlapped = (overlapped or target.node_faults_active > 0
                              or target.node_faults_begun != begun)
                self._nobody_taken_over(eyes, record, epochs, overlapped)
            finally:
                eyes.close()
                target.store_fault.release()

        return follow_up

    @staticmethod
    def _recovered(ctx: FaultContext, target: ClusterTarget, eyes: Eyes,
                   record: FaultRecord) -> None:
        seen: dict[str, list[str]] = {}  # each node's store faults, as its pings said

        def stores_ok() -> bool:
            healthy = True
            for address in target.live_addresses():
                storage = eyes.client(address).ping()["storage"]
                if not storage["ok"]:
                    healthy = False
                    faults = seen.setdefault(target.name_of(address), [])
                    fault = str(storage["fault"])[:200]
                    if fault not in faults:
                        faults.append(fault)
            return healthy

        ok = until(ctx.stop, stores_ok)
        record.info["store_faults"] = seen
        if ok is None:
            if not ctx.stop.is_set():
                record.problems.append(f"a node's store did not recover from the restart "
                                       f"(faults seen: {seen})")
            return
        record.info["stores_ok_s"] = round(ctx.clock() - (record.injected_at or 0.0), 4)
        served, _ = await_agents(ctx, eyes, ctx.agents.all)
        if served is None:
            if not ctx.stop.is_set():
                record.problems.append("the agents did not all serve again within "
                                       f"{EVENT_DEADLINE_S:g}s of the server's return")
            return
        record.recovered_at = served
        record.info["errors_seen"] = dict(eyes.errors)

    @staticmethod
    def _nobody_taken_over(eyes: Eyes, record: FaultRecord, epochs: dict[str, int],
                           overlapped: bool) -> None:
        try:
            after = {n: m["epoch"] for n, m in eyes.members().items()}
        except caxton.CaxtonError as exc:
            record.problems.append(f"the cluster could not be listed after the restart: {exc}")
            return
        record.info["epochs_after"] = after
        moved = sorted(n for n, e in after.items() if e != epochs.get(n))
        if overlapped:
            record.info["takeovers"] = "not judged (a node fault overlapped)"
        elif moved:
            faults = {n: record.info.get("store_faults", {}).get(n) for n in moved}
            record.problems.append(f"{', '.join(moved)} taken over across the server restart "
                                   f"(epochs {epochs} before, {after} after; the store "
                                   f"faults its pings showed after the restart: {faults})")
        else:
            record.info["takeovers"] = 0


CLUSTER_INJECTORS: dict[str, Injector] = {
    injector.kind: injector for injector in (KillNode(), PauseNode(), RestartServer())
}


# -- liveness and the cluster's part of the report -----------------------------------------


class ClusterLiveness:
    """One ``LivenessSampler`` per node; a node is excused only inside the faults that
    took it down (its own kills and pauses): a server restart excuses nobody, since a
    node answers pings without its store."""

    def __init__(self, target: ClusterTarget, clock: Callable[[], float]) -> None:
        self.samplers = {name: LivenessSampler(target.address_of(name), clock)
                         for name in target.names}

    def start(self) -> None:
        for sampler in self.samplers.values():
            sampler.start()

    def stop(self) -> None:
        for sampler in self.samplers.values():
            sampler.stop()

    def summarize(self, records: Sequence[FaultRecord], now: float) -> dict[str, Any]:
        per_node: dict[str, dict[str, Any]] = {}
        for name, sampler in self.samplers.items():
            outages = [(r.injected_at, float(r.info.get("back_at", now))) for r in records
                       if r.planned.kind in NODE_FAULTS and r.info.get("node") == name
                       and r.injected_at is not None]
            per_node[name] = summarize(sampler.samples, outages)
        nodes = per_node.values()
        latencies = [n["max_latency_s"] for n in nodes if n["max_latency_s"] is not None]
        return {
            "pings": sum(n["pings"] for n in nodes),
            "answered": sum(n["answered"] for n in nodes),
            "unanswered": sum(n["unanswered"] for n in nodes),
            "unexpected": [{"at": u["at"], "what": f"{name}: {u['what']}"}
                           for name, n in per_node.items() for u in n["unexpected"]],
            "node_pids": sorted({p for n in nodes for p in n["node_pids"]}),
            "max_latency_s": max(latencies) if latencies else None,
            "deliberate_outages": [o for n in nodes for o in n["deliberate_outages"]],
            "per_node": per_node,
        }


def entries(target: ClusterTarget, agents: AgentSet) -> dict[str, tuple[str, ...]]:
    """Each agent's way in: agent ``i`` runs on node ``i mod 3`` and is sent to through
    node ``2i mod 3``: its own for one agent in three, another for the rest, so most
    of the load is forwarded from the start (the faults then move agents about). The
    other nodes follow, for when the first does not answer."""
    addresses = target.addresses
    out: dict[str, tuple[str, ...]] = {}
    for index, name in enumerate(agents.workload):
        first = (2 * index) % len(addresses)
        out[name] = tuple(addresses[(first + k) % len(addresses)]
                          for k in range(len(addresses)))
    return out


def cluster_report(target: ClusterTarget, through: Counter[str]) -> tuple[dict[str, Any],
                                                                          list[str]]:
    """Each node's view of itself at the end (epoch, takeovers it made, times it was
    fenced, requests it forwarded), the cluster's list, where the acknowledged load
    entered; and warnings for any epoch the harness's own faults do not explain (a
    node taken over that nobody killed or paused)."""
    warnings: list[str] = []
    report: dict[str, Any] = {"lease_s": target.lease_seconds,
                              "acknowledged_through": {target.name_of(a): c
                                                       for a, c in sorted(through.items())},
                              "nodes": {}}
    members: dict[str, dict[str, Any]] = {}
    with Eyes(target) as eyes:
        with contextlib.suppress(caxton.CaxtonError):
            members = eyes.members()
        for name in target.names:
            row: dict[str, Any] = {"killed": target.kills[name], "fenced_by_pause":
                                   target.fences[name]}
            try:
                with caxton.connect(target.address_of(name),
                                    timeout=probes.PROBE_TIMEOUT_S) as client:
                    row.update(client.ping()["cluster"] or {})
                    row["agents"] = sorted(s.name for s in client.list_agents())
            except caxton.CaxtonError as exc:
                row["error"] = f"{type(exc).__name__}: {exc}"
            member = members.get(name, {})
            row["state"] = member.get("state")
            epoch = member.get("epoch")
            row["epoch"] = epoch
            expected = 1 + target.kills[name] + target.fences[name]
            if isinstance(epoch, int) and epoch != expected:
                warnings.append(f"{name} is at epoch {epoch}, {expected} expected from the "
                                "faults injected: it was taken over or fenced unplanned")
            report["nodes"][name] = row
    report["takeovers"] = sum(int(r.get("takeovers", 0)) for r in report["nodes"].values())
    return report, warnings


def statuses(eyes: Eyes, names: Sequence[str]) -> dict[str, caxton.AgentStatus]:
    """The named agents' statuses through any node (``list`` shows the asked node's only)."""
    out: dict[str, caxton.AgentStatus] = {}
    for name in names:
        with contextlib.suppress(caxton.NoSuchAgent):
            out[name] = eyes.ask(functools.partial(caxton.Client.status, name=name))
    return out


__all__ = ["CLUSTER_INJECTORS", "ClusterLiveness", "ClusterTarget", "Eyes", "check_usable",
           "cluster_report", "entries", "spawn_agents", "statuses"]
