"""Operating a node: metrics, structured logs, traces, the flight recorder, the dashboard.

The node uses this package (arrows point down): ``attach`` hooks an
``Observer`` into its rooms and serves ``/metrics``, the dashboard and its
JSON over HTTP. Deployments report through ``Observer.deployments``
(``caxton.observe.deploy``). ``replay`` re-runs a recorded crash offline.
See ``docs/ops/README.md``.
"""

from caxton.observe.attach import Observing, attach
from caxton.observe.deploy import Deployments, DeploymentWatch
from caxton.observe.histogram import BOUNDS, HandleTimes, Histogram, quantile
from caxton.observe.hooks import NULL_HOOKS, Hooks
from caxton.observe.logs import configure as configure_logging
from caxton.observe.observer import Observer, View
from caxton.observe.recorder import CRASH_KINDS, CrashStore

__all__ = [
    "BOUNDS",
    "CRASH_KINDS",
    "NULL_HOOKS",
    "CrashStore",
    "DeploymentWatch",
    "Deployments",
    "HandleTimes",
    "Histogram",
    "Hooks",
    "Observer",
    "Observing",
    "View",
    "attach",
    "configure_logging",
    "quantile",
]
