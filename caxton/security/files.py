"""The data folder belongs to the node's user alone.

What is in it is readable by whoever can open it: message payloads and
snapshots in ``caxton.db`` and its WAL, the modules agents run, and the
compiled artifacts agent processes load as machine code (whoever can write
one runs code in every agent). So the folder is 0700, every file in it
0600 and the IPC socket 0600. A folder left wider by an older version, a
copy or an umask is tightened when the node starts, and the node logs what
it changed.

Modes of new files are set where each is created (the store, the module
folder, the compile cache, the lock, the socket); the node process also
runs under umask 077 (``caxton.node.cli``) so that nothing it or its agents
create is wider.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "PROCESS_UMASK", "make_private", "private_socket"]

log = logging.getLogger("caxton.security")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
#: the umask of a node process: nothing it creates is readable by others
PROCESS_UMASK = 0o077
_OTHERS = 0o077


def make_private(data_dir: Path) -> int:
    """Create ``data_dir`` 0700 (its missing parents as usual), or tighten it and all
    it holds to the owner alone. Returns how many entries were tightened.

    Group and other bits are cleared; the owner's are kept (a file 0644
    becomes 0600, a folder 0755 becomes 0700). Symbolic links are not
    followed. ``OSError`` when the folder cannot be made private.
    """
    data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    before = stat.S_IMODE(os.stat(data_dir).st_mode)
    tightened = 0
    if before & _OTHERS:
        os.chmod(data_dir, before & ~_OTHERS)
        tightened += 1
    for root, dirs, files in os.walk(data_dir):
        for name in (*dirs, *files):
            path = os.path.join(root, name)
            try:
                mode = os.lstat(path).st_mode
                if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & _OTHERS:
                    continue
                os.chmod(path, stat.S_IMODE(mode) & ~_OTHERS)
            except OSError as exc:  # a file that vanished, or not ours: the folder still is
                log.warning("could not make %s private: %s", path, exc.strerror or exc)
                continue
            log.debug("made %s private (was %04o)", path, stat.S_IMODE(mode))
            tightened += 1
    if tightened:
        log.warning("the data folder %s was readable by others (folder mode %04o): made %d "
                    "entries private to the node's user", data_dir, before, tightened)
    return tightened


def private_socket(endpoint: str | None) -> None:
    """Narrow an IPC socket the node bound to its user (connecting needs write access)."""
    if endpoint is None or not endpoint.startswith("ipc://"):
        return
    path = endpoint[len("ipc://"):]
    try:
        os.chmod(path, PRIVATE_FILE)
    except OSError as exc:
        log.warning("could not make the socket %s private: %s", path, exc.strerror or exc)
