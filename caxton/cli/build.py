"""``caxton build [DIR]``: compile an agent project, post-process and validate it.

Prints the module's path on stdout (alone, so ``$(caxton build DIR)`` is the
path) and the steps and the validation on stderr. Exit status: 0 built and
valid, 1 a toolchain is missing, the compiler failed (its message is shown)
or the module is invalid, 2 usage error (no such directory, no caxton.toml).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from caxton.cli.validate import UsageError, _vectors, render_text
from caxton.guests.build import BuildFailed, ProjectError, build_project, load_project
from caxton.guests.toolchain import ToolchainMissing
from caxton.wasm import ContractVector, ModuleLoadError, validate
from caxton.wasm.policy import PRESETS

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``build`` on the ``caxton`` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "build", help="compile an agent project (Rust or C) to a validated .wasm",
        description="Compile the project in DIR (release, stripped, wasm-opt when installed), "
        "run the validation pipeline on the module and print its path.")
    parser.add_argument("directory", nargs="?", default=".", metavar="DIR",
                        help="the project (default: .)")
    parser.add_argument("--policy", choices=list(PRESETS), default=None,
                        help="validate against this policy (default: caxton.toml's)")
    parser.add_argument("--out-dir", default=None, metavar="DIR",
                        help="write the module here (default: DIR/build)")
    parser.add_argument("--no-opt", action="store_true", help="skip wasm-opt")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the commands and every validation finding")
    return parser


def run(args: argparse.Namespace, *, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    try:
        config = load_project(args.directory)
        result = build_project(args.directory, out_dir=args.out_dir, optimize=not args.no_opt)
    except ProjectError as exc:
        print(f"caxton build: {exc}", file=stderr)
        return 2
    except ToolchainMissing as exc:
        print(f"caxton build: {exc}", file=stderr)
        return 1
    except BuildFailed as exc:
        if exc.output:
            print(exc.output, file=stderr)
        print(f"caxton build: {exc}", file=stderr)
        return 1
    except OSError as exc:
        print(f"caxton build: {exc.strerror or exc}: {exc.filename or args.directory}",
              file=stderr)
        return 1
    if args.verbose:
        for step in result.steps:
            print(f"  $ {step}", file=stderr)
    print(f"✓ compiled with {result.compiler} for {result.target} "
          f"({result.compile_s + result.sdk_compile_s:.1f}s; {result.bytes_compiled} bytes, "
          f"{result.bytes_final} after post-processing)", file=stderr)
    policy = args.policy or config.policy
    try:
        vectors: list[ContractVector] = _vectors(str(config.vectors)) if config.vectors else []
        report = validate(result.path, policy=policy, vectors=vectors)
    except ModuleLoadError as exc:
        print(f"caxton build: {exc}", file=stderr)
        return 1
    except UsageError as exc:  # the vectors file
        print(f"caxton build: {exc}", file=stderr)
        return 2
    print(render_text(report, str(result.path), verbose=args.verbose), file=stderr)
    if not report.passed:
        return 1
    print(Path(result.path).resolve(), file=stdout)
    return 0
