"""Replies to clients, held until the loop turn's journal commit.

A client may only hear "accepted" for a message once the message is durable,
so every reply produced during a loop turn waits here and leaves right after
the store commits. Replies that carry no durability promise (errors, status)
travel the same way. Two kinds leave at once instead: the reply to a call
whose message is already committed (the latency of ``call`` is the product's
headline figure) and monitor events. Clients match replies by request id, so
nothing depends on the order in which replies to different requests arrive.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack
import zmq

from caxton import protocol
from caxton.errors import CaxtonError
from caxton.node.records import Waiter
from caxton.zmqflags import NOBLOCK, SNDMORE


class Outbox:
    """The replies of a loop turn, held until its commit (see the module's docstring).

    Owns nothing but the frames it holds; the socket is the node's.
    """

    def __init__(self, socket: zmq.Socket[bytes]) -> None:
        self._socket = socket
        # replies that promise something durable: they leave after the commit
        self._frames: list[tuple[bytes, bytes]] = []
        # replies that promise nothing (errors, status): they leave even while
        # the store cannot commit, so a client hears why it is refused
        self._plain: list[tuple[bytes, bytes]] = []

    def ok(self, waiter: Waiter, result: Any, *, durable: bool = True) -> None:
        """A result; ``durable=False`` for one that promises nothing the store must hold."""
        frames = self._frames if durable else self._plain
        frames.append((waiter[0], protocol.encode_ok(waiter[1], result)))

    def reply(self, waiter: Waiter, result: Any, *, durable: bool) -> None:
        """A call's reply: it leaves at once when the call's message is durable.

        ``durable`` says the message itself is committed in the journal; only
        its "handled" mark may still be in the open transaction. Should the node
        die before that commits, the message is delivered again and its effects
        recomputed from the last snapshot, so the reply the caller got stays
        true. A reply to a message not yet committed (a fast agent answered
        within the turn that accepted it) waits for the turn's commit.
        """
        frame = protocol.encode_ok(waiter[1], result)
        if not durable:
            self._frames.append((waiter[0], frame))
            return
        # A client that is gone or not reading has timed out its request.
        with contextlib.suppress(zmq.ZMQError):
            self._socket.send(waiter[0], SNDMORE | NOBLOCK)
            self._socket.send(frame, NOBLOCK)

    def error(self, waiter: Waiter, error: CaxtonError) -> None:
        frame = protocol.encode_error(waiter[1], type(error).__name__, error.message, error.data)
        self._plain.append((waiter[0], frame))

    def event(self, waiter: Waiter, event: dict[str, Any]) -> bool:
        """A monitor event: it promises nothing durable, so it leaves at once.

        A ``Down`` is most useful early: it must not wait behind the restart
        that supervision is about to do, nor behind the turn's commit. Returns
        False when the monitoring client is gone, so its monitor can be dropped.
        """
        try:
            self._socket.send_multipart(
                (waiter[0], protocol.encode_event(waiter[1], event)), flags=NOBLOCK)
        except zmq.ZMQError as exc:
            return exc.errno != zmq.EHOSTUNREACH
        return True

    def still_there(self, waiter: Waiter, result: Any) -> bool:
        """Whether the client behind ``waiter`` is still connected, found by sending it
        ``result`` again as an ``ok`` reply to its request (a monitor skips those): how
        ``status`` counts only the monitors of clients that are alive."""
        try:
            self._socket.send_multipart(
                (waiter[0], protocol.encode_ok(waiter[1], result)), flags=NOBLOCK)
        except zmq.ZMQError as exc:
            return exc.errno != zmq.EHOSTUNREACH
        return True

    def raw(self, identity: bytes, frame: bytes) -> None:
        """A frame that promises nothing (an error to an undecodable request)."""
        self._plain.append((identity, frame))

    def fail_promises(self, error: CaxtonError) -> None:
        """Turn every held promise into ``error``: what it promised will not be kept
        (a fenced cluster node's acknowledgements, see ``caxton.node.cluster``)."""
        held, self._frames = self._frames, []
        for identity, frame in held:
            try:
                request_id = msgpack.unpackb(frame, raw=False)[0]
            except Exception:
                continue
            self._plain.append((identity, protocol.encode_error(
                request_id, type(error).__name__, error.message, error.data)))

    def __bool__(self) -> bool:
        return bool(self._frames or self._plain)

    def flush(self, *, hold_promises: bool = False) -> None:
        """Send the turn's replies; ``hold_promises`` keeps those that promise durability
        (the store could not commit: they leave with the commit that finally succeeds)."""
        if self._plain:
            plain, self._plain = self._plain, []
            self._send(plain)
        if self._frames and not hold_promises:
            frames, self._frames = self._frames, []
            self._send(frames)

    def _send(self, frames: list[tuple[bytes, bytes]]) -> None:
        send = self._socket.send_multipart
        for identity, frame in frames:
            # A client that is gone or not reading has timed out its request.
            with contextlib.suppress(zmq.ZMQError):
                send((identity, frame), flags=NOBLOCK)
