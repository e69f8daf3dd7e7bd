"""Turning what a user hands us (bytes, WAT text, a path) into wasm bytes.

Kept apart from compilation so the node can hash and store a module before
(or without) compiling it, with the same error messages either way.
"""

from __future__ import annotations

import os
from pathlib import Path

import wasmtime

from caxton.wasm.binary import is_wasm_binary
from caxton.wasm.errors import ModuleLoadError

__all__ = ["ModuleSource", "looks_like_wat", "module_bytes", "read_source", "to_wasm"]

ModuleSource = bytes | bytearray | memoryview | str | os.PathLike[str]

_WAT_STARTS = ("(", ";;", "(;")


def module_bytes(source: ModuleSource) -> bytes:
    """Return the WebAssembly binary for ``source``.

    ``bytes``: a wasm binary or WAT text; ``str``: WAT text, or else a path;
    ``PathLike``: a path to a ``.wasm`` or ``.wat`` file (detected by content,
    not by extension). Raises ``ModuleLoadError`` with a one-line reason.
    """
    data, what = read_source(source)
    return to_wasm(data, what)


def read_source(source: ModuleSource) -> tuple[bytes, str]:
    """The raw bytes behind ``source`` and how to name it in messages.

    Only reading can fail here (missing file, directory, permissions); what
    the bytes are is ``to_wasm``'s business. The validator relies on the split
    to report bad content rather than raise.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "the given bytes"
    if isinstance(source, str):
        if looks_like_wat(source):
            return source.encode("utf-8"), "the given WAT text"
        return _read_path(Path(source)), source
    if isinstance(source, os.PathLike):
        path = Path(os.fspath(source))
        return _read_path(path), str(path)
    raise ModuleLoadError(
        f"cannot load a module from {type(source).__name__}: give bytes, WAT text or a path"
    )


def looks_like_wat(text: str) -> bool:
    """Whether text plausibly is WAT (starts with a paren or a comment)."""
    stripped = text.lstrip("\ufeff \t\r\n")
    return stripped.startswith(_WAT_STARTS)


def _read_path(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise ModuleLoadError(f"{path} is a directory, not a WebAssembly module")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModuleLoadError(f"{path}: no such file") from None
    except PermissionError:
        raise ModuleLoadError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise ModuleLoadError(f"{path} is a directory, not a WebAssembly module") from None
    except OSError as exc:
        raise ModuleLoadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return data


def to_wasm(data: bytes, what: str = "the module") -> bytes:
    """Wasm binary bytes as they are; WAT text compiled to a binary."""
    if is_wasm_binary(data):
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ModuleLoadError(
            f"{what}: neither a WebAssembly binary (no \\0asm header) nor WAT text"
        ) from None
    if not looks_like_wat(text):
        raise ModuleLoadError(
            f"{what}: neither a WebAssembly binary (no \\0asm header) nor WAT text"
        )
    return _wat_to_wasm(text, what)


def _wat_to_wasm(text: str, what: str) -> bytes:
    try:
        return bytes(wasmtime.wat2wasm(text))
    except (wasmtime.WasmtimeError, ValueError) as exc:
        raise ModuleLoadError(f"{what}: invalid WAT: {_wat_error(str(exc))}") from None


def _wat_error(message: str) -> str:
    headline = first_line(message)
    for line in message.splitlines():
        if line.strip().startswith("-->"):
            _, _, location = line.partition("-->")
            parts = location.strip().rsplit(":", 2)
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                return f"{headline} (line {parts[1]}, column {parts[2]})"
    return headline


def first_line(message: str) -> str:
    """The first non-empty line of a (possibly multi-line) wasmtime message."""
    for line in message.splitlines():
        if line.strip():
            return line.strip()
    return message.strip()
