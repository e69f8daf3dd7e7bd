"""The fault schedule is a pure function of scenario, seed, duration and agents."""

from __future__ import annotations

import itertools

import pytest

from chaos import SCENARIOS, UsageError, build_schedule
from chaos.scenarios import (
    FAULT_KINDS,
    HANG,
    KILL,
    MESSAGE_FAULTS,
    NODE_CRASH,
    PROCESS_FAULTS,
)
from chaos.schedule import HANG_RANGE_S, fault_window


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_same_seed_gives_the_same_schedule(scenario):
    first = build_schedule(scenario, 42, 60.0, ledgers=4, counters=1)
    again = build_schedule(scenario, 42, 60.0, ledgers=4, counters=1)
    assert first == again
    assert len(first) > 0


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_another_seed_gives_another_schedule(scenario):
    first = build_schedule(scenario, 1, 60.0, ledgers=4)
    other = build_schedule(scenario, 2, 60.0, ledgers=4)
    if scenario == "kill-storm":  # steady offsets: the seed moves only the targets
        assert [f.offset for f in first] == [f.offset for f in other]
    assert first != other


def test_offsets_are_sorted_and_inside_the_run():
    start, end = fault_window(30.0)
    faults = build_schedule("mixed", 5, 30.0, ledgers=3, counters=2)
    offsets = [f.offset for f in faults]
    assert offsets == sorted(offsets)
    assert all(start <= o < end for o in offsets)


def test_mixed_holds_every_kind_of_fault_even_in_a_short_run():
    faults = build_schedule("mixed", 9, 20.0, ledgers=2)
    assert {f.kind for f in faults} == set(FAULT_KINDS)


def test_kill_storm_kills_five_times_a_second_at_steady_intervals():
    faults = build_schedule("kill-storm", 3, 60.0, ledgers=4)
    assert {f.kind for f in faults} == {KILL}
    start, end = fault_window(60.0)
    assert len(faults) == int((end - start) * 5)
    gaps = {round(b.offset - a.offset, 3) for a, b in itertools.pairwise(faults)}
    assert gaps <= {0.2, 0.199, 0.201}


def test_node_crash_crashes_the_node_three_times_well_apart():
    faults = build_schedule("node-crash", 8, 60.0, ledgers=4)
    assert [f.kind for f in faults] == [NODE_CRASH] * 3
    assert all(f.target is None for f in faults)
    gaps = [b.offset - a.offset for a, b in itertools.pairwise(faults)]
    assert min(gaps) > 5.0


def test_targets_match_what_each_fault_needs():
    faults = build_schedule("mixed", 11, 600.0, ledgers=3, counters=2)
    for fault in faults:
        if fault.kind in MESSAGE_FAULTS:
            assert fault.target is not None and 0 <= fault.target < 3  # ledgers only
        elif fault.kind in PROCESS_FAULTS:
            assert fault.target is not None and 0 <= fault.target < 5
        else:
            assert fault.target is None
        if fault.kind == HANG:
            assert fault.hold_s is not None
            assert HANG_RANGE_S[0] <= fault.hold_s <= HANG_RANGE_S[1]
        else:
            assert fault.hold_s is None
    hit = {f.target for f in faults if f.kind in PROCESS_FAULTS}
    assert hit == {0, 1, 2, 3, 4}


def test_excluding_node_crashes_leaves_the_other_faults_where_they_were():
    full = build_schedule("mixed", 4, 120.0, ledgers=4)
    without = build_schedule("mixed", 4, 120.0, ledgers=4, exclude=frozenset({NODE_CRASH}))
    assert without == tuple(f for f in full if f.kind != NODE_CRASH)
    assert len(without) < len(full)


@pytest.mark.parametrize(("args", "message"), [
    (("no-such", 1, 10.0), "unknown scenario"),
    (("mixed", 1, 0.0), "duration"),
])
def test_bad_schedule_requests_are_usage_errors(args, message):
    with pytest.raises(UsageError, match=message):
        build_schedule(*args, ledgers=1)
