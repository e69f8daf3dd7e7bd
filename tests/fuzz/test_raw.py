"""Raw bytes and raw msgpack, fuzzed: frames that are not requests at all, requests
broken byte by byte, and several frames in one message, sent to a real node.

Each must be answered with a typed error (or, for a mutation that still reads as a
request, whatever that request earns), and the node must stay healthy and small.
"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from caxton.protocol import encode_request
from tests.fuzz.conftest import FUZZ
from tests.fuzz.strategies import values
from tests.fuzz.target import ECHO, KEEPER, FuzzTarget

#: well-formed requests to break byte by byte (none of them changes an agent)
SEEDS = [
    encode_request(1, "ping", {}),
    encode_request(2, "status", {"name": ECHO}),
    encode_request(3, "call", {"name": ECHO, "payload": b"x" * 40}),
    encode_request(4, "list", {}),
    encode_request(5, "send_batch", {"name": "nobody", "payloads": [b"a", b"b"]}),
]


def _answered_as_error_or_request(target: FuzzTarget, *frames: bytes) -> None:
    # a frame that came out as a request naming the keeper could stop it, by design
    assume(not any(KEEPER.encode() in frame for frame in frames))
    kind, body = target.exchange(*frames)[1:]
    if kind == "error":
        assert body["type"] in ("InvalidRequest", "NoSuchAgent", "AgentNotRunning",
                                "MessageTooLarge"), body
    target.check_healthy()


@pytest.mark.timeout(600)
@FUZZ
@given(frame=st.binary(max_size=4096))
def test_any_bytes_are_answered(target: FuzzTarget, frame: bytes) -> None:
    _answered_as_error_or_request(target, frame)


@pytest.mark.timeout(600)
@FUZZ
@given(value=values)
def test_any_msgpack_value_is_answered(target: FuzzTarget, value: object) -> None:
    _answered_as_error_or_request(target, msgpack.packb(value, use_bin_type=True))


@pytest.mark.timeout(600)
@FUZZ
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_requests_broken_byte_by_byte_are_answered(target: FuzzTarget, seed: bytes,
                                                   data: st.DataObject) -> None:
    frame = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(frame)), label="at")
        how = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]), label="how")
        if how == "flip" and at < len(frame):
            frame[at] = data.draw(st.integers(0, 255), label="byte")
        elif how == "insert":
            frame[at:at] = data.draw(st.binary(min_size=1, max_size=8), label="bytes")
        elif how == "delete" and at < len(frame):
            del frame[at]
        elif how == "truncate":
            del frame[at:]
    _answered_as_error_or_request(target, bytes(frame))


@pytest.mark.timeout(600)
@FUZZ
@given(frames=st.lists(st.binary(max_size=64), min_size=2, max_size=5))
def test_several_frames_in_one_message_are_answered(target: FuzzTarget,
                                                    frames: list[bytes]) -> None:
    kind, body = target.exchange(*frames)[1:]
    assert kind == "error" and body["type"] == "InvalidRequest", body
    target.check_healthy()
