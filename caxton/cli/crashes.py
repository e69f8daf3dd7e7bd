"""``caxton agents crashes NAME`` and ``caxton agents replay NAME CRASH_ID``.

The first lists what the node's flight recorder kept of an agent's crashes;
the second fetches one crash whole and re-runs it here, offline, in a local
sandbox (``caxton.observe.replay``): same module, same limits, same start
state, same messages. Exit status 0 when the replay ends the same way as the
crash, 1 when it does not (the crash depended on something outside the guest).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from caxton.cli.output import emit, render_bytes
from caxton.client import Client
from caxton.errors import InvalidRequest


def add_verbs(verbs: Any) -> None:
    verbs.add_parser("crashes", help="crashes the flight recorder kept").add_argument("name")
    replay = verbs.add_parser("replay", help="re-run a recorded crash offline, here")
    replay.add_argument("name")
    replay.add_argument("crash_id", type=int, metavar="CRASH_ID")


def run(args: argparse.Namespace, client: Client) -> int:
    if args.verb == "crashes":
        crashes = client.crashes(args.name)
        lines = [f"#{c['id']}  {_when(c['time'])}  {c['kind']:<13} pid {c['pid']}  "
                 f"message {c['message_id'] if c['message_id'] is not None else '-'}  "
                 f"({c['replayed_messages']} messages after "
                 f"{'a snapshot' if c['from_snapshot'] else 'init'})  {c['reason']}"
                 for c in crashes]
        emit(crashes, args.output, "\n".join(lines) or f"(no crashes recorded for {args.name})")
        return 0
    from caxton.observe.replay import replay

    crash = client.crash(args.name, args.crash_id)
    module = crash.get("module")
    if not isinstance(module, bytes):
        raise InvalidRequest(f"the node no longer has the module of agent {args.name!r}")
    result = replay(crash, module)
    fatal = crash.get("message")
    verdict = ("✓ same outcome" if result.same else "✗ a different outcome")
    text = "\n".join([
        f"crash #{args.crash_id} of {args.name}: {result.recorded_reason}",
        f"replayed offline from {result.start}, then {result.replayed} messages",
        f"fatal message: #{fatal[0]} {render_bytes(fatal[2])!s:.80}" if fatal else
        "fatal message: none",
        f"outcome here: {result.status}"
        + (f" ({result.reason}: {result.message})" if result.reason else ""),
        f"{verdict} as recorded ({result.recorded})"
        + (f"; message #{result.diverged_at} already failed here" if result.diverged_at
           else ""),
    ])
    emit(result.to_dict(), args.output, text)
    return 0 if result.same else 1


def _when(stamp: Any) -> str:
    if not isinstance(stamp, int | float):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))
