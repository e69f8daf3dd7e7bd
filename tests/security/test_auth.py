"""CurveZMQ authentication and roles against real nodes and real handshakes."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

import caxton
from caxton import protocol
from caxton.security.roles import allowed_operations
from tests.helpers import ROOT, wait_until
from tests.security.conftest import STRANGER, SecureNode

ECHO = ROOT / "examples" / "agents" / "echo.wat"


def _raw(client: caxton.Client, operation: str, arguments: dict[str, Any]) -> Any:
    """Any operation of the protocol, the way the client sends it."""
    return client._request(operation, arguments)


def _refused(client: caxton.Client, operation: str) -> bool:
    """Whether the node refuses ``operation`` to this client's key (any other outcome,
    an error about the arguments included, means the role let it through)."""
    try:
        _raw(client, operation, {"name": "nobody"})
    except caxton.PermissionDenied:
        return True
    except caxton.CaxtonError:
        return False
    return False


# -- who gets in -------------------------------------------------------------------------


def test_a_node_on_every_interface_serves_an_authorized_key(shared_node: SecureNode) -> None:
    with shared_node.connect("admin", timeout=10) as admin:
        assert admin.ping()["node"] == "n1"
        assert admin.call("echo", b"through curve") == b"through curve"


def test_a_client_without_keys_is_refused_clearly_within_its_timeout(
        shared_node: SecureNode) -> None:
    started = time.monotonic()
    with shared_node.connect(None, timeout=2) as client, \
            pytest.raises(caxton.PermissionDenied, match="requires a key"):
        client.ping()
    assert time.monotonic() - started < 4


def test_a_key_the_node_does_not_authorize_is_refused_clearly(shared_node: SecureNode) -> None:
    started = time.monotonic()
    with shared_node.connect(STRANGER, timeout=2) as client, \
            pytest.raises(caxton.PermissionDenied, match="refused this client's key"):
        client.list_agents()
    assert time.monotonic() - started < 4
    assert "not authorized" in shared_node.log()


def test_a_request_after_the_refusal_fails_instead_of_blocking(
        shared_node: SecureNode) -> None:
    """libzmq ends a connection whose key was refused for good, and a DEALER without a
    connection would block every send forever: the client must report it instead (at
    once when the socket already knows, else at the request's timeout)."""
    with shared_node.connect(STRANGER, timeout=2, local=False) as client:
        # the handshake is refused before the first request is sent
        assert client._socket._monitor_socket is not None
        assert client._socket._monitor_socket.poll(10_000), "no handshake event"
        started = time.monotonic()
        with pytest.raises(caxton.PermissionDenied, match="refused this client's key"):
            client.ping()
        assert time.monotonic() - started < 4


def test_refused_handshakes_cannot_flood_the_node_log(shared_node: SecureNode) -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    stranger = shared_node.keyring.keys(STRANGER)
    before = len(shared_node.log())
    attempts = 0

    def refused_once_more() -> bool:
        """One more connection under a key the node refuses, until its log has said
        how many refusals it left out."""
        nonlocal attempts
        sock: zmq.Socket[bytes] = ctx.socket(zmq.DEALER)
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.CURVE_SERVERKEY, stranger.node)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, stranger.public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, stranger.secret)
            sock.connect(shared_node.address)
            assert monitor.poll(5000), "the node neither admitted nor refused the key"
            attempts += 1
        finally:
            sock.disable_monitor()
            monitor.close(0)
            sock.close(0)
        return any(count >= 5 for count in left_out())

    def left_out() -> list[int]:
        return [int(n) for n in re.findall(r"\((\d+) more refusals since the last line\)",
                                           shared_node.log()[before:])]

    wait_until(refused_once_more, timeout=20, interval=0, what="a refusal line with a count")
    lines = [line for line in shared_node.log()[before:].splitlines()
             if "refused a client key" in line]
    # every refusal is either a line or counted in one; there are few lines
    assert len(lines) <= 3, lines
    # (refusals of the tests before may be in the first count)
    assert attempts <= len(lines) + sum(left_out()) <= attempts + 10


def test_a_wrong_node_key_fails_the_handshake_clearly(shared_node: SecureNode,
                                                      tmp_path: Path) -> None:
    admin = shared_node.keyring.keys("admin")
    impostor = caxton.Keys(public=admin.public, secret=admin.secret,
                           node=zmq.curve_keypair()[0])
    with caxton.connect(shared_node.address, keys=impostor, timeout=2) as client, \
            pytest.raises(caxton.PermissionDenied, match=r"node\.key"):
        client.ping()


def test_keys_offered_to_a_node_without_them_are_refused_clearly(node: Any,
                                                                  keyring: Any) -> None:
    with caxton.connect(node.address, keys=keyring.keys("admin"), timeout=2) as client, \
            pytest.raises(caxton.PermissionDenied, match="does not use keys"):
        client.ping()


def test_the_ipc_socket_requires_the_same_keys(shared_node: SecureNode) -> None:
    ipc = f"ipc://{shared_node.data_dir / 'node.sock'}"
    with caxton.connect(ipc, timeout=2) as client, \
            pytest.raises(caxton.PermissionDenied, match="requires a key"):
        client.ping()
    # an authorized client on this host is upgraded to it, its key going along
    with shared_node.connect("operator", timeout=10) as client:
        assert client.call("echo", b"local") == b"local"
        assert client.endpoint == ipc
    with caxton.connect(ipc, keys=shared_node.keyring.keys("viewer"), timeout=2) as client, \
            pytest.raises(caxton.PermissionDenied, match="role viewer"):
        client.call("echo", b"over ipc")


