"""The zygote: a single-threaded fork server, started with exec (never fork).

It imports the embedder's heavy modules once, calls ``gc.freeze()`` so that
forked children do not dirty the shared pages with garbage-collector
bookkeeping, and then forks one child per request. It is the real parent of
every child: it reaps them and reports each ``waitpid`` status to the
supervising process, together with a pidfd it opened before anything could
reap the child (so the pid can never be reused under the supervisor's feet).

It creates no ZeroMQ context and no thread, so forking it is safe.

Wire (SOCK_SEQPACKET, one message per datagram):
  supervisor -> zygote  ``S`` req:u64 payload   fork a child with this boot payload
  zygote -> supervisor  ``R`` json               ready (list of failed preloads)
                        ``F`` req:u64 pid:u32    forked; the pidfd rides along (SCM_RIGHTS)
                        ``E`` req:u64 text       fork failed
                        ``X`` pid:u32 status:i32 a child was reaped
When the supervisor's end closes (it exited, even by SIGKILL) the zygote
SIGKILLs all its children, reaps them and exits.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import signal
import socket
import struct
import sys
import traceback
from typing import Any, NoReturn

REQ = struct.Struct("<Q")
FORKED = struct.Struct("<QI")
EXITED = struct.Struct("<Ii")
MAX_DATAGRAM = 1 << 16


def main(argv: list[str]) -> None:
    fd = int(argv[0])
    config: dict[str, Any] = json.loads(argv[1])
    sys.path[:] = config["sys_path"]
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    from supervisor._prctl import set_child_subreaper, set_pdeathsig

    set_pdeathsig(signal.SIGKILL)
    set_child_subreaper()
    if os.getppid() != config["parent"]:
        os._exit(0)  # the supervising process died before the prctl took effect
    sock = socket.socket(fileno=fd)

    failures: list[str] = []
    for name in ["supervisor.child", *config["preload"]]:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # a broken preload must not kill the fork server
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    try:
        import setproctitle

        setproctitle.setproctitle(f"{config['name']} zygote")
    except ImportError:
        pass
    gc.collect()
    gc.freeze()
    try:
        sock.send(b"R" + json.dumps(failures).encode())
    except OSError:
        os._exit(0)  # the supervising process is already gone
    Zygote(sock).serve()


class Zygote:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pid = os.getpid()
        self.children: set[int] = set()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, _ignore)

    def serve(self) -> NoReturn:
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        sock_fd = self.sock.fileno()
        while True:
            for fd, _ in poller.poll():
                if fd == self.wake_r:
                    self._drain_wakeups()
                    self._reap()
                elif fd == sock_fd:
                    try:
                        data = self.sock.recv(MAX_DATAGRAM)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self._shutdown()
                    self._handle(data)
            self._reap()

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        """Reap every exited child; report those we forked. As a subreaper the
        zygote also inherits (and silently reaps) the orphans of children
        that started processes of their own."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.children:
                self.children.discard(pid)
                self._send(b"X" + EXITED.pack(pid, status))

    def _send(self, data: bytes, fds: list[int] | None = None) -> None:
        try:
            if fds:
                socket.send_fds(self.sock, [data], fds)
            else:
                self.sock.send(data)
        except OSError:
            self._shutdown()

    def _handle(self, data: bytes) -> None:
        if data[:1] != b"S":
            return
        (req,) = REQ.unpack_from(data, 1)
        payload = data[1 + REQ.size:]
        try:
            pid = os.fork()
        except OSError as exc:
            self._send(b"E" + REQ.pack(req) + str(exc).encode())
            return
        if pid == 0:
            self._become_child(payload)
        self.children.add(pid)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:  # e.g. a kernel without pidfds: the child is untrackable
            os.kill(pid, signal.SIGKILL)
            self._send(b"E" + REQ.pack(req) + str(exc).encode())
            return
        try:
            self._send(b"F" + FORKED.pack(req, pid), [pidfd])
        finally:
            os.close(pidfd)

    def _become_child(self, payload: bytes) -> NoReturn:
        code = 70
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.sock.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            from supervisor._prctl import set_pdeathsig

            set_pdeathsig(signal.SIGKILL)
            if os.getppid() != self.pid:
                os._exit(1)  # the zygote died between fork and prctl
            from supervisor.child import run_child

            run_child(payload)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)

    def _shutdown(self) -> NoReturn:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        os._exit(0)


def _ignore(signum: int, frame: object) -> None:
    """SIGCHLD only needs to wake the poll loop (through the wakeup fd)."""


if __name__ == "__main__":
    main(sys.argv[1:])
