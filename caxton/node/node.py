"""The node: the root of the supervision tree and the owner of every agent.

One single-threaded loop (the supervisor library's ``Runtime``) watches the
management socket, every agent process and the timers. Each agent gets its own
supervisor holding one worker (the agent process), so its restart policy and
restart intensity are its own and one agent giving up never takes another down.

A loop turn handles whatever is readable, dispatches the mailboxes that
changed, commits the store once, and only then sends the replies of the turn:
a client hears "accepted" only for what is durable.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import zmq

from caxton import protocol
from caxton.endpoint import local_endpoint
from caxton.errors import (
    AgentExists,
    AgentNotRunning,
    CallFailed,
    CaxtonError,
    InvalidRequest,
    MailboxFull,
    NoSuchAgent,
    SpawnFailed,
    ValidationFailed,
)
from caxton.node.lifecycle import Lifecycle, State, Transition
from caxton.node.outbox import Outbox
from caxton.node.records import AgentRecord, Message, Waiter
from caxton.node.router import EXTERNAL, Router
from caxton.node.spec import AgentSpec, check_name, parse_spawn
from caxton.node.store import Store
from caxton.node.supervision import child_spec_for, supervisor_spec_for
from caxton.wasm import (
    ContractVector,
    Limits,
    ModuleCache,
    ModuleLoadError,
    SecurityPolicy,
    load_module,
    module_bytes,
    validate,
)
from supervisor import Event, Runtime, SpecError, TimerHandle
from supervisor.flags import NOBLOCK, RCVMORE, readable

log = logging.getLogger("caxton.node")

DEFERRED = object()  # a handler's result when the reply comes later
TICK_SECONDS = 0.25
GROUP_COMMIT_SECONDS = 0.005
SHUTDOWN_DRAIN_SECONDS = 10.0
AGENT_PRELOAD = ("caxton.agent",)
# agent processes kept forked and warmed ahead of demand (supervisor._zygote)
AGENT_POOL = 2


class NodeError(RuntimeError):
    """The node cannot start (data folder locked, address in use, ...)."""


class Node:
    def __init__(
        self,
        *,
        name: str = "n1",
        data_dir: str | os.PathLike[str] = "caxton-data",
        listen: str = protocol.DEFAULT_ADDRESS,
    ) -> None:
        self.name = name
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = self._lock_data_dir()
        self.modules_dir = self.data_dir / "modules"
        self.modules_dir.mkdir(exist_ok=True)
        self.cache = ModuleCache(self.data_dir / "cache")
        self.store = Store(self.data_dir / "caxton.db")
        self.runtime = Runtime(preload=AGENT_PRELOAD, name=f"caxton node {name}",
                               pool=AGENT_POOL, prewarm="caxton.agent:prewarm",
                               prewarm_args=[str(self.cache.directory)])
        self.socket: zmq.Socket[bytes] = self.runtime.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_FRAME_BYTES)
        # a reply to a client that is gone fails instead of vanishing: that is
        # how monitors of closed clients are found and dropped
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.socket.setsockopt(zmq.SNDHWM, 100_000)
        self.socket.setsockopt(zmq.RCVHWM, 100_000)
        try:
            self.socket.bind(listen)
        except zmq.ZMQError as exc:
            self.close()
            raise NodeError(f"cannot listen on {listen}: {exc}") from None
        self.address = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.local_address = self._listen_locally(listen)
        # tells a client that the IPC socket it found leads to this very node
        self.instance = secrets.token_hex(8)
        self.outbox = Outbox(self.socket)
        self.agents: dict[str, AgentRecord] = {}
        self._by_supervisor: dict[str, AgentRecord] = {}
        self.router = Router(self.store, self.outbox, self.agents)
        self.router.on_snapshot_saved = self._after_snapshot
        self._flush_scheduled = False
        self._commits_at_tick = -1
        self._group_commit: TimerHandle | None = None
        self._validated: dict[tuple[Any, ...], Any] = {}
        self._installed: set[tuple[str, str]] = set()
        self._shutting_down = False
        self._started = time.time()
        self._handlers: dict[str, Callable[[Waiter, dict[str, Any]], Any]] = {
            "ping": self._ping,
            "spawn": self._spawn,
            "call": self._call,
            "send": self._send,
            "send_batch": self._send_batch,
            "stop": self._stop,
            "restart": self._restart,
            "remove": self._remove,
            "status": self._status,
            "list": self._list,
            "monitor": self._monitor,
            "snapshot": self._snapshot,
            "dead_letters": self._dead_letters,
        }
        self.runtime.add_reader(self.socket, self._on_readable)
        self.runtime.subscribe(self._on_event)
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
        return local

    def _lock_data_dir(self) -> int:
        fd = os.open(self.data_dir / "node.lock", os.O_RDWR | os.O_CREAT, 0o644)
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
        self.recover()
        # Everything built so far (imports, recovered agents) lives as long as
        # the node: out of the collector's sight, a full collection no longer
        # walks it, which keeps those pauses off the message path.
        gc.collect()
        gc.freeze()
        log.info("node %s listening on %s (data %s)", self.name, self.address, self.data_dir)
        try:
            self.runtime.run_forever()
        finally:
            signal.set_wakeup_fd(-1)
            self.close()
            wake_r.close()
            wake_w.close()

    def begin_shutdown(self) -> None:
        log.info("draining %d agents before exit", len(self.agents))
        self._shutting_down = True
        for rec in list(self.agents.values()):
            if rec.lifecycle.state is State.RUNNING:
                self._begin_drain(rec, SHUTDOWN_DRAIN_SECONDS, persist=False)
            elif rec.supervisor is not None:
                self._halt(rec)
        self._maybe_exit()

    def _maybe_exit(self) -> None:
        if self._shutting_down and not any(
            r.lifecycle.state is State.DRAINING for r in self.agents.values()
        ):
            self.runtime.stop()

    def close(self) -> None:
        # Agents still up come down with the node; the store keeps them "running"
        # so the next node on this data folder brings them back.
        self.runtime.close()
        self.store.close()
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
        """
        self._flush_scheduled = False
        dirty, self.router.dirty = self.router.dirty, set()
        for rec in dirty:
            self.router.dispatch(rec)
        if self.router.accepted or self.outbox:
            self.router.accepted = False
            self.store.commit()
        elif self.store.dirty and self._group_commit is None:
            self._group_commit = self.runtime.call_later(GROUP_COMMIT_SECONDS,
                                                         self._commit_group)
        self.outbox.flush()

    def _commit_group(self) -> None:
        self._group_commit = None
        self.store.commit()

    def _tick(self) -> None:
        # Nothing committed for a whole tick: the loop is idle, so this is
        # when the store's checkpoint stalls nobody.
        if self.store.commits == self._commits_at_tick:
            self.store.checkpoint()
        self._commits_at_tick = self.store.commits
        now = time.monotonic()
        for rec in self.agents.values():
            if not rec.serving:
                continue
            if self.router.snapshot_due(rec, now):
                self.router.request_snapshot(rec)
            if rec.spec.health is not None and now >= rec.next_probe:
                rec.next_probe = now + float(rec.spec.health["interval"])
                self.router.probe_health(rec)
        self.runtime.call_later(TICK_SECONDS, self._tick)

    def _on_readable(self) -> None:
        sock = self.socket
        recv, more = sock.recv, sock.getsockopt
        for _ in range(2000):  # the poll said readable: no need to ask before the first
            try:
                identity = recv(NOBLOCK)
            except zmq.Again:
                break
            # a ROUTER puts the sender's identity before at least one frame
            frame = recv()
            extra = 0
            while more(RCVMORE):
                recv()
                extra += 1
            self._handle_frames(identity, frame, extra)
            if not readable(sock):
                break
        self._schedule_flush()

    def _handle_frames(self, identity: bytes, frame: bytes, extra: int) -> None:
        if extra:
            self.outbox.raw(identity, protocol.encode_error(
                None, "InvalidRequest", f"expected one frame per request, got {extra + 1}"))
            return
        try:
            request = protocol.decode_request(frame)
        except protocol.ProtocolError as exc:
            self.outbox.raw(identity, protocol.encode_error(
                protocol.request_id_of(frame), "InvalidRequest", str(exc)))
            return
        waiter = (identity, request.request_id)
        try:
            result = self._handlers[request.operation](waiter, request.arguments)
        except CaxtonError as exc:
            self.outbox.error(waiter, exc)
            return
        except Exception as exc:  # a bug must cost one request, never the node
            log.exception("request %s failed", request.operation)
            self.outbox.error(waiter, CaxtonError(f"internal error: {type(exc).__name__}: {exc}"))
            return
        if result is not DEFERRED:
            self.outbox.ok(waiter, result)

    # -- agents: lookup, status -----------------------------------------------------------

    def _agent(self, arguments: dict[str, Any]) -> AgentRecord:
        name = arguments.get("name")
        rec = self.agents.get(name) if isinstance(name, str) else None
        if rec is None:
            raise NoSuchAgent(f"no agent named {name!r}", name=name)
        return rec

    @staticmethod
    def _payload(arguments: dict[str, Any]) -> bytes:
        payload = arguments.get("payload")
        if not isinstance(payload, bytes):
            raise InvalidRequest("payload must be bytes", field="payload")
        return payload

    def status_of(self, rec: AgentRecord) -> dict[str, Any]:
        rss = 0
        if rec.pid is not None:
            with contextlib.suppress(psutil.Error):  # the process just went away
                rss = psutil.Process(rec.pid).memory_info().rss
        return {
            "name": rec.name,
            "state": str(rec.lifecycle.state),
            "module_sha256": rec.spec.module_sha256,
            "pid": rec.pid,
            "uptime_s": None if rec.started_at is None else time.time() - rec.started_at,
            "restarts": rec.restarts,
            "last_failure": rec.last_failure,
            "memory_bytes": rec.memory_bytes,
            "rss_bytes": rss,
            "fuel_consumed": rec.fuel_consumed,
            "messages_handled": rec.handled,
            "messages_failed": rec.failed,
            "mailbox_depth": rec.depth,
            "health": rec.health,
            "monitors": len(rec.monitors),
            "restart": rec.spec.restart,
            "policy": rec.spec.policy_kind,
        }

    # -- management operations --------------------------------------------------------------

    def _ping(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        return {"node": self.name, "pid": os.getpid(), "agents": len(self.agents),
                "uptime_s": time.time() - self._started, "protocol": protocol.PROTOCOL_VERSION,
                "local": self.local_address, "instance": self.instance}

    def _spawn(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        name = check_name(arguments.get("name"))
        if name in self.agents:
            raise AgentExists(f"an agent named {name!r} already exists", name=name)
        source = arguments.get("module")
        if not isinstance(source, bytes):
            raise InvalidRequest("module must be bytes (wasm binary or WAT text)", field="module")
        try:
            wasm = module_bytes(source)
        except ModuleLoadError as exc:
            raise InvalidRequest(f"module: {exc}", field="module") from None
        sha256 = hashlib.sha256(wasm).hexdigest()
        spec = parse_spawn(arguments, sha256, Limits().to_dict())
        try:
            Limits.from_dict(spec.limits)
        except ValueError as exc:
            raise InvalidRequest(f"limits: {exc}", field="limits") from None
        self._validate(spec, wasm, arguments.get("vectors"))
        self.store.put_module(sha256, wasm)
        self._install_module(sha256, wasm, spec)
        rec = self._new_record(spec)
        rec.spawn_waiters.append(waiter)
        rec.lifecycle.to(State.LOADED, "validated and compiled")
        self.store.save_agent(name, spec.to_dict(), State.LOADED)
        try:
            self._start_supervision(rec)
        except SpecError as exc:  # parse_spawn mirrors these rules; this is the backstop
            self._forget(rec)
            raise InvalidRequest(str(exc)) from None
        return DEFERRED

    def _forget(self, rec: AgentRecord) -> None:
        self.agents.pop(rec.name, None)
        self.store.delete_agent(rec.name)

    def _validate(self, spec: AgentSpec, wasm: bytes, raw_vectors: Any) -> None:
        vectors = _parse_vectors(raw_vectors)
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

    def _install_module(self, sha256: str, wasm: bytes, spec: AgentSpec) -> Path:
        """Write the module where agent processes read it, and fill the compile cache.

        Done once per module and policy in the life of the node: agent processes
        then only deserialize the cached artifact.
        """
        path = self.modules_dir / f"{sha256}.wasm"
        if (sha256, spec.security) in self._installed:
            return path
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(wasm)
            tmp.replace(path)
        load_module(path, cache=self.cache, policy=SecurityPolicy.preset(spec.security))
        self._installed.add((sha256, spec.security))
        return path

    def _new_record(self, spec: AgentSpec) -> AgentRecord:
        name = spec.name

        def record_transition(t: Transition) -> None:
            self.store.record_event(name, "transition", t.source, t.target, t.reason)
            self.store.set_agent_state(name, t.target)

        rec = AgentRecord(spec=spec, lifecycle=Lifecycle(on_transition=record_transition))
        self.agents[name] = rec
        return rec

    def _start_supervision(self, rec: AgentRecord) -> None:
        config = {
            "name": rec.name,
            "module_path": str(self.modules_dir / f"{rec.spec.module_sha256}.wasm"),
            "cache_dir": str(self.cache.directory),
            "limits": rec.spec.limits,
            "security": rec.spec.security,
        }
        sup_spec = supervisor_spec_for(rec.spec)
        rec.supervisor = self.runtime.start_supervisor(
            sup_spec, [child_spec_for(rec.spec, config)],
            on_message=lambda _child, message: self._on_agent_message(rec, message))
        self._by_supervisor[sup_spec.id] = rec

    def _call(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        rec = self._agent(arguments)
        payload = self._payload(arguments)
        self.router.check_accepts(rec, payload)
        self.router.accept(rec, EXTERNAL, payload, caller=waiter)
        return DEFERRED

    def _send(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        rec = self._agent(arguments)
        payload = self._payload(arguments)
        self.router.check_accepts(rec, payload)
        message_id = self.router.accept(rec, EXTERNAL, payload)
        return message_id

    def _send_batch(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        """Several messages in one request: all accepted, in order, or none."""
        rec = self._agent(arguments)
        payloads = arguments.get("payloads")
        if not isinstance(payloads, list) or not all(isinstance(p, bytes) for p in payloads):
            raise InvalidRequest("payloads must be a list of bytes", field="payloads")
        for payload in payloads:
            self.router.check_accepts(rec, payload)
        if rec.depth + len(payloads) > rec.spec.mailbox:
            raise MailboxFull(f"agent {rec.name!r} has room for {rec.spec.mailbox - rec.depth}"
                              f" of {len(payloads)} messages", bound=rec.spec.mailbox)
        return [self.router.accept(rec, EXTERNAL, payload) for payload in payloads]

    def _stop(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        rec = self._agent(arguments)
        timeout = arguments.get("timeout", 30.0)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise InvalidRequest("timeout must be a positive number", field="timeout")
        state = rec.lifecycle.state
        if state is State.STOPPED:
            return self.status_of(rec)
        if state in (State.RUNNING, State.DRAINING):
            rec.stop_waiters.append(waiter)
            if state is State.RUNNING:
                self._begin_drain(rec, float(timeout), persist=True)
            return DEFERRED
        self._halt(rec)
        rec.lifecycle.to(State.STOPPED, "stopped by request")
        return self.status_of(rec)

    def _restart(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        rec = self._agent(arguments)
        if rec.lifecycle.state not in (State.STOPPED, State.FAILED):
            state = str(rec.lifecycle.state)
            raise InvalidRequest(f"agent {rec.name!r} is {state}; only a stopped or failed"
                                 " agent can be restarted", state=state)
        self._halt(rec)
        rec.ever_ready = False
        rec.lifecycle.to(State.LOADED, "restarted by request")
        rec.spawn_waiters.append(waiter)
        self._start_supervision(rec)
        return DEFERRED

    def _remove(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        rec = self._agent(arguments)
        self._halt(rec)
        gone = NoSuchAgent(f"agent {rec.name!r} was removed", name=rec.name)
        self.router.fail_callers(rec, gone)
        for waiters in (rec.spawn_waiters, rec.stop_waiters, rec.snapshot_waiters):
            for w in waiters:
                self.outbox.error(w, gone)
            waiters.clear()
        for monitor in rec.monitors:
            self.outbox.event(monitor, {"name": rec.name, "pid": None, "reason": "removed",
                                        "time": time.time(), "restarting": False})
        self.store.delete_agent(rec.name)
        self.store.record_event(rec.name, "removed", str(rec.lifecycle.state), "unloaded", "")
        del self.agents[rec.name]
        self.router.dirty.discard(rec)
        return None

    def _status(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        return self.status_of(self._agent(arguments))

    def _list(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        return [self.status_of(rec) for rec in self.agents.values()]

    def _monitor(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        rec = self._agent(arguments)
        rec.monitors.append(waiter)
        return {"monitoring": rec.name}

    def _snapshot(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        rec = self._agent(arguments)
        if not rec.serving:
            raise AgentNotRunning(f"agent {rec.name!r} has no instance serving now",
                                  state=str(rec.lifecycle.state))
        rec.snapshot_waiters.append(waiter)
        self.router.request_snapshot(rec)
        return DEFERRED

    def _dead_letters(self, waiter: Waiter, arguments: dict[str, Any]) -> Any:
        return self.store.dead_letters(self._agent(arguments).name)

    # -- draining and stopping ----------------------------------------------------------------

    def _begin_drain(self, rec: AgentRecord, timeout: float, *, persist: bool) -> None:
        rec.persist_stop = persist
        rec.lifecycle.to(State.DRAINING, "stop requested" if persist else "node shutting down")
        rec.stop_deadline = self.runtime.call_later(
            timeout, lambda: self._finish_stop(rec, f"drain timed out after {timeout:g}s"))
        self._maybe_finish_drain(rec)

    def _maybe_finish_drain(self, rec: AgentRecord) -> None:
        if rec.lifecycle.state is not State.DRAINING or rec.mailbox or rec.in_flight:
            return
        if rec.serving:
            rec.drain_snapshot = True
            self.router.request_snapshot(rec)

    def _after_snapshot(self, rec: AgentRecord) -> None:
        if rec.lifecycle.state is State.DRAINING and rec.drain_snapshot:
            self._finish_stop(rec, "drained")

    def _finish_stop(self, rec: AgentRecord, reason: str) -> None:
        if rec.lifecycle.state is not State.DRAINING:
            return
        rec.drain_snapshot = False
        if rec.stop_deadline is not None:
            rec.stop_deadline.cancel()
            rec.stop_deadline = None
        self._halt(rec)
        rec.lifecycle.to(State.STOPPED, reason)
        if not rec.persist_stop:
            self.store.set_agent_state(rec.name, State.RUNNING)
        status = self.status_of(rec)
        for waiter in rec.stop_waiters:
            self.outbox.ok(waiter, status)
        rec.stop_waiters.clear()
        self.router.fail_callers(rec, AgentNotRunning(f"agent {rec.name!r} stopped"))
        self._schedule_flush()
        self._maybe_exit()

    def _halt(self, rec: AgentRecord) -> None:
        """Take the agent's supervision subtree down without counting it as a failure."""
        sup, rec.supervisor = rec.supervisor, None
        if sup is None:
            return
        self._by_supervisor.pop(sup.id, None)
        if rec.in_flight:
            rec.mailbox.extendleft(reversed(list(rec.in_flight.values())))
            rec.in_flight.clear()
        rec.serving = False
        rec.pid = None
        sup.stop()

    # -- what agent processes say ----------------------------------------------------------------

    def _on_agent_message(self, rec: AgentRecord, message: Any) -> None:
        if rec.supervisor is None:
            return
        kind = message[0]
        if kind == "a":
            self.router.on_acks(rec, message[1], message[2])
            if rec.lifecycle.state is State.DRAINING:
                self._maybe_finish_drain(rec)
        elif kind == "hello":
            rec.pid = message[1]
            self.router.start_instance(rec, bool(message[2]))
        elif kind == "ready":
            self._on_ready(rec, message[1])
        elif kind == "failed":
            self.router.on_failed(rec, message[1], str(message[2]), str(message[3]))
        elif kind == "snap":
            self.router.on_snapshot(rec, message[1], message[2])
        elif kind == "h":
            # The guest's own verdict (caxton_health) is reported, not acted on:
            # only missed pings, which mean the process is stuck, replace it.
            rec.health = "healthy" if message[1] else f"unhealthy: {message[2]}"
        elif kind == "log":
            log.log(_LOG_LEVELS.get(message[1], logging.INFO), "agent %s: %s", rec.name,
                    message[2])
        self.router.dirty.add(rec)
        self._schedule_flush()

    def _on_ready(self, rec: AgentRecord, info: dict[str, Any]) -> None:
        rec.serving = True
        rec.started_at = time.time()
        rec.health = "healthy"
        rec.memory_bytes = int(info.get("memory_bytes", 0))
        if rec.lifecycle.state is State.LOADED:
            rec.lifecycle.to(State.READY, "first instance initialised")
            rec.lifecycle.to(State.RUNNING, "serving")
        if not rec.ever_ready:
            rec.ever_ready = True
            status = self.status_of(rec)
            for waiter in rec.spawn_waiters:
                self.outbox.ok(waiter, status)
            rec.spawn_waiters.clear()
        if rec.lifecycle.state is State.DRAINING:
            self._maybe_finish_drain(rec)

    def _on_event(self, event: Event) -> None:
        rec = self._by_supervisor.get(event.supervisor)
        if rec is None:
            return
        kind = event.kind
        if kind == "exited":
            self._on_instance_down(rec, event)
        elif kind == "restarting":
            rec.restarts += 1
        elif kind == "unhealthy":
            rec.health = "unhealthy"
        elif kind in ("gave_up", "manual_wait", "intensity_exceeded", "terminated"):
            self._give_up(rec, f"{kind.replace('_', ' ')}: {event.reason or 'unknown'}")
        self._schedule_flush()

    def _on_instance_down(self, rec: AgentRecord, event: Event) -> None:
        reason = event.reason or "unknown"
        self.router.on_down(rec, reason)
        if reason not in ("normal", "shutdown"):
            rec.last_failure = reason
        rec.health = "down"
        will_restart = rec.ever_ready and _restarts_after(rec.spec, reason)
        down = {"name": rec.name, "pid": event.pid, "reason": reason, "time": event.time,
                "restarting": will_restart}
        rec.monitors = [m for m in rec.monitors if self.outbox.event(m, down)]
        if not rec.ever_ready:
            self._give_up(rec, f"first instance did not start: {reason}")
        elif not will_restart and rec.spec.policy_kind not in ("manual", "never"):
            # temporary (or transient after a normal exit): supervision drops it quietly
            self._give_up(rec, f"{rec.spec.restart} agent exited: {reason}")

    def _give_up(self, rec: AgentRecord, reason: str) -> None:
        if rec.lifecycle.state in (State.FAILED, State.STOPPED):
            return
        log.error("agent %s failed: %s", rec.name, reason)
        rec.last_failure = rec.last_failure or reason
        self._halt(rec)
        was_draining = rec.lifecycle.state is State.DRAINING
        rec.lifecycle.to(State.FAILED, reason)
        error = SpawnFailed(f"agent {rec.name!r} failed to start: {reason}", reason=reason)
        for waiter in rec.spawn_waiters:
            self.outbox.error(waiter, error)
        rec.spawn_waiters.clear()
        self.router.fail_callers(rec, CallFailed(f"agent {rec.name!r} failed: {reason}",
                                                 reason="agent_failed"))
        if was_draining:
            for waiter in rec.stop_waiters:
                self.outbox.ok(waiter, self.status_of(rec))
            rec.stop_waiters.clear()
            self._maybe_exit()

    # -- recovery ----------------------------------------------------------------------------------

    def recover(self) -> None:
        """Bring back every agent of the data folder as it was when the node went down."""
        for spec_dict, state in self.store.load_agents():
            spec = AgentSpec.from_dict(spec_dict)
            rec = self._new_record(spec)
            rec.mailbox.extend(
                Message(m.id, m.sender, m.payload, m.attempts, m.reasons)
                for m in self.store.pending_messages(spec.name))
            comes_back = state in (State.LOADED, State.READY, State.RUNNING, State.DRAINING)
            if comes_back and spec.restart != "temporary":
                wasm = self.store.get_module(spec.module_sha256)
                if wasm is None:
                    rec.lifecycle.state = State.FAILED
                    rec.last_failure = "module missing from the store"
                    continue
                self._install_module(spec.module_sha256, wasm, spec)
                rec.lifecycle.to(State.LOADED, "node restarted")
                self._start_supervision(rec)
            else:
                rec.lifecycle.state = State(state) if not comes_back else State.FAILED
        self.store.commit()


def _restarts_after(spec: AgentSpec, reason: str) -> bool:
    """Whether supervision will bring an instance back after it exited for ``reason``."""
    if spec.restart == "temporary" or spec.policy_kind in ("manual", "never"):
        return False
    return not (spec.restart == "transient" and reason in ("normal", "shutdown"))


def _parse_vectors(raw: Any) -> list[ContractVector]:
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


_LOG_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}
