"""Testing agents with pytest: a throw-away node and an in-process agent runner.

Registered as a pytest plugin through the ``pytest11`` entry point, so a
project that has Caxton installed gets these fixtures without any import:

``caxton_node``
    A real node process on a free loopback port with a data folder in the
    test's temp directory. Torn down at the end of the test; the teardown
    fails the test if any process the node started is still alive.
``caxton_client``
    A client connected to ``caxton_node``.
``caxton_agent``
    A factory of :class:`AgentRunner`: the module run in-process under
    wasmtime, for fast unit tests of ``handle``, ``snapshot`` and ``restore``
    without a node. Runners are closed at the end of the test.
``caxton_build``
    Builds an agent project (``caxton build``'s work, without validation)
    once per test session and returns the module's path.

Everything here is real: real processes, sockets and wasmtime instances. The
helpers are importable for use outside pytest too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import subprocess

    from caxton.client import Client
    from caxton.wasm import Outcome

__all__ = [
    "AgentCallFailed",
    "AgentRunner",
    "NodeHandle",
    "caxton_agent",
    "caxton_build",
    "caxton_client",
    "caxton_node",
    "start_test_node",
]

#: How long the teardown waits for the node's processes to be gone.
TEARDOWN_TIMEOUT_S = 30.0


class AgentCallFailed(AssertionError):
    """``AgentRunner.call`` got an outcome other than ``ok``: the test fails with its reason."""


@dataclass
class NodeHandle:
    """A node started for a test: its address, data folder, process and log file."""

    address: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def connect(self, timeout: float = 10.0) -> Client:
        """A new client of this node (close it, or use it as a context manager)."""
        from caxton.client import connect

        return connect(self.address, timeout=timeout)

    def log(self) -> str:
        """What the node printed so far (useful in assertion messages)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def descendants(self) -> list[Any]:
        """The node's live descendant processes (``psutil.Process`` objects)."""
        import psutil

        try:
            return list(psutil.Process(self.process.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """Stop the node; raise ``AssertionError`` if any of its processes outlive it.

        Survivors are killed before raising, so a failed teardown leaves
        nothing behind either.
        """
        import psutil

        from caxton.launch import stop_node

        children = self.descendants()
        stop_node(self.process)
        _, alive = psutil.wait_procs(children, timeout=TEARDOWN_TIMEOUT_S)
        if alive:
            for proc in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
            psutil.wait_procs(alive, timeout=5)
            raise AssertionError(f"the node left {len(alive)} process(es) running: "
                                 f"{sorted(p.pid for p in alive)}")


def start_test_node(directory: str | os.PathLike[str], *, log_level: str = "warning",
                    timeout: float = 30.0) -> NodeHandle:
    """Start a node with its data folder and log in ``directory``; return once it serves."""
    from caxton.launch import NodeDidNotStart, free_loopback_address, start_node

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    address = free_loopback_address()
    log_path = root / "caxton-node.log"
    with open(log_path, "ab") as log:
        try:
            process = start_node(address, root / "caxton-data", output=log,
                                 log_level=log_level, timeout=timeout)
        except NodeDidNotStart as exc:
            text = log_path.read_text(errors="replace")
            raise AssertionError(f"the test node did not start: {exc}\n{text}") from None
    return NodeHandle(address, root / "caxton-data", process, log_path)


@dataclass
class AgentRunner:
    """One agent module run in-process, as the node would run it, minus the node.

    ``sent`` records every ``send`` (answered with ``send_result``) and
    ``logs`` every log line (WASI output included). ``restart()`` replaces
    the instance by a fresh one that restores the last snapshot, as the
    supervisor does after a crash.
    """

    module: Any
    policy: str = "default"
    limits: Any = None
    init: bytes = b""
    send_result: int = 0
    sent: list[tuple[str, bytes]] = field(default_factory=list)
    logs: list[tuple[int, str]] = field(default_factory=list)
    _instance: Any = field(default=None, repr=False)
    _compiled: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from caxton.wasm import Limits, SecurityPolicy, load_module

        self._policy = SecurityPolicy.preset(self.policy)
        if self.limits is None:
            self.limits = Limits()
        elif isinstance(self.limits, dict):
            self.limits = Limits.from_dict(self.limits)
        self._compiled = load_module(self.module, policy=self._policy)
        self._start()

    def _start(self) -> None:
        from caxton.wasm import AgentInstance, CallbackImports

        imports = CallbackImports(send_fn=self._send, log_fn=self._log)
        self._instance = AgentInstance(self._compiled, self.limits, imports, policy=self._policy)
        outcome = self._instance.init(self.init)
        if not outcome.ok:
            raise AgentCallFailed(f"init failed: {outcome.status} {outcome.message}")

    def _send(self, to: str, payload: bytes) -> int:
        self.sent.append((to, payload))
        return self.send_result

    def _log(self, level: int, message: str) -> None:
        self.logs.append((level, message))

    @property
    def instance(self) -> Any:
        """The ``caxton.wasm.AgentInstance`` under test."""
        return self._instance

    def handle(self, message: bytes | str, sender: str = "") -> Outcome:
        """Deliver one message; return the whole outcome (status, reason, reply, fuel)."""
        payload = message.encode() if isinstance(message, str) else bytes(message)
        outcome: Outcome = self._instance.handle(payload, sender=sender)
        return outcome

    def call(self, message: bytes | str, sender: str = "") -> bytes:
        """Deliver one message and return its reply; fail the test unless the outcome is ok."""
        outcome = self.handle(message, sender)
        if not outcome.ok:
            raise AgentCallFailed(f"{outcome.status} ({outcome.reason or 'error'}): "
                                  f"{outcome.message}")
        return bytes(outcome.reply)

    def snapshot(self) -> bytes:
        """The agent's state, as the node would store it."""
        outcome = self._instance.snapshot()
        if outcome is None:
            raise AgentCallFailed("the module exports no caxton_snapshot")
        if not outcome.ok:
            raise AgentCallFailed(f"snapshot failed: {outcome.status} {outcome.message}")
        return bytes(outcome.reply)

    def restore(self, state: bytes) -> Outcome:
        """Load a state into the current instance; the outcome says if it was accepted."""
        outcome: Outcome = self._instance.restore(state)
        return outcome

    def restart(self) -> None:
        """Snapshot, throw the instance away, start a fresh one and restore into it."""
        state = self.snapshot()
        self._instance.close()
        self._start()
        outcome = self.restore(state)
        if not outcome.ok:
            raise AgentCallFailed(f"restore refused its own snapshot: {outcome.message}")

    def close(self) -> None:
        if self._instance is not None:
            self._instance.close()


@pytest.fixture
def caxton_node(tmp_path: Path) -> Iterator[NodeHandle]:
    """A real node on a free port with a temp data folder; no process left afterwards."""
    node = start_test_node(tmp_path / "caxton-node")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def caxton_client(caxton_node: NodeHandle) -> Iterator[Client]:
    """A client connected to ``caxton_node``."""
    with caxton_node.connect() as client:
        yield client


@pytest.fixture
def caxton_agent() -> Iterator[Callable[..., AgentRunner]]:
    """``caxton_agent(module, policy="default", limits=None, init=b"")`` → ``AgentRunner``.

    ``module`` is a path (``.wasm``/``.wat``), WAT text or wasm bytes.
    """
    runners: list[AgentRunner] = []

    def make(module: Any, **options: Any) -> AgentRunner:
        runner = AgentRunner(module, **options)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


@pytest.fixture(scope="session")
def caxton_build(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``caxton_build(project_dir)`` → path of the built module, built once per session.

    Builds into a session temp folder (the project is left untouched). A
    missing toolchain fails the test with the message naming what to install.
    """
    from caxton.guests import BuildFailed, ProjectError, ToolchainMissing, build_project

    out = tmp_path_factory.mktemp("caxton-build")
    built: dict[str, Path] = {}

    def build(project: str | os.PathLike[str]) -> Path:
        key = str(Path(project).resolve())
        if key not in built:
            try:
                result = build_project(project, out_dir=out / str(len(built)),
                                       cache_dir=out / "sdk")
            except (ProjectError, ToolchainMissing) as exc:
                raise AssertionError(str(exc)) from None
            except BuildFailed as exc:
                raise AssertionError(f"{exc}\n{exc.output}") from None
            built[key] = result.path
        return built[key]

    return build
