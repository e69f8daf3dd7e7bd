"""The membership table's connection across a PostgreSQL restart: the first request
after the server is back is served, not refused for a connection the restart ended."""

from __future__ import annotations

from caxton.cluster.membership import Membership
from caxton.store.postgres import open_postgres
from caxton.store.throwaway import ThrowawayPostgres
from tests.pg import NEEDS_POSTGRES

pytestmark = NEEDS_POSTGRES


def test_reads_after_a_server_restart_use_a_fresh_connection(
        postgres_server: ThrowawayPostgres) -> None:
    url = postgres_server.new_database()
    open_postgres(url).close()  # the store's tables, which the cluster's build on
    membership = Membership(url, "n1", "tcp://127.0.0.1:1", lease_seconds=3.0)
    try:
        membership.join()
        assert membership.claim("led") is None
        assert [m.name for m in membership.members()] == ["n1"]
        postgres_server.stop("fast")  # the connection, idle, is ended by the server
        postgres_server.start()
        owner = membership.owner("led")  # its first statement finds the connection dead
        assert owner is not None and owner.name == "n1"
        assert [m.name for m in membership.members()] == ["n1"]
        assert membership.count_here() == 1
    finally:
        membership.close()
