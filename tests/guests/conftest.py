"""Fixtures for agents written in Rust and C: the examples, built from source once per session.

A test that needs a compiler calls ``require_toolchain``: without one it is
skipped on a developer's machine, and fails when ``CI`` is set (``.ci/run``
installs the Debian packages, so a missing compiler there is a bug).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from caxton.guests import BuildFailed, ToolchainMissing, build_project, find_c, find_rust
from tests.helpers import ROOT

LANGUAGES = ("rust", "c")
EXAMPLES = {"rust": ROOT / "examples" / "rust", "c": ROOT / "examples" / "c"}
TEST_AGENTS = Path(__file__).resolve().parent / "agents"

BuildExample = Callable[[str, str], Path]


def require_toolchain(language: str, *, wasi: bool = False) -> None:
    """Skip (developer machine) or fail (``CI`` set) when ``language`` cannot be compiled."""
    try:
        if language == "rust":
            find_rust(wasi)
        else:
            find_c()
    except ToolchainMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and the {language} toolchain is missing: {exc}")
        pytest.skip(f"{language} toolchain missing: {exc}")


def project_dir(language: str, name: str) -> Path:
    """An example (``examples/<language>/<name>``) or a test agent (``tests/guests/agents``)."""
    example = EXAMPLES[language] / name
    return example if example.is_dir() else TEST_AGENTS / language / name


@pytest.fixture(scope="session")
def build_example(tmp_path_factory: pytest.TempPathFactory) -> BuildExample:
    """``build_example(language, name)`` → the module, compiled once per session."""
    out = tmp_path_factory.mktemp("guests")
    built: dict[tuple[str, str], Path] = {}

    def build(language: str, name: str) -> Path:
        project = project_dir(language, name)
        wasi = "wasi = true" in (project / "caxton.toml").read_text()
        require_toolchain(language, wasi=wasi)
        if (language, name) not in built:
            try:
                result = build_project(project, out_dir=out / language, cache_dir=out / "sdk")
            except BuildFailed as exc:
                raise AssertionError(f"{exc}\n{exc.output}") from None
            built[language, name] = result.path
        return built[language, name]

    return build


@pytest.fixture(params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)
