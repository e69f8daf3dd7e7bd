"""ZeroMQ flags as plain ints, for the client's and the node's hot paths.

pyzmq hands them out as ``enum`` members, and arithmetic on those goes through
the enum machinery (about a microsecond a use); a call touches several. This
module is Caxton's own so that ``import caxton`` needs nothing of the
supervision library, which keeps a copy for its own hot loop.
"""

from __future__ import annotations

from typing import Any

import zmq

__all__ = ["NOBLOCK", "RCVMORE", "SNDMORE", "readable"]

NOBLOCK = int(zmq.NOBLOCK)
SNDMORE = int(zmq.SNDMORE)
RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def readable(sock: zmq.Socket[Any]) -> bool:
    """Whether a frame waits on ``sock``, without the exception a failing recv builds."""
    return bool(sock.getsockopt(_EVENTS) & _POLLIN)  # type: ignore[operator]
