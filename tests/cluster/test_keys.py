"""Node-to-node links under keys: each node connects to its peers with its own key pair,
and a node refuses a peer whose key it does not hold."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import pytest

import caxton
from caxton.launch import free_loopback_address, spawn_node, stop_node
from caxton.security.keys import NODE_KEY_NAME, PUBLIC_SUFFIX, generate
from caxton.store.throwaway import ThrowawayPostgres
from caxton.wasm import example_path
from tests.helpers import wait_until
from tests.pg import NEEDS_POSTGRES

pytestmark = NEEDS_POSTGRES


class KeyedNode:
    def __init__(self, root: Path, name: str) -> None:
        self.name, self.root = name, root
        self.address = free_loopback_address()
        self.public, self.secret = generate(root / "keys" / name, name, "admin")
        self.authorized = root / "authorized" / name
        self.authorized.mkdir(parents=True, mode=0o700)
        self.keys: caxton.Keys | None = None

    def client_keys(self, client: Path) -> caxton.Keys:
        """The admin client's folder for this node: its secret key and this node's key."""
        folder = self.root / "clients" / self.name
        shutil.copytree(client, folder, dirs_exist_ok=True)
        shutil.copy(self.public, folder / f"{NODE_KEY_NAME}{PUBLIC_SUFFIX}")
        return caxton.Keys.from_folder(folder)


@pytest.fixture
def keyed(postgres_server: ThrowawayPostgres, tmp_path: Path) -> Iterator[list[KeyedNode]]:
    nodes = [KeyedNode(tmp_path, n) for n in ("n1", "n2")]
    client_public, _ = generate(tmp_path / "admin", "operator-admin", "admin")
    url = postgres_server.new_database()
    for node in nodes:  # the client's key; n1 holds n2's key, n2 does not hold n1's
        shutil.copy(client_public, node.authorized)
    shutil.copy(nodes[1].public, nodes[0].authorized)
    with ExitStack() as stack, open(tmp_path / "nodes.log", "ab") as log:
        for node in nodes:
            process = spawn_node(node.address, tmp_path / node.name, output=log,
                                 extra=("--name", node.name, "--store", url,
                                        "--secret-key", str(node.secret),
                                        "--authorized-keys", str(node.authorized)))
            stack.callback(stop_node, process)
            node.keys = node.client_keys(tmp_path / "admin")
            wait_until(partial(_pings, node), timeout=30, what=f"{node.name} to serve")
        yield nodes


def _pings(node: KeyedNode) -> bool:
    try:
        with caxton.connect(node.address, keys=node.keys, timeout=0.5) as client:
            client.ping()
    except caxton.NodeUnavailable:
        return False
    return True


def test_a_link_uses_the_nodes_own_keys_and_needs_the_peer_to_hold_them(
        keyed: list[KeyedNode]) -> None:
    n1, n2 = keyed
    with caxton.connect(n2.address, keys=n2.keys, timeout=10) as client:
        client.spawn("echo", example_path("echo"), node="n2")
        client.spawn("counter", example_path("counter"), node="n1")
        # n2 -> n1: n1 holds n2's key, so the forwarded call is admitted
        assert client.call("counter", b"get") == b"0"
    # n1 -> n2: n2 does not hold n1's key; the link never completes its handshake
    with caxton.connect(n1.address, keys=n1.keys, timeout=3) as client, \
            pytest.raises(caxton.CaxtonError):
        client.call("echo", b"hi", timeout=2)
