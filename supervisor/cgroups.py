"""A cgroup per child: memory and CPU caps the kernel enforces, and a sweep no
descendant escapes.

A process group (see ``supervisor._zygote``) holds what a child forks unless
the descendant leaves it (``setsid``, ``setpgid``); a cgroup holds it whatever
it does, and lets the kernel cap what the child and its descendants use
together. Where the host allows it, a child whose spec carries
:class:`Resources` gets a cgroup of its own for each incarnation: created by
the runtime before the fork, joined by the child before its start function
runs, swept (every member SIGKILLed) and removed once the child is gone.
A child the kernel's OOM killer ended inside its cgroup exits with reason
``oom_killed``.

Both hierarchies are handled: cgroup v2 (the ``memory`` and ``cpu``
controllers of the unified hierarchy) and v1 (separate ``memory`` and ``cpu``
hierarchies, as on hybrid hosts). The runtime nests its children's cgroups
under its own cgroup, in a folder named after it. In v2 a cgroup that hands
controllers to its children may hold no process itself, so a runtime alone in
its cgroup first moves itself into a leaf (``<its cgroup>/supervisor``); a
runtime that shares its cgroup with other processes cannot, and runs without.

Where cgroups are not available (no controllers, no permission, another
process in the way) nothing is capped: :attr:`CgroupSupport.reason` says why,
and the runtime logs it once. The runtime's own caps are not this module's
business: it only divides what its own cgroup was given.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import re
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import SpecError

__all__ = ["CgroupSupport", "Cgroups", "ChildCgroup", "Resources"]

log = logging.getLogger("supervisor")

_CPU_PERIOD_US = 100_000
_MIN_MEMORY = 1 << 20
_REMOVE_TRIES = 100
_PREFIX = "supervisor-"  # a runtime's folder: supervisor-<pid>-<name>
_STALE = re.compile(re.escape(_PREFIX) + r"(\d+)-")


@dataclass(frozen=True)
class Resources:
    """Caps for one child and its descendants together, applied through a cgroup
    of its own. ``memory_max`` is in bytes (the kernel's OOM killer ends the
    child past it; swap does not extend it); ``cpu_max`` is in cores (1.5: one
    and a half CPUs' worth of time per period). None leaves that resource
    uncapped; a child with ``Resources()`` still gets a cgroup, for the sweep."""

    memory_max: int | None = None
    cpu_max: float | None = None

    def __post_init__(self) -> None:
        mem = self.memory_max
        if mem is not None and (not isinstance(mem, int) or isinstance(mem, bool)
                                or mem < _MIN_MEMORY):
            raise SpecError("resources.memory_max",
                            f"must be an integer of bytes >= {_MIN_MEMORY} or None, got {mem!r}")
        cpu = self.cpu_max
        if cpu is not None and (not isinstance(cpu, int | float) or isinstance(cpu, bool)
                                or not math.isfinite(cpu) or cpu < 0.01):
            raise SpecError("resources.cpu_max",
                            f"must be a number of cores >= 0.01 or None, got {cpu!r}")


@dataclass(frozen=True)
class CgroupSupport:
    """What the host allows: ``mode`` is ``v2``, ``v1`` or ``none``; ``memory``
    and ``cpu`` say which caps are enforced; ``reason`` says what is missing
    and why (empty when both are); ``where`` lists the runtime's cgroup folders."""

    mode: str
    memory: bool
    cpu: bool
    reason: str = ""
    where: tuple[str, ...] = field(default=())

    @property
    def available(self) -> bool:
        return self.mode != "none"

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "memory": self.memory, "cpu": self.cpu,
                "reason": self.reason, "where": list(self.where)}


