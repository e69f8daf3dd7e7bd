"""Replies to clients, held until the loop turn's journal commit.

A client may only hear "accepted" for a message once the message is durable,
so every reply produced during a loop turn waits here and leaves right after
the store commits. Replies that carry no durability promise (errors, status)
travel the same way, which keeps the order of replies to one client intact.
"""

from __future__ import annotations

import contextlib
from typing import Any

import zmq

from caxton import protocol
from caxton.errors import CaxtonError
from caxton.node.records import Waiter


class Outbox:
    def __init__(self, socket: zmq.Socket[bytes]) -> None:
        self._socket = socket
        self._frames: list[tuple[bytes, bytes]] = []
        self._early: list[tuple[bytes, bytes]] = []

    def ok(self, waiter: Waiter, result: Any) -> None:
        self._frames.append((waiter[0], protocol.encode_ok(waiter[1], result)))

    def reply(self, waiter: Waiter, result: Any) -> None:
        """A call's reply: it may leave before the turn's commit.

        The message itself was journaled in an earlier turn; only its "handled"
        mark is in this turn's transaction. Should the node die before that
        commits, the message is delivered again and its effects recomputed from
        the last snapshot, so the reply the caller got stays true.
        """
        self._early.append((waiter[0], protocol.encode_ok(waiter[1], result)))

    def error(self, waiter: Waiter, error: CaxtonError) -> None:
        frame = protocol.encode_error(waiter[1], type(error).__name__, error.message, error.data)
        self._frames.append((waiter[0], frame))

    def event(self, waiter: Waiter, event: dict[str, Any]) -> bool:
        """A monitor event: it promises nothing durable, so it leaves at once.

        A ``Down`` is most useful early: it must not wait behind the restart
        that supervision is about to do, nor behind the turn's commit. Returns
        False when the monitoring client is gone, so its monitor can be dropped.
        """
        try:
            self._socket.send_multipart(
                (waiter[0], protocol.encode_event(waiter[1], event)), flags=zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            return exc.errno != zmq.EHOSTUNREACH
        return True

    def raw(self, identity: bytes, frame: bytes) -> None:
        self._frames.append((identity, frame))

    def __bool__(self) -> bool:
        return bool(self._frames or self._early)

    def flush_early(self) -> None:
        frames, self._early = self._early, []
        self._send(frames)

    def flush(self) -> None:
        frames, self._frames = self._frames, []
        self._send(frames)

    def _send(self, frames: list[tuple[bytes, bytes]]) -> None:
        send = self._socket.send_multipart
        for identity, frame in frames:
            # A client that is gone or not reading has timed out its request.
            with contextlib.suppress(zmq.ZMQError):
                send((identity, frame), flags=zmq.NOBLOCK)
