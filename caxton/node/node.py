"""The node: the root of the supervision tree, its loop and its wiring.

One single-threaded loop (the supervisor library's ``Runtime``) watches the
management socket, every agent process and the timers. The node owns that
loop, the management socket and the data folder, and wires the rooms that do
the work (see ``docs/node.md`` for the map):

* ``handlers``: one module per group of client operations;
* ``agents``: every agent's lifecycle under supervision;
* ``router``: every message from acceptance to acknowledgement, and the
  instance fields of each agent;
* ``modules``: validation and the compiled-artifact cache;
* ``store``: the SQLite journal, snapshots and agent specs;
* ``outbox``: replies held until the turn's commit.

A loop turn handles whatever is readable, dispatches the mailboxes that
changed, commits the store once, and only then sends the replies of the turn:
a client hears "accepted" only for what is durable.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq

from caxton import protocol
from caxton.deploy.controller import Deployments
from caxton.endpoint import local_endpoint
from caxton.errors import CaxtonError, StorageUnavailable
from caxton.node.agents import Agents
from caxton.node.budget import Budget
from caxton.node.cgroups import AgentCaps, log_support
from caxton.node.config import NodeConfig
from caxton.node.context import DEFERRED, NodeContext
from caxton.node.handlers import OPERATIONS, READ_ONLY
from caxton.node.lifecycle import State
from caxton.node.modules import Modules
from caxton.node.outbox import Outbox
from caxton.node.records import AgentRecord
from caxton.node.router import Router
from caxton.node.validation import Validator
from caxton.observe import Observing, attach
from caxton.security.exposure import is_local_only, listen_refusal
from caxton.security.files import PRIVATE_FILE, make_private, private_socket
from caxton.security.gate import Gate, Grant
from caxton.security.keys import KeyFileError
from caxton.store import Store, StoreError, is_url, open_store
from caxton.wasm import ModuleCache
from caxton.zmqflags import NOBLOCK, RCVMORE, readable
from supervisor import Runtime, TimerHandle, run_dir_fits

if TYPE_CHECKING:
    from caxton.node.cluster import ClusterRole

log = logging.getLogger("caxton.node")

TICK_SECONDS = 0.25
GROUP_COMMIT_SECONDS = 0.005
SHUTDOWN_DRAIN_SECONDS = 10.0
AGENT_PRELOAD = ("caxton.agent",)
# agent processes kept forked and warmed ahead of demand (supervisor._zygote)
AGENT_POOL = 2
# the validator process's memory cap beyond the largest memory a guest may ask
VALIDATOR_HEADROOM = 512 * 2**20


class NodeError(RuntimeError):
    """The node cannot start (data folder locked, address in use, ...)."""


class Node:
    """One node: a data folder, a management socket, and the agents they hold.

    It owns the loop and everything bound to the process (the data folder's
    lock, the sockets, the supervision runtime) and promises the turn's order:
    requests in, mailboxes dispatched, one commit, then replies out. On the
    first SIGTERM or SIGINT it drains every agent and exits; on a second it
    stops at once. Agents still up when it closes come back with the next node
    on the same data folder.
    """

    #: the router class; a test double of the node swaps it to break delivery on purpose
    router_class: type[Router] = Router

    def __init__(
        self,
        *,
        name: str = "n1",
        data_dir: str | os.PathLike[str] = "caxton-data",
        listen: str = protocol.DEFAULT_ADDRESS,
        config: NodeConfig | None = None,
    ) -> None:
        self.name = name
        self.config = config or NodeConfig()
        self.data_dir = Path(data_dir).resolve()
        #: authentication (``caxton.security.gate``); None: no keys, every client is admin
        self.gate = self._load_gate(listen)
        try:
            make_private(self.data_dir)
            self._lock = self._lock_data_dir()
        except OSError as exc:
            raise NodeError(f"cannot use the data folder {self.data_dir}: "
                            f"{exc.strerror or exc}") from None
        try:
            self.store = self._open_store()
            cache = ModuleCache(self.data_dir / "cache")
        except BaseException:
            os.close(self._lock)
            raise
        # the runtime's socket in the data folder, which the lock makes ours: a node
        # killed with SIGKILL leaves nothing in /tmp, and its next start clears it
        run_dir = self.data_dir / "run"
        self.runtime = Runtime(preload=AGENT_PRELOAD, name=f"caxton node {name}",
                               pool=AGENT_POOL, prewarm="caxton.agent:prewarm",
                               prewarm_args=[str(cache.directory)],
                               run_dir=run_dir if run_dir_fits(run_dir) else None)
        private_socket(self.runtime.endpoint)
        self.socket: zmq.Socket[bytes] = self.runtime.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_FRAME_BYTES)
        # a reply to a client that is gone fails instead of vanishing: that is
        # how monitors of closed clients are found and dropped
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.socket.setsockopt(zmq.SNDHWM, 100_000)
        self.socket.setsockopt(zmq.RCVHWM, 100_000)
        if self.gate is not None:  # before any bind: no connection without a key, IPC included
            self.gate.secure(self.socket)
            self.gate.start(self.runtime.context, self.runtime.add_reader)
        try:
            self.socket.bind(listen)
        except zmq.ZMQError as exc:
            self.close()
            raise NodeError(f"cannot listen on {listen}: {exc}") from None
        self.address = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.local_address = self._listen_locally(listen)
        self.outbox = Outbox(self.socket)
        records: dict[str, AgentRecord] = {}
        self.router = self.router_class(self.store, self.outbox, records)
        validator = Validator(self.runtime, max_seconds=self.config.validation_seconds,
                              memory_bytes=self.config.maximums.memory_bytes + VALIDATOR_HEADROOM)
        modules = Modules(self.data_dir / "modules", cache, validator)
        self.agents = Agents(records, runtime=self.runtime, store=self.store,
                             router=self.router, outbox=self.outbox, modules=modules,
                             quotas=self.config.quotas,
                             budget=Budget(max_agents=self.config.max_agents,
                                           memory_bytes=self.config.memory_budget_bytes),
                             cache_dir=cache.directory, changed=self._schedule_flush,
                             on_stopped=self._maybe_exit)
        self.agents.node_name = name
        self.agents.caps = AgentCaps(self.config.agent_cpu, self.config.agent_memory_overhead)
        log_support(self.runtime.cgroups, self.agents.caps)
        self.deploys = Deployments(store=self.store, agents=self.agents, router=self.router,
                                   modules=modules, outbox=self.outbox, runtime=self.runtime,
                                   changed=self._schedule_flush)
        # the first agent's start would otherwise wait on the zygote's preload inside
        # the loop (up to a second or more on a loaded machine): long enough, in a
        # cluster, for the node's lease to lapse under it
        self.runtime.wait_ready()
        self.cluster = self._join_cluster()
        self.context = NodeContext(
            name=name, config=self.config, instance=secrets.token_hex(8),
            local_address=self.local_address, started=time.time(), store=self.store,
            router=self.router, outbox=self.outbox, agents=self.agents, modules=modules,
            deploys=self.deploys, cluster=self.cluster,
            address=self.address)
        self.observing = self._observe()  # metrics, HTTP endpoint, flight recorder
        self._flush_scheduled = False
        self._commits_at_tick = -1
        self._group_commit: TimerHandle | None = None
        self._shutting_down = False
        #: requests that wait for the recovery's end (None: not recovering)
        self._held: list[tuple[bytes, bytes, int, Grant | None]] | None = None
        self._recovery: Iterator[tuple[int, int]] = iter(())
        self.runtime.add_reader(self.socket, self._on_readable)
        self.runtime.call_later(TICK_SECONDS, self._tick)

    # -- process plumbing ------------------------------------------------------------

    def _listen_locally(self, listen: str) -> str | None:
        """Also listen on an IPC socket in the data folder, for clients on this host
        (see ``caxton.endpoint``); the node works without it."""
        local = local_endpoint(self.data_dir)
        if local is None or listen.startswith("ipc://"):
            return None
        try:
            self.socket.bind(local)
        except zmq.ZMQError as exc:
            log.warning("not listening on %s: %s", local, exc)
            return None
        private_socket(local)
        return local

    def _observe(self) -> Observing:
        try:
            return attach(self)
        except ValueError as exc:
            self.close()
            raise NodeError(str(exc)) from None

    def _load_gate(self, listen: str) -> Gate | None:
        """The node's keys, or None without them; refuse an address other hosts can
        reach without keys unless the config says ``insecure`` (docs/security.md)."""
        config = self.config
        if (config.secret_key is None) != (config.authorized_keys is None):
            raise NodeError("keys need both --secret-key (the node's) and --authorized-keys "
                            "(a folder of the clients' public keys)")
        refusal = listen_refusal(listen, keys=config.secret_key is not None,
                                 insecure=config.insecure)
        if refusal is not None:
            raise NodeError(refusal)
        if config.secret_key is None or config.authorized_keys is None:
            if not is_local_only(listen):
                log.warning("listening on %s WITHOUT keys (--insecure): any host that reaches "
                            "it can run code as this user", listen)
            return None
        try:
            return Gate.load(config.secret_key, config.authorized_keys)
        except (KeyFileError, OSError) as exc:
            raise NodeError(f"keys: {exc}") from None

    def _join_cluster(self) -> ClusterRole | None:
        """A node on a PostgreSQL store is a member of the cluster that shares it
        (imported only then: a node on SQLite never loads the PostgreSQL driver)."""
        if self.config.store is None:
            return None
        import psycopg

        from caxton.node.cluster import ClusterRole
        from caxton.store.postgres import PostgresStore

        assert isinstance(self.store, PostgresStore)
        try:
            return ClusterRole(self, self.store, self.config.store)
        except (StoreError, psycopg.Error) as exc:
            self.close()
            raise NodeError(f"cannot join the cluster: {exc}") from None

    def _open_store(self) -> Store:
        """Open the store, refusing one that cannot be the truth about this folder.

        A missing or empty database beside stored modules means the store was
        lost (deleted, truncated): starting would silently forget every agent
        and every accepted message, so the node refuses and says so.
        """
        if self.config.store is not None:  # a server's store: its own checks
            if not is_url(self.config.store):
                raise NodeError(f"--store takes a postgresql:// URL, not {self.config.store!r}"
                                " (the default store is SQLite in the data folder)")
            try:
                return open_store(self.config.store, self.config.durability)
            except StoreError as exc:
                raise NodeError(str(exc)) from None
        path = self.data_dir / "caxton.db"
        modules = list((self.data_dir / "modules").glob("*.wasm"))
        if modules and (not path.exists() or path.stat().st_size == 0):
            what = "missing" if not path.exists() else "empty"
            raise NodeError(
                f"the store {path} is {what} but {len(modules)} modules are stored beside it:"
                " the store was lost; restore it from a backup, or move the data folder away"
                " to start an empty node")
        try:
            return open_store(path, self.config.durability)
        except StoreError as exc:
            raise NodeError(str(exc)) from None

    def _lock_data_dir(self) -> int:
        fd = os.open(self.data_dir / "node.lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise NodeError(f"another node is using the data folder {self.data_dir}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    def serve_forever(self) -> None:
        """Run until SIGTERM/SIGINT: the first drains every agent, a second stops at once."""
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno())
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: None)

        def on_signal() -> None:
            try:
                received = wake_r.recv(64)
            except BlockingIOError:
                return
            for _ in received:
                if self._shutting_down:
                    log.warning("second signal: stopping at once")
                    self.runtime.stop()
                    return
                self.begin_shutdown()

        self.runtime.add_reader(wake_r.fileno(), on_signal)
        self.deploys.prepare_recovery()  # a deployment the node died in: settled first
        # agents come back one a loop turn: ping, list and status are answered
        # meanwhile (showing the recovery); other requests wait for its end
        self._held = []
        self._recovery = self.agents.recover_steps()
        # the first step reads what there is to bring back: a ping answered in the
        # loop's first turn already shows the recovery and its size
        self._recover_step()
        log.info("node %s listening on %s (data %s)", self.name, self.address, self.data_dir)
        try:
            self.runtime.run_forever()
        finally:
            signal.set_wakeup_fd(-1)
            self.close()
            wake_r.close()
            wake_w.close()

    def _recover_step(self) -> None:
        try:
            next(self._recovery)
        except StopIteration:
            self._recovered()
            return
        self.runtime.call_soon(self._recover_step)

    def _recovered(self) -> None:
        self.deploys.recovered()
        # Everything built so far (imports, recovered agents) lives as long as
        # the node: out of the collector's sight, a full collection no longer
        # walks it, which keeps those pauses off the message path.
        gc.collect()
        gc.freeze()
        held, self._held = self._held or [], None
        for identity, frame, extra, grant in held:
            self._handle_frames(identity, frame, extra, grant)
        self._schedule_flush()
        log.info("node %s recovered %d agents", self.name, len(self.agents))

    def _waits_for_recovery(self, operation: str, arguments: Any) -> bool:
        """During recovery only what reads the node now is answered at once: ping, list,
        and the status of an agent already back."""
        if operation in ("ping", "list", "overview", "crashes"):
            return False
        if operation == "status" and isinstance(arguments, dict):
            name = arguments.get("name")
            # a name that is not even a string is answered (refused) at once
            return isinstance(name, str) and name not in self.agents.by_name
        return True

    def begin_shutdown(self) -> None:
        log.info("draining %d agents before exit", len(self.agents))
        self._shutting_down = True
        for rec in self.agents.records():
            if rec.lifecycle.state is State.RUNNING:
                self.agents.begin_drain(rec, SHUTDOWN_DRAIN_SECONDS, persist=False)
            elif rec.supervisor is not None:
                self.agents.halt(rec)
        self._maybe_exit()

    def _maybe_exit(self) -> None:
        if self._shutting_down and not any(
            r.lifecycle.state is State.DRAINING for r in self.agents.records()
        ):
            self.runtime.stop()

    def close(self) -> None:
        # Agents still up come down with the node; the store keeps them "running"
        # so the next node on this data folder brings them back.
        observing = getattr(self, "observing", None)
        if observing is not None:
            observing.close()
        cluster = getattr(self, "cluster", None)
        if cluster is not None:
            cluster.links.close()
        self.runtime.close()
        self.store.close()
        if cluster is not None:
            cluster.close()  # after the last commit: the others adopt from it
        self.socket.close(0)
        os.close(self._lock)

    # -- the loop turn ---------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.runtime.call_soon(self._flush)

    def _flush(self) -> None:
        """End of a loop turn: dispatch, then commit if anything needs it, then reply.

        A commit is needed when a message was accepted (its "accepted", or the
        later reply to a call, must only ever follow a durable journal entry) or
        a reply that promises durability is waiting. What acknowledgements alone
        write (handled marks, snapshots) is group-committed within
        ``GROUP_COMMIT_SECONDS``: losing it to a crash only means those messages
        are delivered again and their effects recomputed.

        While the store cannot commit (``Store.fault``), replies that promise
        durability stay held; the tick retries the commit and releases them.
        """
        self._flush_scheduled = False
        dirty, self.router.dirty = self.router.dirty, set()
        for rec in dirty:
            self.router.dispatch(rec)
        if self.store.fault is None and (self.router.accepted or self.outbox):
            self.router.accepted = False
            self.store.commit()
            if self.cluster is not None:
                self.cluster.after_commit()
        elif self.store.dirty and self._group_commit is None:
            self._group_commit = self.runtime.call_later(GROUP_COMMIT_SECONDS,
                                                         self._commit_group)
        self.outbox.flush(hold_promises=self.store.fault is not None)

    def _commit_group(self) -> None:
        self._group_commit = None
        if self.store.fault is None:
            self.store.commit()

    def _retry_store(self) -> None:
        """The store faulted: try the commit again; on success release what waited."""
        if not self.store.commit():
            return
        self.router.accepted = False
        self.router.resume_starts()
        self.outbox.flush()
        self._schedule_flush()

    def _tick(self) -> None:
        if self.gate is not None:  # a key removed from the folder is refused within a tick
            self.gate.refresh()
        if self.cluster is not None:
            self.cluster.tick()
        if self.store.fault is not None:
            self._retry_store()
        # Nothing committed for a whole tick: the loop is idle, so this is
        # when the store's checkpoint stalls nobody.
        if self.store.commits == self._commits_at_tick:
            self.store.checkpoint()
        self._commits_at_tick = self.store.commits
        now = time.monotonic()
        for rec in self.agents.records():
            if not rec.serving:
                continue
            if self.router.snapshot_due(rec, now):
                self.router.request_snapshot(rec)
            if rec.spec.health is not None and now >= rec.next_probe:
                rec.next_probe = now + float(rec.spec.health["interval"])
                self.router.probe_health(rec)
        self.observing.tick()
        self.runtime.call_later(TICK_SECONDS, self._tick)

    def _on_readable(self) -> None:
        """Read every request waiting, up to a bound; each is answered within the turn.

        With keys, each request goes with the grant of the key its connection
        proved it holds: libzmq's User-Id on the frame (see
        ``caxton.security.gate`` for why never by ROUTER identity).
        """
        sock, gate = self.socket, self.gate
        recv, more = sock.recv, sock.getsockopt
        try:
            for _ in range(2000):  # the poll said readable: no need to ask before the first
                try:
                    if gate is None:
                        identity, grant = recv(NOBLOCK), None
                    else:
                        proved = recv(NOBLOCK, copy=False)
                        identity, grant = proved.bytes, gate.grant(proved)
                except zmq.Again:
                    break
                # a ROUTER puts the sender's identity before at least one frame
                frame = recv()
                extra = 0
                while more(RCVMORE):
                    recv()
                    extra += 1
                try:
                    self._handle_frames(identity, frame, extra, grant)
                except Exception:  # a bug costs this frame an internal error, never its answer
                    self._answer_bug(identity, frame)
                if not readable(sock):
                    break
        finally:
            # whatever happened to one frame, the replies of the turn leave
            self._schedule_flush()

    def _answer_bug(self, identity: bytes, frame: bytes) -> None:
        log.exception("a request failed outside its handler")
        self.outbox.raw(identity, protocol.encode_error(
            protocol.request_id_of(frame), "CaxtonError", "internal error (see the node's log)"))

    def _handle_frames(self, identity: bytes, frame: bytes, extra: int,
                       grant: Grant | None = None) -> None:
        if extra:
            self.outbox.raw(identity, protocol.encode_error(
                None, "InvalidRequest", f"expected one frame per request, got {extra + 1}"))
            return
        try:
            request = protocol.decode_request(frame)
        except protocol.ProtocolError as exc:
            self.outbox.raw(identity, protocol.encode_error(
                exc.request_id, "InvalidRequest", str(exc)))
            return
        waiter = (identity, request.request_id)
        if grant is not None and request.operation not in grant.operations:
            self.outbox.error(waiter, grant.refusal(request.operation))
            return
        if self._held is not None and self._waits_for_recovery(request.operation,
                                                               request.arguments):
            self._held.append((identity, frame, extra, grant))  # answered once recovered
            return
        if self.cluster is not None:
            try:
                if self.cluster.intercept(identity, request):
                    return  # forwarded: the owner's answer comes back over the link
            except CaxtonError as exc:
                self.outbox.error(waiter, exc)
                return
        if self.store.fault is not None and request.operation not in READ_ONLY:
            self.outbox.error(waiter, StorageUnavailable(
                f"the node cannot write its store ({self.store.fault}); it accepts nothing"
                " until it can, and recovers on its own", fault=self.store.fault))
            return
        try:
            result = OPERATIONS[request.operation](self.context, waiter, request.arguments)
        except CaxtonError as exc:
            self.outbox.error(waiter, exc)
            return
        except RecursionError:  # arguments nested deep enough to exhaust Python's stack
            self.outbox.raw(identity, protocol.encode_error(
                request.request_id, "InvalidRequest", "the request's arguments nest too deeply"))
            return
        except Exception as exc:  # a bug must cost one request, never the node
            log.exception("request %s failed", request.operation)
            self.outbox.error(waiter, CaxtonError(
                f"internal error: {type(exc).__name__}: {protocol.quote(exc)}"))
            return
        if result is not DEFERRED:
            self.outbox.ok(waiter, result, durable=request.operation not in READ_ONLY)
