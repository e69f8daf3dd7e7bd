"""A real node process for one benchmark: started fresh, torn down completely.

Each benchmark gets its own node on a free loopback port and a throw-away data
folder, so agents left idle by one figure (or a journal grown by another) never
weigh on the next. The node runs exactly as a user runs it
(``python -m caxton.node``); optionally under cProfile, to see where its time
goes.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import psutil

import caxton
from caxton.bench.errors import BenchUnavailable
from caxton.launch import (
    PROJECT_ROOT,
    NodeDidNotStart,
    NodeExited,
    child_env,
    free_loopback_address,
    spawn_node,
    wait_until_serving,
)

__all__ = ["PROJECT_ROOT", "BenchNode", "child_env"]

START_TIMEOUT = 60.0
DRAIN_TIMEOUT = 30.0


def stop_with_parent() -> None:
    """In a started node (before exec): get SIGTERM, i.e. drain and exit, if the bench dies.

    A benchmark killed from outside (a test's timeout, an OOM kill) must not
    leave nodes and their agents running behind it.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


class BenchNode:
    def __init__(self, workdir: Path, *, profile_to: Path | None = None,
                 extra: Sequence[str] = ()) -> None:
        self.workdir = workdir
        self.extra = tuple(extra)
        self.data_dir = workdir / "data"
        self.log_path = workdir / "node.log"
        self.address = free_loopback_address()
        self.profile_to = profile_to
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> BenchNode:
        self.workdir.mkdir(parents=True, exist_ok=True)
        python = ["-m", "cProfile", "-o", str(self.profile_to)] if self.profile_to else []
        with open(self.log_path, "ab") as log:
            self.process = spawn_node(self.address, self.data_dir, output=log, python=python,
                                      extra=self.extra, preexec_fn=stop_with_parent)
        try:
            wait_until_serving(self.address, self.process, timeout=START_TIMEOUT)
        except NodeExited:
            raise BenchUnavailable(f"the node exited at start: {self.log_tail()}") from None
        except NodeDidNotStart:
            self.stop()
            raise BenchUnavailable(
                f"the node did not answer within {START_TIMEOUT:g}s") from None
        return self

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchUnavailable("the node is not running")
        return self.process.pid

    def client(self, timeout: float = 30.0, *, local: bool = True) -> caxton.Client:
        """A client as a user gets one; ``local=False`` keeps it on loopback TCP."""
        client = caxton.connect(self.address, timeout=timeout, local=local)
        client.ping()  # settle the transport before anything is timed
        return client

    def rss_bytes(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:]) or "(empty log)"

    def stop(self) -> None:
        """Drain and stop the node; whatever of its tree outlives it is killed by pid."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            tree = psutil.Process(process.pid).children(recursive=True)
        except psutil.Error:
            tree = []
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(DRAIN_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)  # a second signal stops at once
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for child in tree:
            with contextlib.suppress(psutil.Error):
                child.kill()
        psutil.wait_procs(tree, timeout=5)

    def __enter__(self) -> BenchNode:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
