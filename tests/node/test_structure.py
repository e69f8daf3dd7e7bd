"""The node's seams: its frames, its operation table, and what ``import caxton`` loads."""

from __future__ import annotations

import subprocess
import sys

import msgpack
import pytest

from caxton import protocol
from caxton.node import frames
from caxton.node.handlers import OPERATIONS
from tests.helpers import ROOT

EVERY_FRAME = [
    frames.Start(b"init", None),
    frames.Start(b"", b"state"),
    frames.Deliver([(1, "", b"a", False), (2, "peer", b"b", True)]),
    frames.TakeSnapshot(),
    frames.Probe(),
    frames.Stop(),
    frames.Hello(1234, True),
    frames.Ready({"memory_bytes": 65536, "fast_path": True}),
    frames.Acks([(1, "ok", "", b"reply", [["peer", b"x"]], 120)], [65536, 120]),
    frames.Failed(7, "trap", "unreachable"),
    frames.Failed(None, "out_of_fuel", ""),
    frames.Snapshot(9, b"state"),
    frames.Snapshot(9, None),
    frames.Health(False, "disk"),
    frames.Log(2, "hello"),
]


@pytest.mark.parametrize("frame", EVERY_FRAME, ids=lambda f: type(f).__name__)
def test_every_frame_survives_the_wire_as_its_own_type(frame: frames.NodeFrame) -> None:
    raw = msgpack.unpackb(msgpack.packb(frames.encode(frame), use_bin_type=True), raw=False)
    from_node = type(frame) in (frames.Start, frames.Deliver, frames.TakeSnapshot,
                                frames.Probe, frames.Stop)
    decoded = frames.decode_from_node(raw) if from_node else frames.decode_from_agent(raw)
    assert type(decoded) is type(frame)
    # rows inside come back as lists; compare field by field in wire form
    assert frames.encode(decoded) == raw


def test_tags_are_unique_in_each_direction() -> None:
    to_agent = [frames.TAGS[t] for t in (frames.Start, frames.Deliver, frames.TakeSnapshot,
                                          frames.Probe, frames.Stop)]
    to_node = [frames.TAGS[t] for t in (frames.Hello, frames.Ready, frames.Acks, frames.Failed,
                                         frames.Snapshot, frames.Health, frames.Log)]
    assert len(set(to_agent)) == len(to_agent)
    assert len(set(to_node)) == len(to_node)


@pytest.mark.parametrize("raw, message", [
    ([], "not a tagged array"),
    ("d", "not a tagged array"),
    (["zz", 1], "unknown agent frame 'zz'"),
    ([7, 1], "unknown agent frame '7'"),
    (["a", []], "has 1 fields, expected 2"),
    (["hello", 1, True, "extra"], "has 3 fields, expected 2"),
])
def test_a_malformed_frame_is_a_frame_error_that_says_what_is_wrong(raw: object,
                                                                    message: str) -> None:
    with pytest.raises(frames.FrameError, match=message):
        frames.decode_from_agent(raw)


def test_a_frame_of_the_other_direction_is_refused() -> None:
    with pytest.raises(frames.FrameError, match="unknown node frame 'hello'"):
        frames.decode_from_node(frames.encode(frames.Hello(1, False)))


def test_every_operation_of_the_protocol_has_exactly_one_handler() -> None:
    assert set(OPERATIONS) == set(protocol.OPERATIONS)


def test_import_caxton_loads_nothing_of_the_supervision_library_or_the_node() -> None:
    code = ("import sys, caxton; "
            "print(sorted(m for m in sys.modules if m == 'supervisor' "
            "or m.startswith(('supervisor.', 'caxton.node'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


def test_an_agent_process_needs_the_frames_but_not_the_node() -> None:
    code = ("import sys, caxton.agent; "
            "print(sorted(m for m in sys.modules if m.startswith('caxton.node')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert eval(out) == ["caxton.node", "caxton.node.frames", "caxton.node.lifecycle"]
