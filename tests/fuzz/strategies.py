"""Hypothesis strategies for the management protocol: every operation's arguments,
well-formed and mutated, and arbitrary msgpack values to put anywhere."""

from __future__ import annotations

import math
from typing import Any

import msgpack
from hypothesis import strategies as st

from caxton.protocol import PROTOCOL_VERSION
from caxton.wasm.examples import example_path
from tests.fuzz.target import ECHO, KEEPER


def mostly(good: st.SearchStrategy[Any], other: st.SearchStrategy[Any],
           percent: int = 75) -> st.SearchStrategy[Any]:
    """``good`` ``percent`` times in a hundred, ``other`` the rest: most examples get
    far enough to reach an agent, the rest probe every refusal on the way."""
    return st.integers(0, 99).flatmap(lambda n: good if n < percent else other)


# -- any msgpack value --------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.binary(max_size=64),
)
keys = st.one_of(st.text(max_size=12), st.integers(-5, 5), st.binary(max_size=4), st.none())


def nest(depth: int) -> Any:
    value: Any = None
    for _ in range(depth):
        value = [value]
    return value


#: any value msgpack can carry: containers of scalars, and nesting far past any need
values = st.one_of(
    st.recursive(scalars, lambda children: st.lists(children, max_size=6)
                 | st.dictionaries(keys, children, max_size=6), max_leaves=24),
    st.integers(1, 1_000).map(nest),
)

# -- the pieces of a request ----------------------------------------------------------------

#: payloads: small ones mostly, and sizes on either side of the walked-frame size and
#: of the default message limit (1 MiB)
payloads = mostly(
    st.binary(max_size=256),
    st.sampled_from([65_536, 70_000, 1_048_576, 1_100_000]).map(lambda n: b"p" * n),
    percent=95,  # a big one now and then: they queue up behind each other in the echo agent
)
timeouts = st.one_of(
    st.floats(min_value=0.001, max_value=5.0),
    st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0, 0.0, 1e300, 86_400, 86_401]),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
)


def names(*, may_be_keeper: bool) -> st.SearchStrategy[Any]:
    """Agent names: the live echo agent, names nobody has, and anything at all.
    The keeper is only named by operations that change nothing."""
    pool = ["nobody", "fz-a", "", "x" * 129, "Bad Name!"]
    if may_be_keeper:
        pool.append(KEEPER)
    named = mostly(st.just(ECHO), st.one_of(st.sampled_from(pool), st.text(max_size=24), values),
                   percent=60)
    return named if may_be_keeper else named.filter(lambda n: n != KEEPER)


MODULES = {
    "echo": example_path("echo").read_bytes(),
    "counter": example_path("counter").read_bytes(),
    "forbidden_import": example_path("hostile/forbidden_import").read_bytes(),
    "invalid": example_path("hostile/invalid").read_bytes(),
}
modules = mostly(st.sampled_from([MODULES["echo"], MODULES["counter"]]),
                 st.one_of(st.sampled_from([MODULES["forbidden_import"], MODULES["invalid"]]),
                           st.binary(max_size=64), st.just(b"(module)"), values))
limit_values = st.one_of(
    st.integers(min_value=-5, max_value=2**64 - 1),
    st.sampled_from([1, 65_536, 16 * 2**20, 10**13, 10**13 + 1, 2**62, 2**63 - 1]),
    values,
)
limits = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["memory_bytes", "table_elements", "fuel", "deadline_ms",
                                     "max_message_bytes", "max_reply_bytes", "cpu"]),
                    limit_values, max_size=4),
    values,
)
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(min_value=-(2**63), max_value=2**64 - 1))
policies = st.one_of(
    st.sampled_from(["immediate", "backoff", "manual", "never", "sometimes"]),
    st.fixed_dictionaries({"kind": st.sampled_from(["backoff", "immediate", "bogus"])},
                          optional={"initial": numbers, "factor": numbers, "maximum": numbers,
                                    "jitter": numbers, "extra": values}),
    values,
)
healths = st.one_of(
    st.sampled_from(["off", None, False]),
    st.fixed_dictionaries({}, optional={"interval": numbers, "timeout": numbers,
                                        "misses": numbers, "extra": values}),
    values,
)
snapshot_everys = st.one_of(
    st.integers(min_value=-5, max_value=2**64 - 1),
    st.fixed_dictionaries({}, optional={"messages": numbers, "seconds": numbers}),
    values,
)
intensities = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"intensity": numbers, "period": numbers}),
    values,
)
vectors = st.one_of(
    st.lists(st.fixed_dictionaries({"input": st.one_of(st.binary(max_size=16), values)},
                                   optional={"expect_reply": st.one_of(st.binary(max_size=16),
                                                                       values),
                                             "expect_outcome": st.one_of(
                                                 st.sampled_from(["ok", "trap"]), values),
                                             "name": values}),
             max_size=3),
    values,
)


