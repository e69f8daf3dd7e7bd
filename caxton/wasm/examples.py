"""Locating the example agents shipped in ``examples/agents/``.

Tests, benchmarks and other packages ask for an example by name rather than
hard-coding where the repository keeps it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXAMPLES_DIR", "example_names", "example_path"]

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples" / "agents"


def example_path(name: str) -> Path:
    """Path of an example agent, e.g. ``"counter"`` or ``"hostile/infinite_loop"``.

    The suffix is optional: ``.wat`` is tried first, then ``.wasm``.
    Raises ``FileNotFoundError`` naming the examples that exist.
    """
    candidates = (
        [EXAMPLES_DIR / name]
        if Path(name).suffix
        else [
            EXAMPLES_DIR / f"{name}.wat",
            EXAMPLES_DIR / f"{name}.wasm",
        ]
    )
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no example agent {name!r} in {EXAMPLES_DIR} (available: {', '.join(example_names())})"
    )


def example_names() -> list[str]:
    """Every example, as accepted by ``example_path`` (``hostile/...`` included)."""
    if not EXAMPLES_DIR.is_dir():
        return []
    names = []
    for path in sorted(EXAMPLES_DIR.rglob("*")):
        if path.suffix in (".wat", ".wasm") and path.is_file():
            names.append(path.relative_to(EXAMPLES_DIR).with_suffix("").as_posix())
    return names
