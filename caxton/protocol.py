"""The node's management protocol: versioned msgpack frames over ZeroMQ.

A client's DEALER socket sends one frame per request::

    [version, request_id, operation, arguments]

and the node's ROUTER answers every request, even a malformed one, with::

    [request_id, "ok", result]            or
    [request_id, "error", {"type", "message", "data"}]
    [request_id, "event", event]          (streams, e.g. monitor)

Lists rather than maps keep the hot path (``send``/``call``) cheap to encode.
The request id is chosen by the client and echoed, so a late reply to a request
the client gave up on is recognised and dropped.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgpack

PROTOCOL_VERSION = 1
DEFAULT_ADDRESS = "tcp://127.0.0.1:7700"
# A frame larger than this is cut off by ZeroMQ before it reaches the node.
MAX_FRAME_BYTES = 64 * 2**20

OPERATIONS = frozenset(
    {
        "ping",
        "spawn",
        "call",
        "send",
        "send_batch",
        "stop",
        "remove",
        "restart",
        "status",
        "list",
        "monitor",
        "snapshot",
        "dead_letters",
    }
)


class ProtocolError(ValueError):
    """A frame that does not follow the protocol; the message says what is wrong."""


class Request(NamedTuple):
    """A parsed request (a named tuple: cheap to build on the hot path)."""

    request_id: int
    operation: str
    arguments: dict[str, Any]


def _pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def encode_request(request_id: int, operation: str, arguments: dict[str, Any]) -> bytes:
    return _pack([PROTOCOL_VERSION, request_id, operation, arguments])


def decode_request(frame: bytes) -> Request:
    """Parse a request frame; raise ProtocolError naming the first problem."""
    try:
        body = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ProtocolError(f"frame is not valid msgpack ({type(exc).__name__})") from None
    if not isinstance(body, list) or len(body) != 4:
        raise ProtocolError("a request is [version, request_id, operation, arguments]")
    version, request_id, operation, arguments = body
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {version!r} is not supported (this node speaks {PROTOCOL_VERSION})"
        )
    if not isinstance(request_id, int):
        raise ProtocolError("request_id must be an integer")
    if not isinstance(operation, str) or operation not in OPERATIONS:
        raise ProtocolError(f"unknown operation {operation!r}")
    if not isinstance(arguments, dict):
        raise ProtocolError("arguments must be a map")
    return Request(request_id, operation, arguments)


def request_id_of(frame: bytes) -> int | None:
    """Best effort: the request id of a frame that failed to parse, to address the error."""
    try:
        body = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except Exception:
        return None
    if isinstance(body, list) and len(body) >= 2 and isinstance(body[1], int):
        return body[1]
    return None


def encode_ok(request_id: int | None, result: Any) -> bytes:
    return _pack([request_id, "ok", result])


def encode_error(
    request_id: int | None, kind: str, message: str, data: dict[str, Any] | None = None
) -> bytes:
    return _pack([request_id, "error", {"type": kind, "message": message, "data": data or {}}])


def encode_event(request_id: int, event: dict[str, Any]) -> bytes:
    return _pack([request_id, "event", event])


def decode_reply(frame: bytes) -> tuple[int | None, str, Any]:
    body = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    if not isinstance(body, list) or len(body) != 3 or body[1] not in ("ok", "error", "event"):
        raise ProtocolError("malformed reply from node")
    return body[0], body[1], body[2]
