"""Caxton: a runtime for WebAssembly agents with OTP-style supervision.

The public face is the client: ``caxton.connect()`` returns a ``Client`` that
spawns, calls, sends to, stops and monitors agents on a node. Errors are typed
under ``CaxtonError``. The node, the WebAssembly host and the supervision
library live in ``caxton.node``, ``caxton.wasm`` and ``supervisor``.
"""

from caxton.client import Client, connect
from caxton.deployments import Deployment
from caxton.errors import (
    AboveMaximum,
    AgentExists,
    AgentNotRunning,
    CallFailed,
    CallTimeout,
    CaxtonError,
    DeploymentFailed,
    InvalidRequest,
    MailboxFull,
    MessageTooLarge,
    NodeUnavailable,
    NoSuchAgent,
    NoSuchDeployment,
    PermissionDenied,
    ResourceExhausted,
    SpawnFailed,
    StorageUnavailable,
    ValidationFailed,
)
from caxton.security.keys import Keys
from caxton.status import AgentStatus, DeadLetter, Down

__version__ = "0.1.0"

__all__ = [
    "AboveMaximum",
    "AgentExists",
    "AgentNotRunning",
    "AgentStatus",
    "CallFailed",
    "CallTimeout",
    "CaxtonError",
    "Client",
    "DeadLetter",
    "Deployment",
    "DeploymentFailed",
    "Down",
    "InvalidRequest",
    "Keys",
    "MailboxFull",
    "MessageTooLarge",
    "NoSuchAgent",
    "NoSuchDeployment",
    "NodeUnavailable",
    "PermissionDenied",
    "ResourceExhausted",
    "SpawnFailed",
    "StorageUnavailable",
    "ValidationFailed",
    "__version__",
    "connect",
]