def _spawn_arguments() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"name": mostly(st.just("fz-new"), names(may_be_keeper=True)), "module": modules},
        optional={"init": st.one_of(st.binary(max_size=8), values), "policy": policies,
                  "limits": limits, "restart": st.one_of(
                      st.sampled_from(["permanent", "transient", "temporary", "x"]), values),
                  "health": healths, "snapshot_every": snapshot_everys,
                  "security": st.one_of(st.sampled_from(["strict", "default", "relaxed", "x"]),
                                        values),
                  "mailbox": limit_values, "max_attempts": limit_values,
                  "intensity": intensities, "vectors": vectors},
    )


def well_formed(operation: str) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments shaped as the operation expects, with values from the whole range."""
    keeper_ok = operation in ("status", "monitor", "dead_letters", "snapshot", "ping", "list")
    name = names(may_be_keeper=keeper_ok)
    shapes: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "ping": st.just({}),
        "list": st.just({}),
        "status": st.fixed_dictionaries({"name": name}),
        "monitor": st.fixed_dictionaries({"name": name}),
        "dead_letters": st.fixed_dictionaries({"name": name}),
        "snapshot": st.fixed_dictionaries({"name": name}),
        "remove": st.fixed_dictionaries({"name": name}),
        "restart": st.fixed_dictionaries({"name": name}),
        "call": st.fixed_dictionaries({"name": name, "payload": payloads}),
        "send": st.fixed_dictionaries({"name": name, "payload": payloads}),
        "send_batch": st.fixed_dictionaries(
            {"name": name, "payloads": st.lists(payloads, max_size=40)}),
        "stop": st.fixed_dictionaries({"name": name}, optional={"timeout": timeouts}),
        "spawn": _spawn_arguments(),
    }
    if operation in shapes:
        return shapes[operation]
    # an operation this file does not know yet: a name and the arguments most take
    return st.fixed_dictionaries(
        {"name": name},
        optional={"module": modules, "payload": payloads, "timeout": timeouts,
                  "version": values, "strategy": st.one_of(st.text(max_size=12), values),
                  "limits": limits, "limit": values})


@st.composite
def arguments_for(draw: st.DrawFn, operation: str) -> Any:
    """Well-formed arguments, or the same with one thing broken: a key dropped, a value
    replaced by anything, a key nobody knows, or no map at all."""
    arguments: dict[Any, Any] = dict(draw(well_formed(operation)))
    how = draw(mostly(st.just("as is"),
                      st.sampled_from(["drop", "replace", "extra", "not a map"]), percent=60))
    if how == "drop" and arguments:
        del arguments[draw(st.sampled_from(sorted(arguments)))]
    elif how == "replace" and arguments:
        arguments[draw(st.sampled_from(sorted(arguments)))] = draw(values)
    elif how == "extra":
        arguments[draw(keys)] = draw(values)
    elif how == "not a map":
        return draw(values)
    return arguments


#: operations that may name the keeper: they change nothing of an existing agent
HARMLESS = frozenset({"ping", "list", "status", "monitor", "dead_letters", "snapshot", "spawn"})


@st.composite
def requests(draw: st.DrawFn, operation: str) -> tuple[bytes, int, Any]:
    """A request frame for ``operation`` (its version and operation sometimes wrong),
    its request id, and its arguments."""
    request_id = draw(st.integers(min_value=0, max_value=2**63 - 1))
    version = draw(mostly(st.just(PROTOCOL_VERSION), values, percent=90))
    op = draw(mostly(st.just(operation), st.one_of(st.just(operation.upper()), values),
                     percent=90))
    arguments = draw(arguments_for(operation))
    if isinstance(arguments, dict) and arguments.get("name") == KEEPER and (
            op not in HARMLESS if isinstance(op, str) else False):
        arguments["name"] = "nobody"  # a drawn value named the keeper
    frame: bytes = msgpack.packb([version, request_id, op, arguments], use_bin_type=True)
    return frame, request_id, arguments
