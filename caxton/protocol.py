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

import math
import reprlib
import struct
from typing import Any, NamedTuple

import msgpack

from caxton.errors import InvalidRequest

PROTOCOL_VERSION = 1
DEFAULT_ADDRESS = "tcp://127.0.0.1:7700"
# A frame larger than this is cut off by ZeroMQ before it reaches the node.
MAX_FRAME_BYTES = 64 * 2**20

# -- what one frame may cost the node to decode ----------------------------------------
#
# msgpack builds a Python object for every value it reads, and an empty array
# of one byte becomes a list of 56 bytes: a 10 MB frame of empty arrays cost
# 1.4 GB and seconds of the loop. A frame up to SCAN_ABOVE_BYTES is decoded
# as is: msgpack bounds every length by the frame's own size, so the worst of
# such a frame is a few MB for a few ms, and the request path (send, call:
# frames of a few hundred bytes) pays nothing. A larger frame is first walked
# without building anything (``check_shape``), and refused when it nests
# deeper, holds more values or longer containers than any request needs;
# only then is it decoded, under msgpack's own length limits.

#: frames up to this size are decoded without the walk
SCAN_ABOVE_BYTES = 64 * 2**10
#: containers inside containers (a request needs 5: frame, arguments, vectors, vector, value)
MAX_DEPTH = 32
#: values in one frame, counting every element of every array and map
MAX_VALUES = 2**16
#: elements of one array (e.g. ``send_batch``'s payloads)
MAX_ARRAY_LEN = 2**16
#: entries of one map
MAX_MAP_LEN = 2**12
#: characters of one string (names, operations, texts: payloads and modules are bytes)
MAX_STR_LEN = 2**20
#: bytes of one binary value (a payload, a module): the frame's own limit
MAX_BIN_LEN = MAX_FRAME_BYTES
#: longest timeout a request may carry, in seconds (one day)
MAX_TIMEOUT_SECONDS = 86_400.0
#: characters of client data an error message quotes
QUOTE_CHARS = 80

_LARGE_FRAME_LIMITS: dict[str, int] = {
    "max_str_len": MAX_STR_LEN,
    "max_bin_len": MAX_BIN_LEN,
    "max_array_len": MAX_ARRAY_LEN,
    "max_map_len": MAX_MAP_LEN,
    "max_ext_len": 0,  # extension types are not part of the protocol
}

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
        "deploy",
        "promote",
        "abort",
        "rollback",
        "deployments",
        "deployment",
        "overview",
        "crashes",
        "crash",
        "scale",
        "nodes",
        "cluster_poke",
    }
)


