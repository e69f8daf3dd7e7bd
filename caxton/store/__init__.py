"""The store seam: everything a node must not forget, behind one interface.

``base`` states the interface and its promises; ``sqlite`` is the embedded
default (one file in the data folder); ``postgres`` keeps the same tables in a
PostgreSQL server, which several nodes can share. ``open_store`` picks one, so
a newcomer's node never imports the PostgreSQL driver.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from caxton.store.base import DURABILITIES, Store, StoredMessage, StoredSnapshot, StoreError

__all__ = ["DURABILITIES", "Store", "StoreError", "StoredMessage", "StoredSnapshot",
           "is_url", "open_store"]

_URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(where: str | Path) -> bool:
    """Whether ``where`` names a PostgreSQL server rather than an SQLite file."""
    return isinstance(where, str) and where.startswith(_URL_SCHEMES)


def open_store(where: str | Path, durability: str = "process") -> Store:
    """Open the store at ``where``: a ``postgresql://`` URL, or else an SQLite file's path.

    Raises ``StoreError`` with a one-line reason when it cannot be opened.
    """
    if durability not in DURABILITIES:
        raise StoreError(f"durability must be one of {', '.join(DURABILITIES)}")
    if is_url(where):
        try:
            from caxton.store.postgres import open_postgres
        except ImportError:
            raise StoreError("the PostgreSQL store needs psycopg: "
                             "pip install 'caxton[postgres]'") from None

        return open_postgres(str(where), durability=durability)
    from caxton.store.sqlite import SQLiteStore

    path = Path(where)
    try:
        return SQLiteStore(path, durability=durability)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open the store {path}: {exc}") from None
