"""Linux ``prctl`` calls through ctypes: parent-death signal and subreaper."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc: ctypes.CDLL | None = None


def _prctl(option: int, arg: int) -> bool:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return int(_libc.prctl(option, arg, 0, 0, 0)) == 0


def set_pdeathsig(signum: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent dies.

    The caller must check ``os.getppid()`` afterwards: if the parent died
    before the call, the signal will never come.
    """
    return _prctl(PR_SET_PDEATHSIG, int(signum))


def set_child_subreaper() -> bool:
    """Make orphaned descendants reparent to this process instead of init, so
    that it can reap them (used when the zygote, their real parent, is gone)."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)
