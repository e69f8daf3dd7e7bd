"""The node under fuzzing and the properties every example must keep.

One real node process per test module, reached over real ZeroMQ: a raw DEALER
socket sends each example's frames as they are, and a client of its own checks,
after every example, that the node still answers promptly, stays small, and
that the ``keeper`` agent spawned before the fuzzing still has its state.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import psutil
import zmq

import caxton
from caxton.errors import ERROR_TYPES
from caxton.launch import free_loopback_address, start_node, stop_node
from caxton.wasm.examples import example_path

#: how long any frame may wait for its answer: a stop drains for up to 30 s by default
#: (what earlier examples queued), a spawn validates and starts a process
REPLY_SECONDS = 60.0
#: how long a ping between examples may take
PING_SECONDS = 3.0
#: how much the node's resident set may grow over the whole module's fuzzing
RSS_GROWTH_BYTES = 150 * 2**20
#: the keeper's state: messages it handled before the fuzzing
KEEPER_STATE = b"7"
#: names the fuzzing must never address with an operation that changes an agent
KEEPER = "keeper"
ECHO = "echo"


@dataclass
class FuzzTarget:
    address: str
    process: subprocess.Popen[bytes]
    log_path: Path
    client: caxton.Client
    raw: zmq.Socket[bytes]
    baseline_rss: int = 0
    examples: int = 0
    late: int = 0
    replies: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls, directory: Path) -> FuzzTarget:
        address = free_loopback_address()
        log_path = directory / "node.log"
        with open(log_path, "wb") as log:
            process = start_node(address, directory / "data", output=log)
        client = caxton.connect(address, timeout=REPLY_SECONDS)
        raw: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect(address)
        target = cls(address, process, log_path, client, raw)
        client.spawn(KEEPER, example_path("counter"))
        for _ in range(int(KEEPER_STATE)):
            client.send(KEEPER, b"inc")
        target.ensure_echo()
        target.check_healthy()
        target.baseline_rss = psutil.Process(process.pid).memory_info().rss
        return target

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        self.raw.close(0)
        self.client.close()
        stop_node(self.process)

    # -- one example --------------------------------------------------------------------

    def exchange(self, *frames: bytes, request_id: int | None = None) -> list[Any]:
        """Send one request (any bytes) and return its answer; fail if none comes.

        The answer must be a well-formed reply: ``ok`` or a typed error, addressed
        to ``request_id`` when the frame carried a readable one.
        """
        self.examples += 1
        self.raw.send_multipart(frames)
        deadline = time.monotonic() + REPLY_SECONDS
        while True:
            left = deadline - time.monotonic()
            assert left > 0 and self.raw.poll(int(left * 1000)), \
                f"no answer within {REPLY_SECONDS}s to {_show(frames)}\n{self.log()[-3000:]}"
            reply = msgpack.unpackb(self.raw.recv(), raw=False, strict_map_key=False)
            assert isinstance(reply, list) and len(reply) == 3, reply
            if reply[1] == "event":
                continue  # a monitor an earlier example registered
            if request_id is not None and reply[0] != request_id:
                # an answer to an earlier example whose own exchange took another
                # reply (one whose request id it could not know): late, not lost
                self.late += 1
                continue
            break
        kind, body = reply[1], reply[2]
        assert kind in ("ok", "error"), reply
        if request_id is not None:
            assert reply[0] == request_id, (reply, _show(frames))
        if kind == "error":
            assert body["type"] in ERROR_TYPES and body["type"] != "CaxtonError", \
                f"untyped error {body} for {_show(frames)}\n{self.log()[-3000:]}"
            assert isinstance(body["message"], str) and len(body["message"]) <= 1000, body
        self.replies[body["type"] if kind == "error" else "ok"] = \
            self.replies.get(body["type"] if kind == "error" else "ok", 0) + 1
        return reply

    def check_healthy(self) -> None:
        """The node is alive, answers a ping promptly, is small, and the keeper kept
        its state."""
        assert self.process.poll() is None, f"the node died\n{self.log()[-3000:]}"
        started = time.monotonic()
        self.client.ping(timeout=PING_SECONDS)
        assert time.monotonic() - started < PING_SECONDS
        assert self.client.call(KEEPER, b"get", timeout=PING_SECONDS) == KEEPER_STATE
        if self.baseline_rss:
            rss = psutil.Process(self.process.pid).memory_info().rss
            assert rss - self.baseline_rss < RSS_GROWTH_BYTES, \
                f"the node grew from {self.baseline_rss >> 20} to {rss >> 20} MB"

    def ensure_echo(self) -> None:
        """Bring the echo agent back if an example stopped or removed it, so later
        examples keep reaching a live agent."""
        try:
            state = self.client.status(ECHO).state
        except caxton.NoSuchAgent:
            self.client.spawn(ECHO, example_path("echo"))
            return
        if state in ("stopped", "failed"):
            self.client.restart(ECHO)

    def forget(self, name: str) -> None:
        """Remove an agent an example spawned (it is its own process: they add up)."""
        if name in (KEEPER, ECHO):
            return
        with contextlib.suppress(caxton.NoSuchAgent):
            self.client.remove(name)


def _show(frames: tuple[bytes, ...]) -> str:
    return repr([frame[:200] for frame in frames])
