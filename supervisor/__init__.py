"""OTP-style supervision trees of OS processes, linked over ZeroMQ.

Start Python functions as child processes forked from a preloaded zygote,
watch them through pidfds in one ``zmq.Poller``, and restart them the way
Erlang/OTP's ``supervisor`` does (plus backoff, manual restarts and health
pings). Knows nothing of its embedder. See ``docs/supervisor.md``.
"""

from .cgroups import CgroupSupport, Resources
from .child import ChildLink
from .errors import (
    ChildExists,
    ChildNotRunning,
    ChildRestarting,
    ChildRunning,
    EncodeError,
    NoSuchChild,
    RuntimeClosed,
    SimpleOneForOne,
    SpecError,
    StartFailed,
    SupervisorError,
    SupervisorStopped,
    ZygoteError,
)
from .loop import TimerHandle
from .records import ChildInfo, ChildState, Down, Event, Exit, MonitorRef
from .runtime import Runtime, run_dir_fits
from .spec import (
    Backoff,
    ChildSpec,
    HealthCheck,
    Immediate,
    Manual,
    Never,
    RestartPolicy,
    SupervisorSpec,
    supervisor_child,
)
from .supervisor import Supervisor

__all__ = [
    "Backoff",
    "CgroupSupport",
    "ChildExists",
    "ChildInfo",
    "ChildLink",
    "ChildNotRunning",
    "ChildRestarting",
    "ChildRunning",
    "ChildSpec",
    "ChildState",
    "Down",
    "EncodeError",
    "Event",
    "Exit",
    "HealthCheck",
    "Immediate",
    "Manual",
    "MonitorRef",
    "Never",
    "NoSuchChild",
    "Resources",
    "RestartPolicy",
    "Runtime",
    "RuntimeClosed",
    "SimpleOneForOne",
    "SpecError",
    "StartFailed",
    "Supervisor",
    "SupervisorError",
    "SupervisorSpec",
    "SupervisorStopped",
    "TimerHandle",
    "ZygoteError",
    "run_dir_fits",
    "supervisor_child",
]
