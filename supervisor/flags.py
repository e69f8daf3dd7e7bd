"""ZeroMQ flags and option numbers as plain ints, for hot paths.

pyzmq exposes them as ``enum`` members; ``events & zmq.POLLIN`` builds a new
flag object through the enum machinery (about a microsecond each time, more
on a cold cache), and a message hop touches several. Plain ints cost nothing.
"""

from __future__ import annotations

from typing import Any

import zmq

__all__ = ["EVENTS", "NOBLOCK", "POLLIN", "RCVMORE", "SNDMORE", "readable"]

EVENTS = int(zmq.EVENTS)
RCVMORE = int(zmq.RCVMORE)
POLLIN = int(zmq.POLLIN)
NOBLOCK = int(zmq.NOBLOCK)
SNDMORE = int(zmq.SNDMORE)


def readable(sock: zmq.Socket[Any]) -> bool:
    """Whether a message waits on ``sock``: cheaper than a recv that fails,
    for which pyzmq builds an exception."""
    return bool(sock.getsockopt(EVENTS) & POLLIN)  # type: ignore[operator]