class ProtocolError(ValueError):
    """A frame that does not follow the protocol; the message says what is wrong.

    ``request_id`` is the frame's request id when it could be read, so the
    error reaches the request that caused it.
    """

    def __init__(self, message: str, request_id: int | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class Request(NamedTuple):
    """A parsed request (a named tuple: cheap to build on the hot path)."""

    request_id: int
    operation: str
    arguments: dict[str, Any]


class _Quote(reprlib.Repr):
    """``reprlib`` that also cuts bytes before it formats them (its default would
    ``repr`` a 64 MB payload whole, then cut)."""

    def repr_bytes(self, value: bytes, level: int) -> str:
        text = repr(value[: self.maxstring])
        return text if len(value) <= self.maxstring else text[:-1] + "..." + text[-1]

    def repr_bytearray(self, value: bytearray, level: int) -> str:
        return self.repr_bytes(bytes(value[: self.maxstring + 1]), level)


_QUOTE = _Quote()
_QUOTE.maxlevel = 3
_QUOTE.maxstring = QUOTE_CHARS
_QUOTE.maxother = QUOTE_CHARS
_QUOTE.maxlong = 40
for _attr in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque",
              "maxarray"):
    setattr(_QUOTE, _attr, 4)


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``repr`` of client data for an error message, at most ``limit`` characters.

    Bounded in time and size whatever the value (a 64 MB string, a list nested
    1,000 deep): an error must never cost more than the request it refuses.
    """
    try:
        text = _QUOTE.repr(value)
    except Exception:  # a value whose repr fails still gets a refusal
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_timeout(value: Any, field: str = "timeout", *,
                  maximum: float = MAX_TIMEOUT_SECONDS) -> float:
    """A timeout from a request or a caller: a finite number of seconds in (0, maximum].

    NaN compares false with everything, so a plain ``value <= 0`` test lets it
    through (and a drain under a NaN timeout ends at once); infinities and
    huge values overflow the timers that take them.
    """
    if value.__class__ is float and 0 < value <= maximum:  # the common case, first
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{field} must be a number of seconds, not {type(value).__name__}",
                             field=field)
    seconds = float(value) if not isinstance(value, int) or abs(value) < 2**53 else math.inf
    if not (0 < seconds <= maximum):  # also False for NaN
        raise InvalidRequest(f"{field} must be a number of seconds above 0 and at most"
                             f" {maximum:g}, not {quote(value)}", field=field)
    return seconds


def _pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def encode_request(request_id: int, operation: str, arguments: dict[str, Any]) -> bytes:
    return _pack([PROTOCOL_VERSION, request_id, operation, arguments])


# msgpack's first byte -> how the walk treats it (see ``check_shape``):
# (kind, width): kind 0 = skip ``width`` bytes; 1 = a str/bin whose length is in the
# next ``width`` bytes; 2 = an array, 3 = a map, whose count is in the next ``width``
# bytes (width 0: in the low bits); 4 = an extension type; 5 = never used (0xc1).
_SKIP, _SIZED, _ARRAY, _MAP, _EXT, _BAD = range(6)


def _first_bytes() -> tuple[tuple[int, int], ...]:
    table: list[tuple[int, int]] = []
    for byte in range(256):
        if byte <= 0x7F or byte >= 0xE0 or byte in (0xC0, 0xC2, 0xC3):
            table.append((_SKIP, 0))  # fixint, nil, false, true
        elif byte <= 0x8F:
            table.append((_MAP, 0))
        elif byte <= 0x9F:
            table.append((_ARRAY, 0))
        elif byte <= 0xBF:
            table.append((_SKIP, byte & 0x1F))  # fixstr
        elif byte in (0xC4, 0xD9):
            table.append((_SIZED, 1))
        elif byte in (0xC5, 0xDA):
            table.append((_SIZED, 2))
        elif byte in (0xC6, 0xDB):
            table.append((_SIZED, 4))
        elif byte in (0xCC, 0xD0):
            table.append((_SKIP, 1))
        elif byte in (0xCD, 0xD1):
            table.append((_SKIP, 2))
        elif byte in (0xCA, 0xCE, 0xD2):
            table.append((_SKIP, 4))
        elif byte in (0xCB, 0xCF, 0xD3):
            table.append((_SKIP, 8))
        elif byte == 0xDC:
            table.append((_ARRAY, 2))
        elif byte == 0xDD:
            table.append((_ARRAY, 4))
        elif byte == 0xDE:
            table.append((_MAP, 2))
        elif byte == 0xDF:
            table.append((_MAP, 4))
        elif 0xC7 <= byte <= 0xC9 or 0xD4 <= byte <= 0xD8:
            table.append((_EXT, 0))
        else:
            table.append((_BAD, 0))
    return tuple(table)


_FIRST_BYTES = _first_bytes()


def check_shape(frame: bytes, *, max_depth: int = MAX_DEPTH,
                max_values: int = MAX_VALUES) -> None:
    """Walk a msgpack frame without building it; raise ProtocolError when it nests
    deeper than ``max_depth``, holds more than ``max_values`` values or uses
    extension types.

    A container's count is charged when its header is read, so a header that
    announces ten million elements is refused at once, before any is read.
    The walk costs one step per value, never per byte: strings and binaries
    are stepped over by their length.
    """
    _walk(frame, 0, max_depth, max_values)


def _walk(frame: bytes, pos: int, max_depth: int, max_values: int) -> int:
    """Step over the one value at ``pos`` (see ``check_shape``); return where it ends."""
    table = _FIRST_BYTES
    size = len(frame)
    values = 1
    pending = [1]  # values still to read in each open container, innermost last
    while pending:
        if not pending[-1]:
            pending.pop()
            continue
        pending[-1] -= 1
        if pos >= size:
            return size  # truncated: msgpack says so when it decodes
        byte = frame[pos]
        pos += 1
        kind, width = table[byte]
        if kind == _SKIP:
            pos += width
            continue
        if kind == _SIZED:
            pos += width + int.from_bytes(frame[pos:pos + width], "big")
            continue
        if kind == _EXT:
            raise ProtocolError("extension types are not part of the protocol")
        if kind == _BAD:
            raise ProtocolError(f"0x{byte:02x} is not a msgpack type")
        count = (byte & 0x0F) if width == 0 else int.from_bytes(frame[pos:pos + width], "big")
        pos += width
        if kind == _MAP:
            count *= 2
        values += count
        if values > max_values:
            raise ProtocolError(f"a request holds at most {max_values} values")
        if len(pending) > max_depth:
            raise ProtocolError(f"a request nests at most {max_depth} containers deep")
        pending.append(count)
    return pos


_INT_FORMATS = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
                0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}


def _peek_request_id(frame: bytes) -> int | None:
    """The request id of a frame that failed to parse, to address the error.

    Steps over the version however deep it nests (past msgpack's own bound
    too), without building it, for at most ``MAX_VALUES`` steps.
    """
    try:
        kind, width = _FIRST_BYTES[frame[0]]
        if kind != _ARRAY:
            return None
        count = (frame[0] & 0x0F) if width == 0 else int.from_bytes(frame[1:1 + width], "big")
        if count < 2:
            return None
        pos = _walk(frame, 1 + width, len(frame), MAX_VALUES)
        byte = frame[pos]
        if byte <= 0x7F or byte >= 0xE0:
            return byte if byte <= 0x7F else byte - 0x100
        code = _INT_FORMATS.get(byte)
        if code is None:
            return None
        value: int = struct.unpack_from(code, frame, pos + 1)[0]
        return value
    except (ProtocolError, IndexError, struct.error):
        return None


def _unpack(frame: bytes) -> Any:
    if len(frame) > SCAN_ABOVE_BYTES:
        check_shape(frame)
        return msgpack.unpackb(frame, raw=False, strict_map_key=False, **_LARGE_FRAME_LIMITS)
    # msgpack bounds every length of a small frame by the frame's size
    return msgpack.unpackb(frame, raw=False, strict_map_key=False)


def decode_request(frame: bytes) -> Request:
    """Parse a request frame; raise ProtocolError naming the first problem.

    Raises nothing else, whatever the frame: the node answers every frame.
    """
    try:
        body = _unpack(frame)
    except ProtocolError as exc:
        exc.request_id = _peek_request_id(frame)
        raise
    except msgpack.StackError:  # msgpack's own bound (1,024 levels) on a small frame
        raise ProtocolError("a request nests containers too deeply",
                            _peek_request_id(frame)) from None
    except Exception as exc:  # msgpack raises several unrelated types, or MemoryError
        detail = str(exc)
        detail = f"{type(exc).__name__}: {detail[:QUOTE_CHARS]}" if detail else type(exc).__name__
        raise ProtocolError(f"frame is not valid msgpack ({detail})",
                            _peek_request_id(frame)) from None
    try:
        if body.__class__ is not list or len(body) != 4:
            raise ProtocolError("a request is [version, request_id, operation, arguments]",
                                body[1] if _is_list_with_id(body) else None)
        version, request_id, operation, arguments = body
        if request_id.__class__ is not int:
            raise ProtocolError("request_id must be an integer")
        if version != PROTOCOL_VERSION:
            raise ProtocolError(f"protocol version {quote(version)} is not supported"
                                f" (this node speaks {PROTOCOL_VERSION})", request_id)
        if operation.__class__ is not str or operation not in OPERATIONS:
            raise ProtocolError(f"unknown operation {quote(operation)}", request_id)
        if arguments.__class__ is not dict:
            raise ProtocolError("arguments must be a map", request_id)
    except ProtocolError:
        raise
    except Exception as exc:  # e.g. a comparison that recursed: still an answer
        raise ProtocolError(f"malformed request ({type(exc).__name__})",
                            body[1] if _is_list_with_id(body) else None) from None
    return Request(request_id, operation, arguments)


def _is_list_with_id(body: Any) -> bool:
    return body.__class__ is list and len(body) >= 2 and body[1].__class__ is int


def request_id_of(frame: bytes) -> int | None:
    """Best effort: the request id of a frame that failed to parse, to address the error."""
    return _peek_request_id(frame)


def encode_ok(request_id: int | None, result: Any) -> bytes:
    return _pack([request_id, "ok", result])


#: characters of an error message sent to a client; longer ones are cut
MAX_ERROR_MESSAGE_CHARS = 1000
#: characters of a string in an error's data; longer ones are cut
MAX_ERROR_DATA_CHARS = 200
#: entries of a list or map in an error's data; larger ones are quoted
MAX_ERROR_DATA_ENTRIES = 64


def encode_error(
    request_id: int | None, kind: str, message: str, data: dict[str, Any] | None = None
) -> bytes:
    """An error reply. Messages and data can quote what a client sent (an agent's
    name, a field): they are cut to size here, and data that cannot be encoded
    (a list nested past msgpack's limit) is quoted instead, so that every
    refusal can be sent, and costs no more than a small reply."""
    if len(message) > MAX_ERROR_MESSAGE_CHARS:
        message = message[: MAX_ERROR_MESSAGE_CHARS - 3] + "..."
    data = {k: _bounded(k, v) for k, v in data.items()} if data else {}
    try:
        return _pack([request_id, "error", {"type": kind, "message": message, "data": data}])
    except Exception:
        data = {k if k.__class__ is str else quote(k): _encodable(v) for k, v in data.items()}
        return _pack([request_id, "error", {"type": kind, "message": message, "data": data}])


def _bounded(key: Any, value: Any) -> Any:
    """An error's data value, cut to size: an agent's name is always a short string,
    so anything else named ``name`` was a client's, and is quoted."""
    if value.__class__ is str:
        if len(value) > MAX_ERROR_DATA_CHARS:
            return value[: MAX_ERROR_DATA_CHARS - 3] + "..."
        return value
    if key == "name" or (isinstance(value, list | tuple | dict)
                         and len(value) > MAX_ERROR_DATA_ENTRIES):
        return quote(value, MAX_ERROR_DATA_CHARS)
    return value


def _encodable(value: Any) -> Any:
    try:
        _pack(value)
    except Exception:
        return quote(value, MAX_ERROR_DATA_CHARS)
    return value


def encode_event(request_id: int, event: dict[str, Any]) -> bytes:
    return _pack([request_id, "event", event])


def decode_reply(frame: bytes) -> tuple[int | None, str, Any]:
    body = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    if not isinstance(body, list) or len(body) != 3 or body[1] not in ("ok", "error", "event"):
        raise ProtocolError("malformed reply from node")
    return body[0], body[1], body[2]
