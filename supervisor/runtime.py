"""The supervising side: one Runtime per process, one thread, one poller.

The runtime owns everything that is shared by all supervisors of the process:
the ZeroMQ context and ROUTER socket every child connects to, the zygote that
forks children, the children's pidfds, timers and the event stream. The
supervisors themselves are plain objects here (see ``supervisor.py``).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import pickle
import select
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import zmq

from . import _prctl, reasons, wire
from .cgroups import Cgroups, CgroupSupport, ChildCgroup
from .errors import ChildNotRunning, RuntimeClosed, SpecError, ZygoteError
from .flags import NOBLOCK, POLLIN, RCVMORE, SNDMORE, readable
from .loop import Loop
from .process import Process
from .records import Down, Event, MonitorRef
from .spec import ChildSpec, SupervisorSpec, check_children, target_name
from .supervisor import Supervisor
from .zygote import ZygoteClient

if TYPE_CHECKING:
    from .host import ChildOwner, Watched
    from .spec import Shutdown

__all__ = ["Runtime"]

log = logging.getLogger("supervisor")

_INLINE_BOOT = 32 * 1024  # larger boot data goes through a file
_REPORT_GRACE = 0.5  # how long an exit waits for the reason the child reported
_ROUTER_BATCH = 4096
_TIMEOUT = object()
# pidfd_send_signal's flag (Linux 6.9) that signals the process group led by
# the pidfd's process: race-free, unlike killpg by number
_PIDFD_SIGNAL_PROCESS_GROUP = 1 << 2
_group_flag = [True]  # cleared when the kernel refuses the flag


def _signal_group(pidfd: int, pgid: int, signum: int) -> bool:
    """Send ``signum`` to the process group ``pgid`` led by ``pidfd``'s process;
    False if there is no such group (the child left it, or all are gone).

    Without the pidfd flag (kernels before 6.9) ``killpg`` is used: the group
    id cannot be reused while any member lives, and the zygote sweeps the
    group before it reaps the leader."""
    if _group_flag[0]:
        try:
            signal.pidfd_send_signal(pidfd, signum, None, _PIDFD_SIGNAL_PROCESS_GROUP)
            return True
        except ProcessLookupError:
            return False
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                return False
            _group_flag[0] = False
    try:
        os.killpg(pgid, signum)
    except OSError:
        return False
    return True


#: the longest path a Unix socket can have (``sun_path`` less its NUL)
_MAX_SOCKET_PATH = 107


def run_dir_fits(run_dir: str | os.PathLike[str]) -> bool:
    """Whether ``run_dir`` is short enough for the runtime's socket inside it."""
    return len(os.path.join(os.fspath(run_dir), "router")) <= _MAX_SOCKET_PATH


