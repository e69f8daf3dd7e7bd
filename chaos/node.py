"""The node a run drives: one the harness starts (and may crash), or one it is given.

Crashing the node is only possible for a node the harness started, because it
must restart it on the same data folder and address the way an operator's
process manager would. Chaos starts it exactly like a user does,
``python -m caxton.node``, and speaks to it only through ``caxton.connect``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import caxton
from caxton.launch import (
    NODE_MODULE,
    NodeDidNotStart,
    NodeExited,
    free_loopback_address,
    spawn_node,
    wait_until_serving,
)
from chaos.errors import HarnessError, UsageError

__all__ = ["ExternalNode", "ManagedNode", "NodeHandle", "free_loopback_address"]

START_TIMEOUT_S = 30.0


class ExternalNode:
    """A node someone else runs: chaos uses it but cannot crash or restart it."""

    can_crash = False

    def __init__(self, address: str) -> None:
        self.address = address
        self.data_dir: Path | None = None

    def start(self) -> None:
        try:
            with caxton.connect(self.address, timeout=3.0) as client:
                client.ping()
        except caxton.CaxtonError as exc:
            raise UsageError(f"--node {self.address}: {exc}") from None

    def alive(self) -> bool:
        return True

    def exit_code(self) -> int | None:
        return None

    def stop(self) -> None:
        pass


class ManagedNode:
    """A node subprocess on a data folder of its own; SIGKILL and restart on demand."""

    can_crash = True

    def __init__(self, *, address: str | None = None, extra_args: tuple[str, ...] = (),
                 keep_data: bool = False, module: str = NODE_MODULE) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="chaos-"))
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "node.log"
        self.address = address or free_loopback_address()
        self.extra_args = extra_args
        self.module = module
        self.keep_data = keep_data
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._lock = threading.Lock()  # a crash and a restart never interleave
        self._crashing = False

    def start(self) -> int:
        """Start (or restart) the node and return once it answers; returns the attempts made.

        Right after a SIGKILL the old node's helper processes may still hold the
        data folder's lock for a moment, so a start refused that way is retried.
        """
        with self._lock:
            deadline = time.monotonic() + START_TIMEOUT_S
            attempts = 0
            while True:
                attempts += 1
                self._spawn()
                if self._await_answer(deadline):
                    self.starts += 1
                    self._crashing = False
                    return attempts
                if time.monotonic() > deadline:
                    raise HarnessError(f"the node did not start: {self.log_tail()}")
                time.sleep(0.05)

    def _spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            # A session of its own: a Ctrl-C at the terminal reaches the harness,
            # which stops the node itself, instead of draining it mid-run.
            self.process = spawn_node(self.address, self.data_dir, output=log,
                                      extra=self.extra_args, new_session=True,
                                      module=self.module)

    def _await_answer(self, deadline: float) -> bool:
        """True once the node answers; False if it exited first (so it may be retried)."""
        assert self.process is not None
        try:
            wait_until_serving(self.address, self.process,
                               timeout=max(0.0, deadline - time.monotonic()))
            return True
        except NodeExited:
            return False
        except NodeDidNotStart:
            pass
        self.process.kill()
        self.process.wait()
        raise HarnessError(f"the node did not answer within {START_TIMEOUT_S:g}s: "
                           f"{self.log_tail()}")

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def crash(self) -> int:
        """SIGKILL the node and reap it; returns the pid that was killed."""
        with self._lock:
            assert self.process is not None
            self._crashing = True
            pid = self.process.pid
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            return pid

    def alive(self) -> bool:
        """False only if the node exited without being crashed on purpose."""
        process = self.process
        return self._crashing or process is None or process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        """SIGTERM (the node drains), then SIGKILL if it lingers; remove the temp folder."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if not self.keep_data:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 5) -> str:
        return log_tail(self.log_path, lines)


NodeHandle = ManagedNode | ExternalNode


def log_tail(path: Path, lines: int = 5) -> str:
    """The last lines of a node's log on one line, for a report or an error."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no node log)"
    return " | ".join(text[-lines:]) or "(empty node log)"
