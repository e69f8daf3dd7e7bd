"""The ledger agent's wire format: sequence numbers in, a bitmap out.

The checker must name lost messages and count duplicated effects, which a plain
counter cannot do: the ledger (``chaos/agents/ledger.wat``) keeps one bit per
sequence number and counts numbers it sees twice. This module is the only place
that knows its payloads and its state layout.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

LEDGER_PATH = Path(__file__).resolve().parent / "agents" / "ledger.wat"

#: Sequence numbers one ledger can record (its bitmap is 512 KiB).
CAPACITY = 1 << 22

DUMP = b"ledger:dump"
PING = b"ledger:ping"
SLOW = b"ledger:slow"
POISON = b"ledger:poison"
FUEL = b"ledger:fuel"
MEMORY = b"ledger:memory"

PONG = b"pong"
NEW = b"+"
DUPLICATE = b"="

_HEADER = struct.Struct("<4sIQQII")
_MAGIC = b"LDG1"


def versioned(tag: str) -> bytes:
    """The ledger with a data segment naming ``tag``: a new version for a deployment (its
    module hash differs, its state format does not)."""
    source = LEDGER_PATH.read_text()
    memory = '(memory (export "memory") 10)'
    if memory not in source:
        raise ValueError("the ledger's memory declaration moved; update ledger.versioned")
    return source.replace(memory, f'{memory}\n  (data (i32.const 400) "{tag}")').encode()


def encode_seq(seq: int) -> bytes:
    """The payload for sequence number ``seq``: exactly 4 bytes, so never a command."""
    return struct.pack("<I", seq)


@dataclass(frozen=True)
class LedgerState:
    """What a ledger answered to ``ledger:dump``."""

    bits: int
    applied: int
    duplicates: int
    rejected: int
    other: int
    bitmap: bytes

    @property
    def seen(self) -> int:
        """The bitmap as one integer: bit n set = sequence number n took effect."""
        return int.from_bytes(self.bitmap, "little")

    @classmethod
    def parse(cls, data: bytes) -> LedgerState:
        """Decode a dump; a malformed one raises ``ValueError`` (the agent is not a ledger)."""
        if len(data) < _HEADER.size:
            raise ValueError(f"ledger dump of {len(data)} bytes is shorter than its header")
        magic, bits, applied, duplicates, rejected, other = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError(f"ledger dump has magic {magic!r}, expected {_MAGIC!r}")
        bitmap = data[_HEADER.size:]
        if len(bitmap) != (bits + 7) // 8:
            raise ValueError(f"ledger dump holds {len(bitmap)} bitmap bytes for {bits} bits")
        return cls(bits, applied, duplicates, rejected, other, bytes(bitmap))
