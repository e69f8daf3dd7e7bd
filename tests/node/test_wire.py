"""The wire under hostile frames (issue 12, finding 5), against a real node process.

Every frame is answered, whatever it holds; one bad frame delays no other
reply; decoding a frame costs the node no more than the frame's size allows;
NaN, infinite and negative timeouts are refused before they reach a timer; an
error never quotes client data unbounded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import zmq

import caxton
from caxton import protocol
from caxton.wasm.examples import example_path

REPLY_SECONDS = 10.0


class RawClient:
    """A DEALER socket that sends frames as they are, and reads the replies."""

    def __init__(self, address: str) -> None:
        self.socket: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(address)

    def send(self, *frames: bytes) -> None:
        self.socket.send_multipart(frames)

    def replies(self, count: int, timeout: float = REPLY_SECONDS) -> list[list[Any]]:
        """The next ``count`` replies (events skipped); fails the test if they do not come."""
        deadline = time.monotonic() + timeout
        got: list[list[Any]] = []
        while len(got) < count:
            left = deadline - time.monotonic()
            assert left > 0 and self.socket.poll(int(left * 1000)), \
                f"only {len(got)} of {count} replies within {timeout}s: {got}"
            reply = msgpack.unpackb(self.socket.recv(), raw=False, strict_map_key=False)
            if reply[1] != "event":
                got.append(reply)
        return got

    def request(self, request_id: int, operation: str, arguments: dict[str, Any]) -> list[Any]:
        self.send(msgpack.packb([1, request_id, operation, arguments], use_bin_type=True))
        (reply,) = self.replies(1)
        assert reply[0] == request_id, reply
        return reply

    def close(self) -> None:
        self.socket.close(0)


@pytest.fixture
def raw(node) -> Iterator[RawClient]:
    sock = RawClient(node.address)
    yield sock
    sock.close()


def nested(depth: int, leaf: bytes = b"\xc0") -> bytes:
    """msgpack bytes of a one-element array nested ``depth`` deep."""
    return b"\x91" * depth + leaf


def request_bytes(version: bytes, request_id: int, operation: bytes, arguments: bytes) -> bytes:
    return b"\x94" + version + msgpack.packb(request_id) + operation + arguments


def memory_mb(pid: int) -> dict[str, int]:
    """The process's resident set now (VmRSS) and at its peak (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {key: int(fields[key].split()[0]) // 1024 for key in ("VmRSS", "VmHWM")}


# -- every frame answered, none delaying another -----------------------------------------

def test_frames_nested_1000_deep_are_answered_and_delay_no_other_reply(node, raw, client):
    ping = msgpack.packb([1, 1, "ping", {}])
    deep_op = request_bytes(b"\x01", 2, nested(1000), b"\x80")
    deep_version = request_bytes(nested(1000), 3, b"\xa4ping", b"\x80")
    deep_name = request_bytes(b"\x01", 4, b"\xa6status", b"\x81\xa4name" + nested(1000))
    deeper = request_bytes(nested(5000), 5, b"\xa4ping", b"\x80")  # past msgpack's own bound
    # one burst, so the good frames share a loop turn with the bad ones
    last = msgpack.packb([1, 6, "ping", {}])
    for frame in (ping, deep_op, deep_version, deep_name, deeper, last):
        raw.send(frame)
    replies = {reply[0]: reply for reply in raw.replies(6)}
    assert set(replies) == {1, 2, 3, 4, 5, 6}, replies
    assert replies[1][1] == replies[6][1] == "ok"
    for request_id in (2, 3, 4, 5):
        kind, error = replies[request_id][1:]
        assert kind == "error" and error["type"] in ("InvalidRequest", "NoSuchAgent"), error
        assert len(error["message"]) < 200, error
    assert "[[[[...]]]]" in replies[2][2]["message"]
    assert client.ping()["node"] == "n1"


