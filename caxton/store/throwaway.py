"""A throw-away PostgreSQL server: the tests' and the benchmarks' real database.

Debian's ``postgresql`` package puts ``initdb`` and ``pg_ctl`` under
``/usr/lib/postgresql/VERSION/bin``. The server is initialised into a temp
folder, listens only on a unix socket in that folder (no TCP port to collide
or leak) and runs as an unprivileged user, because postgres refuses to run as
root: the ``postgres`` system user when it exists, one created otherwise.
``stop`` and ``start`` are a real server restart, which is how the tests put
a store through a server outage.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from caxton.launch import free_loopback_port

SERVER_USER = "postgres"


def pg_bin() -> Path | None:
    """The newest installed server's bin folder, or None when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    return Path(found[-1]).parent if found else None


MISSING = ("PostgreSQL is not installed (Debian's postgresql package: initdb and pg_ctl"
           " under /usr/lib/postgresql/*/bin); .ci/run installs it")


class ThrowawayPostgres:
    """One server in its own temp folder; ``url(db)`` names a database on it."""

    def __init__(self) -> None:
        bin_dir = pg_bin()
        if bin_dir is None:
            raise RuntimeError(MISSING)
        self.bin = bin_dir
        self.user = self._server_user()
        self.folder = Path(tempfile.mkdtemp(prefix="caxton-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = free_loopback_port()  # names the socket file; nothing listens on TCP
        if self.user is not None:
            os.chown(self.folder, pwd.getpwnam(self.user).pw_uid, -1)
        self._run("initdb", "-D", str(self.data), "-U", "caxton", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")
        self._databases = 0

    @staticmethod
    def _server_user() -> str | None:
        if os.geteuid() != 0:
            return None  # an ordinary user runs the server as itself
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", SERVER_USER],
                           check=True, capture_output=True)
        return SERVER_USER

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([str(self.bin / tool), *args], user=self.user,
                              capture_output=True, text=True, cwd=self.folder)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {(done.stderr or done.stdout).strip()}")

    def start(self) -> None:
        options = f"-k {self.folder} -p {self.port} -c listen_addresses=''"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` aborts open transactions; ``immediate`` is a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://caxton@/{database}?host={self.folder}&port={self.port}"

    def new_database(self) -> str:
        """A fresh, empty database on the server; returns its URL."""
        import psycopg

        self._databases += 1
        name = f"caxton_{os.getpid()}_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A running server for the ``with`` block, stopped and deleted after it."""
    server = ThrowawayPostgres()
    try:
        server.start()
        yield server
    finally:
        server.close()