def _own_run_dir(run_dir: str | os.PathLike[str]) -> str:
    """Create ``run_dir`` private, or empty one that a killed runtime left behind."""
    path = os.fspath(run_dir)
    if not run_dir_fits(path):
        raise SpecError("run_dir", f"is too long for a Unix socket path: {path}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    for entry in os.listdir(path):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.unlink(os.path.join(path, entry))
    return path


class Runtime(Loop):
    """Supervises OS processes from a single-threaded loop.

    It implements :class:`supervisor.host.Host`, the interface its supervisors
    use (``spawn``, ``send``, ``terminate``, ``await_start``, ``emit``,
    ``monitor``...): those methods are for supervisors, not for embedders.

    ``preload`` names modules the zygote imports before it freezes its heap
    (the embedder's heavy modules); ``name`` prefixes the process titles.
    ``pool`` keeps that many children forked ahead of demand, each of which
    has run ``prewarm`` (``"module:function"``, called with ``prewarm_args``)
    while it waited: a child's first touches of the interpreter's pages are
    copy-on-write faults that cost milliseconds, and a warm child has paid
    them before anybody waits for it (see ``supervisor._zygote``).
    The supervising process becomes a child subreaper so that children whose
    zygote died are reparented to it and reaped here.
    ``cgroups`` (default True) lets children whose spec has ``resources`` run
    in cgroups of their own where the host allows it (``supervisor.cgroups``);
    :attr:`cgroups` says what the host allowed.
    ``run_dir`` is the folder for the runtime's socket and boot files. By default
    a fresh temporary folder, removed at close; a runtime killed with SIGKILL
    leaves it behind. An embedder that owns a folder exclusively (under a lock)
    passes one there instead: the runtime empties it at start, so each crash's
    leftovers are cleared by the next start.
    """

    def __init__(self, *, preload: Sequence[str] = (), name: str = "supervisor",
                 pool: int = 0, prewarm: str | None = None,
                 prewarm_args: Sequence[Any] = (), cgroups: bool = True,
                 run_dir: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        if isinstance(preload, str) or not all(isinstance(m, str) and m for m in preload):
            raise SpecError("preload", "must be a sequence of module names")
        if not isinstance(name, str) or not name:
            raise SpecError("name", "must be a non-empty string")
        if not isinstance(pool, int) or isinstance(pool, bool) or not 0 <= pool <= 64:
            raise SpecError("pool", "must be an integer from 0 to 64")
        if prewarm is not None and (not isinstance(prewarm, str) or ":" not in prewarm):
            raise SpecError("prewarm", "must be 'module:function'")
        self.name = name
        self._preload = tuple(preload)
        self._pool = pool
        self._prewarm = prewarm
        self._prewarm_args = list(prewarm_args)
        self._closed = False
        self._dir = _own_run_dir(run_dir) if run_dir is not None else tempfile.mkdtemp(
            prefix="sup-")
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._router = self._ctx.socket(zmq.ROUTER)
        self._router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self._router.setsockopt(zmq.SNDHWM, 0)
        self._router.setsockopt(zmq.RCVHWM, 0)
        self._router.setsockopt(zmq.LINGER, 0)
        self.endpoint = f"ipc://{self._dir}/router"
        self._router.bind(self.endpoint)
        self.add_reader(self._router, self._on_router)
        self._by_pid: dict[int, Process] = {}
        self._by_rid: dict[bytes, Process] = {}
        self._by_health: dict[bytes, Process] = {}
        self._monitors: dict[MonitorRef, Watched | None] = {}
        # frames read while a start was awaited; dispatched before any newer one
        self._deferred: deque[tuple[Process | None, bytes, bytes]] = deque()
        self._drain_pending = False
        self._rids = itertools.count(1)
        self._boot_files = itertools.count(1)
        self._subscribers: list[Callable[[Event], None]] = []
        self._supervisors: list[Supervisor] = []
        self._cgroups = Cgroups(name, enabled=bool(cgroups))  # before the zygote (v2 leaf)
        # cgroups of gone children not removed yet (swept and removed at close)
        self._cgroup_leftovers: list[ChildCgroup] = []
        _prctl.set_child_subreaper()
        self._zygote = self._start_zygote()

    # ================================================================ public
    @property
    def preload_failures(self) -> list[str]:
        """What the zygote could not preload (or the prewarm hook it could not find)."""
        return list(self._zygote.preload_failures) if self._zygote is not None else []

    @property
    def context(self) -> zmq.Context[zmq.Socket[bytes]]:
        """The runtime's ZeroMQ context, for the embedder's own sockets."""
        return self._ctx

    @property
    def cgroups(self) -> CgroupSupport:
        """What the host allows for per-child cgroups (``mode`` ``none`` says why not)."""
        return self._cgroups.support

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Block until the zygote has preloaded its modules. An embedder whose loop
        must not stall calls it before serving: otherwise the first child's start
        waits on the preload, inside the loop."""
        return self._zygote.wait_ready(timeout)

    @property
    def zygote_pid(self) -> int | None:
        return self._zygote.pid if self._zygote.alive else None

    def start_supervisor(self, spec: SupervisorSpec, children: Sequence[ChildSpec] = (), *,
                         on_message: Callable[[str, Any], None] | None = None,
                         wait: bool = True) -> Supervisor:
        """Start a top-level supervisor with its initial children, in order,
        each started only once the previous acknowledged its start.

        ``wait=True`` (OTP): returns once every initial child acknowledged; if
        one fails first, the ones started are terminated and ``StartFailed``
        is raised. ``wait=False`` (the embedder's mode): returns at once; the
        starts, and every later restart, proceed in the loop and are reported
        as events (``started``, ``start_failed``, ``ignored``)."""
        self._check_open()
        if not isinstance(spec, SupervisorSpec):
            raise SpecError("spec", f"must be a SupervisorSpec, got {spec!r}")
        initial = check_children("children", children, spec)
        if on_message is not None and not callable(on_message):
            raise SpecError("on_message", "must be callable or None")
        for existing in self._supervisors:
            if existing.id == spec.id and existing.running:
                raise SpecError("id", f"a supervisor {spec.id!r} is already running")
        self._supervisors = [s for s in self._supervisors if s.running]
        sup = Supervisor(self, spec, initial, parent=None, on_message=on_message, wait=wait)
        self._supervisors.append(sup)
        sup.boot()
        return sup

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Receive every :class:`Event` (called from the loop, in order)."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[Event], None]) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def close(self) -> None:
        """Stop every supervisor (reverse start order), then the zygote; every
        child is reaped before this returns."""
        if self._closed:
            return
        try:
            for sup in reversed(self._supervisors):
                if sup.running:
                    sup.stop()
        finally:
            self._closed = True
            self.stop()  # a run_forever() that called close() returns
            self._kill_leftovers()
            self._zygote.close()
            self._cgroups.close(self._cgroup_leftovers)
            self.remove_reader(self._router)
            self._ctx.destroy(linger=0)
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ============================================================ zygote
    def _start_zygote(self) -> ZygoteClient:
        zygote = ZygoteClient(self.name, self._preload, pool=self._pool,
                              prewarm=self._prewarm, prewarm_args=self._prewarm_args)
        zygote.on_lost = self.remove_reader
        self.add_reader(zygote.fileno(), partial(self._on_zygote_readable, zygote))
        return zygote

    def _on_zygote_readable(self, zygote: ZygoteClient) -> None:
        zygote.read_available()
        self._consume_statuses(zygote)

    def _consume_statuses(self, zygote: ZygoteClient) -> None:
        statuses = zygote.statuses
        for pid in list(statuses):
            proc = self._by_pid.get(pid)
            if proc is None or proc.zygote is not zygote:
                statuses.pop(pid, None)
            elif not proc.terminating and pid in statuses:
                self._proc_exited(proc, statuses.pop(pid))

    def _ensure_zygote(self) -> ZygoteClient:
        if not self._zygote.alive:
            self._zygote.close()
            self._zygote = self._start_zygote()
        return self._zygote

    # ============================================================= spawn
    def spawn(self, owner: ChildOwner, spec: ChildSpec) -> Process:
        self._check_open()
        n = next(self._rids)
        rid = b"w%x" % n
        health_rid = b"h%x" % n if spec.health is not None else None
        boot: dict[str, object] = {
            "id": spec.id,
            "target": target_name(spec.start),
            "args": pickle.dumps((spec.args, dict(spec.kwargs)), pickle.HIGHEST_PROTOCOL),
            "endpoint": self.endpoint,
            "rid": rid,
            "health_rid": health_rid,
            "title": spec.title or f"{self.name}: {owner.id}/{spec.id}",
            "trap_exits": spec.trap_exits,
        }
        cgroup = None
        if spec.resources is not None:
            cgroup = self._cgroups.create(f"{spec.id}-{rid.decode()}", spec.resources)
            if cgroup is not None:
                boot["cgroup"] = cgroup.procs_files
        data = pickle.dumps(boot, pickle.HIGHEST_PROTOCOL)
        if len(data) > _INLINE_BOOT:
            path = os.path.join(self._dir, f"boot-{next(self._boot_files)}")
            with open(path, "wb") as fh:
                fh.write(data)
            payload = b"F" + path.encode()
        else:
            payload = b"I" + data
        started = time.monotonic()
        zygote = self._ensure_zygote()
        try:
            try:
                pid, pidfd = zygote.spawn(payload)
            except ZygoteError:
                # one retry with a fresh zygote: the old one may have just died
                zygote.close()
                zygote = self._ensure_zygote()
                pid, pidfd = zygote.spawn(payload)
        except BaseException:
            if cgroup is not None:
                self._release_cgroup(cgroup)
            raise
        proc = Process(owner, spec, zygote, pid, pidfd, rid, health_rid, started)
        proc.cgroup = cgroup
        self._by_pid[pid] = proc
        self._by_rid[rid] = proc
        if health_rid is not None:
            self._by_health[health_rid] = proc
        self.add_reader(pidfd, partial(self._on_pidfd, proc))
        return proc

    # ========================================================== messages
    def _on_router(self) -> None:
        deferred = self._deferred
        if deferred:
            self._drain_deferred()
        router = self._router
        recv = router.recv
        by_rid = self._by_rid
        decode = wire.decode
        ext = wire.ExtType
        events = router.getsockopt
        for turn in range(_ROUTER_BATCH):
            # the poll said readable: ask only before the later ones
            if turn and (router.closed or not readable(router)):
                return
            try:
                rid = recv(NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError:
                if self._closed:  # a handler closed the runtime
                    return
                raise
            frame = recv()
            while events(RCVMORE):
                recv()
            proc = by_rid.get(rid)
            if proc is None:
                self._on_health_frame(rid, frame)
                continue
            try:
                message = decode(frame)
            except Exception:
                log.warning("supervisor: undecodable frame from %s", proc)
                continue
            if type(message) is ext:
                self._on_control(proc, message)
            else:
                handler = proc.owner.on_message
                if handler is not None:
                    try:
                        handler(proc.id, message)
                    except Exception:
                        log.exception("supervisor: on_message raised")
            if deferred:  # a handler awaited a start: what it read comes first
                self._drain_deferred()

    def _dispatch(self, proc: Process | None, rid: bytes, frame: bytes) -> None:
        """Handle one frame read from the ROUTER (the slow path's copy of the
        loop in ``_on_router``)."""
        if proc is None:
            self._on_health_frame(rid, frame)
            return
        try:
            message = wire.decode(frame)
        except Exception:
            log.warning("supervisor: undecodable frame from %s", proc)
            return
        if type(message) is wire.ExtType:
            self._on_control(proc, message)
            return
        handler = proc.owner.on_message
        if handler is not None:
            try:
                handler(proc.id, message)
            except Exception:
                log.exception("supervisor: on_message raised")

    def _drain_deferred(self) -> None:
        self._drain_pending = False
        deferred = self._deferred
        while deferred:
            self._dispatch(*deferred.popleft())

    def _defer(self, proc: Process | None, rid: bytes, frame: bytes) -> None:
        self._deferred.append((proc, rid, frame))
        if not self._drain_pending:
            self._drain_pending = True
            self.call_soon(self._drain_deferred)

    # ======================================================= awaiting a start
    def await_start(self, proc: Process) -> None:
        """Wait, outside the loop, until ``proc`` acknowledged its start or is
        gone (OTP's ``proc_lib:start`` waiting for ``init_ack``).

        Only the ROUTER socket and the child's pidfd are watched. Frames from
        other children (and the child's own messages) are deferred in arrival
        order and dispatched by the loop before anything newer, never from in
        here; only health pongs and the child's own control frames are
        handled at once. Other children's exits wait for the loop as well."""
        router = self._router
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        pidfd_open = True
        poller.register(proc.pidfd, zmq.POLLIN)
        while not (proc.acked or proc.finalized):
            if self._closed:
                return
            timeout: int | None = None
            if proc.exited:
                if pidfd_open:
                    poller.unregister(proc.pidfd)
                    pidfd_open = False
                remaining = proc.exited_at + _REPORT_GRACE - time.monotonic()
                if remaining <= 0:
                    self._finalize(proc)
                    continue
                timeout = int(remaining * 1000) + 1
            ready = dict(poller.poll(timeout))
            if ready.get(router, 0) & POLLIN:
                self._read_while_awaiting(proc)
            if pidfd_open and proc.pidfd in ready and not proc.exited:
                poller.unregister(proc.pidfd)
                pidfd_open = False
                self._on_pidfd(proc)
        if pidfd_open and not proc.exited:
            poller.unregister(proc.pidfd)

    def _read_while_awaiting(self, proc: Process) -> None:
        router = self._router
        while readable(router):
            try:
                rid = router.recv(NOBLOCK)
            except zmq.Again:
                return
            frame = router.recv()
            while router.getsockopt(RCVMORE):
                router.recv()
            sender = self._by_rid.get(rid)
            if sender is None:
                if rid in self._by_health:
                    self._on_health_frame(rid, frame)  # bookkeeping, not dispatch
                continue
            if sender is proc:
                try:
                    message = wire.decode(frame)
                except Exception:
                    continue
                if type(message) is wire.ExtType and message.code != wire.CTRL_EXIT_SIGNAL:
                    self._on_control(proc, message)
                    if proc.acked or proc.finalized:
                        return
                    continue
            self._defer(sender, rid, frame)

    def _on_health_frame(self, rid: bytes, frame: bytes) -> None:
        proc = self._by_health.get(rid)
        if proc is not None and frame[:1] == wire.PONG:
            try:
                seq = int(frame[1:])
            except ValueError:
                return
            if seq > proc.pong_seq:
                proc.pong_seq = seq
                proc.misses = 0

    def _on_control(self, proc: Process, message: Any) -> None:
        code = message.code
        payload = wire.decode(message.data)
        if code == wire.CTRL_HELLO:
            proc.connected = True
            pending, proc.pending = proc.pending, []
            for data in pending:
                self._deliver(proc, data)
        elif code == wire.CTRL_ACK:
            if proc.acked or proc.exited:
                return
            proc.acked = True
            if proc.spec.health is not None:
                self._health_schedule(proc)
            proc.owner.child_started(proc)
        elif code == wire.CTRL_IGNORE:
            proc.ignored = True
        elif code == wire.CTRL_EXIT:
            proc.reported = str(payload)
            if proc.exited and not proc.finalized:
                self._finalize(proc)
        elif code == wire.CTRL_TRAP:
            proc.trap = bool(payload)

    def send(self, proc: Process, data: bytes) -> None:
        """Send one encoded frame to a live incarnation; raise ChildNotRunning
        if it is gone."""
        if proc.exited:
            raise ChildNotRunning(proc.id)
        if not proc.connected:
            proc.pending.append(data)
            return
        if not self._deliver(proc, data):
            raise ChildNotRunning(proc.id)

    def _deliver(self, proc: Process, data: bytes) -> bool:
        try:
            self._router.send(proc.rid, SNDMORE)
            self._router.send(data)
        except zmq.ZMQError as exc:
            if exc.errno == errno.EHOSTUNREACH:
                return False
            raise
        return True

    # ============================================================= exits
    def _on_pidfd(self, proc: Process) -> None:
        self.remove_reader(proc.pidfd)
        if proc.exited:
            return
        zygote = proc.zygote
        status = self._zombie_status(proc)
        if status is not None:
            # if its zygote is gone the zombie is ours (subreaper): reap it;
            # otherwise this fails with ECHILD and the zygote reaps it
            self._reap_orphan(proc)
            self._proc_exited(proc, status)
            return
        if zygote.alive:
            status = zygote.wait_status(proc.pid, 5.0)
            self._consume_statuses(zygote)
            if proc.exited:
                return
            if status is None and not zygote.alive:
                status = self._reap_orphan(proc)
        else:
            status = self._reap_orphan(proc)
        self._proc_exited(proc, status)

    def _zombie_status(self, proc: Process) -> int | None:
        """Read the exit status of a not-yet-reaped child from /proc, which
        spares waiting for the zygote's report (one process wake-up less on
        the kill -> Down path). The pidfd check afterwards proves the pid was
        not reaped and reused before the read."""
        try:
            with open(f"/proc/{proc.pid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            return None
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) < 50 or fields[0] != b"Z":
            return None
        try:
            signal.pidfd_send_signal(proc.pidfd, 0)
        except OSError:
            return None  # reaped meanwhile: the zygote's report will tell
        return int(fields[49])

    def _reap_orphan(self, proc: Process) -> int | None:
        """The zygote is gone: the child was reparented to us (subreaper).
        Its process group is swept first, as the zygote would have."""
        _signal_group(proc.pidfd, proc.pid, signal.SIGKILL)
        try:
            result = os.waitid(os.P_PIDFD, proc.pidfd, os.WEXITED | os.WNOHANG)
        except (ChildProcessError, OSError):
            return None
        if result is None:
            return None
        if result.si_code == os.CLD_EXITED:
            return (result.si_status & 0xFF) << 8
        return result.si_status & 0x7F

    def _proc_exited(self, proc: Process, status: int | None) -> None:
        if proc.exited:
            return
        proc.exited = True
        proc.exited_at = time.monotonic()
        proc.status = status
        self.remove_reader(proc.pidfd)
        with contextlib.suppress(OSError):
            os.close(proc.pidfd)
        proc.cancel_timers()
        self._by_pid.pop(proc.pid, None)
        if (status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) in (0, 1)
                and proc.reported is None and proc.kill_reason is None
                and not proc.terminating):
            # exit codes 0 and 1 are how a child ends after reporting its
            # reason: that frame may still be in flight on the ROUTER
            proc.report_timer = self.call_later(_REPORT_GRACE, partial(self._finalize, proc))
            return
        self._finalize(proc)

    def _reason(self, proc: Process) -> str:
        if proc.kill_reason is not None:
            return proc.kill_reason
        if proc.reported is not None:
            return proc.reported
        if proc.status is None:
            # its zygote died: the parent-death signal (SIGKILL) took it down
            return reasons.KILLED if not proc.zygote.alive else "unknown"
        if (proc.cgroup is not None and os.WIFSIGNALED(proc.status)
                and os.WTERMSIG(proc.status) == signal.SIGKILL and proc.cgroup.oom_kills()):
            return reasons.OOM_KILLED
        return reasons.from_status(proc.status)

    def _finalize(self, proc: Process) -> None:
        if proc.finalized:
            return
        proc.finalized = True
        if proc.report_timer is not None:
            proc.report_timer.cancel()
            proc.report_timer = None
        reason = self._reason(proc)
        if proc.cgroup is not None:
            cgroup, proc.cgroup = proc.cgroup, None
            self._cgroup_leftovers.append(cgroup)
            if proc.terminating:  # a shutdown: its descendants go before it returns
                self._release_cgroup(cgroup)
            else:  # after the Down is out: off the kill -> Down path
                self.call_soon(partial(self._release_cgroup, cgroup))
        self._by_rid.pop(proc.rid, None)
        if proc.health_rid is not None:
            self._by_health.pop(proc.health_rid, None)
        # the owner decides (restart or not) and emits ``exited`` first
        proc.owner.child_exited(proc, reason)
        down_reason = reasons.NORMAL if proc.ignored else reason
        for ref, callback in proc.monitors.items():
            self.deliver_down(ref, callback, Down(ref, proc.id, proc.pid, down_reason))
        proc.monitors.clear()
        self._propagate_exit(proc, down_reason)

    def _propagate_exit(self, proc: Process, reason: str) -> None:
        """OTP link semantics: a trapping peer gets an Exit record, any other
        peer dies with the same reason unless the reason is ``normal``."""
        peers, proc.links = proc.links, set()
        for peer in peers:
            peer.links.discard(proc)
            if peer.exited:
                continue
            if peer.trap:
                data = wire.control(wire.CTRL_EXIT_SIGNAL, [proc.id, proc.pid, reason])
                with contextlib.suppress(ChildNotRunning):
                    self.send(peer, data)
            elif reason != reasons.NORMAL:
                self._kill(peer, reason)

    def _release_cgroup(self, cgroup: ChildCgroup, tries: int = 50) -> None:
        """Sweep and remove a gone child's cgroup; members still exiting are
        waited for on later turns, and whatever is left goes at close."""
        if cgroup not in self._cgroup_leftovers:
            return  # released already (or at close)
        if self._cgroups.release(cgroup):
            self._cgroup_leftovers.remove(cgroup)
        elif tries > 0 and not self._closed:
            self.call_later(0.02, partial(self._release_cgroup, cgroup, tries - 1))

    # ========================================================= killing
    def _signal(self, proc: Process, signum: int) -> None:
        """Signal the child's process group: the child and whatever it forked
        (the zygote makes each child a group leader). SIGKILL also goes to the
        child itself, in case it left its group."""
        if signum == signal.SIGKILL or not _signal_group(proc.pidfd, proc.pid, signum):
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(proc.pidfd, signum)
        if signum == signal.SIGKILL:
            _signal_group(proc.pidfd, proc.pid, signum)

    def _kill(self, proc: Process, reason: str) -> None:
        """SIGKILL asynchronously; the exit is reported with ``reason``."""
        if proc.exited:
            return
        if proc.kill_reason is None:
            proc.kill_reason = reason
        self._signal(proc, signal.SIGKILL)

    def terminate(self, procs: Sequence[Process], shutdown: Shutdown,
                  deadline: float | None) -> None:
        """OTP's shutdown, for several children at once (a
        ``simple_one_for_one`` supervisor stops its instances together):
        SIGTERM each, wait up to ``shutdown`` s (or ``deadline``), then SIGKILL
        the rest (``brutal_kill``: SIGKILL at once). Blocks; each exit is
        finalized as a termination (``restart_after`` tells the owner whether
        it restarts the child)."""
        live: list[Process] = []
        for proc in procs:
            if proc.finalized:
                continue
            proc.terminating = True
            if proc.exited:
                self._finalize(proc)
            else:
                live.append(proc)
        if not live:
            return
        if shutdown == "brutal_kill":
            limit = float("inf")
        else:
            limit = float("inf") if shutdown == "infinity" else float(shutdown)
        until = time.monotonic() + limit
        if deadline is not None:
            until = min(until, deadline)
        for proc in live:
            if self._pidfd_ready(proc):
                continue
            if shutdown == "brutal_kill":
                proc.kill_reason = reasons.KILLED
                self._signal(proc, signal.SIGKILL)
            else:
                proc.kill_reason = reasons.SHUTDOWN
                self._signal(proc, signal.SIGTERM)
                self._signal(proc, signal.SIGCONT)  # a stopped child must see it
        for proc in live:
            status = self._await_exit(proc, until)
            if status is _TIMEOUT:
                proc.kill_reason = reasons.KILLED
                self._signal(proc, signal.SIGKILL)
                status = self._await_exit(proc, time.monotonic() + 30.0)
            self._proc_exited(proc, None if status is _TIMEOUT else status)  # type: ignore[arg-type]
        for zygote in {proc.zygote for proc in live}:
            self.call_soon(partial(self._consume_statuses, zygote))

    def _pidfd_ready(self, proc: Process) -> bool:
        poller = select.poll()
        poller.register(proc.pidfd, select.POLLIN)
        return bool(poller.poll(0))

    def _await_exit(self, proc: Process, until: float) -> int | object | None:
        zygote = proc.zygote
        while True:
            if proc.pid in zygote.statuses:
                return zygote.statuses.pop(proc.pid)
            remaining = until - time.monotonic()
            if remaining <= 0:
                return _TIMEOUT
            chunk = min(remaining, 1.0)
            if zygote.alive:
                status = zygote.wait_status(proc.pid, chunk)
                if status is not None:
                    return status
            else:
                poller = select.poll()
                poller.register(proc.pidfd, select.POLLIN)
                if poller.poll(int(chunk * 1000) + 1):
                    return self._reap_orphan(proc)

    def _kill_leftovers(self) -> None:
        for proc in list(self._by_pid.values()):
            if not proc.exited:
                self.terminate([proc], "brutal_kill", None)

    # ============================================================ health
    def _health_schedule(self, proc: Process) -> None:
        health = proc.spec.health
        assert health is not None
        proc.health_tick = self.call_later(health.interval, partial(self._health_tick, proc))

    def _health_tick(self, proc: Process) -> None:
        health = proc.spec.health
        if proc.exited or health is None or proc.health_rid is None:
            return
        proc.ping_seq += 1
        seq = proc.ping_seq
        try:
            self._router.send(proc.health_rid, SNDMORE)
            self._router.send(wire.PING + b"%d" % seq)
        except zmq.ZMQError:
            pass  # not connected (yet): counts as a miss
        proc.health_check = self.call_later(health.timeout,
                                            partial(self._health_check, proc, seq))
        proc.health_tick = self.call_later(health.interval, partial(self._health_tick, proc))

    def _health_check(self, proc: Process, seq: int) -> None:
        health = proc.spec.health
        if proc.exited or health is None or proc.pong_seq >= seq:
            return
        proc.misses += 1
        if proc.misses >= health.misses:
            proc.cancel_timers()
            self.emit("unhealthy", proc.owner.id, proc.id, proc.pid,
                      f"{proc.misses} missed pings")
            self._kill(proc, reasons.UNHEALTHY)

    # ========================================================== monitors
    def monitor(self, target: Watched | None, ref: MonitorRef,
                callback: Callable[[Down], None]) -> None:
        if target is None or not target.alive:
            self._monitors[ref] = None
            down = Down(ref, ref.child_id, None, reasons.NOPROC)
            self.call_soon(partial(self._fire_down, ref, callback, down))
            return
        self._monitors[ref] = target
        target.monitors[ref] = callback

    def demonitor(self, ref: MonitorRef) -> None:
        holder = self._monitors.pop(ref, None)
        if holder is not None:
            holder.monitors.pop(ref, None)

    def deliver_down(self, ref: MonitorRef, callback: Callable[[Down], None],
                     down: Down) -> None:
        self.call_soon(partial(self._fire_down, ref, callback, down))

    def _fire_down(self, ref: MonitorRef, callback: Callable[[Down], None], down: Down) -> None:
        if ref not in self._monitors:
            return  # demonitored before delivery
        del self._monitors[ref]
        callback(down)

    # ============================================================ events
    def emit(self, kind: str, supervisor: str, child: str | None, pid: int | None = None,
             reason: str | None = None, delay: float | None = None, *,
             restart: bool = False) -> None:
        if not self._subscribers:
            return
        event = Event(kind, supervisor, child, pid, reason, delay, time.time(), restart)
        for callback in self._subscribers:
            self.call_soon(partial(callback, event))

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeClosed("the runtime is closed")