@pytest.mark.parametrize("frame", [
    b"",
    b"\xc1",
    b"\x94\x01",                                      # truncated
    b"\x94\x01\x07\xa4ping\x80trailing",              # extra data
    b"\x94\x01\x07\xd4\x01\x01\x80",                  # an extension type as the operation
    b"\x94\x01\x07\xa4ping\x91\x80",                  # arguments not a map
    b"\x94\x01\x07\xa4ping\x81\x91\x01\x01",          # a map key msgpack cannot hash
    b"\x94\x01\x07\xa4ping\x81\xa1x\xa2\xff\xfe",     # a string that is not UTF-8
    b"\x94\x01\xc3\xa4ping\x80",                      # request id true
    b"\x95\x01\x07\xa4ping\x80\x80",
    b"\xdd\xff\xff\xff\xff",                          # an array header announcing 4G elements
    b"\xc6\xff\xff\xff\xff",                          # a binary announcing 4 GB
])
def test_malformed_frames_each_get_an_error(raw, frame):
    raw.send(frame)
    (reply,) = raw.replies(1)
    assert reply[1] == "error" and reply[2]["type"] == "InvalidRequest", reply
    assert reply[0] in (None, 7), reply


def test_the_error_reaches_the_request_whose_id_could_be_read(raw):
    for frame in (request_bytes(b"\x02", 41, b"\xa4ping", b"\x80"),
                  request_bytes(b"\x01", 42, b"\xa4ping", b"\x80trailing"),
                  request_bytes(nested(3000), 43, b"\xa4ping", b"\x80")):
        raw.send(frame)
    assert [reply[0] for reply in raw.replies(3)] == [41, 42, 43]


# -- decoding bounded by the frame's size ------------------------------------------------

def hostile_frames() -> Iterator[tuple[str, bytes]]:
    count = 10_000_000
    yield "10M empty arrays", b"\xdd" + count.to_bytes(4, "big") + b"\x90" * count
    inner = b"\xdc" + (10_000).to_bytes(2, "big") + b"\x90" * 10_000
    yield ("1,000 arrays of 10k empty arrays in a ping's arguments",
           request_bytes(b"\x01", 7, b"\xa4ping", b"\x81\xa1x\xdc" + (1000).to_bytes(2, "big")
                         + inner * 1000))
    strings = b"\xdc" + (60_000).to_bytes(2, "big") + b"\xa2ab" * 60_000
    yield ("150 arrays of 60k two-letter strings",
           request_bytes(b"\x01", 7, b"\xa4ping", b"\x81\xa1x\xdc" + (150).to_bytes(2, "big")
                         + strings * 150))


@pytest.mark.parametrize("label", [label for label, _ in hostile_frames()])
def test_a_hostile_10mb_frame_costs_little_memory_and_stalls_nobody(node, raw, label):
    frame = dict(hostile_frames())[label]
    assert len(frame) >= 10_000_000
    pid = node.process.pid
    with caxton.connect(node.address, timeout=30, local=False) as other:
        other.ping()
        before = memory_mb(pid)
        raw.send(frame)
        worst = 0.0
        sent = time.monotonic()
        while not raw.socket.poll(0):
            assert time.monotonic() - sent < 30, "the hostile frame was never answered"
            start = time.monotonic()
            other.ping()
            worst = max(worst, time.monotonic() - start)
        (reply,) = raw.replies(1)
        after = memory_mb(pid)
    assert reply[1] == "error" and reply[2]["type"] == "InvalidRequest", reply
    # before the bounds: 1.4 GB at the peak and another client's ping waited 7.9 s
    assert after["VmHWM"] - before["VmHWM"] < 150, (before, after)
    assert worst < 1.0, f"another client's ping waited {worst:.2f}s"


