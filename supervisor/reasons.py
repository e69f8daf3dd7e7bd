"""Exit reasons as strings, and OTP's notion of a "normal" exit."""

from __future__ import annotations

import os
import signal

NORMAL = "normal"
SHUTDOWN = "shutdown"
KILLED = "killed"
UNHEALTHY = "unhealthy"
NOPROC = "noproc"
#: SIGKILLed by the kernel's OOM killer inside the child's own cgroup (its memory cap)
OOM_KILLED = "oom_killed"


def is_normal(reason: str) -> bool:
    """OTP: a transient child is not restarted after ``normal``, ``shutdown``
    or ``{shutdown, Term}`` (here ``shutdown:<term>``)."""
    return reason in (NORMAL, SHUTDOWN) or reason.startswith("shutdown:")


def from_status(status: int) -> str:
    """Turn a ``waitpid`` status into a reason."""
    if os.WIFSIGNALED(status):
        return signal_reason(os.WTERMSIG(status))
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return NORMAL if code == 0 else f"exit:{code}"
    return f"status:{status}"


def signal_reason(signum: int) -> str:
    """SIGKILL is OTP's ``kill`` (reason ``killed``). SIGTERM is how an OS asks a
    process to stop, the role ``exit(Pid, shutdown)`` plays in OTP, and it is the
    signal the supervisor itself sends to shut a child down: so a SIGTERM from
    anywhere reads as ``shutdown`` (a transient child stays down after it)."""
    if signum == signal.SIGKILL:
        return KILLED
    if signum == signal.SIGTERM:
        return SHUTDOWN
    try:
        return f"signal:{signal.Signals(signum).name}"
    except ValueError:
        return f"signal:{signum}"


def exception_reason(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    reason = f"exception: {name}: {text}" if text else f"exception: {name}"
    return reason if len(reason) <= 1000 else reason[:997] + "..."
