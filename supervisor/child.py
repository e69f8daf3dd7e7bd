"""The child side: what runs in a forked child, and the link it is given.

A child talks to its supervisor over one DEALER socket (one msgpack object per
frame). A daemon thread with its own socket answers health pings, because
ZeroMQ sockets must not be shared between threads and because pings must be
answered while user code is busy; a child that is stopped, or stuck in a C
call that holds the GIL, cannot answer, which is exactly what the check is for.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import sys
import threading
import time
import traceback
from typing import Any, NoReturn

import zmq

from . import reasons, wire
from .flags import NOBLOCK, readable
from .records import Exit

__all__ = ["ChildLink", "run_child"]

_EXIT_LINGER_MS = 2000


class ChildLink:
    """Passed as first argument to a child's start function.

    ``recv`` returns user messages and, when ``trap_exits`` is set, :class:`Exit`
    records from linked children. ``socket`` may be registered in the child's
    own poller; read it with ``recv_nowait``/``recv_many`` (a readable socket may
    hold only a control frame, in which case they return nothing).

    The child acknowledges its start (OTP's ``proc_lib:init_ack``) with
    :meth:`ready`, or implicitly the first time it waits on the link (``recv``,
    ``recv_nowait``, ``recv_many``, ``poll``, or taking ``socket`` to poll it
    itself): a child that waits for messages has finished its start. Until
    then the supervisor's ``start_child`` has not returned. Sends do not ack.
    """

    def __init__(self, child_id: str, sock: zmq.Socket[bytes], trap_exits: bool,
                 finish: Any) -> None:
        self.id = child_id
        self.pid = os.getpid()
        self._sock = sock
        self._trap = trap_exits
        self._finish = finish
        self.acked = False

    # ---------------------------------------------------------------- start
    def ready(self) -> None:
        """Acknowledge the start: the supervisor's ``start_child`` returns and
        the next child starts. Idempotent."""
        if not self.acked:
            self.acked = True
            self._sock.send(wire.control(wire.CTRL_ACK, None))

    # -------------------------------------------------------------- sending
    def send(self, message: Any) -> None:
        """Send one msgpack-able message to the supervisor (``on_message``)."""
        self._sock.send(wire.encode(message), copy=True)

    # ------------------------------------------------------------ receiving
    def recv(self, timeout: float | None = None) -> Any | None:
        """Next message, waiting at most ``timeout`` seconds (None: forever).

        Returns None on timeout (a message that is itself None is therefore
        indistinguishable from a timeout)."""
        if not self.acked:
            self.ready()
        sock = self._sock
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is None:
                frame = sock.recv()  # no poll first: one wake-up less per message
            else:
                ms = max(0, int((deadline - time.monotonic()) * 1000 + 0.999))
                if not sock.poll(ms, zmq.POLLIN):
                    return None
                try:
                    frame = sock.recv(NOBLOCK)
                except zmq.Again:
                    continue
            message = wire.decode(frame)
            if type(message) is wire.ExtType:
                record = self._control(message)
                if record is None:
                    continue
                return record
            return message

    def recv_nowait(self) -> Any | None:
        """Next message if one is already queued, else None."""
        return self.recv(0)

    def recv_many(self, max_messages: int = 1000) -> list[Any]:
        """Every queued message, up to ``max_messages``, without waiting: lets a
        busy child drain its queue in one call."""
        if not self.acked:
            self.ready()
        out: list[Any] = []
        recv = self._sock.recv
        decode = wire.decode
        ext = wire.ExtType
        sock = self._sock
        while len(out) < max_messages:
            if not readable(sock):
                break
            try:
                frame = recv(NOBLOCK)
            except zmq.Again:
                break
            message = decode(frame)
            if type(message) is ext:
                record = self._control(message)
                if record is None:
                    continue
                message = record
            out.append(message)
        return out

    def poll(self, timeout: float | None) -> bool:
        """True when a frame is waiting (timeout in seconds; None: forever)."""
        if not self.acked:
            self.ready()
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return bool(self._sock.poll(ms, zmq.POLLIN))

    @property
    def socket(self) -> zmq.Socket[bytes]:
        """For the child's own poller; taking it acknowledges the start."""
        if not self.acked:
            self.ready()
        return self._sock

    # --------------------------------------------------------------- exits
    @property
    def trap_exits(self) -> bool:
        return self._trap

    @trap_exits.setter
    def trap_exits(self, value: bool) -> None:
        """Takes effect for every exit the supervisor handles after any
        message this child sends afterwards (the frames are ordered)."""
        self._trap = bool(value)
        self._sock.send(wire.control(wire.CTRL_TRAP, self._trap))

    def exit(self, reason: str) -> NoReturn:
        """Report ``reason`` to the supervisor and end this process at once.

        Call it from the child's main thread."""
        self._finish(str(reason))
        raise AssertionError("unreachable")  # pragma: no cover

    def _control(self, message: Any) -> Exit | None:
        if message.code == wire.CTRL_EXIT_SIGNAL:
            from_id, pid, reason = wire.decode(message.data)
            return Exit(from_id, pid, reason)
        return None


class _HealthResponder:
    """Answers pings on its own socket, from its own daemon thread."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, rid: bytes) -> None:
        self._sock = ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.ROUTING_ID, rid)
        self._sock.connect(endpoint)
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="supervisor-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        sock = self._sock
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._stop_r, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if self._stop_r in ready:
                    return
                while True:
                    try:
                        frame = sock.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    if frame[:1] == wire.PING:
                        sock.send(wire.PONG + frame[1:])
        except zmq.ZMQError:
            return
        finally:
            sock.close(0)

    def stop(self) -> None:
        try:
            os.write(self._stop_w, b"x")
        except OSError:
            return
        self._thread.join(1.0)


def _resolve(target: str) -> Any:
    module_name, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{target} is not callable")
    return obj


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _join_cgroup(procs_files: list[str]) -> None:
    """Enter the cgroup the runtime made for this incarnation before any of the
    start function's code runs (the whole process moves, threads included)."""
    pid = str(os.getpid()).encode()
    for path in procs_files:
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        except OSError as exc:  # never run uncapped where the runtime counts on a cap
            raise OSError(exc.errno, f"cannot join the cgroup {path}: {exc.strerror}") from None


def run_child(payload: bytes) -> NoReturn:
    """Entry point in a freshly forked child (called by the zygote)."""
    if payload[:1] == b"F":  # large boot data travels through a file
        path = payload[1:].decode()
        with open(path, "rb") as fh:
            payload = fh.read()
        os.unlink(path)
    else:
        payload = payload[1:]
    boot: dict[str, Any] = pickle.loads(payload)
    child_id: str = boot["id"]
    try:
        import setproctitle

        setproctitle.setproctitle(boot["title"])
    except ImportError:
        pass

    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context(1)
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.ROUTING_ID, boot["rid"])
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.LINGER, _EXIT_LINGER_MS)
    sock.connect(boot["endpoint"])
    health: _HealthResponder | None = None
    if boot["health_rid"] is not None:
        health = _HealthResponder(ctx, boot["endpoint"], boot["health_rid"])
        health.start()
    sock.send(wire.control(wire.CTRL_HELLO, [os.getpid()]))

    finished = False

    def finish(reason: str) -> NoReturn:
        nonlocal finished
        if not finished:
            finished = True
            _flush_stdio()
            try:
                sock.send(wire.control(wire.CTRL_EXIT, reason))
                if health is not None:
                    health.stop()
                sock.close()
                ctx.term()
            except Exception:
                pass
        os._exit(0 if reason == reasons.NORMAL else 1)  # see Runtime._proc_exited

    link = ChildLink(child_id, sock, bool(boot["trap_exits"]), finish)
    try:
        _join_cgroup(boot.get("cgroup") or [])
        fn = _resolve(boot["target"])
        args, kwargs = pickle.loads(boot["args"])
        result = fn(link, *args, **kwargs)
        if isinstance(result, str) and result == "ignore" and not link.acked:
            # OTP's ignore: the supervisor keeps the spec with no process
            sock.send(wire.control(wire.CTRL_IGNORE, None))
        reason = reasons.NORMAL
    except SystemExit as exc:
        code = exc.code
        if code is None or code == 0:
            reason = reasons.NORMAL
        elif isinstance(code, int):
            reason = f"exit:{code}"
        else:
            reason = str(code)
    except BaseException as exc:
        traceback.print_exc()
        reason = reasons.exception_reason(exc)
    finish(reason)
