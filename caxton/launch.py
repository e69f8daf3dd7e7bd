"""Starting a node as a child process and waiting until it serves.

The demo, the test suite, the benchmark suite and the chaos harness all run
real nodes as separate processes, the way a user does; this is the one place
that knows how to start one and how to tell it is ready. It speaks to the node
only through the client, like everything outside ``caxton.node``.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from caxton.client import connect
from caxton.errors import NodeUnavailable

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class NodeDidNotStart(RuntimeError):
    """The node process exited, or did not answer, before it served."""


class ForeignNode(NodeDidNotStart):
    """Another node already answers at the address the new one was to listen on."""


class NodeExited(NodeDidNotStart):
    """The node process exited before it served (e.g. its data folder still locked)."""


_handed_out: set[int] = set()
_random_ports = random.Random()


def _ephemeral_low() -> int:
    """The first port the kernel hands out for outgoing connections and ``bind(0)``."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_loopback_port() -> int:
    """A loopback TCP port nothing listens on right now, and not one this process has
    handed out before.

    It comes from below the kernel's ephemeral range when it can: a port from
    ``bind(0)`` may be offered again as soon as its probe socket closes (two nodes of
    one local cluster were once given the same one), and any outgoing connection may
    take it as its local port before the node that was meant to listen there starts.
    """
    low = _ephemeral_low()
    for _ in range(200):
        port = _random_ports.randrange(10_000, low) if low > 11_000 else 0
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            bound: int = probe.getsockname()[1]
        if bound not in _handed_out:
            if len(_handed_out) > 10_000:  # a long-lived caller: forget the oldest era
                _handed_out.clear()
            _handed_out.add(bound)
            return bound
    raise OSError("no free loopback port found")


def free_loopback_address() -> str:
    """A ``tcp://127.0.0.1:PORT`` address nothing listens on right now."""
    return f"tcp://127.0.0.1:{free_loopback_port()}"


NODE_MODULE = "caxton.node"


def node_command(address: str, data_dir: str | os.PathLike[str], *, log_level: str = "warning",
                 extra: Sequence[str] = (), python: Sequence[str] = (),
                 module: str = NODE_MODULE) -> list[str]:
    """The command line of a node; ``python`` may add interpreter options (e.g. cProfile),
    ``module`` runs another entry point with the node's command line (a test double)."""
    # absolute: the node runs in the checkout, but a relative folder is the caller's
    return [sys.executable, *python, "-m", module, "--data-dir", str(Path(data_dir).absolute()),
            "--listen", address, "--log-level", log_level,
            # no HTTP endpoint unless asked: nodes started here share a machine with
            # others, and the default port would go to whichever started first
            *(() if "--http" in extra else ("--http", "none")), *extra]


def child_env() -> dict[str, str]:
    """The environment for a node child: this checkout first on the import path."""
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=str(PROJECT_ROOT) + (os.pathsep + path if path else ""))


def spawn_node(address: str, data_dir: str | os.PathLike[str], *,
               output: IO[bytes] | int | None = None, log_level: str = "warning",
               extra: Sequence[str] = (), python: Sequence[str] = (),
               new_session: bool = False, module: str = NODE_MODULE,
               preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen[bytes]:
    """Start a node process without waiting for it (see ``wait_until_serving``).

    ``new_session`` keeps a terminal's Ctrl-C away from the node, for a caller
    that stops the node itself.
    """
    return subprocess.Popen(
        node_command(address, data_dir, log_level=log_level, extra=extra, python=python,
                     module=module),
        stdout=output, stderr=subprocess.STDOUT if output is not None else None,
        stdin=subprocess.DEVNULL, env=child_env(), cwd=str(PROJECT_ROOT),
        start_new_session=new_session, preexec_fn=preexec_fn)


def start_node(address: str, data_dir: str | os.PathLike[str], *,
               output: IO[bytes] | int | None = None, log_level: str = "warning",
               extra: Sequence[str] = (), python: Sequence[str] = (),
               timeout: float = 30.0) -> subprocess.Popen[bytes]:
    """Start a node and return once it answers a ping (``NodeDidNotStart`` otherwise)."""
    process = spawn_node(address, data_dir, output=output, log_level=log_level, extra=extra,
                         python=python)
    try:
        wait_until_serving(address, process, timeout=timeout)
    except NodeDidNotStart:
        stop_node(process, timeout=5)
        raise
    return process


def wait_until_serving(address: str, process: subprocess.Popen[bytes] | None = None, *,
                       timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with connect(address, timeout=0.5) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise NodeExited(f"the node exited with code {process.returncode}")
            try:
                answer = client.ping()
            except NodeUnavailable:
                if time.monotonic() > deadline:
                    raise NodeDidNotStart(
                        f"the node did not answer at {address} within {timeout:g}s") from None
                # refused at once (nothing listens yet): look again shortly
                time.sleep(0.01)
                continue
            if process is None or answer.get("pid") == process.pid:
                return
            # another node answers at this address: ours cannot have bound it
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(min(5.0, max(0.1, deadline - time.monotonic())))
            raise ForeignNode(
                f"another node (pid {answer.get('pid')}, name {answer.get('node')!r}) already"
                f" answers at {address}; stop it, or choose another address with --listen")


def stop_node(process: subprocess.Popen[bytes], *, timeout: float = 30.0) -> int:
    """SIGTERM (drain and exit), then SIGKILL after ``timeout``; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return process.returncode
