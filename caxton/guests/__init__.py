"""Agents in real languages: finding a toolchain, building a project, scaffolding one.

``caxton new`` and ``caxton build`` (``caxton/cli/new.py``, ``build.py``) are
thin shells over this package; the test suite and the benchmark call it
directly to build the Rust and C examples.
"""

from caxton.guests.build import (
    SDK_DIR,
    BuildFailed,
    BuildResult,
    ProjectConfig,
    ProjectError,
    build_project,
    load_project,
)
from caxton.guests.scaffold import TEMPLATES_DIR, new_project
from caxton.guests.toolchain import ToolchainMissing, find_c, find_rust

__all__ = [
    "SDK_DIR",
    "TEMPLATES_DIR",
    "BuildFailed",
    "BuildResult",
    "ProjectConfig",
    "ProjectError",
    "ToolchainMissing",
    "build_project",
    "find_c",
    "find_rust",
    "load_project",
    "new_project",
]
