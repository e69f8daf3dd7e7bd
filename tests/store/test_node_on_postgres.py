"""A real node with ``--store postgresql://...``: it serves, keeps its agents and their
state across a SIGKILL, and an unusable URL stops its start in one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import caxton
from caxton.launch import PROJECT_ROOT, child_env, node_command, start_node, stop_node
from caxton.store.throwaway import ThrowawayPostgres
from caxton.wasm import example_path
from tests.helpers import free_port
from tests.pg import NEEDS_POSTGRES


@NEEDS_POSTGRES
def test_a_node_keeps_its_agents_in_postgres_across_a_sigkill(
        postgres_server: ThrowawayPostgres, tmp_path: Path) -> None:
    url = postgres_server.new_database()
    address = f"tcp://127.0.0.1:{free_port()}"
    extra = ("--store", url)
    with open(tmp_path / "node.log", "ab") as log:
        process = start_node(address, tmp_path / "data", output=log, extra=extra)
        try:
            with caxton.connect(address, timeout=10) as client:
                client.spawn("counter", example_path("counter"))
                client.send_many("counter", [b"inc"] * 300)
                assert client.call("counter", b"get") == b"300"
            process.kill()
            process.wait(10)
            # a fresh data folder: everything the node knows comes from the server
            process = start_node(address, tmp_path / "data2", output=log, extra=extra)
            with caxton.connect(address, timeout=10) as client:
                assert client.call("counter", b"get", timeout=30) == b"300"
        finally:
            stop_node(process)


def _refusal(tmp_path: Path, url: str) -> str:
    result = subprocess.run(
        node_command(f"tcp://127.0.0.1:{free_port()}", tmp_path / "data",
                     extra=("--store", url)),
        capture_output=True, text=True, timeout=60, env=child_env(), cwd=str(PROJECT_ROOT))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_an_unreachable_store_stops_the_start_in_one_line(tmp_path: Path) -> None:
    line = _refusal(tmp_path, f"postgresql://caxton:secret@127.0.0.1:{free_port()}/caxton"
                              "?connect_timeout=2")
    assert "cannot open the store" in line and "secret" not in line


def test_a_store_that_is_not_a_url_is_refused(tmp_path: Path) -> None:
    assert "--store takes a postgresql:// URL" in _refusal(tmp_path, "caxton.db")
