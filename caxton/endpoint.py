"""Which transport reaches a node: TCP, upgraded to IPC for clients on the same host.

A node listens on its TCP address (loopback by default) and also on an IPC
socket in its data folder. A client given a loopback TCP address asks the node
(``ping``) for that socket and, when it can open it and the node behind it is
the same one (the ``instance`` token matches), uses it instead: a Unix-domain
socket spares every request and reply the loopback TCP stack, which is about
a tenth of a ``call``'s round trip. This is what PostgreSQL clients do with
their Unix socket; any failure simply leaves the client on TCP.

The IPC socket is no way around authentication: it is an endpoint of the
same ZeroMQ socket as the TCP address, so when the node has keys it asks
for the same CURVE handshake and the same authorized keys
(``caxton.security.gate``); without keys its mode (0600, in the node's 0700
data folder) admits only the node's user. A client with keys is upgraded
with them.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["SOCKET_NAME", "ipc_path", "is_loopback_tcp", "local_endpoint", "usable_ipc"]

SOCKET_NAME = "node.sock"
# sun_path holds 108 bytes, the terminating NUL included
_MAX_IPC_PATH = 107
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def tcp_host(address: str) -> str | None:
    """The host of a ``tcp://`` address; None for another transport or a malformed one."""
    if not address.startswith("tcp://"):
        return None
    try:
        return urlsplit(address).hostname
    except ValueError:
        return None


def is_loopback_tcp(address: str) -> bool:
    """Whether ``address`` is a TCP address of this host only."""
    return tcp_host(address) in _LOOPBACK_HOSTS


def local_endpoint(data_dir: Path) -> str | None:
    """The node's IPC endpoint in ``data_dir``; None if the path is too long for a socket."""
    path = str(data_dir / SOCKET_NAME)
    if len(path.encode()) > _MAX_IPC_PATH:
        return None
    return f"ipc://{path}"


def ipc_path(endpoint: str) -> str | None:
    return endpoint[len("ipc://"):] if endpoint.startswith("ipc://") else None


def usable_ipc(endpoint: object) -> bool:
    """Whether this process can open the IPC socket a node advertised."""
    if not isinstance(endpoint, str):
        return False
    path = ipc_path(endpoint)
    return path is not None and os.path.exists(path) and os.access(path, os.R_OK | os.W_OK)