def test_large_well_formed_frames_still_pass(client, raw):
    client.spawn("echo", example_path("echo"))
    payload = bytes(range(256)) * 1024  # 256 KiB: over the size that is walked first
    assert client.call("echo", payload) == payload
    ids = client.send_many("echo", [b"p" * 2000] * 640, batch=64)
    assert len(ids) == 640
    reply = raw.request(5, "send", {"name": "echo", "payload": payload, "x": _nested_value(40)})
    assert reply[1] == "error" and "at most 32 containers deep" in reply[2]["message"], reply
    reply = raw.request(6, "send", {"name": "echo", "payload": payload, "x": "s" * 2**21})
    assert reply[1] == "error" and "max_str_len" in reply[2]["message"], reply


def _nested_value(depth: int) -> Any:
    value: Any = None
    for _ in range(depth):
        value = [value]
    return value


# -- timeouts ---------------------------------------------------------------------------

BAD_TIMEOUTS = [math.nan, math.inf, -math.inf, -1, 0, 1e300, 2**64 - 1, 86_401, "5", True, None,
                [1]]


def test_stop_with_a_bad_timeout_is_refused_and_drops_nothing(client, raw):
    client.spawn("counter", example_path("counter"))
    client.send_many("counter", [b"inc"] * 3000)
    for request_id, timeout in enumerate(BAD_TIMEOUTS, start=100):
        kind, error = raw.request(request_id, "stop", {"name": "counter", "timeout": timeout})[1:]
        assert kind == "error", f"stop(timeout={timeout!r}) was accepted: {error}"
        assert error["type"] == "InvalidRequest" and error["data"]["field"] == "timeout", error
    assert client.status("counter").state == "running"
    client.send_many("counter", [b"inc"] * 2000)
    assert client.stop("counter", timeout=30).state == "stopped"
    client.restart("counter")
    assert client.call("counter", b"get") == b"5000"


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1.0, 0, 1e300])
def test_the_client_refuses_a_bad_timeout_before_sending(client, timeout):
    client.spawn("echo", example_path("echo"))
    with pytest.raises(caxton.InvalidRequest, match="timeout"):
        client.stop("echo", timeout=timeout)
    with pytest.raises(caxton.InvalidRequest, match="timeout"):
        client.call("echo", b"x", timeout=timeout)
    with pytest.raises(caxton.InvalidRequest, match="timeout"):
        client.call_many("echo", [b"x"], timeout=timeout)
    with pytest.raises(caxton.InvalidRequest, match="timeout"):
        client.snapshot("echo", timeout=timeout)
    with pytest.raises(caxton.InvalidRequest, match="timeout"):
        client.monitor("echo", timeout=timeout)
    with pytest.raises(caxton.InvalidRequest, match="timeout"):
        caxton.connect(client.address, timeout=timeout)
    assert client.status("echo").state == "running"


# -- errors quote client data bounded ----------------------------------------------------

def test_errors_quote_client_data_bounded(client, raw):
    client.spawn("echo", example_path("echo"))
    huge = "n" * 1_000_000
    cases = [
        ("status", {"name": huge}),
        ("spawn", {"name": huge, "module": b"(module)"}),
        ("spawn", {"name": "ok", "module": example_path("echo").read_bytes(),
                   "limits": {"k" * 50_000: 1}}),
        ("spawn", {"name": "ok", "module": example_path("echo").read_bytes(),
                   "policy": {"kind": "backoff", "k" * 50_000: 1}}),
        ("stop", {"name": "echo", "timeout": "t" * 50_000}),
        ("call", {"name": [[["deep"]]] * 10_000, "payload": b""}),
    ]
    for request_id, (operation, arguments) in enumerate(cases, start=1):
        reply = raw.request(request_id, operation, arguments)
        assert reply[1] == "error", reply
        assert len(msgpack.packb(reply)) < 2000, (operation, len(msgpack.packb(reply)))
    reply = raw.request(9, "x" * 60_000, {})
    assert reply[2]["type"] == "InvalidRequest" and len(reply[2]["message"]) < 200


def test_quote_is_bounded_whatever_the_value():
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    for value in ("s" * 10**7, b"b" * 10**7, deep, {b"k" * 10**6: [1] * 10**6}, 2**4000):
        assert len(protocol.quote(value)) <= protocol.QUOTE_CHARS
