"""``caxton validate FILE``: run the validation pipeline on a module.

Exit status: 0 valid, 1 invalid, 2 usage error or unreadable input (a missing
file, a directory, a file that is neither WebAssembly nor WAT). Errors are
one line on stderr, never a traceback. Runs standalone too:
``python -m caxton.cli.validate FILE``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from caxton.wasm import ContractVector, Limits, ModuleLoadError, ValidationReport, validate
from caxton.wasm.binary import is_wasm_binary
from caxton.wasm.policy import PRESETS
from caxton.wasm.source import looks_like_wat, read_source

__all__ = ["add_arguments", "add_parser", "main", "run"]

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

PASS = "✓"
FAIL = "✗"
SKIP = "-"


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit status 2."""


class NotAModule(Exception):
    """The file reads, but is neither WebAssembly nor WAT: an invalid module, exit status 1."""


def _shipped_vectors(module: str) -> str | None:
    """``NAME.vectors.json`` beside ``NAME.wat``/``NAME.wasm``, used when ``--vectors`` is
    not given: a module's contract travels with it (the examples ship theirs)."""
    path = Path(module)
    candidate = path.with_name(path.stem + ".vectors.json")
    return str(candidate) if path.suffix in (".wat", ".wasm") and candidate.is_file() else None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``validate`` on the ``caxton`` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check a WebAssembly module before deploying it",
        description="Run the validation pipeline (structure, security policy, exports, "
        "sandbox run, resource profile) on a .wasm or .wat file.",
    )
    add_arguments(parser, output_default=argparse.SUPPRESS)
    return parser


def add_arguments(parser: argparse.ArgumentParser, *, output_default: Any = "text") -> None:
    parser.add_argument("file", metavar="FILE", help="a .wasm binary or .wat text file")
    parser.add_argument(
        "--policy",
        default="default",
        choices=list(PRESETS),
        help="security policy preset (default: default)",
    )
    # SUPPRESS under the main command, so a global --output given before the
    # verb is not overwritten by this subcommand's default.
    parser.add_argument("--output", default=output_default, choices=["text", "json"])
    parser.add_argument(
        "--vectors",
        metavar="JSON",
        help="contract vectors: a JSON list of {input, expect_reply?, expect_outcome?, name?}",
    )
    parser.add_argument("--fuel", type=int, help="fuel per call (default: 50000000)")
    parser.add_argument("--deadline-ms", type=int, help="wall-clock ms per call (default: 1000)")
    parser.add_argument("--memory-bytes", type=int, help="linear memory limit (default: 16 MiB)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show every finding, not only problems"
    )


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Validate ``args.file``; print the report; return the exit status."""
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    try:
        limits = _limits(args)
        vectors_path = getattr(args, "vectors", None) or _shipped_vectors(args.file)
        vectors = _vectors(vectors_path)
        if vectors_path and not getattr(args, "vectors", None):
            print(f"contract vectors from {vectors_path}", file=stderr)
        _check_readable(args.file)
        report = validate(args.file, policy=args.policy, limits=limits, vectors=vectors)
    except NotAModule as exc:  # the file is there, and is no module: invalid, not misused
        print(f"caxton validate: {exc}", file=stderr)
        return EXIT_INVALID
    except (UsageError, ModuleLoadError) as exc:
        print(f"caxton validate: {exc}", file=stderr)
        return EXIT_USAGE
    if getattr(args, "output", "text") == "json":
        print(report.to_json(), file=stdout)
    else:
        print(render_text(report, args.file, verbose=getattr(args, "verbose", False)), file=stdout)
    return EXIT_VALID if report.passed else EXIT_INVALID


def _check_readable(path: str) -> None:
    """Refuse, as a usage error, input that is not a module at all."""
    data, what = read_source(path)
    if is_wasm_binary(data):
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if not looks_like_wat(text):
        raise NotAModule(f"{what}: neither a WebAssembly binary (no \\0asm header) nor WAT text")


def _limits(args: argparse.Namespace) -> Limits:
    overrides = {
        name: value
        for name, value in (
            ("fuel", getattr(args, "fuel", None)),
            ("deadline_ms", getattr(args, "deadline_ms", None)),
            ("memory_bytes", getattr(args, "memory_bytes", None)),
        )
        if value is not None
    }
    # the node's own maximums: a validation asked for more would spin as long as asked
    from caxton.node.spec import Maximums

    most = Maximums()
    for name, value in overrides.items():
        maximum = getattr(most, name)
        if value > maximum:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} {value} is over the maximum of {maximum}")
    try:
        return Limits.from_dict(overrides)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _vectors(path: str | None) -> list[ContractVector]:
    if not path:
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read contract vectors ({exc.strerror or exc})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: contract vectors are not valid JSON ({exc})") from None
    if not isinstance(raw, list):
        raise UsageError(f"{path}: contract vectors must be a JSON list")
    try:
        return [ContractVector.from_dict(item) for item in raw]
    except (ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: {exc}") from None


def _duration(seconds: float) -> str:
    if seconds < 0.1:
        return f"{seconds * 1000:.1f}ms"
    return f"{seconds:.1f}s"


def render_text(report: ValidationReport, name: str, *, verbose: bool = False) -> str:
    """One line per stage with ✓/✗ and its time, problems indented beneath."""
    lines = [f"Validating {name} (policy {report.policy}, sha256 {report.module_sha256[:12]})"]
    for stage in report.stages:
        if stage.status == "skipped":
            lines.append(f"{SKIP} {stage.name} (skipped)")
            continue
        mark = PASS if stage.passed else FAIL
        lines.append(f"{mark} {stage.name} ({_duration(stage.duration_s)})")
        for finding in stage.findings:
            if finding.severity == "error":
                lines.append(f"    error: {finding.message}")
            elif finding.severity == "warning":
                lines.append(f"    warning: {finding.message}")
            elif verbose:
                lines.append(f"    {finding.message}")
    total = _duration(report.duration_s)
    if report.passed:
        lines.append(f"{PASS} Validation passed ({total})")
    else:
        failed = next((s.name for s in report.stages if s.status == "failed"), "?")
        lines.append(f"{FAIL} Validation failed ({total}, at stage {failed})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (``python -m caxton.cli.validate``)."""
    from caxton.cli.parsing import Parser

    parser = Parser(prog="caxton validate", description=__doc__.splitlines()[0] if __doc__ else "")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