# -- what each role may do ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "operator", "viewer"])
def test_every_operation_outside_a_role_is_refused(shared_node: SecureNode, role: str) -> None:
    allowed = allowed_operations(role)
    with shared_node.connect(role, timeout=10) as client:
        refused = {op for op in sorted(protocol.OPERATIONS) if _refused(client, op)}
    expected = set() if allowed is None else set(protocol.OPERATIONS) - allowed
    assert refused == expected


def test_the_refusal_is_typed_and_names_the_role(shared_node: SecureNode) -> None:
    with shared_node.connect("operator", timeout=10) as operator:
        with pytest.raises(caxton.PermissionDenied) as refused:
            operator.spawn("mine", ECHO)
        assert type(refused.value) is caxton.PermissionDenied
        assert refused.value.data == {"operation": "spawn", "role": "operator"}
        assert "'spawn' is not allowed for the key operator (role operator)" in str(refused.value)
        for verb in (operator.stop, operator.restart, operator.remove, operator.snapshot):
            with pytest.raises(caxton.PermissionDenied):
                verb("echo")
        # what an operator may do, it does
        assert operator.call("echo", b"hi") == b"hi"
        assert operator.send("echo", b"queued") > 0
        assert len(operator.send_many("echo", [b"a", b"b"])) == 2
        assert operator.status("echo").state == "running"
        assert operator.dead_letters("echo") == []
        with operator.monitor("echo", timeout=0.01) as downs:
            assert list(downs) == []
    with shared_node.connect("viewer", timeout=10) as viewer:
        assert [s.name for s in viewer.list_agents()] == ["echo"]
        assert viewer.status("echo").state == "running"
        for attempt in (lambda: viewer.call("echo", b"x"), lambda: viewer.send("echo", b"x"),
                        lambda: viewer.send_many("echo", [b"x"]),
                        lambda: viewer.monitor("echo"), lambda: viewer.dead_letters("echo"),
                        lambda: viewer.spawn("v", ECHO)):
            with pytest.raises(caxton.PermissionDenied, match="role viewer"):
                attempt()
    # nothing a refused request asked for happened
    with shared_node.connect("admin", timeout=10) as admin:
        assert [s.name for s in admin.list_agents()] == ["echo"]


def test_a_router_identity_taken_over_does_not_carry_the_role(shared_node: SecureNode) -> None:
    """The role comes with the key of each frame, never with the ROUTER identity: a viewer
    reconnecting under the identity an admin used gets a viewer's answers."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    identity = b"borrowed-identity"

    def dealer(role: str) -> zmq.Socket[bytes]:
        keys = shared_node.keyring.keys(role)
        sock: zmq.Socket[bytes] = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.ROUTING_ID, identity)
        sock.setsockopt(zmq.CURVE_SERVERKEY, keys.node)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
        sock.connect(shared_node.address)
        return sock

    def ask(sock: zmq.Socket[bytes], request_id: int) -> list[Any] | None:
        sock.send(protocol.encode_request(request_id, "snapshot", {"name": "echo"}))
        if not sock.poll(2000):
            return None
        reply: list[Any] = msgpack.unpackb(sock.recv(), raw=False)
        return reply

    admin = dealer("admin")
    try:
        first = ask(admin, 1)
        assert first is not None and first[1] == "ok"
    finally:
        admin.close(0)

    def viewer_answer() -> list[Any] | None:
        # until the node has dropped the admin's connection, the identity is taken and
        # the viewer's connection gets nothing; each try is a fresh connection
        sock = dealer("viewer")
        try:
            return ask(sock, 2)
        finally:
            sock.close(0)

    reply = wait_until(viewer_answer, timeout=30, what="a reply under the borrowed identity")
    assert reply is not None
    assert reply[1] == "error" and reply[2]["type"] == "PermissionDenied"


# -- keys that change while the node runs -----------------------------------------------


def test_a_removed_key_is_refused_from_its_next_request_and_a_new_one_admitted(
        secure_node: SecureNode) -> None:
    ring = secure_node.keyring
    with secure_node.connect("operator", timeout=10) as operator:
        assert operator.ping()["node"] == "n1"
        (ring.authorized / "operator.key").unlink()

        def refused() -> bool:
            try:
                operator.ping()
            except caxton.PermissionDenied as exc:
                assert "no longer authorized" in str(exc)
                return True
            return False

        # on the connection opened before: the node rereads the folder every tick
        wait_until(refused, timeout=5, what="the removed key to be refused")
    with secure_node.connect("operator", timeout=2) as again, \
            pytest.raises(caxton.PermissionDenied, match="refused this client's key"):
        again.ping()
    late = ring.add_client("late", "viewer")
    with caxton.connect(secure_node.address, keys=late, timeout=10) as client:
        assert client.list_agents() == []
        with pytest.raises(caxton.PermissionDenied, match="role viewer"):
            client.spawn("x", ECHO)
