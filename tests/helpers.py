"""Plain helpers shared by every test package (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from caxton.launch import free_loopback_port

ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T")


#: a loopback port for a test's node (one helper for every part of the project)
free_port = free_loopback_port


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01,
               what: str = "condition") -> T:
    """Poll a condition until it holds and return its value: how a test waits on another
    process, whose events it cannot subscribe to. Fails the test with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def needs(present: bool, reason: str) -> pytest.MarkDecorator:
    """A test module's mark for a tool the machine may lack: skipped on a developer's
    machine without it, run (and so failing) under ``CI``, where ``.ci/run`` installs it."""
    return pytest.mark.skipif(not present and not os.environ.get("CI"), reason=reason)


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A small real file system mounted for a test (``size=4m``, ``ro,size=1m``): a disk
    that can be filled, or one that cannot be written. The tests run as root under ``CI``;
    elsewhere a machine that cannot mount one skips the test."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
