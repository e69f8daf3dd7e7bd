"""The runtime's loop: the embedder's sockets and timers share it."""

from __future__ import annotations

import logging
import os
import time

import pytest
import zmq

from supervisor import Runtime


def test_embedder_socket_in_the_same_poller(rt: Runtime) -> None:
    pull = rt.context.socket(zmq.PULL)
    push = rt.context.socket(zmq.PUSH)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push.connect(f"tcp://127.0.0.1:{port}")
    got: list[bytes] = []
    rt.add_reader(pull, lambda: got.append(pull.recv()))
    push.send(b"one")
    assert rt.run_until(lambda: got == [b"one"], 5)
    rt.remove_reader(pull)
    push.send(b"two")
    assert not rt.run_until(lambda: len(got) > 1, 0.1)
    pull.close(0)
    push.close(0)


def test_raw_fd_reader(rt: Runtime) -> None:
    r, wfd = os.pipe()
    got: list[bytes] = []
    rt.add_reader(r, lambda: got.append(os.read(r, 100)))
    os.write(wfd, b"x")
    assert rt.run_until(lambda: got == [b"x"], 5)
    rt.remove_reader(r)
    os.close(r)
    os.close(wfd)
    with pytest.raises(TypeError):
        rt.add_reader("nope", lambda: None)


def test_timers_order_and_cancel(rt: Runtime) -> None:
    order: list[str] = []
    rt.call_later(0.06, lambda: order.append("late"))
    rt.call_later(0.02, lambda: order.append("early"))
    cancelled = rt.call_later(0.04, lambda: order.append("cancelled"))
    cancelled.cancel()
    rt.call_soon(lambda: order.append("soon"))
    t0 = time.monotonic()
    assert rt.run_until(lambda: len(order) == 3, 5)
    assert order == ["soon", "early", "late"]
    assert time.monotonic() - t0 >= 0.055


def test_run_until_times_out_and_run_forever_stops(rt: Runtime) -> None:
    t0 = time.monotonic()
    assert rt.run_until(lambda: False, 0.1) is False
    assert 0.09 <= time.monotonic() - t0 < 2
    rt.call_later(0.05, rt.stop)
    t0 = time.monotonic()
    rt.run_forever()
    assert 0.04 <= time.monotonic() - t0 < 2


def test_failing_callback_is_logged_not_raised(rt: Runtime,
                                               caplog: pytest.LogCaptureFixture) -> None:
    ran: list[int] = []

    def bad() -> None:
        raise RuntimeError("callback failure")

    rt.call_soon(bad)
    rt.call_soon(lambda: ran.append(1))
    with caplog.at_level(logging.ERROR, logger="supervisor"):
        assert rt.run_until(lambda: bool(ran), 5)
    assert "callback failure" in caplog.text
