"""Figure 12: journal throughput with the store in PostgreSQL, beside SQLite in the same run.

Two nodes run side by side (``caxton.bench.sidebyside``): the default one with
SQLite in its data folder, and one started with ``--store postgresql://...``
against a throw-away server this workload starts (``caxton.store.throwaway``)
and stops at the end. A pipelined ``send_many`` journals every message and
marks it handled; group commit (one transaction per loop turn) and pipeline
mode (each turn's batch in one round trip) are what keep PostgreSQL within
the documented factor of SQLite. Sequential calls show the price of one
commit round trip to the server. Without PostgreSQL installed, or without
psycopg, the rows say so.
"""

from __future__ import annotations

from caxton.bench import sidebyside
from caxton.bench.context import Context, Results
from caxton.bench.errors import BenchUnavailable
from caxton.store.throwaway import MISSING, pg_bin, throwaway_postgres

# each call waits for a commit on the server: fewer than figure 3, enough for a median
CALL_SHARE = 5


def run(ctx: Context) -> Results:
    if pg_bin() is None:
        raise BenchUnavailable(MISSING)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise BenchUnavailable("psycopg is not installed (pip install '.[postgres]')") from None
    with throwaway_postgres() as server:
        url = server.new_database()
        sides = sidebyside.measure(ctx, "store", {"sqlite": (), "postgres": ("--store", url)},
                                   calls=max(200, ctx.plan.calls // CALL_SHARE))
    postgres, sqlite = sides["postgres"], sides["sqlite"]
    return {
        "store.pipe.postgres": sidebyside.pipe_row(postgres, sqlite),
        "store.call.postgres": sidebyside.call_row(postgres, sqlite),
    }
