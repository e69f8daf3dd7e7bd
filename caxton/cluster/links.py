"""Node-to-node links: a request for another node's agent, forwarded and answered.

A node holds one DEALER socket per peer, connected to the peer's management
address, and speaks the ordinary client protocol on it: a forwarded request
is the client's own request under a link-local request id, and the peer's
replies and events come back under that id and leave to the client under
its own. So the owner node applies its own checks and commits before it
answers, and an acknowledgement heard through another node means what it
means when heard directly.

With keys (``caxton.security``), a node connects as a CurveZMQ client with
its own key pair to the peer's public key (kept in the cluster's table):
each node's public key belongs in the others' authorized keys, with the
``admin`` role.

Each link also watches its TCP connection (a ZeroMQ socket monitor): a peer
whose process died drops it at once, which lets the others take it over
without waiting out the whole lease (``disconnected``). A paused or cut-off
peer keeps its connection, and only its lease tells.

When a peer is lost (its lease lapsed, see ``caxton.cluster.membership``),
every request waiting on it is answered ``NodeUnavailable`` and every monitor
relayed through it gets its DOWN with reason ``noconnection``, as Erlang
does for a monitor across a lost connection.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from caxton import protocol
from caxton.node.outbox import Outbox
from caxton.zmqflags import NOBLOCK

log = logging.getLogger("caxton.cluster")

#: the op a node sends a peer to look at its transfers and placements now
POKE = "cluster_poke"


@dataclass(slots=True)
class Forwarded:
    """A client's request waiting on a peer's answer."""

    identity: bytes
    request_id: int
    peer: str
    operation: str
    name: Any


class Links:
    """This node's sockets to its peers and the requests forwarded over them."""

    def __init__(self, context: zmq.Context[Any], outbox: Outbox, *,
                 add_reader: Callable[[Any, Callable[[], None]], None],
                 remove_reader: Callable[[Any], None], changed: Callable[[], None],
                 curve: tuple[bytes, bytes] | None = None) -> None:
        self._context = context
        self._outbox = outbox
        self._add_reader = add_reader
        self._remove_reader = remove_reader
        self._changed = changed
        self._curve = curve  # this node's (public, secret) keys, when it has keys
        self._sockets: dict[str, zmq.Socket[bytes]] = {}
        self._monitors: dict[str, zmq.Socket[bytes]] = {}
        #: peers whose connection dropped, and since when (monotonic seconds); kept
        #: after their link closes, until a connection succeeds or the peer restarts
        self.disconnected: dict[str, float] = {}
        self._addresses: dict[str, str] = {}
        self._waiting: dict[int, Forwarded] = {}
        self._ids = itertools.count(1)
        self.forwarded = 0

    def peers(self) -> list[str]:
        return list(self._sockets)

    def connect(self, name: str, address: str, public_key: str | None) -> None:
        """A link to ``name`` at ``address`` (a new address replaces the old link)."""
        if self._addresses.get(name) == address:
            return
        self.lost(name, "reconnected elsewhere")
        sock: zmq.Socket[bytes] = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 100_000)
        sock.setsockopt(zmq.RCVHWM, 100_000)
        if self._curve is not None and public_key:
            sock.curve_publickey, sock.curve_secretkey = self._curve
            sock.curve_serverkey = public_key.encode()
        monitor = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        sock.connect(address)
        self._sockets[name] = sock
        self._monitors[name] = monitor
        self._addresses[name] = address
        self._add_reader(sock, lambda: self._on_readable(name, sock))
        self._add_reader(monitor, lambda: self._on_monitor(name, monitor))

    def _on_monitor(self, peer: str, monitor: zmq.Socket[bytes]) -> None:
        while True:
            try:
                event = recv_monitor_message(monitor, NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError:
                return  # closed with its link
            if event["event"] == zmq.EVENT_DISCONNECTED:
                self.disconnected.setdefault(peer, time.monotonic())
            elif event["event"] == zmq.EVENT_CONNECTED:
                self.disconnected.pop(peer, None)

    def forward(self, peer: str, identity: bytes, request: protocol.Request) -> None:
        """Send a client's request to ``peer``; its answers go back to the client."""
        link_id = next(self._ids)
        self._waiting[link_id] = Forwarded(identity, request.request_id, peer,
                                           request.operation, request.arguments.get("name"))
        self.forwarded += 1
        self._send(peer, protocol.encode_request(link_id, request.operation, request.arguments))

    def poke(self, peer: str) -> None:
        """Tell ``peer`` to look at its transfers and placements now (no answer kept)."""
        self._send(peer, protocol.encode_request(0, POKE, {}))

    def _send(self, peer: str, frame: bytes) -> None:
        sock = self._sockets.get(peer)
        if sock is None:
            return
        with contextlib.suppress(zmq.ZMQError):  # full: the peer is stuck; its lease tells
            sock.send(frame, NOBLOCK)

    def _on_readable(self, peer: str, sock: zmq.Socket[bytes]) -> None:
        for _ in range(2000):
            try:
                frame = sock.recv(NOBLOCK)
            except zmq.Again:
                break
            try:
                link_id, status, body = protocol.decode_reply(frame)
            except Exception:  # msgpack raises several types; a peer's bug costs one frame
                log.warning("node %s sent a frame that is not a reply; dropped", peer)
                continue
            waiting = self._waiting.get(link_id) if isinstance(link_id, int) else None
            if waiting is None or link_id is None:
                continue  # the answer to a poke, or to a request given up on
            if status == "event":
                self._outbox.raw(waiting.identity, protocol.encode_event(waiting.request_id,
                                                                         body))
                continue
            if waiting.operation != "monitor" or status != "ok":
                del self._waiting[link_id]
            self._outbox.raw(waiting.identity, _reply(waiting.request_id, status, body))
        self._changed()

    def lost(self, peer: str, why: str) -> None:
        """``peer`` is gone: everything waiting on it is answered, its link closed."""
        self._close(peer)
        for link_id, waiting in list(self._waiting.items()):
            if waiting.peer != peer:
                continue
            del self._waiting[link_id]
            if waiting.operation == "monitor":
                self._outbox.raw(waiting.identity, protocol.encode_event(waiting.request_id, {
                    "name": waiting.name, "pid": None, "reason": "noconnection",
                    "time": time.time(), "restarting": False, "node": peer}))
            else:
                self._outbox.raw(waiting.identity, protocol.encode_error(
                    waiting.request_id, "NodeUnavailable",
                    f"node {peer} was lost ({why}) before it answered; the request may or"
                    " may not have been applied", {"node": peer}))
        self._changed()

    def _close(self, peer: str) -> None:
        sock = self._sockets.pop(peer, None)
        monitor = self._monitors.pop(peer, None)
        self._addresses.pop(peer, None)
        if monitor is not None:
            self._remove_reader(monitor)
            monitor.close(0)
        if sock is not None:
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
            self._remove_reader(sock)
            sock.close(0)

    def close(self) -> None:
        for peer in list(self._sockets):
            self._close(peer)


def _reply(request_id: int, status: str, body: Any) -> bytes:
    if status == "ok":
        return protocol.encode_ok(request_id, body)
    error = body if isinstance(body, dict) else {}
    return protocol.encode_error(request_id, str(error.get("type", "CaxtonError")),
                                 str(error.get("message", "")), error.get("data"))
