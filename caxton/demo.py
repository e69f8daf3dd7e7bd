"""``python -m caxton.demo``: a local node with the example agents, shown working.

Starts a node on the default address and data folder (``./caxton-data``),
spawns the example agents, sends them messages, SIGKILLs one and shows it come
back with its state, then leaves the node running until Ctrl-C or SIGTERM
(either drains every agent and stops the node cleanly). Run it twice: the
second time the node brings the agents back from its data folder. With another
node already answering on the address, it stops at once and says so: it never
runs its tour (which SIGKILLs an agent) against a node it did not start.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import msgpack

import caxton
from caxton import protocol
from caxton.launch import ForeignNode, NodeDidNotStart, start_node, stop_node
from caxton.wasm.examples import example_path


def _say(text: str) -> None:
    print(f"  {text}", flush=True)


def tour(client: caxton.Client) -> None:
    existing = {s.name for s in client.list_agents()}
    for name in ("echo", "counter", "kv"):
        if name in existing:
            _say(f"{name}: brought back from the data folder "
                 f"({client.status(name).state})")
        else:
            status = client.spawn(name, example_path(name), snapshot_every=10)
            _say(f"{name}: spawned, pid {status.pid}, module {status.module_sha256[:12]}")
    _say(f"echo replied {client.call('echo', b'hello, caxton')!r}")
    for _ in range(25):
        client.send("counter", b"inc")
    before = int(client.call("counter", b"get"))
    _say(f"counter stands at {before}")
    client.call("kv", msgpack.packb(["put", "greeting", "hello"]))
    value = msgpack.unpackb(client.call("kv", msgpack.packb(["get", "greeting"])))
    _say(f"kv get greeting -> {value!r}")

    pid = client.status("counter").pid
    assert pid is not None
    events = client.monitor("counter", timeout=10)
    os.kill(pid, signal.SIGKILL)
    down = next(events)
    _say(f"counter pid {pid} SIGKILLed: DOWN reason={down.reason!r}, restarting={down.restarting}")
    started = time.monotonic()
    while client.status("counter").pid in (None, pid):
        time.sleep(0.005)
    after = int(client.call("counter", b"get"))
    _say(f"counter back as pid {client.status('counter').pid} in "
         f"{(time.monotonic() - started) * 1000:.0f} ms, count {after} (was {before})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m caxton.demo", description=__doc__)
    parser.add_argument("--data-dir", default="caxton-data")
    parser.add_argument("--listen", default=protocol.DEFAULT_ADDRESS)
    parser.add_argument("--http", default="127.0.0.1:7780",
                        help="the node's dashboard and /metrics (default: 127.0.0.1:7780;"
                             " none: off)")
    parser.add_argument("--exit", action="store_true", help="stop the node after the tour")
    args = parser.parse_args(argv)
    print(f"Starting a node on {args.listen} with data in {args.data_dir}/", flush=True)
    try:
        node = start_node(args.listen, args.data_dir, extra=["--http", args.http])
    except ForeignNode as exc:
        print(f"caxton demo: {exc}; the demo only tours a node it started itself",
              file=sys.stderr)
        return 1
    except NodeDidNotStart as exc:
        print(f"caxton demo: {exc}", file=sys.stderr)
        return 1
    # SIGTERM (`kill PID`) stops the demo like Ctrl-C: its node is drained and
    # stopped, never left running without it
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with caxton.connect(args.listen, timeout=30) as client:
            tour(client)
            print("\nAgents now:", flush=True)
            from caxton.cli.output import status_table

            print(status_table(client.list_agents()), flush=True)
        if not args.exit:
            print(_next_steps(args.listen, args.http), flush=True)
            node.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop_node(node, timeout=60)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _caxton_command() -> str:
    """How to run ``caxton`` from here: the venv's script when it is not on PATH."""
    script = Path(sys.executable).parent / "caxton"
    found = shutil.which("caxton")
    if found and Path(found).resolve() == script.resolve():
        return "caxton"
    if not script.exists():
        return "caxton"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)


def _next_steps(listen: str, http: str) -> str:
    caxton_cmd = _caxton_command()
    node = "" if listen == protocol.DEFAULT_ADDRESS else f" --node {listen}"
    lines = [f"\nThe node keeps running at {listen}. In another terminal, try:",
             f"  {caxton_cmd}{node} agents list",
             f"  {caxton_cmd}{node} call echo hi",
             f"  {caxton_cmd}{node} top"]
    if http.strip().lower() not in ("none", "off", ""):
        lines.append(f"Dashboard: http://{http}/   metrics: http://{http}/metrics")
    if caxton_cmd != "caxton":
        activate = Path(sys.executable).parent / "activate"
        lines.append(f"(or `source {activate}` first, then plain `caxton ...`)")
    lines.append("Ctrl-C stops it.")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
