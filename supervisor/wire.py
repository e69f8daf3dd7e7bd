"""The frames exchanged between a supervisor and its children.

Every message is exactly one ZeroMQ frame holding one msgpack object. User
messages are encoded as they are; the few control messages (hello, exit
reason, trap flag, exit signals) are msgpack extension objects, so telling the
two apart costs one type check on the hot path and no extra frame or copy.
Pings travel on a separate socket as raw bytes.
"""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import EncodeError

__all__ = [
    "CTRL_ACK",
    "CTRL_EXIT",
    "CTRL_EXIT_SIGNAL",
    "CTRL_HELLO",
    "CTRL_IGNORE",
    "CTRL_TRAP",
    "PING",
    "PONG",
    "ExtType",
    "control",
    "decode",
    "encode",
]

ExtType = msgpack.ExtType

CTRL_HELLO = 1  # child -> supervisor: [pid]
CTRL_EXIT = 2  # child -> supervisor: reason (str), the last frame a child sends
CTRL_TRAP = 3  # child -> supervisor: bool
CTRL_EXIT_SIGNAL = 4  # supervisor -> child: [from_id, pid, reason]
CTRL_ACK = 5  # child -> supervisor: started (OTP's init_ack); start_child returns
CTRL_IGNORE = 6  # child -> supervisor: the start function returned "ignore" before acking

PING = b"p"
PONG = b"P"

_packer = msgpack.Packer(use_bin_type=True, autoreset=True)
_pack = _packer.pack


def encode(message: Any) -> bytes:
    try:
        return _pack(message)  # type: ignore[no-any-return]
    except Exception as exc:
        raise EncodeError(f"message cannot be encoded with msgpack: {exc}") from None


def decode(frame: bytes) -> Any:
    return msgpack.unpackb(frame, raw=False, strict_map_key=False)


def control(code: int, payload: Any) -> bytes:
    return _pack(ExtType(code, _pack(payload)))  # type: ignore[no-any-return]
