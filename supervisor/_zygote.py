"""The zygote: a single-threaded fork server, started with exec (never fork).

It imports the embedder's heavy modules once, calls ``gc.freeze()`` so that
forked children do not dirty the shared pages with garbage-collector
bookkeeping, and then forks one child per request. It is the real parent of
every child: it reaps them and reports each ``waitpid`` status to the
supervising process, together with a pidfd it opened before anything could
reap the child (so the pid can never be reused under the supervisor's feet).

It creates no ZeroMQ context and no thread, so forking it is safe.

A warm pool (``pool`` > 0): a forked child's first touches of the shared
interpreter pages are copy-on-write faults, and the first run of any code path
in a fresh process costs several times its later runs; together they make
most of a child's start-up. So the zygote keeps ``pool`` children forked ahead
of demand. Each runs the embedder's ``prewarm`` hook (which exercises the
paths a real child will take), says "ready" on its own socket pair and then
blocks there for its boot payload. A spawn request hands the payload to the
oldest ready one and reports it exactly as a fresh fork (or forks a cold child
when none is ready), then forks a replacement. A pooled child that dies unused
is reaped silently; after three such deaths in a row the pool is switched off.

Wire (SOCK_SEQPACKET, one message per datagram):
  supervisor -> zygote  ``S`` req:u64 payload   fork a child with this boot payload
  zygote -> supervisor  ``R`` json               ready (list of failed preloads)
                        ``F`` req:u64 pid:u32    forked; the pidfd rides along (SCM_RIGHTS)
                        ``E`` req:u64 text       fork failed
                        ``X`` pid:u32 status:i32 a child was reaped
When the supervisor's end closes (it exited, even by SIGKILL) the zygote
SIGKILLs all its children, reaps them and exits.

Each child is the leader of a process group of its own (``setpgid`` on both
sides of the fork, so neither can run ahead of it), and whatever it forks
inherits that group. Before the zygote reaps a child it SIGKILLs the child's
group: while the child is an unreaped zombie its pid, hence the group id,
cannot be reused, so the sweep can never hit a stranger. A child's
descendants therefore end with it, however it ended.

The zygote enables ``faulthandler`` before it imports anything: a library
loaded later that installs fault handlers of its own (wasmtime does, for its
traps) chains the faults that are not its own to faulthandler, which prints
the Python stacks and dies of the signal. Without it such a library falls
back to the default action only for a fault that repeats when its
instruction is retried, so a fault signal sent from outside (``kill -SEGV``)
would be swallowed (docs/supervisor.md, "Signals").
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
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
from collections import deque
from collections.abc import Callable
from typing import Any, NoReturn

REQ = struct.Struct("<Q")
LENGTH = struct.Struct("<I")
FORKED = struct.Struct("<QI")
EXITED = struct.Struct("<Ii")
MAX_DATAGRAM = 1 << 16


def main(argv: list[str]) -> None:
    fd = int(argv[0])
    config: dict[str, Any] = json.loads(argv[1])
    sys.path[:] = config["sys_path"]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.enable()  # before any import can install fault handlers (see above)

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
    _set_title(f"{config['name']} zygote")
    prewarm = None
    if config.get("prewarm"):
        try:
            module_name, _, attr = config["prewarm"].partition(":")
            hook = getattr(importlib.import_module(module_name), attr)
            args = list(config.get("prewarm_args") or [])
            prewarm = lambda: hook(*args)  # noqa: E731
        except BaseException as exc:
            failures.append(f"prewarm {config['prewarm']}: {type(exc).__name__}: {exc}")
    gc.collect()
    gc.freeze()
    try:
        sock.send(b"R" + json.dumps(failures).encode())
    except OSError:
        os._exit(0)  # the supervising process is already gone
    Zygote(sock, pool=int(config.get("pool") or 0) if prewarm else 0, prewarm=prewarm,
           name=config["name"]).serve()


class Zygote:
    def __init__(self, sock: socket.socket, *, pool: int = 0,
                 prewarm: Callable[[], object] | None = None, name: str = "supervisor") -> None:
        self.sock = sock
        self.name = name
        self.pid = os.getpid()
        self.children: set[int] = set()
        self.pool_size = pool
        self.prewarm = prewarm
        self.pool: deque[tuple[int, socket.socket]] = deque()  # (pid, our end of its pair)
        self.ready: set[int] = set()
        self.pool_deaths = 0
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
        self._refill()
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
        that started processes of their own. A child's process group is
        swept (SIGKILL) while the child is still a zombie, before its pid
        can be reused."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            if info.si_pid in self.children or any(p == info.si_pid for p, _ in self.pool):
                _kill_group(info.si_pid)
            try:
                pid, status = os.waitpid(info.si_pid, os.WNOHANG)
            except ChildProcessError:
                return  # not ours to reap after all: never spin on it
            if pid == 0:
                return
            if pid in self.children:
                self.children.discard(pid)
                self._send(b"X" + EXITED.pack(pid, status))
            else:
                self._forget_pooled(pid)

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
        pid = self._from_pool(payload)
        if pid is None:
            try:
                pid = os.fork()
            except OSError as exc:
                self._send(b"E" + REQ.pack(req) + str(exc).encode())
                return
            if pid == 0:
                self._become_child(payload)
            _own_group(pid)
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
        self._refill()

    # ----------------------------------------------------------- warm pool
    def _is_ready(self, pid: int, pair: socket.socket) -> bool:
        if pid not in self.ready:
            try:
                said = pair.recv(1, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return False  # still warming up
            except OSError:
                said = b""
            if said != b"r":
                return False  # gone: the reaper forgets it
            self.ready.add(pid)
        return True

    def _from_pool(self, payload: bytes) -> int | None:
        """Hand ``payload`` to the oldest ready pooled child; None if none is ready."""
        for entry in list(self.pool):
            pid, pair = entry
            if not self._is_ready(pid, pair):
                continue
            self.pool.remove(entry)
            self.ready.discard(pid)
            try:
                pair.sendall(LENGTH.pack(len(payload)) + payload)
            except OSError:  # it died after saying ready: the reaper collects it
                continue
            finally:
                pair.close()
            self.pool_deaths = 0
            return pid
        return None

    def _refill(self) -> None:
        while len(self.pool) < self.pool_size:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                pid = os.fork()
            except OSError:
                ours.close()
                theirs.close()
                return
            if pid == 0:
                ours.close()
                self._become_pooled(theirs)
            _own_group(pid)
            theirs.close()
            self.pool.append((pid, ours))

    def _forget_pooled(self, pid: int) -> None:
        for entry in self.pool:
            if entry[0] == pid:
                self.pool.remove(entry)
                self.ready.discard(pid)
                entry[1].close()
                self.pool_deaths += 1
                if self.pool_deaths >= 3:
                    print("supervisor zygote: pooled children keep dying; pool off",
                          file=sys.stderr, flush=True)
                    self.pool_size = 0
                return

    def _become_pooled(self, pair: socket.socket) -> NoReturn:
        code = 70
        try:
            self._detach()
            if self.prewarm is not None:
                try:
                    self.prewarm()
                except Exception:
                    traceback.print_exc()  # a cold child is still a child
            gc.collect()
            pair.sendall(b"r")
            _set_title(f"{self.name} pool: ready")
            header = _read_exactly(pair, LENGTH.size)
            if header is None:
                os._exit(0)  # the zygote is gone, or shut the pool down
            payload = _read_exactly(pair, LENGTH.unpack(header)[0])
            pair.close()
            if payload is None:
                os._exit(0)
            from supervisor.child import run_child

            run_child(payload)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)

    def _become_child(self, payload: bytes) -> NoReturn:
        code = 70
        try:
            self._detach()
            from supervisor.child import run_child

            run_child(payload)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)

    def _detach(self) -> None:
        """In a fresh child: lead a process group of its own, drop the zygote's
        fds and handlers, die with the zygote."""
        _own_group(0)
        for _, other in self.pool:  # the other pooled children's pairs
            other.close()
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

    def _shutdown(self) -> NoReturn:
        for pid, _ in self.pool:
            _kill_group(pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        for pid in list(self.children):
            _kill_group(pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        os._exit(0)


def _own_group(pid: int) -> None:
    """Make ``pid`` (0: this process) the leader of a process group of its own.
    Called by the zygote and by the child, whichever runs first wins; the
    other's call is a no-op or fails harmlessly (the child already exited)."""
    try:
        os.setpgid(pid, 0)
    except OSError as exc:
        if exc.errno not in (errno.ESRCH, errno.EACCES, errno.EPERM):
            raise


def _kill_group(pgid: int) -> None:
    """SIGKILL every process left in the group ``pgid`` (its leader's pid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _set_title(title: str) -> None:
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.setproctitle(title)


def _read_exactly(pair: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            chunk = pair.recv(size - len(data))
        except InterruptedError:
            continue
        if not chunk:
            return None
        data += chunk
    return data


def _ignore(signum: int, frame: object) -> None:
    """SIGCHLD only needs to wake the poll loop (through the wakeup fd)."""


if __name__ == "__main__":
    main(sys.argv[1:])
