"""Finding compilers that can build agents, and saying how to get one when none can.

A machine can carry several ``rustc`` (a rustup toolchain first on ``PATH``,
Debian's in ``/usr/bin``) and only some of them have a WebAssembly standard
library. A ``rustc`` qualifies for a target when ``--print target-libdir``
names a directory holding ``libstd``; the first that qualifies wins, in the
order: every ``rustc`` on ``PATH``, ``/usr/bin/rustc``, ``~/.cargo/bin/rustc``
(``$CAXTON_RUSTC``, when set, is the only one tried; ``$CAXTON_CLANG``
likewise). The WASI target is called ``wasm32-wasi`` up to Rust 1.83 and
``wasm32-wasip1`` since; both names are tried.

For C, ``clang`` needs the WebAssembly linker (``wasm-ld``, package ``lld``),
wasi-libc (``/usr/lib/wasm32-wasi/libc.a`` under the ``/usr`` sysroot on
Debian) and compiler-rt's wasm32 builtins.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "C_PACKAGES",
    "RUST_PACKAGES",
    "CToolchain",
    "PostTools",
    "RustToolchain",
    "ToolchainMissing",
    "find_c",
    "find_post_tools",
    "find_rust",
]

#: Debian packages that give a rustc able to build agents.
RUST_PACKAGES = "rustc libstd-rust-dev-wasm32"
#: Debian packages for C (the compiler-rt package follows clang's major version).
C_PACKAGES = "clang lld wasi-libc libclang-rt-dev-wasm32"
POST_PACKAGES = "binaryen wabt"

#: Rust target names: a plain core module, or one whose std speaks WASI preview1.
RUST_PLAIN_TARGET = "wasm32-unknown-unknown"
RUST_WASI_TARGETS = ("wasm32-wasi", "wasm32-wasip1")

_PROBE_TIMEOUT = 30


class ToolchainMissing(Exception):
    """No installed compiler can build this kind of agent; the message says what to install."""


@dataclass(frozen=True)
class RustToolchain:
    rustc: str
    target: str
    version: str


@dataclass(frozen=True)
class CToolchain:
    clang: str
    sysroot: str
    version: str


@dataclass(frozen=True)
class PostTools:
    """Optional post-processing: ``wasm-opt`` (binaryen) and ``wasm-strip`` (wabt)."""

    wasm_opt: str | None
    wasm_strip: str | None


def _run(command: list[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=_PROBE_TIMEOUT,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _candidates(name: str, env: str, extra: tuple[str, ...]) -> list[str]:
    """Executables named ``name``: ``$env`` alone when set, else ``PATH`` then ``extra``."""
    found: list[str] = []
    override = os.environ.get(env)
    if override:
        found.append(override if os.sep in override else shutil.which(override) or override)
        extra = ()
    for directory in os.environ.get("PATH", "").split(os.pathsep) if not override else ():
        if directory:
            found.append(os.path.join(directory, name))
    found.extend(extra)
    unique: list[str] = []
    seen: set[str] = set()
    for path in found:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            unique.append(path)
    return unique


def _has_std(rustc: str, target: str) -> bool:
    probe = _run([rustc, "--print", "target-libdir", "--target", target])
    if probe is None or probe.returncode != 0:
        return False
    libdir = Path(probe.stdout.strip())
    return libdir.is_dir() and any(libdir.glob("libstd-*.rlib"))


@functools.cache
def find_rust(wasi: bool) -> RustToolchain:
    """The first ``rustc`` with a standard library for the agent's target.

    ``wasi`` picks ``wasm32-wasi``/``wasm32-wasip1`` (std I/O through WASI);
    otherwise ``wasm32-unknown-unknown`` (no imports beyond ``caxton.*``).
    """
    targets = RUST_WASI_TARGETS if wasi else (RUST_PLAIN_TARGET,)
    tried: list[str] = []
    home_cargo = str(Path.home() / ".cargo" / "bin" / "rustc")
    for rustc in _candidates("rustc", "CAXTON_RUSTC", ("/usr/bin/rustc", home_cargo)):
        for target in targets:
            if _has_std(rustc, target):
                version = _run([rustc, "--version"])
                return RustToolchain(rustc, target, version.stdout.strip() if version else "")
        tried.append(rustc)
    wanted = " or ".join(targets)
    where = f" (tried {', '.join(tried)}: none has the {wanted} standard library)" if tried \
        else " (no rustc found)"
    rustup = f"rustup target add {'wasm32-wasip1' if wasi else RUST_PLAIN_TARGET}"
    raise ToolchainMissing(
        f"no Rust compiler can build for {wanted}{where}; install Debian's: "
        f"apt-get install {RUST_PACKAGES} (or, with rustup: {rustup}; "
        "CAXTON_RUSTC=/path/to/rustc picks a compiler)")


@functools.cache
def find_c() -> CToolchain:
    """``clang`` with ``wasm-ld``, wasi-libc and the wasm32 compiler-rt builtins."""
    clangs = _candidates("clang", "CAXTON_CLANG", ())
    if not clangs:
        raise ToolchainMissing(f"clang not found; install Debian's: apt-get install {C_PACKAGES}")
    clang = clangs[0]
    version_probe = _run([clang, "--version"])
    version = version_probe.stdout.splitlines()[0] if version_probe and version_probe.stdout \
        else ""
    major = re.search(r"version (\d+)\.", version)
    rt_package = f"libclang-rt-{major.group(1)}-dev-wasm32" if major else "libclang-rt-dev-wasm32"
    packages = f"clang lld wasi-libc {rt_package}"
    sysroot = os.environ.get("CAXTON_WASI_SYSROOT", "/usr")
    problems = []
    if shutil.which("wasm-ld") is None and not _clang_finds(clang, "wasm-ld"):
        problems.append("the WebAssembly linker wasm-ld (package lld)")
    libc = Path(sysroot) / "lib" / "wasm32-wasi" / "libc.a"
    if not libc.is_file() and not (Path(sysroot) / "lib" / "libc.a").is_file():
        problems.append(f"wasi-libc under the sysroot {sysroot} (package wasi-libc)")
    builtins = _run([clang, "--target=wasm32-wasi", f"--sysroot={sysroot}", "--rtlib=compiler-rt",
                     "-print-libgcc-file-name"])
    if builtins is None or not Path(builtins.stdout.strip()).is_file():
        problems.append(f"compiler-rt's wasm32 builtins (package {rt_package})")
    if problems:
        raise ToolchainMissing(
            f"{clang} cannot build WebAssembly: missing {'; '.join(problems)}; "
            f"install Debian's: apt-get install {packages}")
    return CToolchain(clang, sysroot, version)


def _clang_finds(clang: str, program: str) -> bool:
    probe = _run([clang, f"-print-prog-name={program}"])
    return bool(probe and probe.returncode == 0 and os.path.isabs(probe.stdout.strip())
                and os.path.isfile(probe.stdout.strip()))


def find_post_tools() -> PostTools:
    """``wasm-opt`` and ``wasm-strip`` when installed (each is optional)."""
    return PostTools(shutil.which("wasm-opt"), shutil.which("wasm-strip"))
