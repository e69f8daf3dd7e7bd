"""The Python API users drive a node with: ``caxton.connect(...)``.

A ``Client`` owns one ZeroMQ DEALER socket and speaks the management protocol
(``caxton.protocol``); it knows nothing of the node's insides. Requests are
synchronous and matched to replies by id, so a reply that arrives after its
request timed out is recognised and dropped instead of answering the next one.
A client is not thread-safe: give each thread its own.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import zmq

from caxton import protocol
from caxton.deployments import Deployment
from caxton.endpoint import ipc_path, is_loopback_tcp, usable_ipc
from caxton.errors import (
    CallTimeout,
    CaxtonError,
    InvalidRequest,
    MessageTooLarge,
    NodeUnavailable,
    error_from_wire,
)
from caxton.security import handshake
from caxton.security.keys import KeyFileError, Keys
from caxton.status import AgentStatus, DeadLetter, Down
from caxton.waiting import DEFAULT_SPIN, ReplyWait

ModuleSource = bytes | str | os.PathLike[str]
_WASM_MAGIC = b"\x00asm"
# how long the IPC socket a node advertised gets to answer before TCP is kept
_LOCAL_PROBE_SECONDS = 1.0


def connect(address: str | None = None, *, timeout: float = 5.0, local: bool = True,
            spin: float = DEFAULT_SPIN, keys: Any = None) -> Client:
    """Connect to a node (``None``: the local default, ``tcp://127.0.0.1:7700``).

    ZeroMQ connects lazily, so this never fails by itself; the first request
    raises ``NodeUnavailable`` when nothing answers within ``timeout``. With
    ``local`` (the default), a loopback TCP address is upgraded to the node's
    IPC socket when this process can open it (``caxton.endpoint``). ``spin``
    is how long a request looks for its reply before it sleeps
    (``caxton.waiting``; 0: sleep at once). ``keys`` connects to a node that
    requires them (``docs/security.md``): a ``caxton.Keys``, a keys folder
    (the node's ``node.key`` and one secret key of the client's), or a
    ``(secret_key_file, node_key_file)`` pair.
    """
    return Client(address or protocol.DEFAULT_ADDRESS, timeout=timeout, local=local, spin=spin,
                  keys=keys)


def read_module_source(module: ModuleSource) -> bytes:
    """Turn a path, WAT text or wasm bytes into bytes the node accepts.

    The node converts WAT itself; the client only resolves paths, so a user gets
    a clear local error for a missing file instead of a remote one.
    """
    if isinstance(module, bytes | bytearray | memoryview):
        return bytes(module)
    if isinstance(module, os.PathLike):
        return _read_path(Path(module))
    if isinstance(module, str):
        stripped = module.lstrip()
        if stripped.startswith("(") or stripped.startswith(";;"):
            return module.encode()
        return _read_path(Path(module))
    raise InvalidRequest(f"module must be bytes, a path or WAT text, not {type(module).__name__}")


def _read_path(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise InvalidRequest(f"{path} is a directory, not a module") from None
    except FileNotFoundError:
        raise InvalidRequest(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidRequest(f"{path}: {exc.strerror}") from None


def _payload(payload: Any) -> bytes:
    """A message's bytes; a ``str`` (or anything else) is a clear error, never a TypeError
    from deep inside, nor an int silently turned into that many zero bytes."""
    if type(payload) is bytes:
        return payload
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    if isinstance(payload, str):
        raise InvalidRequest(f"a payload is bytes, not str: pass b'...' or "
                             f"{protocol.quote(payload)[:40]}.encode()", field="payload")
    raise InvalidRequest(f"a payload is bytes, not {type(payload).__name__}", field="payload")


#: what to tell someone whose node does not answer
START_HINT = "start one with `caxton node start` (or `python -m caxton.node`)"


def _route(key: str | bytes | None, instance: int | None) -> dict[str, Any]:
    """The routing arguments of a message (``key``, ``instance``), checked on the node."""
    route: dict[str, Any] = {}
    if key is not None:
        route["key"] = key
    if instance is not None:
        route["instance"] = instance
    return route


def _nothing_listens(address: str) -> str | None:
    """Why no node can be at ``address`` on this host, found at once; None if one may be.

    A missing IPC socket, or a loopback TCP port that refuses connections, means
    no node: the first request says so now instead of after its whole timeout.
    """
    path = ipc_path(address)
    if path is not None:
        return None if os.path.exists(path) else f"no node at {address} (no such socket)"
    if not is_loopback_tcp(address):
        return None
    parts = urlsplit(address)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0),
                                      timeout=0.5):
            return None
    except ConnectionRefusedError:
        return f"no node is listening at {address}"
    except (OSError, ValueError):
        return None


def _options(value: Any) -> Any:
    """Accept plain mappings or option objects with ``to_dict`` (e.g. ``caxton.wasm.Limits``)."""
    if value is None or isinstance(value, str | int | float):
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, Mapping):
        return dict(value)
    raise InvalidRequest(f"unsupported option value {value!r}")


class Client:
    """A connection to one node: every operation on agents, as blocking calls.

    It owns one DEALER socket and matches replies to requests by id, so a
    reply that comes after its request timed out is dropped, never mistaken
    for the next one. ``send`` returns once the node has journaled the
    message (it will be handled at least once, its effects exactly once);
    ``call`` returns the agent's reply. Errors are typed ``CaxtonError``
    subclasses, rebuilt from the node's error frames. A loopback TCP address
    is upgraded to the node's IPC socket when it is the same node. Not
    thread-safe: one client per thread.
    """

    def __init__(self, address: str, *, timeout: float = 5.0, local: bool = True,
                 spin: float = DEFAULT_SPIN, keys: Any = None) -> None:
        self.address = address
        #: what the socket is connected to: ``address``, or the node's IPC socket
        self.endpoint = address
        self.timeout = protocol.check_timeout(timeout)
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._ids = itertools.count(1)
        try:
            self._wait = ReplyWait(spin)
        except ValueError as exc:
            raise InvalidRequest(str(exc), field="spin") from None
        self._local = local and is_loopback_tcp(address)
        try:
            self._keys = Keys.resolve(keys)
        except KeyFileError as exc:
            raise InvalidRequest(f"keys: {exc}", field="keys") from None
        #: something listens at ``address`` (checked before the first request)
        self._reachable = False
        self._socket = self._new_socket(address)

    def _new_socket(self, endpoint: str) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = self._context.socket(zmq.DEALER)
        handshake.prepare(sock, self._keys)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.connect(endpoint)
        self.endpoint = endpoint
        self._recv_timeout_ms = -1  # the socket's RCVTIMEO: ZeroMQ's default, forever
        # a loopback address is upgraded before the first request that uses it
        self._unresolved = self._local and endpoint == self.address
        return sock

    def _fail_fast(self) -> None:
        why = _nothing_listens(self.address)
        if why is not None:
            raise NodeUnavailable(f"{why}: {START_HINT}", address=self.address)
        self._reachable = True

    def _resolve_local(self, timeout: float) -> None:
        """Move to the node's IPC socket if it is the same node and this process can open it."""
        self._unresolved = False
        info = self._exchange("ping", {}, timeout)
        local = info.get("local") if isinstance(info, dict) else None
        if not usable_ipc(local):
            return
        assert isinstance(local, str)
        tcp = self._socket
        self._socket = self._new_socket(local)
        try:
            probe = self._exchange("ping", {}, min(timeout, _LOCAL_PROBE_SECONDS))
        except NodeUnavailable:
            probe = None  # _expire already went back to ``address``
        if isinstance(probe, dict) and probe.get("instance") == info.get("instance"):
            handshake.close(tcp)
            return
        if self._socket is not tcp:
            handshake.close(self._socket)
        self._socket = tcp
        self.endpoint = self.address
        self._recv_timeout_ms = -1
        self._unresolved = False

    def _recv(self, timeout: float, *, spin: bool = False) -> bytes | None:
        """The next reply frame, or None after ``timeout`` seconds.

        ``spin``: look for it a little before sleeping (``caxton.waiting``).
        Then a blocking recv under RCVTIMEO rather than poll-then-recv: pyzmq's
        ``Socket.poll`` builds a ``Poller`` on every call, and a call's
        round trip is the figure users feel most.
        """
        if spin:
            self._wait.before_recv(self._socket)
        ms = max(1, int(timeout * 1000 + 0.999))
        if ms != self._recv_timeout_ms:
            self._socket.setsockopt(zmq.RCVTIMEO, ms)
            self._recv_timeout_ms = ms
        try:
            return self._socket.recv()
        except zmq.Again:
            return None

    # -- plumbing -------------------------------------------------------------

    def _request(
        self, operation: str, arguments: dict[str, Any], timeout: float | None = None
    ) -> Any:
        # a NaN, infinite or negative timeout is refused here, before anything is sent
        timeout = self.timeout if timeout is None else protocol.check_timeout(timeout)
        if not self._reachable:
            self._fail_fast()
        if self._unresolved:
            self._resolve_local(timeout)
        return self._exchange(operation, arguments, timeout)

    def _exchange(self, operation: str, arguments: dict[str, Any], timeout: float) -> Any:
        request_id = next(self._ids)
        try:
            frame = protocol.encode_request(request_id, operation, arguments)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidRequest(f"{operation}: arguments cannot be encoded: {exc}") from None
        if len(frame) > protocol.MAX_FRAME_BYTES:
            # the node's socket would drop it and the caller would wait in vain
            raise MessageTooLarge(f"request of {len(frame)} bytes is over the node's frame "
                                  f"limit of {protocol.MAX_FRAME_BYTES}", size=len(frame),
                                  limit=protocol.MAX_FRAME_BYTES)
        try:
            self._socket.send(frame)
        except zmq.Again:  # the node ended the connection for good (handshake.prepare)
            self._expire(operation, timeout)
        return self._await(request_id, operation, timeout)

    def _await(self, request_id: int, operation: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        remaining = timeout
        spin = True  # the first frame is most likely the reply
        while True:
            frame = self._recv(remaining, spin=spin)
            spin = False
            remaining = deadline - time.monotonic()
            if frame is None:
                if remaining > 0:
                    continue
                self._expire(operation, timeout)
            reply_id, kind, body = protocol.decode_reply(frame)
            if reply_id != request_id:
                continue  # a late reply to a request that already timed out
            if kind == "error":
                raise error_from_wire(body["type"], body["message"], body.get("data"))
            return body

    def _expire(self, operation: str, timeout: float) -> NoReturn:
        # A fresh socket drops whatever the old one still had queued, so a node
        # that comes back later does not answer into the wrong request.
        refused = handshake.refusal(self._socket, self.endpoint, self._keys)
        handshake.close(self._socket)
        self._socket = self._new_socket(self.address)
        if refused is not None:
            raise refused
        if operation == "call":
            raise CallTimeout(f"no reply within {timeout:g}s", timeout=timeout)
        raise NodeUnavailable(
            f"no node answered at {self.address} within {timeout:g}s; if none runs, "
            f"{START_HINT}", address=self.address)

    # -- operations -----------------------------------------------------------

    def ping(self, timeout: float | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._request("ping", {}, timeout)
        return result

    def spawn(
        self,
        name: str,
        module: ModuleSource,
        *,
        init: bytes = b"",
        policy: Any = "immediate",
        limits: Any = None,
        restart: str = "permanent",
        health: Any = None,
        snapshot_every: Any = None,
        security: str = "default",
        mailbox: int | None = None,
        max_attempts: int | None = None,
        intensity: Any = None,
        vectors: Any = None,
        node: str | None = None,
        timeout: float = 30.0,
    ) -> AgentStatus:
        """Validate, load and start an agent; return once its first instance serves.

        In a cluster, ``node`` names the node to run it on; None picks the least
        loaded (``nodes()`` lists them)."""
        arguments = {
            "name": name,
            "module": read_module_source(module),
            "init": bytes(init),
            "policy": _options(policy),
            "limits": _options(limits),
            "restart": restart,
            "health": _options(health),
            "snapshot_every": _options(snapshot_every),
            "security": security,
            "mailbox": mailbox,
            "max_attempts": max_attempts,
            "intensity": _options(intensity),
            "vectors": vectors,
            "node": node,
        }
        arguments = {k: v for k, v in arguments.items() if v is not None}
        try:
            return AgentStatus.from_dict(self._request("spawn", arguments, timeout))
        except CaxtonError as exc:
            # the node only saw bytes; name the file the user gave
            if isinstance(module, str | os.PathLike) and "the given bytes" in exc.message:
                exc.message = exc.message.replace("the given bytes", os.fspath(module))
                exc.args = (exc.message,)
            raise

    def call(self, name: str, payload: bytes, timeout: float = 5.0, *,
             key: str | bytes | None = None, instance: int | None = None) -> bytes:
        """Send a message and wait for the agent's reply.

        ``key``: the message goes to the instance that owns the key (a scaled agent
        keeps one key's state in one instance); without, to the least-loaded
        instance. ``instance``: to that instance by index (e.g. to read its state).
        """
        arguments = {"name": name, "payload": _payload(payload)}
        if key is not None or instance is not None:
            arguments.update(_route(key, instance))
        return bytes(self._request("call", arguments, timeout))

    def send(self, name: str, payload: bytes, *, key: str | bytes | None = None,
             instance: int | None = None) -> int:
        """Queue a message; returns once the node has journaled it (its message id).
        ``key`` and ``instance`` choose the instance as for ``call``."""
        arguments = {"name": name, "payload": _payload(payload)}
        if key is not None or instance is not None:
            arguments.update(_route(key, instance))
        return int(self._request("send", arguments))

    def send_many(self, name: str, payloads: Iterable[bytes], *, window: int = 1024,
                  batch: int = 64, key: str | bytes | None = None) -> list[int]:
        """Send many messages, in order; returns their ids once every one is journaled.

        Messages travel ``batch`` to a request (each batch is accepted whole or
        refused whole, e.g. ``MailboxFull``) with up to ``window`` messages in
        flight, so the per-request cost is paid once per batch. With ``key`` every
        message goes to the key's instance; without, each batch goes to the
        least-loaded instance.
        """
        batch = max(1, batch)
        chunks: list[list[bytes]] = []
        for payload in payloads:
            if not chunks or len(chunks[-1]) >= batch:
                chunks.append([])
            chunks[-1].append(bytes(payload))
        replies = self._pipeline("send_batch", name, chunks, max(1, window // batch),
                                 self.timeout, argument="payloads",
                                 extra=_route(key, None) if key is not None else None)
        return [int(i) for ids in replies for i in ids]

    def call_many(
        self, name: str, payloads: Iterable[bytes], *, window: int = 64, timeout: float = 5.0
    ) -> list[bytes]:
        """Calls with up to ``window`` in flight; replies come back in request order."""
        return [bytes(r) for r in self._pipeline("call", name, payloads, window, timeout)]

    def _pipeline(
        self, operation: str, name: str, items: Iterable[Any], window: int, timeout: float,
        argument: str = "payload", extra: dict[str, Any] | None = None,
    ) -> list[Any]:
        timeout = protocol.check_timeout(timeout)
        if self._unresolved:
            self._resolve_local(timeout)
        results: dict[int, Any] = {}
        order: list[int] = []
        outstanding = 0
        error: CaxtonError | None = None

        def collect_one() -> None:
            nonlocal outstanding, error
            frame = self._recv(timeout)
            if frame is None:
                self._expire(operation, timeout)
            reply_id, kind, body = protocol.decode_reply(frame)
            if reply_id not in results:
                return
            outstanding -= 1
            if kind == "error" and error is None:
                error = error_from_wire(body["type"], body["message"], body.get("data"))
            results[reply_id] = body

        for item in items:
            request_id = next(self._ids)
            results[request_id] = None
            order.append(request_id)
            arguments = {"name": name, argument: item}
            if extra:
                arguments.update(extra)
            try:
                self._socket.send(protocol.encode_request(request_id, operation, arguments))
            except zmq.Again:  # the node ended the connection for good (handshake.prepare)
                self._expire(operation, timeout)
            outstanding += 1
            while outstanding >= window:
                collect_one()
        while outstanding:
            collect_one()
        if error is not None:
            raise error
        return [results[i] for i in order]

    def stop(self, name: str, timeout: float = 30.0) -> AgentStatus:
        """Drain (finish queued messages), snapshot and stop the agent."""
        timeout = protocol.check_timeout(timeout)
        result = self._request("stop", {"name": name, "timeout": timeout}, timeout + 5.0)
        return AgentStatus.from_dict(result)

    def restart(self, name: str, timeout: float = 30.0) -> AgentStatus:
        """Bring back a stopped or failed agent (how a ``manual`` agent comes back)."""
        return AgentStatus.from_dict(self._request("restart", {"name": name}, timeout))

    def remove(self, name: str) -> None:
        self._request("remove", {"name": name}, self.timeout + 30.0)

    def status(self, name: str) -> AgentStatus:
        return AgentStatus.from_dict(self._request("status", {"name": name}))

    def list_agents(self) -> list[AgentStatus]:
        """The agents of the node this client is connected to."""
        return [AgentStatus.from_dict(d) for d in self._request("list", {})]

    def nodes(self) -> list[dict[str, Any]]:
        """Every node of the cluster (a node on SQLite is a cluster of one): name,
        address, epoch, state (alive, lapsed, left, dead), lease_age_s, agents."""
        return list(self._request("nodes", {}))

    def scale(self, name: str, instances: int, *, drain_timeout: float = 60.0,
              timeout: float = 120.0) -> AgentStatus:
        """Run ``instances`` processes of the agent behind its name; returns its status once
        every new instance serves, or every leaving one has drained (handled and
        snapshotted all it accepted) and stopped. A key's state does not move: see
        ``docs/deployments.md`` (Instances)."""
        arguments = {"name": name, "instances": instances, "drain_timeout": drain_timeout}
        return AgentStatus.from_dict(self._request("scale", arguments, timeout))

    def snapshot(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """Take a snapshot now; returns its size and the last message it covers."""
        result: dict[str, Any] = self._request("snapshot", {"name": name}, timeout)
        return result

    # -- deployments (docs/deployments.md) -------------------------------------

    def deploy(self, name: str, module: ModuleSource, *, strategy: str = "immediate",
               version: str | None = None, batch_size: int = 1, warm_up: float | None = None,
               keep_previous: float = 300.0, vectors: Any = None, wait: bool = True,
               timeout: float = 120.0, stages: Sequence[tuple[float, float]] | None = None,
               rollback_on: dict[str, float] | None = None,
               analysis_interval: float | None = None,
               min_samples: int | None = None, duration: float | None = None) -> Deployment:
        """Put a new version of an agent live: validated, warmed up, switched, state kept.

        ``strategy``: ``immediate``, ``rolling`` (``batch_size`` instances at a time) or
        ``blue_green``. With ``wait`` it returns once the new version serves; a
        version that fails validation raises ``ValidationFailed``, one that fails its
        warm-up (e.g. its restore refuses the old state) is rolled back and raises
        ``DeploymentFailed``. Without, it returns the deployment as it starts
        (``deployment(id)`` follows it).

        ``canary``: ``stages`` of ``(percent, seconds)`` (ADR-0008's 5/25/50/100 % by
        default), ``rollback_on`` thresholds (``error_rate``, ``p99_latency_ms``,
        ``restarts``), ``analysis_interval`` seconds and ``min_samples``; with
        ``wait`` it returns once the canary ended, promoted (``running``) or
        ``rolled_back`` with ``reason`` ``error_rate``, ``latency``, ``restarts``
        or ``manual`` (``docs/deployments.md``).

        ``shadow``: the new version gets a copy of every message for ``duration``
        seconds, its outputs compared and dropped; ``report`` has ``equivalence`` (0-1)
        and both versions' figures side by side. ``parallel`` (``hot_reload``) then
        switches if every output matched and it was not worse.
        """
        arguments: dict[str, Any] = {
            "name": name, "module": read_module_source(module), "strategy": strategy,
            "batch_size": batch_size, "keep_previous": keep_previous, "wait": wait}
        if stages is not None:
            arguments["stages"] = [list(stage) for stage in stages]
        for key, value in (("version", version), ("warm_up", warm_up), ("vectors", vectors),
                           ("rollback_on", rollback_on),
                           ("analysis_interval", analysis_interval),
                           ("min_samples", min_samples), ("duration", duration)):
            if value is not None:
                arguments[key] = value
        return Deployment.from_dict(self._request("deploy", arguments, timeout))

    def hot_reload(self, name: str, module: ModuleSource, *, strategy: str = "graceful",
                   **options: Any) -> Deployment:
        """``deploy`` under the lifecycle guide's names: ``graceful`` is blue-green,
        ``traffic_splitting`` is canary, ``parallel`` is shadow and then a switch."""
        return self.deploy(name, module, strategy=strategy, **options)

    def deployments(self, name: str) -> list[Deployment]:
        """Every version of the agent, oldest first, with its deployment's state."""
        return [Deployment.from_dict(d) for d in self._request("deployments", {"name": name})]

    def deployment(self, deployment_id: int) -> Deployment:
        return Deployment.from_dict(self._request("deployment", {"id": deployment_id}))

    def follow(self, deployment_id: int, *, poll: float = 0.05) -> Iterator[dict[str, Any]]:
        """A deployment's progress lines as they happen, until it is live or over: each
        ``{"time", "kind", "text", "ok", ...}`` (``kind`` e.g. ``canary``, ``error_rate``,
        ``latency``, ``promote``, ``rollback``, ``deploy``), what ``caxton deploy``
        prints. The node is asked every ``poll`` seconds."""
        seen = 0
        while True:
            dep = self.deployment(deployment_id)
            yield from dep.progress[seen:]
            seen = len(dep.progress)
            if dep.state in ("running", "failed", "rolled_back", "retired", "draining"):
                return
            time.sleep(poll)

    def promote(self, deployment_id: int, to_full: bool = False) -> Deployment:
        """A canary's next stage now (or straight to 100 % with ``to_full``)."""
        return Deployment.from_dict(self._request("promote", {"id": deployment_id,
                                                              "to_full": to_full}))

    def abort(self, deployment_id: int, timeout: float = 60.0) -> Deployment:
        """Roll a canary back now (reason ``manual``); returns once the baseline serves
        alone."""
        return Deployment.from_dict(self._request("abort", {"id": deployment_id}, timeout))

    def rollback(self, name_or_id: str | int, timeout: float = 60.0) -> Deployment:
        """Bring back the previous version of an agent (by name: its latest deployment; or
        deployment ``id``), with the state it must have; returns once it serves."""
        return Deployment.from_dict(self._request("rollback", {"target": name_or_id}, timeout))

    def overview(self) -> dict[str, Any]:
        """The node at a glance, as its dashboard shows it (``caxton top``)."""
        result: dict[str, Any] = self._request("overview", {})
        return result

    def crashes(self, name: str) -> list[dict[str, Any]]:
        """The flight recorder's crashes of an agent, oldest first (payloads left out)."""
        return list(self._request("crashes", {"name": name}))

    def crash(self, name: str, crash_id: int) -> dict[str, Any]:
        """One crash whole: start state, messages, the fatal one, and the module."""
        result: dict[str, Any] = self._request("crash", {"name": name, "id": crash_id},
                                               max(self.timeout, 30.0))
        return result

    def dead_letters(self, name: str) -> list[DeadLetter]:
        return [DeadLetter.from_dict(d) for d in self._request("dead_letters", {"name": name})]

    def monitor(self, name: str, *, timeout: float | None = None) -> Monitor:
        """Watch an agent: iterate to get a ``Down`` each time an instance goes down.

        The node has registered the monitor when this returns, so nothing that
        happens after the call is missed. ``timeout`` bounds the wait for each
        event (``None``: forever); when it passes, the iteration ends.
        """
        if timeout is not None:
            timeout = protocol.check_timeout(timeout)
        if self._unresolved:
            self._resolve_local(self.timeout)
        return Monitor(self._context, self.endpoint, name, next(self._ids), self.timeout, timeout,
                       keys=self._keys)

    def close(self) -> None:
        handshake.close(self._socket)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Monitor:
    """A registered monitor on one agent; uses a socket of its own."""

    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], address: str, name: str,
                 request_id: int, request_timeout: float, event_timeout: float | None,
                 keys: Keys | None = None) -> None:
        self.name = name
        self._timeout = event_timeout
        self._socket: zmq.Socket[bytes] = context.socket(zmq.DEALER)
        handshake.prepare(self._socket, keys)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(address)
        try:
            try:
                self._socket.send(protocol.encode_request(request_id, "monitor", {"name": name}))
            except zmq.Again:  # the node ended the connection for good (handshake.prepare)
                sent = False
            else:
                sent = True
            if not sent or not self._socket.poll(int(request_timeout * 1000)):
                raise handshake.refusal(self._socket, address, keys) or NodeUnavailable(
                    f"no node answered at {address}", address=address)
            _, kind, body = protocol.decode_reply(self._socket.recv())
            if kind == "error":
                raise error_from_wire(body["type"], body["message"], body.get("data"))
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> Iterator[Down]:
        return self

    def __next__(self) -> Down:
        wait = None if self._timeout is None else int(self._timeout * 1000)
        while not self._socket.closed:
            if not self._socket.poll(wait):
                break
            _, kind, body = protocol.decode_reply(self._socket.recv())
            if kind == "event":
                return Down.from_dict(body)
        self.close()
        raise StopIteration

    def close(self) -> None:
        if not self._socket.closed:
            handshake.close(self._socket)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
