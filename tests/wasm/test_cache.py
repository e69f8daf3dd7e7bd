"""The compiled-artifact cache: hits, misses, and entries never trusted blindly."""

from __future__ import annotations

import json
from pathlib import Path

from caxton.wasm import (
    AgentInstance,
    Limits,
    ModuleCache,
    NullImports,
    SecurityPolicy,
    example_path,
    load_module,
)
from caxton.wasm.engine import engine_settings_key


def _artifacts(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.cwasm"))


def _works(compiled) -> None:  # type: ignore[no-untyped-def]
    with AgentInstance(compiled, Limits(), NullImports()) as instance:
        assert instance.handle(b"x").reply == b"1"


def test_miss_then_hit(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path / "cache")
    first = load_module(example_path("counter"), cache=cache)
    assert not first.from_cache
    assert (cache.hits, cache.misses) == (0, 1)
    assert len(_artifacts(tmp_path / "cache")) == 1
    second = load_module(example_path("counter"), cache=cache)
    assert second.from_cache
    assert (cache.hits, cache.misses) == (1, 1)
    assert second.sha256 == first.sha256
    _works(second)


def test_another_process_cache_object_reads_the_same_directory(tmp_path: Path) -> None:
    load_module(example_path("counter"), cache=ModuleCache(tmp_path))
    reader = ModuleCache(tmp_path)
    compiled = load_module(example_path("counter"), cache=reader)
    assert compiled.from_cache and reader.hits == 1


def test_key_includes_engine_settings(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    load_module(example_path("counter"), cache=cache)
    relaxed = load_module(
        example_path("counter"), cache=cache, policy=SecurityPolicy.preset("relaxed")
    )
    assert not relaxed.from_cache
    assert len(_artifacts(tmp_path)) == 2
    assert engine_settings_key(("simd",)) != engine_settings_key(())
    assert "wasmtime-" in engine_settings_key(())


def test_corrupt_artifact_is_rejected_and_rebuilt(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    load_module(example_path("counter"), cache=cache)
    (artifact,) = _artifacts(tmp_path)
    data = bytearray(artifact.read_bytes())
    for i in range(64, len(data), 97):
        data[i] ^= 0xFF
    artifact.write_bytes(bytes(data))
    compiled = load_module(example_path("counter"), cache=cache)
    assert not compiled.from_cache
    assert cache.rejected == 1
    _works(compiled)
    # the rebuilt entry is good again
    assert load_module(example_path("counter"), cache=cache).from_cache


def test_truncated_artifact_is_rejected(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    load_module(example_path("counter"), cache=cache)
    (artifact,) = _artifacts(tmp_path)
    artifact.write_bytes(artifact.read_bytes()[:100])
    assert not load_module(example_path("counter"), cache=cache).from_cache
    assert cache.rejected == 1


def test_foreign_artifact_with_a_matching_checksum_is_still_rejected(tmp_path: Path) -> None:
    # An artifact compiled by another engine configuration, dressed up with a
    # correct checksum under this module's key: wasmtime refuses it, and the
    # cache falls back to compiling.
    cache = ModuleCache(tmp_path)
    counter = load_module(example_path("counter"), cache=cache)
    other = load_module(example_path("echo"), policy=SecurityPolicy.preset("relaxed"))
    path = cache.artifact_path(counter.sha256, counter.settings_key)
    path.write_bytes(bytes(other.module.serialize()))
    meta_path = path.with_suffix(".meta.json")
    meta = json.loads(meta_path.read_text())
    import hashlib

    meta["artifact_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    meta_path.write_text(json.dumps(meta))
    compiled = load_module(example_path("counter"), cache=cache)
    assert not compiled.from_cache
    assert cache.rejected == 1
    _works(compiled)


def test_missing_checksum_is_a_miss(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    load_module(example_path("counter"), cache=cache)
    for meta in tmp_path.glob("*.meta.json"):
        meta.unlink()
    assert not load_module(example_path("counter"), cache=cache).from_cache
    assert load_module(example_path("counter"), cache=cache).from_cache


def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    for name in ("echo", "counter", "kv"):
        load_module(example_path(name), cache=cache)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert len(_artifacts(tmp_path)) == 3


def test_unwritable_cache_directory_only_costs_the_optimisation(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = ModuleCache(blocker / "cache")
    compiled = load_module(example_path("counter"), cache=cache)
    _works(compiled)
