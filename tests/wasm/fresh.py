"""Running a snippet in a fresh interpreter: for what only shows at start-up or exit.

Thread counts at import, panics at interpreter exit and process-wide engine
registries cannot be observed from inside a test process that has already
loaded everything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_fresh(code: str, *, timeout: float = 50) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with only this checkout importable; fails the test on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done
