"""`caxton new` and `caxton build` as a user runs them, and their one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import caxton
from tests.guests.conftest import require_toolchain
from tests.helpers import wait_until

CAXTON = [sys.executable, "-m", "caxton.cli.main"]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CAXTON, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.timeout(300)
def test_new_then_build_gives_an_agent_that_survives_a_sigkill(
        language: str, tmp_path: Path, caxton_client: caxton.Client) -> None:
    require_toolchain(language)
    created = run("new", "hello", "--lang", language, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    project = tmp_path / "hello"
    assert {"caxton.toml", "README.md", "vectors.json"} <= {p.name for p in project.iterdir()}
    built = run("build", "hello", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    module = Path(built.stdout.strip())
    assert module == (project / "build" / "hello.wasm").resolve() and module.is_file()
    assert "✓ Validation passed" in built.stderr
    assert "vector inc adds one" not in built.stderr  # only problems without -v
    valid = run("validate", str(module), "--vectors", str(project / "vectors.json"),
                "--policy", "strict", cwd=tmp_path)
    assert valid.returncode == 0, valid.stdout

    caxton_client.spawn("hello", module, snapshot_every=3)
    for _ in range(10):
        caxton_client.send("hello", b"inc")
    assert caxton_client.call("hello", b"get") == b"10"
    pid = caxton_client.status("hello").pid
    assert pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: (s := caxton_client.status("hello")).pid not in (None, pid)
               and s.state == "running", timeout=30, what="the replacement")
    assert caxton_client.call("hello", b"inc") == b"11"


def test_new_refuses_what_it_cannot_create(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("mine")
    for args, text in [
        (("new", "taken", "--lang", "c"), "already exists"),
        (("new", "Bad Name", "--lang", "rust"), "bad agent name"),
        (("new", "ok", "--lang", "cobol"), "invalid choice"),
        (("new", "ok"), "--lang"),
    ]:
        done = run(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert text in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        no_traceback(done)
    assert (tmp_path / "taken" / "file").read_text() == "mine"


def test_build_usage_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "caxton.toml").write_text('[agent]\nname = "x"\nlanguage = "go"\n')
    for directory, text in [("missing", "no such directory"), ("empty", "no caxton.toml"),
                            ("bad", "agent.language must be one of rust, c")]:
        done = run("build", directory, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert text in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        no_traceback(done)
    bad_flag = run("build", "--fast", cwd=tmp_path)
    assert bad_flag.returncode == 2 and "unrecognized arguments: --fast" in bad_flag.stderr


def test_a_compile_error_shows_the_compilers_message(language: str, tmp_path: Path) -> None:
    require_toolchain(language)
    assert run("new", "broken", "--lang", language, cwd=tmp_path).returncode == 0
    source = tmp_path / "broken" / "src" / ("lib.rs" if language == "rust" else "agent.c")
    source.write_text(source.read_text() + "\nthis is not code\n")
    done = run("build", "broken", cwd=tmp_path)
    assert done.returncode == 1
    no_traceback(done)
    assert done.stdout == ""
    assert "error" in done.stderr and str(source) in done.stderr  # the compiler's own words
    assert done.stderr.strip().splitlines()[-1].startswith("caxton build: compiling")


def test_an_invalid_module_fails_the_build(tmp_path: Path) -> None:
    require_toolchain("c")
    assert run("new", "wrong", "--lang", "c", cwd=tmp_path).returncode == 0
    vectors = tmp_path / "wrong" / "vectors.json"
    vectors.write_text('[{"input": "inc", "expect_reply": "2"}]')
    done = run("build", "wrong", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "✗ Validation failed" in done.stderr


@pytest.mark.parametrize(("language", "variable", "packages"), [
    ("rust", "CAXTON_RUSTC", "apt-get install rustc libstd-rust-dev-wasm32"),
    ("c", "CAXTON_CLANG", "apt-get install clang lld wasi-libc"),
])
def test_a_missing_toolchain_names_the_debian_packages(tmp_path: Path, language: str,
                                                       variable: str, packages: str) -> None:
    assert run("new", "lonely", "--lang", language, cwd=tmp_path).returncode == 0
    env = dict(os.environ, **{variable: str(tmp_path / "no-such-compiler")})
    done = run("build", "lonely", cwd=tmp_path, env=env)
    assert done.returncode == 1
    no_traceback(done)
    assert packages in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
