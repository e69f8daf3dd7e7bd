"""The supervising process's handle on its zygote (fork server).

The zygote is started with exec (``subprocess`` uses vfork+exec), never with
``fork()``, because the supervising process runs ZeroMQ I/O threads.
"""

from __future__ import annotations

import array
import itertools
import json
import logging
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._zygote import EXITED, FORKED, REQ
from .errors import ZygoteError

__all__ = ["ZygoteClient"]

log = logging.getLogger("supervisor")

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
_BOOT = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from supervisor._zygote import main; main(sys.argv[1:])"
)
_RECV_SIZE = 4096
_ANCILLARY = socket.CMSG_SPACE(4 * array.array("i").itemsize)


def _fds_from(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds = array.array("i")
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return list(fds)


class ZygoteClient:
    """Starts the zygote, asks it for children, collects their exit statuses.

    Statuses are buffered in ``statuses`` (pid -> waitpid status) until the
    runtime consumes them; ``alive`` turns False when the zygote is gone.
    """

    def __init__(self, name: str, preload: Sequence[str], *, pool: int = 0,
                 prewarm: str | None = None, prewarm_args: Sequence[Any] = ()) -> None:
        self.name = name
        self.preload = list(preload)
        self.pool = pool
        self.prewarm = prewarm
        self.prewarm_args = list(prewarm_args)
        self.statuses: dict[int, int] = {}
        self.alive = False
        self.ready = False
        self.preload_failures: list[str] = []
        self._replies: dict[int, tuple[int, int] | str] = {}
        self._reqs = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self.on_lost: Callable[[int], None] | None = None
        self.start()

    # ---------------------------------------------------------------- life
    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {
            "sys_path": [p for p in sys.path],
            "preload": self.preload,
            "pool": self.pool,
            "prewarm": self.prewarm,
            "prewarm_args": self.prewarm_args,
            "name": self.name,
            "parent": os.getpid(),
        }
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT.format(root=_PACKAGE_ROOT),
                 str(theirs.fileno()), json.dumps(config)],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                close_fds=True,
                process_group=0,
            )
        except OSError as exc:
            ours.close()
            raise ZygoteError(f"cannot start the zygote: {exc}") from exc
        finally:
            theirs.close()
        self._sock = ours
        self.alive = True
        self.ready = False
        self._replies.clear()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def fileno(self) -> int:
        assert self._sock is not None
        return self._sock.fileno()

    def close(self, timeout: float = 5.0) -> None:
        """Close our end: the zygote SIGKILLs whatever children it still has,
        reaps them and exits; then we reap the zygote."""
        if self._sock is not None:
            if self.on_lost is not None:
                self.on_lost(self._sock.fileno())
            self._sock.close()
            self._sock = None
        self.alive = False
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def lost(self) -> None:
        """The zygote died on its own: reap it and forget the socket. The
        children it still had died with it (parent-death signal)."""
        self.close(timeout=5.0)

    # ------------------------------------------------------------ requests
    def wait_ready(self, timeout: float) -> bool:
        """Block until the zygote has preloaded (its first fork is then one quick round
        trip); False if it did not within ``timeout`` or is gone."""
        deadline = time.monotonic() + timeout
        while not self.ready and self.alive:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._wait_readable(remaining)
            self.read_available()
        return self.ready

    def spawn(self, payload: bytes, timeout: float = 30.0) -> tuple[int, int]:
        """Fork a child; return ``(pid, pidfd)``. Blocks for one round trip."""
        if not self.alive or self._sock is None:
            raise ZygoteError("the zygote is not running")
        req = next(self._reqs)
        try:
            self._sock.send(b"S" + REQ.pack(req) + payload)
        except OSError as exc:
            raise ZygoteError(f"cannot reach the zygote: {exc}") from exc
        deadline = time.monotonic() + timeout
        while req not in self._replies:
            if not self.alive:
                raise ZygoteError("the zygote exited while forking a child")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ZygoteError(f"the zygote did not answer within {timeout} s")
            self._wait_readable(remaining)
            self.read_available()
        reply = self._replies.pop(req)
        if isinstance(reply, str):
            raise ZygoteError(f"fork failed: {reply}")
        return reply

    def wait_status(self, pid: int, timeout: float) -> int | None:
        """Block until the zygote reports ``pid``'s status; None on timeout or
        when the zygote is gone."""
        deadline = time.monotonic() + timeout
        while pid not in self.statuses:
            remaining = deadline - time.monotonic()
            if not self.alive or remaining <= 0:
                return None
            self._wait_readable(remaining)
            self.read_available()
        return self.statuses.pop(pid)

    # ------------------------------------------------------------- reading
    def _wait_readable(self, timeout: float) -> None:
        if self._sock is None:
            return
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN)
        poller.poll(max(0, int(timeout * 1000 + 0.999)))

    def read_available(self) -> None:
        """Read every datagram already queued (never blocks)."""
        sock = self._sock
        while sock is not None:
            try:
                # (socket.recv_fds ignores its flags argument on 3.11)
                data, ancdata, _flags, _addr = sock.recvmsg(_RECV_SIZE, _ANCILLARY,
                                                            socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, ancdata = b"", []
            fds = _fds_from(ancdata)
            if not data:
                for fd in fds:
                    os.close(fd)
                log.warning("supervisor: the zygote (pid %s) exited", self.pid)
                self.lost()
                return
            kind = data[:1]
            if kind == b"X":
                pid, status = EXITED.unpack_from(data, 1)
                self.statuses[pid] = status
            elif kind == b"F":
                req, pid = FORKED.unpack_from(data, 1)
                if fds:
                    self._replies[req] = (pid, fds[0])
                    for extra in fds[1:]:
                        os.close(extra)
                else:
                    self._replies[req] = "no pidfd received"
            elif kind == b"E":
                (req,) = REQ.unpack_from(data, 1)
                self._replies[req] = data[1 + REQ.size:].decode(errors="replace")
                for fd in fds:
                    os.close(fd)
            elif kind == b"R":
                self.ready = True
                self.preload_failures = json.loads(data[1:])
                for failure in self.preload_failures:
                    log.warning("supervisor: zygote could not preload %s", failure)
