"""The epoch ticker: lazy, fork-aware, parked when idle, never late to a deadline."""

from __future__ import annotations

import os
import time

import pytest

from caxton.wasm import AgentInstance, Limits, NullImports, example_path, load_module
from caxton.wasm.ticker import IDLE_AFTER_S, TICK_MS, deadline_ticks, ticker
from tests.helpers import wait_until
from tests.wasm.fresh import run_fresh

SPIN = Limits(fuel=10**15, deadline_ms=100)


def test_deadline_ticks_round_up_and_cover_the_partial_tick() -> None:
    assert TICK_MS == 2
    assert deadline_ticks(1000) == 501
    assert deadline_ticks(1) == 2
    assert deadline_ticks(3) == 3


@pytest.mark.timeout(60)
def test_importing_and_compiling_start_no_thread() -> None:
    code = (
        "import threading\n"
        "import caxton.wasm as w\n"
        "w.load_module(w.example_path('counter'))\n"
        "w.validate  # attribute access only\n"
        "before = threading.active_count()\n"
        "c = w.load_module(w.example_path('counter'))\n"
        "i = w.AgentInstance(c, w.Limits(), w.NullImports())\n"
        "print(before, threading.active_count())\n"
    )
    assert run_fresh(code).stdout.split() == ["1", "2"]


@pytest.mark.timeout(60)
def test_ticker_restarts_in_a_forked_child() -> None:
    compiled = load_module(example_path("hostile/infinite_loop"))
    # start the ticker here first, as a zygote that ran an instance would
    parent_instance = AgentInstance(compiled, SPIN, NullImports())
    assert ticker.running
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: threads did not survive the fork
        try:
            os.close(read_end)
            outcome = AgentInstance(compiled, SPIN, NullImports()).handle(b"spin")
            os.write(write_end, f"{outcome.reason} {outcome.elapsed_s:.3f}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished:
                break
            time.sleep(0.01)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the child hung: no ticker after fork")
        result = os.read(read_end, 100).decode().split()
    finally:
        os.close(read_end)
    assert result[0] == "timeout"
    assert 0.1 <= float(result[1]) < 5
    parent_instance.close()


@pytest.mark.timeout(60)
def test_ticker_parks_when_idle_and_wakes_for_the_next_call() -> None:
    instance = AgentInstance(
        load_module(example_path("hostile/infinite_loop")), SPIN, NullImports()
    )
    assert ticker.running
    wait_until(lambda: ticker.idle, timeout=IDLE_AFTER_S * 20, what="the ticker to park")
    outcome = instance.handle(b"spin")
    assert outcome.reason == "timeout"
    assert 0.1 <= outcome.elapsed_s < 5
    instance.close()
