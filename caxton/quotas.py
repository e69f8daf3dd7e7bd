"""What one guest may make its host carry: log lines and bytes, sends per message.

The sandbox bounds what a guest *computes* (fuel, deadline, memory); these
bound what it *emits*, which the agent process buffers and the node then
logs, journals or dead-letters. Without them one message looping over
``caxton.log`` wrote 187 MB to the node's log in 0.2 s, and one message sending
200 x 1 MB to unknown agents added 146 MB of dead letters to the store.

Logs have a quota per message and a rate per second (a token bucket, so a
quiet agent may burst); what is over either is dropped and counted. Sends
have a quota per message, in count and in bytes; a send over it returns the
ABI's ``SEND_OVER_QUOTA`` (-3) to the guest and is counted. The counts travel
to the node with the acknowledgements and show in the agent's status.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Quotas:
    """Per-agent emission quotas (the node's defaults are these)."""

    log_lines_per_message: int = 100
    log_bytes_per_message: int = 64 * 1024
    log_lines_per_second: int = 1_000
    log_bytes_per_second: int = 1024 * 1024
    sends_per_message: int = 100
    send_bytes_per_message: int = 4 * 1024 * 1024

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Quotas:
        return cls(**(data or {}))


class Meter:
    """One instance's use of its quotas: the current message's, and this second's."""

    def __init__(self, quotas: Quotas) -> None:
        self.quotas = quotas
        self.logs_dropped = 0
        self.sends_refused = 0
        self._lines = self._bytes = 0
        self._sends = self._send_bytes = 0
        self._line_tokens = float(quotas.log_lines_per_second)
        self._byte_tokens = float(quotas.log_bytes_per_second)
        self._refilled = time.monotonic()

    def begin_message(self) -> None:
        self._lines = self._bytes = 0
        self._sends = self._send_bytes = 0

    def may_log(self, size: int) -> bool:
        q = self.quotas
        if self._lines >= q.log_lines_per_message or self._bytes + size > q.log_bytes_per_message:
            self.logs_dropped += 1
            return False
        now = time.monotonic()
        elapsed, self._refilled = now - self._refilled, now
        self._line_tokens = min(float(q.log_lines_per_second),
                                self._line_tokens + elapsed * q.log_lines_per_second)
        self._byte_tokens = min(float(q.log_bytes_per_second),
                                self._byte_tokens + elapsed * q.log_bytes_per_second)
        if self._line_tokens < 1 or self._byte_tokens < size:
            self.logs_dropped += 1
            return False
        self._line_tokens -= 1
        self._byte_tokens -= size
        self._lines += 1
        self._bytes += size
        return True

    def may_send(self, size: int) -> bool:
        q = self.quotas
        if (self._sends >= q.sends_per_message
                or self._send_bytes + size > q.send_bytes_per_message):
            self.sends_refused += 1
            return False
        self._sends += 1
        self._send_bytes += size
        return True

    def take_counts(self) -> tuple[int, int]:
        """(logs dropped, sends refused) since the last call: what the next ack reports."""
        counts = (self.logs_dropped, self.sends_refused)
        self.logs_dropped = self.sends_refused = 0
        return counts
