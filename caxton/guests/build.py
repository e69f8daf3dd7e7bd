"""Building an agent project (Rust or C) into a validated ``.wasm`` module.

A project is a directory with a ``caxton.toml``::

    [agent]
    name = "hello"          # the module is build/hello.wasm
    language = "rust"       # or "c"
    wasi = false            # true: std/libc I/O through WASI (policy "relaxed")
    policy = "default"      # the security policy the module is validated against
    vectors = "vectors.json"  # optional contract vectors for validation

Rust: the crate root is ``src/lib.rs`` (built as a ``cdylib``: a module with
the ABI's exports) or ``src/main.rs`` (a WASI command whose ``main`` runs once
after instantiation). The SDK crate is compiled once per compiler, target and
SDK version into a cache. C: every ``src/*.c`` plus the SDK's
``caxton_agent.c``; with ``wasi = true`` a source defining ``main`` makes a
command, otherwise a reactor.

Release builds only: optimised, LTO, symbols stripped, a 64 KiB shadow stack
(keeps an idle agent at two pages), then ``wasm-opt -O2`` and ``wasm-strip``
when they are installed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caxton.guests.toolchain import (
    CToolchain,
    RustToolchain,
    find_c,
    find_post_tools,
    find_rust,
)
from caxton.wasm.policy import PRESETS

__all__ = [
    "SDK_DIR",
    "BuildFailed",
    "BuildResult",
    "ProjectConfig",
    "ProjectError",
    "build_project",
    "load_project",
]

SDK_DIR = Path(__file__).resolve().parent.parent / "sdk"
RUST_SDK = SDK_DIR / "rust" / "caxton-agent" / "src" / "lib.rs"
C_SDK = SDK_DIR / "c"

LANGUAGES = ("rust", "c")
STACK_BYTES = 64 * 1024
_COMPILE_TIMEOUT = 600
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_C_MAIN = re.compile(r"\bint\s+main\s*\(")


class ProjectError(Exception):
    """The directory is not a buildable project (a usage error: exit status 2)."""


class BuildFailed(Exception):
    """A compiler or post-processing step failed; ``output`` is what the tool printed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class ProjectConfig:
    directory: Path
    name: str
    language: str
    wasi: bool = False
    policy: str = "default"
    vectors: Path | None = None


@dataclass
class BuildResult:
    """What a build produced and what it cost (the benchmark reads the figures)."""

    path: Path
    language: str
    compiler: str
    target: str
    compile_s: float = 0.0
    sdk_compile_s: float = 0.0
    post_s: float = 0.0
    bytes_compiled: int = 0
    bytes_final: int = 0
    steps: list[str] = field(default_factory=list)


def load_project(directory: str | os.PathLike[str]) -> ProjectConfig:
    """Read ``caxton.toml``; ``ProjectError`` with one line when anything is wrong."""
    root = Path(directory)
    if not root.exists():
        raise ProjectError(f"{root}: no such directory")
    if not root.is_dir():
        raise ProjectError(f"{root}: not a directory")
    config_path = root / "caxton.toml"
    if not config_path.is_file():
        raise ProjectError(f"{root}: no caxton.toml (create a project with `caxton new NAME`)")
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{config_path}: {exc}") from None
    agent: Any = raw.get("agent")
    if not isinstance(agent, dict):
        raise ProjectError(f"{config_path}: missing the [agent] table")
    unknown = sorted(set(agent) - {"name", "language", "wasi", "policy", "vectors"})
    if unknown:
        raise ProjectError(f"{config_path}: unknown key(s) in [agent]: {', '.join(unknown)}")
    name = agent.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ProjectError(f"{config_path}: agent.name must be letters, digits, '-' or '_'")
    language = agent.get("language")
    if language not in LANGUAGES:
        raise ProjectError(f"{config_path}: agent.language must be one of {', '.join(LANGUAGES)}")
    wasi = agent.get("wasi", False)
    if not isinstance(wasi, bool):
        raise ProjectError(f"{config_path}: agent.wasi must be true or false")
    policy = agent.get("policy", "relaxed" if wasi else "default")
    if policy not in PRESETS:
        raise ProjectError(f"{config_path}: agent.policy must be one of {', '.join(PRESETS)}")
    vectors = agent.get("vectors")
    if vectors is not None and not isinstance(vectors, str):
        raise ProjectError(f"{config_path}: agent.vectors must be a file name")
    vectors_path = root / vectors if vectors else None
    if vectors_path is not None and not vectors_path.is_file():
        raise ProjectError(f"{config_path}: agent.vectors: {vectors_path} does not exist")
    return ProjectConfig(root.resolve(), name, language, wasi, policy,
                         vectors_path.resolve() if vectors_path else None)


def build_project(directory: str | os.PathLike[str], *,
                  out_dir: str | os.PathLike[str] | None = None,
                  cache_dir: str | os.PathLike[str] | None = None,
                  optimize: bool = True) -> BuildResult:
    """Compile a project; return the module's path (``out_dir`` or ``DIR/build``).

    ``cache_dir`` keeps the compiled Rust SDK between builds (default: inside
    the output directory). ``optimize=False`` skips ``wasm-opt``.
    Raises ``ProjectError``, ``ToolchainMissing`` or ``BuildFailed``.
    """
    config = load_project(directory)
    out = (Path(out_dir) if out_dir is not None else config.directory / "build").resolve()
    out.mkdir(parents=True, exist_ok=True)
    target_path = out / f"{config.name}.wasm"
    if config.language == "rust":
        result = _build_rust(config, target_path,
                             Path(cache_dir).resolve() if cache_dir else out / ".sdk")
    else:
        result = _build_c(config, target_path)
    _post_process(result, optimize=optimize)
    return result


def _source_dir(config: ProjectConfig) -> Path:
    return config.directory / "src"


