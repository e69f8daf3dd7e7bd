"""``caxton new NAME --lang rust|c``: create a ready-to-build agent project.

Exit status: 0 created, 2 usage error (bad name, unknown language, a
directory that is in the way), always with one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from caxton.guests.build import LANGUAGES, ProjectError
from caxton.guests.scaffold import new_project

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``new`` on the ``caxton`` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "new", help="create an agent project (Rust or C) from a template",
        description="Create NAME/ with a counter agent (snapshot and restore), a README, "
        "contract vectors and caxton.toml; build it with `caxton build NAME`.")
    parser.add_argument("name", metavar="NAME", help="the agent's name (and directory)")
    parser.add_argument("--lang", required=True, choices=list(LANGUAGES),
                        help="the agent's language")
    parser.add_argument("--dir", dest="parent", default=".", metavar="PARENT",
                        help="create the project inside PARENT (default: .)")
    return parser


def run(args: argparse.Namespace, *, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    try:
        root = new_project(args.name, args.lang, args.parent)
    except ProjectError as exc:
        print(f"caxton new: {exc}", file=stderr)
        return 2
    except OSError as exc:
        print(f"caxton new: {exc.strerror or exc}: {exc.filename or args.parent}", file=stderr)
        return 2
    print(f"✓ created {root} ({args.lang}); next: caxton build {root}", file=stdout)
    return 0
