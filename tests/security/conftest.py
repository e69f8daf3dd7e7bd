"""Key pairs for every role and nodes that require them, run as real processes."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import caxton
from caxton.launch import spawn_node, stop_node
from caxton.security.keys import NODE_KEY_NAME, PUBLIC_SUFFIX, SECRET_SUFFIX, generate
from caxton.security.roles import ROLES
from tests.helpers import free_port, wait_until

#: a key pair that no node's authorized folder holds
STRANGER = "stranger"


@dataclass
class Keyring:
    """A node's key pair, a folder of authorized client keys (one per role) and, for
    each client, the folder it connects with (its secret key and the node's key)."""

    root: Path

    @property
    def node_secret(self) -> Path:
        return self.root / "node" / f"{NODE_KEY_NAME}{SECRET_SUFFIX}"

    @property
    def authorized(self) -> Path:
        return self.root / "authorized"

    def folder(self, name: str) -> Path:
        return self.root / "clients" / name

    def keys(self, name: str) -> caxton.Keys:
        return caxton.Keys.from_folder(self.folder(name))

    def add_client(self, name: str, role: str, *, authorize: bool = True) -> caxton.Keys:
        folder = self.folder(name)
        public, _ = generate(folder, name, role)
        shutil.copy(self.root / "node" / f"{NODE_KEY_NAME}{PUBLIC_SUFFIX}", folder)
        if authorize:
            shutil.copy(public, self.authorized / public.name)
        return self.keys(name)


def make_keyring(root: Path) -> Keyring:
    ring = Keyring(root)
    generate(root / "node", NODE_KEY_NAME)
    ring.authorized.mkdir(mode=0o700)
    for role in ROLES:
        ring.add_client(role, role)
    ring.add_client(STRANGER, "admin", authorize=False)
    return ring


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return make_keyring(tmp_path / "keys")


@dataclass
class SecureNode:
    """A node listening on every interface of this host, with keys."""

    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    keyring: Keyring

    @property
    def address(self) -> str:
        """Where a client on this host reaches it (the node listens on 0.0.0.0)."""
        return f"tcp://127.0.0.1:{self.port}"

    def connect(self, name: str | None, **options: object) -> caxton.Client:
        keys = None if name is None else self.keyring.keys(name)
        return caxton.connect(self.address, keys=keys, **options)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_secure_node(root: Path, keyring: Keyring) -> SecureNode:
    port = free_port()
    log_path = root / "node.log"
    with open(log_path, "ab") as log:
        process = spawn_node(f"tcp://0.0.0.0:{port}", root / "data", output=log,
                             log_level="info",
                             extra=["--secret-key", str(keyring.node_secret),
                                    "--authorized-keys", str(keyring.authorized)])
    node = SecureNode(port, root / "data", process, log_path, keyring)

    def serving() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the node exited ({process.returncode}):\n{node.log()}")
        try:
            with node.connect("admin", timeout=0.5) as client:
                client.ping()
        except caxton.NodeUnavailable:
            return False
        return True

    try:
        wait_until(serving, timeout=30, what="the secured node to serve")
    except BaseException:
        stop_node(process, timeout=5)
        raise
    return node


@pytest.fixture
def secure_node(tmp_path: Path, keyring: Keyring) -> Iterator[SecureNode]:
    node = start_secure_node(tmp_path, keyring)
    yield node
    stop_node(node.process)


@pytest.fixture(scope="module")
def shared_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureNode]:
    """One secured node for the tests that only read what it allows (it has an ``echo``)."""
    root = tmp_path_factory.mktemp("shared")
    node = start_secure_node(root, make_keyring(root / "keys"))
    from tests.helpers import ROOT

    with node.connect("admin", timeout=30) as admin:
        admin.spawn("echo", ROOT / "examples" / "agents" / "echo.wat")
    yield node
    stop_node(node.process)
