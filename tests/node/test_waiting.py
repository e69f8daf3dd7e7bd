"""How a client waits for a reply: a bounded spin that backs off, one spinner a process."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import zmq

import caxton
from caxton import waiting
from caxton.waiting import MISSES_BEFORE_BACKING_OFF, RETRY_EVERY, ReplyWait
from caxton.wasm import example_path
from tests.conftest import NodeProcess
from tests.helpers import wait_until


@pytest.fixture
def pair() -> Iterator[tuple[zmq.Socket[bytes], zmq.Socket[bytes]]]:
    """A sender and a receiver over a real ZeroMQ socket pair."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    receiver = context.socket(zmq.PAIR)
    sender = context.socket(zmq.PAIR)
    receiver.bind("inproc://waiting")
    sender.connect("inproc://waiting")
    yield sender, receiver
    sender.close(0)
    receiver.close(0)
    context.term()


def deliver(sender: zmq.Socket[bytes], receiver: zmq.Socket[bytes]) -> None:
    sender.send(b"reply")
    assert receiver.poll(5000), "the frame never reached the receiver"


def test_a_frame_already_there_is_seen_without_sleeping(pair):
    sender, receiver = pair
    deliver(sender, receiver)
    assert ReplyWait(0.5).before_recv(receiver) is True
    assert receiver.recv() == b"reply"


def test_a_frame_that_comes_while_spinning_ends_the_spin(pair):
    sender, receiver = pair
    wait = ReplyWait(30.0)  # the spin can only end by the frame's arrival
    threading.Timer(0.05, sender.send, args=(b"late",)).start()
    assert wait.before_recv(receiver) is True
    assert receiver.recv(zmq.NOBLOCK) == b"late"


def test_replies_that_keep_outlasting_the_spin_stop_it_until_a_probe_finds_them_quick(pair):
    sender, receiver = pair
    wait = ReplyWait(0.001)
    for _ in range(MISSES_BEFORE_BACKING_OFF):
        assert wait.spinning
        assert wait.before_recv(receiver) is False  # nothing comes: a miss
    assert not wait.spinning
    deliver(sender, receiver)
    # backed off: it does not even look, although a frame is waiting ...
    for _ in range(RETRY_EVERY - 1):
        assert wait.before_recv(receiver) is False
    # ... until the probe, which finds the frame and resumes spinning
    assert wait.before_recv(receiver) is True
    assert wait.spinning


def test_zero_spin_never_looks(pair):
    sender, receiver = pair
    deliver(sender, receiver)
    wait = ReplyWait(0)
    assert not wait.spinning
    assert wait.before_recv(receiver) is False


def test_one_thread_spins_at_a_time(pair):
    sender, receiver = pair
    context = zmq.Context.instance()
    other_receiver = context.socket(zmq.PAIR)
    other_sender = context.socket(zmq.PAIR)
    other_receiver.bind("inproc://waiting-other")
    other_sender.connect("inproc://waiting-other")
    try:
        result: list[bool] = []
        spinner = threading.Thread(target=lambda: result.append(
            ReplyWait(30.0).before_recv(other_receiver)))
        spinner.start()
        wait_until(waiting._spinner.locked, what="the first thread to spin")
        deliver(sender, receiver)
        # a second waiter, even with its reply there, does not spin beside it
        assert ReplyWait(30.0).before_recv(receiver) is False
        other_sender.send(b"release")
        spinner.join(10)
        assert result == [True]
    finally:
        other_sender.close(0)
        other_receiver.close(0)


def test_a_negative_spin_is_refused():
    with pytest.raises(ValueError, match="spin"):
        ReplyWait(-1)
    with pytest.raises(caxton.InvalidRequest, match="spin"):
        caxton.connect(spin=-0.5)


@pytest.mark.parametrize("spin", [0, 0.0003, 0.05])
def test_calls_are_answered_whatever_the_wait(node: NodeProcess, spin: float):
    with caxton.connect(node.address, timeout=10, spin=spin) as client:
        client.spawn("echo", example_path("echo"))
        for i in range(50):
            assert client.call("echo", b"%d" % i) == b"%d" % i
        assert client.call_many("echo", [b"x"] * 20) == [b"x"] * 20


def test_a_forked_child_can_spin_although_a_parent_thread_held_the_lock():
    with waiting._spinner:  # held by "another thread" at the moment of the fork
        pid = os.fork()
        if pid == 0:  # the child only looks at its copy of the lock
            os._exit(0 if not waiting._spinner.locked() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
