"""On-disk cache of compiled modules.

Compiling a module costs milliseconds; deserializing a compiled artifact costs
tens of microseconds, and the node instantiates the same module again on
every restart. Artifacts are keyed by the module's sha256 plus everything that
makes machine code engine-specific (wasmtime version, architecture, engine
settings).

Deserializing is inherently trusting (the artifact is machine code), so an
entry is used only if the checksum written beside it matches and wasmtime
accepts it; anything else (truncated, corrupt, from another wasmtime) is
dropped and rebuilt. Writes go to a temporary file renamed into place, so a
reader never sees half an artifact. The directory must be private to the
node: whoever can write there can run code in agent processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

import wasmtime

__all__ = ["ModuleCache"]

_ARTIFACT_SUFFIX = ".cwasm"
_META_SUFFIX = ".meta.json"


class ModuleCache:
    """A directory of compiled artifacts; safe to share between processes."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0
        self.rejected = 0

    def artifact_path(self, sha256: str, settings_key: str) -> Path:
        """Where the artifact for this module and engine configuration lives."""
        settings_digest = hashlib.sha256(settings_key.encode()).hexdigest()[:16]
        return self.directory / f"{sha256}-{settings_digest}{_ARTIFACT_SUFFIX}"

    def load(
        self, sha256: str, settings_key: str, engine: wasmtime.Engine
    ) -> wasmtime.Module | None:
        """The cached module, or ``None`` on a miss or an entry not worth trusting."""
        path = self.artifact_path(sha256, settings_key)
        meta_path = path.with_suffix(_META_SUFFIX)
        try:
            meta = json.loads(meta_path.read_text())
            data = path.read_bytes()
        except (OSError, ValueError):
            self.misses += 1
            return None
        if (
            not isinstance(meta, dict)
            or meta.get("module_sha256") != sha256
            or meta.get("settings") != settings_key
            or meta.get("artifact_sha256") != hashlib.sha256(data).hexdigest()
        ):
            self._reject(path)
            return None
        try:
            module = wasmtime.Module.deserialize_file(engine, str(path))
        except (wasmtime.WasmtimeError, wasmtime.Trap, ValueError):
            self._reject(path)
            return None
        self.hits += 1
        return module

    def store(self, sha256: str, settings_key: str, module: wasmtime.Module) -> Path:
        """Write the artifact then its checksum, each atomically."""
        # 0700: whoever can write an artifact runs code in agent processes
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.artifact_path(sha256, settings_key)
        data = bytes(module.serialize())
        meta = {
            "module_sha256": sha256,
            "settings": settings_key,
            "artifact_sha256": hashlib.sha256(data).hexdigest(),
        }
        _atomic_write(path, data)
        _atomic_write(path.with_suffix(_META_SUFFIX), json.dumps(meta).encode())
        return path

    def _reject(self, path: Path) -> None:
        self.rejected += 1
        self.misses += 1
        for victim in (path, path.with_suffix(_META_SUFFIX)):
            with contextlib.suppress(OSError):
                victim.unlink()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