class ChildCgroup:
    """One incarnation's cgroup: a folder per hierarchy (one in v2, up to two in v1)."""

    def __init__(self, dirs: list[str], memory_dir: str | None, version: int) -> None:
        self.dirs = dirs
        self.memory_dir = memory_dir
        self.version = version

    @property
    def procs_files(self) -> list[str]:
        """Where the child writes its pid to join (``cgroup.procs`` of each folder)."""
        return [os.path.join(d, "cgroup.procs") for d in self.dirs]

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer ended in this cgroup."""
        if self.memory_dir is None:
            return 0
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            with open(os.path.join(self.memory_dir, name)) as fh:
                for line in fh:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def members(self) -> list[int]:
        pids: set[int] = set()
        for path in self.procs_files:
            with contextlib.suppress(OSError, ValueError), open(path) as fh:
                pids.update(int(line) for line in fh if line.strip())
        return sorted(pids)

    def kill_all(self) -> None:
        """SIGKILL every process still in the cgroup (a descendant that left
        the child's process group included)."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                _write(os.path.join(self.dirs[0], "cgroup.kill"), "1")
                return
        for pid in self.members():
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                # still a member once we hold its pidfd: the pidfd is that member
                if pid in self.members():
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os.close(pidfd)

    def remove(self) -> bool:
        """Remove the folders; False while a member is still exiting."""
        done = True
        for path in list(self.dirs):
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                done = False
                continue
            self.dirs.remove(path)
            if path == self.memory_dir:
                self.memory_dir = None
        return done


class Cgroups:
    """The runtime's cgroups: detects what the host allows, creates a cgroup per
    child incarnation under the runtime's own folder, and removes them."""

    def __init__(self, name: str, *, enabled: bool = True) -> None:
        self._base: dict[str, str] = {}  # controller -> the runtime's folder for it
        self._version = 0
        if not enabled:
            self.support = CgroupSupport("none", False, False, "disabled by the embedder")
            return
        folder = f"{_PREFIX}{os.getpid()}-{_safe(name)}"
        try:
            self.support = self._setup(folder)
        except OSError as exc:
            self.support = CgroupSupport("none", False, False, f"cannot set up cgroups: {exc}")
        if not self.support.available:
            self._base.clear()

    # ------------------------------------------------------------------ setup
    def _setup(self, folder: str) -> CgroupSupport:
        mounts = _mounts()
        own = _own_cgroups()
        v2 = mounts.get("cgroup2")
        if v2 is not None and "" in own:
            support = self._setup_v2(_join(v2, own[""]), folder)
            if support.available or not any(c in mounts for c in ("memory", "cpu")):
                return support
            v2_reason = support.reason
        else:
            v2_reason = "no cgroup v2 hierarchy"
        if "memory" in mounts or "cpu" in mounts:
            return self._setup_v1(mounts, own, folder, v2_reason)
        return CgroupSupport("none", False, False, f"{v2_reason}; no cgroup v1 memory or "
                             "cpu hierarchy mounted")

    def _setup_v1(self, mounts: dict[str, tuple[str, str]], own: dict[str, str], folder: str,
                  v2_reason: str) -> CgroupSupport:
        problems: list[str] = []
        for controller in ("memory", "cpu"):
            if controller not in mounts:
                problems.append(f"no cgroup v1 {controller} hierarchy")
                continue
            parent = _join(mounts[controller], own.get(controller, "/"))
            path = os.path.join(parent, folder)
            _remove_stale(parent)
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as exc:
                problems.append(f"cannot create {path}: {exc.strerror}")
                continue
            self._base[controller] = path
        self._version = 1
        if not self._base:
            return CgroupSupport("none", False, False, "; ".join([v2_reason, *problems]))
        return CgroupSupport("v1", "memory" in self._base, "cpu" in self._base,
                             "; ".join(problems), tuple(sorted(set(self._base.values()))))

    def _setup_v2(self, own: str, folder: str) -> CgroupSupport:
        try:
            offered = set(_read(os.path.join(own, "cgroup.controllers")).split())
        except OSError as exc:
            return CgroupSupport("none", False, False, f"cgroup v2: {exc}")
        wanted = [c for c in ("memory", "cpu") if c in offered]
        if not wanted:
            return CgroupSupport("none", False, False,
                                 f"cgroup v2: {own} offers neither memory nor cpu")
        enable = " ".join(f"+{c}" for c in wanted)
        control = os.path.join(own, "cgroup.subtree_control")
        try:
            if not set(wanted) <= set(_read(control).split()):
                try:
                    _write(control, enable)
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise
                    self._vacate(own)  # processes in ``own``: only if they are all ours
                    _write(control, enable)
            base = os.path.join(own, folder)
            _remove_stale(own)
            os.makedirs(base, exist_ok=True)
            _write(os.path.join(base, "cgroup.subtree_control"), enable)
        except OSError as exc:
            return CgroupSupport("none", False, False, f"cgroup v2: cannot delegate "
                                 f"{', '.join(wanted)} below {own}: {exc.strerror or exc}")
        self._version = 2
        for controller in wanted:
            self._base[controller] = base
        missing = [c for c in ("memory", "cpu") if c not in wanted]
        return CgroupSupport("v2", "memory" in wanted, "cpu" in wanted,
                             f"cgroup v2: {own} does not offer {', '.join(missing)}"
                             if missing else "", (base,))

    def _vacate(self, own: str) -> None:
        """v2: a cgroup that hands controllers down may hold no process. Move this
        process (and so its threads) into a leaf, if it is alone in ``own``."""
        members = {int(p) for p in _read(os.path.join(own, "cgroup.procs")).split()}
        others = members - {os.getpid()}
        if others:
            raise OSError(errno.EBUSY, f"{own} also holds processes {sorted(others)[:5]} "
                          "that are not this runtime's; start it in a cgroup of its own "
                          "(e.g. systemd-run --scope -p Delegate=yes)")
        if members:
            leaf = os.path.join(own, "supervisor")
            os.makedirs(leaf, exist_ok=True)
            _write(os.path.join(leaf, "cgroup.procs"), str(os.getpid()))

    # ------------------------------------------------------------ per child
    def create(self, key: str, resources: Resources) -> ChildCgroup | None:
        """A fresh cgroup with ``resources`` for one incarnation; None where the
        host allows none (or it could not be made: logged, the child runs uncapped)."""
        if not self._base:
            return None
        made: list[str] = []
        memory_dir: str | None = None
        try:
            if self._version == 2:
                path = os.path.join(next(iter(self._base.values())), _safe(key))
                os.mkdir(path)
                made.append(path)
                if "memory" in self._base:
                    memory_dir = path
                    _write_optional(path, "memory.oom.group", "1")
                    if resources.memory_max is not None:
                        _write(os.path.join(path, "memory.max"), str(resources.memory_max))
                        _write_optional(path, "memory.swap.max", "0")
                if "cpu" in self._base and resources.cpu_max is not None:
                    quota = max(1000, round(resources.cpu_max * _CPU_PERIOD_US))
                    _write(os.path.join(path, "cpu.max"), f"{quota} {_CPU_PERIOD_US}")
            else:
                if "memory" in self._base:
                    path = os.path.join(self._base["memory"], _safe(key))
                    os.mkdir(path)
                    made.append(path)
                    memory_dir = path
                    if resources.memory_max is not None:
                        limit = str(resources.memory_max)
                        _write(os.path.join(path, "memory.limit_in_bytes"), limit)
                        _write_optional(path, "memory.memsw.limit_in_bytes", limit)
                # v1 keeps hierarchies apart: an uncapped child stays out of the cpu
                # one. A task group of its own costs it even without a quota: the
                # scheduler preempted an agent answering calls about three times as
                # often (0.7 involuntary switches a call against 0.2, 2-core VM)
                if "cpu" in self._base and resources.cpu_max is not None:
                    path = os.path.join(self._base["cpu"], _safe(key))
                    os.mkdir(path)
                    made.append(path)
                    quota = max(1000, round(resources.cpu_max * _CPU_PERIOD_US))
                    _write(os.path.join(path, "cpu.cfs_period_us"), str(_CPU_PERIOD_US))
                    _write(os.path.join(path, "cpu.cfs_quota_us"), str(quota))
        except OSError as exc:
            log.warning("supervisor: cannot create the cgroup of %s, running it uncapped: %s",
                        key, exc)
            for path in reversed(made):
                with contextlib.suppress(OSError):
                    os.rmdir(path)
            return None
        return ChildCgroup(made, memory_dir, self._version)

    def release(self, cgroup: ChildCgroup) -> bool:
        """Sweep and remove one child's cgroup; False if a member is still exiting."""
        cgroup.kill_all()
        return cgroup.remove()

    def close(self, leftovers: list[ChildCgroup]) -> None:
        """Sweep and remove ``leftovers``, then the runtime's own folders."""
        for cgroup in leftovers:
            for _ in range(_REMOVE_TRIES):
                if self.release(cgroup):
                    break
                time.sleep(0.01)  # SIGKILLed members are leaving; bounded
        for path in sorted(set(self._base.values()), reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(path)
        self._base.clear()


# ------------------------------------------------------------------ helpers
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:120] or "child"


def _remove_stale(parent: str) -> None:
    """Remove the empty folders left by runtimes that died without closing
    (SIGKILL): only ours by name, only of dead pids, and only rmdir, which the
    kernel refuses for a cgroup that still holds a process."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        match = _STALE.match(name)
        if match is None or _alive(int(match.group(1))):
            continue
        folder = os.path.join(parent, name)
        with contextlib.suppress(OSError):
            for child in os.listdir(folder):
                if os.path.isdir(os.path.join(folder, child)):
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.join(folder, child))
            os.rmdir(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _write_optional(folder: str, name: str, value: str) -> None:
    """Write a control file the kernel may not have (no swap accounting, old kernel)."""
    try:
        _write(os.path.join(folder, name), value)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.EACCES):
            raise


def _mounts() -> dict[str, tuple[str, str]]:
    """Controller (``cgroup2`` for the unified hierarchy) -> (mount point, root
    of the mount inside its hierarchy), from ``/proc/self/mountinfo``."""
    found: dict[str, tuple[str, str]] = {}
    try:
        lines = _read("/proc/self/mountinfo").splitlines()
    except OSError:
        return found
    for line in lines:
        head, sep, tail = line.partition(" - ")
        if not sep:
            continue
        fields, rest = head.split(), tail.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        root, point = _unescape(fields[3]), _unescape(fields[4])
        if rest[0] == "cgroup2":
            found.setdefault("cgroup2", (point, root))
        elif rest[0] == "cgroup":
            for option in rest[2].split(","):
                if option in ("memory", "cpu"):
                    found.setdefault(option, (point, root))
    return found


def _own_cgroups() -> dict[str, str]:
    """Controller ("" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    own: dict[str, str] = {}
    try:
        lines = _read("/proc/self/cgroup").splitlines()
    except OSError:
        return own
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            own[controller] = parts[2]
    return own


def _join(mount: tuple[str, str], path: str) -> str:
    """The folder of cgroup ``path`` under a mount whose root is ``mount[1]``."""
    point, root = mount
    if root != "/" and (path == root or path.startswith(root + "/")):
        path = path[len(root):]
    return os.path.join(point, path.lstrip("/"))


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)
