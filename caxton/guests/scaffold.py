"""``caxton new``: a ready-to-build agent project from the templates shipped in the package.

The templates (``caxton/templates/<language>/``) are package data, so a
project can be created from an installed Caxton as well as from a checkout.
``{{name}}`` and ``{{rust_sdk}}`` in them are replaced with the project's
name and the path of the SDK crate shipped with this Caxton.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from caxton.guests.build import LANGUAGES, SDK_DIR, ProjectError

__all__ = ["TEMPLATES_DIR", "new_project"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def new_project(name: str, language: str, parent: str | os.PathLike[str] = ".",
                *, directory: str | os.PathLike[str] | None = None) -> Path:
    """Create ``parent/name`` (or ``directory``) from the template; return its path.

    Refuses (``ProjectError``) a bad name, an unknown language or a directory
    that exists and is not empty, so nothing of the user's is overwritten.
    """
    if not _NAME.match(name):
        raise ProjectError(f"bad agent name {name!r}: use lower-case letters, digits, '-' or '_',"
                           " starting with a letter")
    if language not in LANGUAGES:
        raise ProjectError(f"unknown language {language!r} (choose from {', '.join(LANGUAGES)})")
    root = Path(directory) if directory is not None else Path(parent) / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ProjectError(f"{root} already exists and is not an empty directory")
    template = TEMPLATES_DIR / language
    if not template.is_dir():
        raise ProjectError(f"the {language} template is missing from this installation "
                           f"({template})")
    replacements = {
        "{{name}}": name,
        "{{rust_sdk}}": str(SDK_DIR / "rust" / "caxton-agent"),
    }
    for source in sorted(template.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(template)
        destination = root / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        for key, value in replacements.items():
            text = text.replace(key, value)
        destination.write_text(text, encoding="utf-8")
    return root
