"""Every operation of the protocol, fuzzed: well-formed and mutated arguments of every
type, sent to a real node over ZeroMQ.

Each example must be answered (a reply or a typed error, addressed to its request),
and after each the node answers a ping promptly, stays small, and the keeper agent
spawned before the fuzzing still has its state.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caxton.protocol import OPERATIONS
from tests.fuzz.conftest import FUZZ
from tests.fuzz.strategies import requests
from tests.fuzz.target import FuzzTarget

#: operations after which the echo agent may need bringing back
CHANGES_AGENTS = frozenset({"spawn", "stop", "remove", "restart"})


@pytest.mark.timeout(600)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@FUZZ
@given(data=st.data())
def test_every_request_is_answered_and_harms_nothing(target: FuzzTarget, operation: str,
                                                    data: st.DataObject) -> None:
    frame, request_id, _arguments = data.draw(requests(operation), label="request")
    kind, body = target.exchange(frame, request_id=request_id)[1:]
    if kind == "ok" and isinstance(body, dict) and isinstance(body.get("name"), str):
        target.forget(body["name"])  # a spawn that succeeded: its process would add up
    if operation in CHANGES_AGENTS:
        target.ensure_echo()
    target.check_healthy()
