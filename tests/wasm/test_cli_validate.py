"""``caxton validate``: exit status, ✓/✗ lines, JSON, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from caxton.wasm import example_path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caxton.cli.validate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
    )


@pytest.mark.timeout(90)
def test_valid_module_text_output() -> None:
    done = cli(str(example_path("counter")))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"Validating {example_path('counter')} (policy default")
    for stage in ("structure", "policy", "exports", "sandbox", "resources"):
        assert any(line.startswith(f"✓ {stage} (") for line in lines), lines
    assert lines[-1].startswith("✓ Validation passed (")
    assert lines[-1].endswith("s)")
    # the only note: the contract vectors shipped beside the example were used
    assert done.stderr == f"contract vectors from {example_path('counter').with_suffix('')}" \
        ".vectors.json\n"


@pytest.mark.timeout(90)
def test_invalid_module_exit_one_with_the_reason() -> None:
    done = cli(str(example_path("kv")), "--policy", "strict")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert any(line.startswith("✗ policy (") for line in lines)
    assert "    error: import caxton.error is not allowed by security policy 'strict'" in lines
    assert "- sandbox (skipped)" in lines
    assert lines[-1].startswith("✗ Validation failed (")


@pytest.mark.timeout(90)
def test_json_output_is_the_report() -> None:
    done = cli(str(example_path("hostile/start_loop")), "--output", "json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["passed"] is False
    sandbox = next(s for s in report["stages"] if s["name"] == "sandbox")
    assert sandbox["status"] == "failed"
    assert any("out_of_fuel" in f["message"] for f in sandbox["findings"])


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("make_arg", "message", "status"),
    [
        (lambda tmp: str(tmp / "missing.wasm"), "no such file", 2),
        (lambda tmp: str(tmp), "is a directory", 2),
        # a file that reads but is no module is an invalid module (1), not a usage error (2)
        (lambda tmp: str(ROOT / "pyproject.toml"), "neither a WebAssembly binary", 1),
    ],
)
def test_unreadable_input_is_one_line(
    make_arg: Callable[[Path], str], message: str, status: int, tmp_path: Path
) -> None:
    done = cli(make_arg(tmp_path))
    assert done.returncode == status
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(90)
def test_usage_errors_exit_two() -> None:
    done = cli(str(example_path("echo")), "--policy", "lenient")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr and "Traceback" not in done.stderr
    done = cli(str(example_path("echo")), "--fuel", "-5")
    assert done.returncode == 2
    assert "limits.fuel must be positive" in done.stderr


@pytest.mark.timeout(90)
def test_contract_vectors_from_a_file(tmp_path: Path) -> None:
    vectors = tmp_path / "vectors.json"
    vectors.write_text(
        json.dumps([{"input": "inc", "expect_reply": "1"}, {"input": "get", "expect_reply": "9"}])
    )
    done = cli(str(example_path("counter")), "--vectors", str(vectors))
    assert done.returncode == 1
    assert "expected reply b'9', got b'1'" in done.stdout
    vectors.write_text("{not json")
    done = cli(str(example_path("counter")), "--vectors", str(vectors))
    assert done.returncode == 2 and "not valid JSON" in done.stderr


def test_run_in_process_with_the_main_parser_conventions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import argparse

    from caxton.cli import validate as command

    parser = argparse.ArgumentParser(prog="caxton")
    parser.add_argument("--output", default="text", choices=["text", "json"])
    nouns = parser.add_subparsers(dest="noun")
    command.add_parser(nouns)
    # a global --output before the verb is kept
    args = parser.parse_args(["--output", "json", "validate", str(example_path("echo"))])
    assert command.run(args) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True
    args = parser.parse_args(["validate", str(example_path("echo")), "-v"])
    assert command.run(args) == 0
    out = capsys.readouterr().out
    assert "    imports: none" in out and "✓ Validation passed" in out


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", ["infinite_loop", "deep_recursion", "memory_bomb", "bad_reply"])
def test_hostile_examples_fail_validation_with_their_shipped_vectors(name: str) -> None:
    done = cli(str(example_path(f"hostile/{name}")))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{name}.vectors.json" in done.stderr
    assert "Validation failed" in done.stdout and "at stage sandbox" in done.stdout


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", ["echo", "counter"])
def test_examples_pass_their_shipped_vectors(name: str) -> None:
    done = cli(str(example_path(name)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{name}.vectors.json" in done.stderr
