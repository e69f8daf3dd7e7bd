"""Large messages in a pipeline: the window to an agent is bounded in bytes, not only count.

An agent process's memory beside its guest is capped (its cgroup), so 512
messages of 1 MiB handed over at once used to get it OOM-killed again and
again, and well-formed messages dead-lettered.
"""

from __future__ import annotations

import pytest

import caxton
from caxton.wasm import example_path


@pytest.mark.timeout(120)
def test_forty_one_mib_messages_pipelined_are_all_handled_without_a_restart(
        client: caxton.Client) -> None:
    big = 2**20
    client.spawn("echo", example_path("echo"),
                 limits={"max_message_bytes": big + 64, "max_reply_bytes": big + 64})
    client.send_many("echo", [bytes([i]) * big for i in range(40)], window=64)
    assert client.call("echo", b"sync", timeout=60) == b"sync"
    status = client.status("echo")
    assert status.restarts == 0, status
    assert status.messages_handled == 41
    assert client.dead_letters("echo") == []
