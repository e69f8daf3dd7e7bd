"""Figure 8: what fsyncing every commit costs (``--durability machine``).

Two nodes run side by side, one with the default durability (``process``: a
commit survives the node's process dying) and one with ``machine`` (every
commit is fsynced, so it survives a power cut too). Each gets one echo agent;
the workload alternates between them repetition by repetition: sequential
100-byte calls (every call is one commit, since its reply waits for it) and a
pipelined ``send_many`` with 256 in flight (commits are grouped by the loop
turn). The baseline of each row is the default node in the same run.
"""

from __future__ import annotations

from caxton.bench import sidebyside
from caxton.bench.context import Context, Results

# fsyncs are slow: fewer calls than figure 3, enough for a stable median
CALL_SHARE = 5


def run(ctx: Context) -> Results:
    sides = sidebyside.measure(ctx, "durability",
                               {"process": (), "machine": ("--durability", "machine")},
                               calls=max(200, ctx.plan.calls // CALL_SHARE))
    synced, default = sides["machine"], sides["process"]
    return {
        "dura.call.machine": sidebyside.call_row(synced, default),
        "dura.pipe.machine": sidebyside.pipe_row(synced, default),
    }
