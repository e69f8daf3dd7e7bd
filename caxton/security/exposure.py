"""Whether a listen address lets other hosts in, and whether the node may listen there.

Any client that reaches a node without keys is an admin: it can run code
(spawn) as the node's user. On loopback and on IPC only this host's users
can reach it; anywhere else every host that can route to it can. So a node
refuses such an address unless it has keys, or the operator says
``--insecure`` (say, behind a firewall or a tunnel of their own), which is
logged as a warning at every start.
"""

from __future__ import annotations

import ipaddress

from caxton.endpoint import tcp_host

__all__ = ["is_local_only", "listen_refusal"]

_LOCAL_TRANSPORTS = ("ipc://", "inproc://")
_LOCAL_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


def is_local_only(address: str) -> bool:
    """Whether only this host can reach ``address`` (loopback TCP, IPC, inproc).

    Anything unrecognised counts as reachable: a wildcard (``*``,
    ``0.0.0.0``, ``::``), an interface name, a host name, another transport.
    """
    if address.startswith(_LOCAL_TRANSPORTS):
        return True
    host = tcp_host(address)
    if host is None:
        return False
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def listen_refusal(address: str, *, keys: bool, insecure: bool) -> str | None:
    """Why the node must not listen on ``address``, in one line; None when it may."""
    if keys or insecure or is_local_only(address):
        return None
    return (f"refusing to listen on {address} without keys: any host that reaches it could "
            "run code here. Give --secret-key and --authorized-keys (see docs/security.md), "
            "or --insecure to accept that")
