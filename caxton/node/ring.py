"""A consistent-hash ring: which instance owns a key.

Each instance is placed on a 64-bit ring at ``VNODES`` points (virtual nodes),
each the hash of its name and the point's number; a key belongs to the first
point at or after the key's own hash. Adding or removing one instance of N
therefore moves only about 1/N of the keys (those whose points it takes or
gives back), and the virtual nodes keep the shares even. The hash is BLAKE2b,
not Python's ``hash``: the ring must place every key the same way after a node
restart, or a key's state would be in one instance and its messages in another.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from hashlib import blake2b

#: points per instance: with 160, each of 2-16 instances holds within ~10% of its share
VNODES = 160


def key_hash(key: bytes) -> int:
    return int.from_bytes(blake2b(key, digest_size=8).digest(), "big")


class Ring:
    """The owners of keys among ``names`` (instances), stable across processes and runs."""

    __slots__ = ("_hashes", "_owners", "names")

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        if not self.names:
            raise ValueError("a ring needs at least one instance")
        points = sorted((key_hash(f"{name}\x00{i}".encode()), name)
                        for name in self.names for i in range(VNODES))
        self._hashes = [h for h, _ in points]
        self._owners = [n for _, n in points]

    def owner(self, key: bytes) -> str:
        """The name of the instance that owns ``key``."""
        if len(self.names) == 1:
            return self.names[0]
        i = bisect.bisect_left(self._hashes, key_hash(key))
        return self._owners[i if i < len(self._owners) else 0]
