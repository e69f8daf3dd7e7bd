"""The far side of the messaging baseline: a raw pyzmq + msgpack echo server.

Run by path (``python caxton/bench/echoserver.py``) so it imports nothing but
pyzmq and msgpack. It binds a ROUTER on the endpoint given as its argument (by
default a free loopback TCP port), prints the endpoint, and answers each
``[request_id, payload]`` frame with ``[request_id, "ok", payload]`` after
decoding and re-encoding it, as a node does with every request. It dies with
the process that started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys

import msgpack
import zmq

_PR_SET_PDEATHSIG = 1


def serve() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    context = zmq.Context()
    sock = context.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.bind(sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:*")
    print(sock.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    packb, unpackb = msgpack.packb, msgpack.unpackb
    while True:
        identity, frame = sock.recv_multipart()
        request_id, payload = unpackb(frame)
        sock.send_multipart([identity, packb([request_id, "ok", payload])])


if __name__ == "__main__":
    serve()