def _compile(command: list[str], what: str, cwd: Path) -> float:
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=cwd,
                              timeout=_COMPILE_TIMEOUT, check=False)
    except OSError as exc:
        raise BuildFailed(f"{what}: cannot run {command[0]} ({exc.strerror or exc})") from None
    except subprocess.TimeoutExpired:
        raise BuildFailed(f"{what}: {command[0]} did not finish in {_COMPILE_TIMEOUT}s") from None
    if done.returncode != 0:
        output = (done.stderr + done.stdout).strip()
        raise BuildFailed(f"{what} failed ({Path(command[0]).name} exit status {done.returncode})",
                          output)
    return time.perf_counter() - started


# -- Rust --------------------------------------------------------------------------------------

def _rust_common(toolchain: RustToolchain) -> list[str]:
    return [toolchain.rustc, "--edition", "2021", "--target", toolchain.target,
            "-C", "opt-level=3", "-C", "codegen-units=1", "-C", "panic=abort",
            "-C", "debuginfo=0"]


def _rust_sdk(toolchain: RustToolchain, cache: Path) -> tuple[Path, float]:
    """The SDK rlib for this compiler and target, compiled once into ``cache``."""
    key = hashlib.sha256()
    for part in (toolchain.rustc, toolchain.version, toolchain.target):
        key.update(part.encode() + b"\0")
    key.update(RUST_SDK.read_bytes())
    directory = cache / f"{toolchain.target}-{key.hexdigest()[:16]}"
    rlib = directory / "libcaxton_agent.rlib"
    if rlib.is_file():
        return rlib, 0.0
    staging = cache / f".tmp-{os.getpid()}-{key.hexdigest()[:16]}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    seconds = _compile([*_rust_common(toolchain), "--crate-type", "rlib",
                        "--crate-name", "caxton_agent", str(RUST_SDK), "-o",
                        str(staging / "libcaxton_agent.rlib")], "compiling the caxton-agent SDK",
                       staging)
    try:
        staging.rename(directory)
    except OSError:  # built concurrently by another build: use that one
        shutil.rmtree(staging, ignore_errors=True)
    return rlib, seconds


def _build_rust(config: ProjectConfig, target_path: Path, cache: Path) -> BuildResult:
    source = _source_dir(config)
    lib, main = source / "lib.rs", source / "main.rs"
    if lib.is_file():
        root, crate_type = lib, "cdylib"
    elif main.is_file():
        root, crate_type = main, "bin"
    else:
        raise ProjectError(f"{config.directory}: no src/lib.rs (or src/main.rs) to build")
    toolchain = find_rust(config.wasi)
    rlib, sdk_seconds = _rust_sdk(toolchain, cache)
    command = [*_rust_common(toolchain), "--crate-type", crate_type,
               "--crate-name", config.name.replace("-", "_"),
               "-C", "lto=fat", "-C", "strip=symbols",
               "-C", f"link-arg=-zstack-size={STACK_BYTES}",
               "--extern", f"caxton_agent={rlib}", "-L", f"dependency={rlib.parent}",
               str(root), "-o", str(target_path)]
    seconds = _compile(command, f"compiling {root}", config.directory)
    return BuildResult(target_path, "rust", toolchain.version, toolchain.target,
                       compile_s=seconds, sdk_compile_s=sdk_seconds,
                       steps=[" ".join(command)])


# -- C -----------------------------------------------------------------------------------------

def _build_c(config: ProjectConfig, target_path: Path) -> BuildResult:
    sources = sorted(_source_dir(config).glob("*.c"))
    if not sources:
        raise ProjectError(f"{config.directory}: no src/*.c to build")
    toolchain: CToolchain = find_c()
    if config.wasi:
        has_main = any(_C_MAIN.search(s.read_text(encoding="utf-8", errors="replace"))
                       for s in sources)
        model = [] if has_main else ["-mexec-model=reactor"]
    else:
        # no WASI: no C runtime start files, so no _initialize/_start export
        model = ["-nostartfiles", "-Wl,--no-entry"]
    command = [toolchain.clang, "--target=wasm32-wasi", f"--sysroot={toolchain.sysroot}",
               "-O2", "-Wall", "-Wextra", "-std=c11", f"-I{C_SDK}", *model,
               f"-Wl,-zstack-size={STACK_BYTES}", "-Wl,--strip-all",
               *map(str, sources), str(C_SDK / "caxton_agent.c"), "-o", str(target_path)]
    seconds = _compile(command, f"compiling {config.directory / 'src'}", config.directory)
    return BuildResult(target_path, "c", toolchain.version, "wasm32-wasi", compile_s=seconds,
                       steps=[" ".join(command)])


# -- post-processing ---------------------------------------------------------------------------

def _post_process(result: BuildResult, *, optimize: bool) -> None:
    """``wasm-opt -O2`` then ``wasm-strip``, each when installed.

    ``wasm-opt`` runs first: it reads the ``target_features`` section that
    ``wasm-strip`` removes with every other custom section.
    """
    tools = find_post_tools()
    path = result.path
    result.bytes_compiled = path.stat().st_size
    started = time.perf_counter()
    if optimize and tools.wasm_opt:
        optimized = path.with_suffix(".opt.wasm")
        command = [tools.wasm_opt, "-O2", "--strip-debug", "--strip-producers", str(path),
                   "-o", str(optimized)]
        _compile(command, "wasm-opt", path.parent)
        optimized.replace(path)
        result.steps.append(" ".join(command))
    if tools.wasm_strip:
        _compile([tools.wasm_strip, str(path)], "wasm-strip", path.parent)
        result.steps.append(f"{tools.wasm_strip} {path}")
    result.post_s = time.perf_counter() - started
    result.bytes_final = path.stat().st_size
