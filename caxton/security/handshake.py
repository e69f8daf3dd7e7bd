"""The client's side: CURVE on its sockets, and why a node did not answer.

A node that refuses a connection's handshake sends nothing back that a
request could read: the client would only see its timeout. So every client
socket gets a ZeroMQ monitor for handshake events (they come only when a
connection is made or lost, never per message), and when a request times
out the client looks there first: a refused key, a missing key, keys
offered to a node without them, or a node key that is not the node's, each
becomes a ``PermissionDenied`` saying so instead of "no node answered".
"""

from __future__ import annotations

import zmq

from caxton.errors import PermissionDenied
from caxton.security.keys import Keys

__all__ = ["close", "prepare", "refusal"]

_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
           | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | _FAILED
_HOW = "see docs/security.md"


def prepare(sock: zmq.Socket[bytes], keys: Keys | None) -> None:
    """Before ``connect``: the client's CURVE keys (if any), the handshake monitor, and
    sends that never block.

    A refused key or a mechanism mismatch ends the connection for good
    (libzmq does not try again), and a DEALER left without a connection
    blocks every send forever. With ``SNDTIMEO`` 0 such a send raises
    ``zmq.Again`` at once instead, and the client reports the refusal; a
    client socket's send queue is unbounded (``SNDHWM`` 0), so a send never
    fails for any other reason.
    """
    sock.setsockopt(zmq.SNDTIMEO, 0)
    if keys is not None:
        sock.setsockopt(zmq.CURVE_SERVERKEY, keys.node)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
    sock.get_monitor_socket(_EVENTS)


def close(sock: zmq.Socket[bytes]) -> None:
    """Close ``sock`` and its monitor."""
    monitor = sock._monitor_socket
    if monitor is not None and not sock.closed:
        sock.disable_monitor()
    sock.close(0)
    if monitor is not None:
        monitor.close(0)


def refusal(sock: zmq.Socket[bytes], address: str, keys: Keys | None) -> PermissionDenied | None:
    """Why the node at ``address`` refused ``sock``'s handshakes, if it did.

    Reads the events since the last handshake that succeeded; ``None`` when
    none failed (no node, a node too busy to answer, or one that answered).
    A refused key and a mechanism mismatch are certain. A handshake cut short
    without a reason is not: a node whose mechanism differs often closes
    before the client has read why (the close resets the connection and the
    reason with it), but so may a node that is going down. So it counts only
    when every try since the last success ended that way, twice or more
    (ZeroMQ tries again every 100 ms; a node going down fails one handshake).
    """
    monitor = sock._monitor_socket
    if monitor is None or monitor.closed:
        return None
    certain: tuple[int, int] | None = None
    cut_short = 0
    while True:
        try:
            frames = monitor.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            break
        event = int.from_bytes(frames[0][:2], "little")
        value = int.from_bytes(frames[0][2:6], "little")
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            certain, cut_short = None, 0
        elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH or (
                event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                and value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH):
            certain = (event, value)
        elif event & _FAILED:
            cut_short += 1
    if certain is not None and certain[0] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return PermissionDenied(f"the node at {address} refused this client's key (status "
                                f"{certain[1]}): it is not among the node's authorized keys; "
                                f"{_HOW}", address=address)
    if certain is None and cut_short < 2:
        return None
    if keys is None:
        return PermissionDenied(f"the node at {address} requires a key (CurveZMQ): connect "
                                f"with keys= (caxton --keys DIR or CAXTON_KEYS); {_HOW}",
                                address=address)
    if certain is not None:
        return PermissionDenied(f"the node at {address} does not use keys: connect without "
                                "them", address=address)
    return PermissionDenied(f"the node at {address} ended every secure handshake: node.key "
                            "is not that node's public key, or the node does not use keys; "
                            + _HOW, address=address)
