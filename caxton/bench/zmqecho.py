"""The messaging baseline: a raw pyzmq + msgpack echo between two processes.

This is the floor under every call through a node: one ZeroMQ round trip over
the transport the client uses (loopback TCP, or the IPC socket a local client
is upgraded to) with a msgpack frame decoded and re-encoded on the far side,
and nothing else (no journal, no agent process, no WebAssembly). The server is
``echoserver.py``, run as its own interpreter; ``EchoClient`` drives it the way
``caxton.Client`` drives a node, sequentially or with a window of requests in
flight, and waits for a reply the way it does (``caxton.waiting``: a sequential
request spins briefly before it sleeps, a pipelined one does not), so the
ratio against a node compares the layers, not two ways of waiting.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import msgpack
import zmq

from caxton.bench.errors import BenchUnavailable
from caxton.bench.nodes import PROJECT_ROOT, child_env
from caxton.waiting import DEFAULT_SPIN, ReplyWait


class EchoServer:
    """The echo server process, started and stopped by the benchmark."""

    def __init__(self, endpoint: str = "tcp://127.0.0.1:*") -> None:
        self.process: subprocess.Popen[str] | None = None
        self.endpoint = endpoint
        self.address = ""

    @classmethod
    def like(cls, client_endpoint: str, scratch: Path) -> EchoServer:
        """A server on the same transport as a client's connection to its node."""
        if client_endpoint.startswith("ipc://"):
            scratch.mkdir(parents=True, exist_ok=True)
            return cls(f"ipc://{scratch / 'echo.sock'}")
        return cls()

    def __enter__(self) -> EchoServer:
        server = Path(__file__).resolve().parent / "echoserver.py"
        self.process = subprocess.Popen([sys.executable, str(server), self.endpoint],
                                        stdout=subprocess.PIPE, text=True, env=child_env(),
                                        cwd=str(PROJECT_ROOT))
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith(("tcp://", "ipc://")):
            self.__exit__(None, None, None)
            raise BenchUnavailable(f"the echo server did not start (said {line!r})")
        self.address = line
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait(10)
            if process.stdout is not None:
                process.stdout.close()


class EchoClient:
    def __init__(self, address: str, timeout: float = 10.0, spin: float = DEFAULT_SPIN) -> None:
        self._socket: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SNDHWM, 0)
        self._socket.setsockopt(zmq.RCVHWM, 0)
        # after the same spin (ReplyWait), a blocking recv under a timeout, as
        # caxton.Client waits for replies
        self._socket.setsockopt(zmq.RCVTIMEO, int(timeout * 1000))
        self._socket.connect(address)
        self._wait = ReplyWait(spin)
        self._next_id = 0

    def _receive(self) -> tuple[int, bytes]:
        try:
            frame = self._socket.recv()
        except zmq.Again:
            raise BenchUnavailable("the echo server stopped answering") from None
        request_id, _, payload = msgpack.unpackb(frame)
        return int(request_id), bytes(payload)

    def call(self, payload: bytes) -> bytes:
        self._next_id += 1
        self._socket.send(msgpack.packb([self._next_id, payload]))
        self._wait.before_recv(self._socket)
        request_id, reply = self._receive()
        if request_id != self._next_id:
            raise BenchUnavailable("the echo server answered out of order")
        return reply

    def pipeline(self, payloads: Iterable[bytes], window: int) -> int:
        """Send with up to ``window`` requests in flight; return how many were answered."""
        outstanding = answered = 0
        for payload in payloads:
            self._next_id += 1
            self._socket.send(msgpack.packb([self._next_id, payload]))
            outstanding += 1
            while outstanding >= window:
                self._receive()
                outstanding -= 1
                answered += 1
        while outstanding:
            self._receive()
            outstanding -= 1
            answered += 1
        return answered

    def close(self) -> None:
        self._socket.close(0)
