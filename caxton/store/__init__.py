"""The store seam: everything a node must not forget, behind one interface.

``base`` states the interface and its promises; ``sqlite`` is the embedded
default (one file in the data folder); ``postgres`` keeps the same tables in a
PostgreSQL server, which several nodes can share. ``open_store`` picks one.
"""

from __future__ import annotations

from caxton.store.sqlite import Store, StoredMessage, StoredSnapshot

__all__ = ["Store", "StoredMessage", "StoredSnapshot"]
