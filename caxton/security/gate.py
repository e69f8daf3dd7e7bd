"""The node's side of authentication: CURVE on its socket, ZAP, and each request's role.

When a node has keys, its management socket is a CURVE server: every
connection, over TCP or over the IPC socket in the data folder alike, must
complete a CurveZMQ handshake with a key pair whose public half is in the
authorized folder. libzmq asks the ZAP handler (RFC 27) about each
handshake; ``Gate`` answers on the node's own loop (a REP socket on
``inproc://zeromq.zap.01``, no thread) and names the client's public key as
the connection's User-Id.

The role is read per request, never cached per connection: libzmq puts the
connection's User-Id on every frame it delivers, the ROUTER's identity
frame included, and ``grant`` looks that key up in the current table. A
ROUTER identity is no proof of who is talking: a client may choose its own
(``ZMQ_ROUTING_ID``) and take one over once its holder disconnected, so a
role cached by identity could be inherited by another key. The User-Id of a
frame is the key that connection proved it holds.

The table is reloaded when the folder changes (a key file added, removed or
renamed into place): a new key is admitted at its first handshake, and a
removed one is refused from its next request on, even on a connection opened
before. A key file that does not read is left out and logged; the others
still count.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.utils.z85

from caxton.errors import PermissionDenied
from caxton.security.keys import AuthorizedKey, Certificate, load_authorized, load_secret
from caxton.security.roles import allowed_operations

__all__ = ["ZAP_DOMAIN", "ZAP_ENDPOINT", "Gate", "Grant"]

log = logging.getLogger("caxton.security")

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"caxton"
_ZAP_VERSION = b"1.0"
#: the node logs at most one refused handshake a second
REFUSAL_LOG_SECONDS = 1.0


@dataclass(frozen=True)
class Grant:
    """What one key may ask for: the operations, and who it is for the refusal."""

    operations: frozenset[str]
    name: str
    role: str | None  # None: a key the node no longer admits

    def refusal(self, operation: str) -> PermissionDenied:
        if self.role is None:
            return PermissionDenied(
                f"the key {self.name} is no longer authorized on this node",
                operation=operation)
        return PermissionDenied(
            f"{operation!r} is not allowed for the key {self.name} (role {self.role}); "
            f"it may ask for: {', '.join(sorted(self.operations))}",
            operation=operation, role=self.role)


_REVOKED = Grant(frozenset(), "of this connection", None)


class Gate:
    """The node's authentication: its key pair, the authorized keys and their grants.

    ``grant(user_id)`` is the per-request check: ``None`` for an admin (the
    request goes on without a look at its operation), a ``Grant`` for the
    lesser roles and for a key no longer in the folder.
    """

    def __init__(self, secret: Certificate, folder: Path,
                 keys: dict[bytes, AuthorizedKey]) -> None:
        assert secret.secret is not None
        self._secret = secret
        self.folder = folder
        self._grants: dict[str, Grant | None] = {}
        self._folder_stamp = self._stamp()
        self._install(keys)
        self._zap: zmq.Socket[bytes] | None = None
        self._refusals_unlogged = 0
        self._refusal_logged_at = -REFUSAL_LOG_SECONDS

    @classmethod
    def load(cls, secret_key: str | os.PathLike[str],
             authorized_keys: str | os.PathLike[str]) -> Gate:
        """Read the node's secret key and the authorized folder (``KeyFileError``)."""
        secret = load_secret(secret_key)
        keys, _ = load_authorized(authorized_keys, strict=True)
        gate = cls(secret, Path(authorized_keys), keys)
        if not keys:
            log.warning("no keys in %s: every client will be refused", authorized_keys)
        return gate

    @property
    def public_key(self) -> bytes:
        return self._secret.public

    @property
    def key_pair(self) -> tuple[bytes, bytes]:
        """(public, secret): what this node presents when it connects to another node."""
        assert self._secret.secret is not None  # loaded from a secret key file
        return self._secret.public, self._secret.secret

    def _install(self, keys: dict[bytes, AuthorizedKey]) -> None:
        grants: dict[str, Grant | None] = {}
        for key in keys.values():
            operations = allowed_operations(key.role)
            grants[key.public.decode()] = (
                None if operations is None else Grant(operations, key.name, key.role))
        self._grants = grants
        log.info("%d authorized keys in %s", len(keys), self.folder)

    def _stamp(self) -> int | None:
        try:
            return os.stat(self.folder).st_mtime_ns
        except OSError:
            return None

    def refresh(self) -> None:
        """Reload the authorized keys if the folder changed since they were read."""
        stamp = self._stamp()
        if stamp == self._folder_stamp:
            return
        self._folder_stamp = stamp
        try:
            keys, problems = load_authorized(self.folder, strict=False)
        except (OSError, ValueError) as exc:
            # the folder itself is gone or unsafe: admit nobody rather than the old table
            log.error("authorized keys unusable, every client is refused: %s", exc)
            keys, problems = {}, []
        for problem in problems:
            log.error("authorized key left out: %s", problem)
        self._install(keys)

    # -- the socket ------------------------------------------------------------------------

    def secure(self, sock: zmq.Socket[bytes]) -> None:
        """Make ``sock`` a CURVE server under this gate (before it binds)."""
        assert self._secret.secret is not None
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self._secret.secret)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self._secret.public)
        sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)

    def start(self, context: zmq.Context[zmq.Socket[bytes]],
              add_reader: Callable[[zmq.Socket[bytes], Callable[[], None]], None]) -> None:
        """Answer ZAP requests of ``context`` on the caller's loop.

        Must run before the secured socket accepts anything: without a ZAP
        handler libzmq would admit any CURVE key at all.
        """
        zap: zmq.Socket[bytes] = context.socket(zmq.REP)
        zap.setsockopt(zmq.LINGER, 0)
        zap.bind(ZAP_ENDPOINT)
        self._zap = zap
        add_reader(zap, self._on_zap)

    def close(self) -> None:
        if self._zap is not None:
            self._zap.close(0)
            self._zap = None

    def _on_zap(self) -> None:
        zap = self._zap
        if zap is None:
            return
        while True:
            try:
                request = zap.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            zap.send_multipart(self.answer(request))

    def answer(self, request: list[bytes]) -> list[bytes]:
        """The ZAP reply to one request: 200 with the key as User-Id, or 400."""
        if len(request) < 6:
            return [_ZAP_VERSION, b"", b"500", b"malformed ZAP request", b"", b""]
        version, request_id, domain, address, _identity, mechanism = request[:6]
        credentials = request[6:]
        if version != _ZAP_VERSION:
            return [_ZAP_VERSION, request_id, b"500", b"unknown ZAP version", b"", b""]
        if domain != ZAP_DOMAIN or mechanism != b"CURVE" or len(credentials) != 1:
            return [version, request_id, b"400", b"CURVE required", b"", b""]
        self.refresh()
        public = zmq.utils.z85.encode(credentials[0])
        grant = self._grants.get(public.decode(), _REVOKED)
        if grant is _REVOKED:
            self._log_refusal(public, address)
            return [version, request_id, b"400", b"key not authorized", b"", b""]
        return [version, request_id, b"200", b"OK", public, b""]

    def _log_refusal(self, public: bytes, address: bytes) -> None:
        """One line per refusal, at most one a second: a peer opening connection after
        connection with a key the node refuses must not be able to fill its log."""
        now = time.monotonic()
        if now - self._refusal_logged_at < REFUSAL_LOG_SECONDS:
            self._refusals_unlogged += 1
            return
        more = f" ({self._refusals_unlogged} more refusals since the last line)" \
            if self._refusals_unlogged else ""
        self._refusal_logged_at, self._refusals_unlogged = now, 0
        log.warning("refused a client key %s from %s: not authorized%s", public.decode(),
                    address.decode(errors="replace") or "ipc", more)

    # -- a request -------------------------------------------------------------------------

    def grant(self, frame: zmq.Frame) -> Grant | None:
        """What the connection ``frame`` came on may do; ``None``: everything (admin)."""
        try:
            user_id = frame.get("User-Id")
        except zmq.ZMQError:  # no User-Id: not from a connection ZAP admitted
            return _REVOKED
        if not isinstance(user_id, str):
            return _REVOKED
        return self._grants.get(user_id, _REVOKED)
