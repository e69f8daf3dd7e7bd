"""The frames between the node and an agent process, one named type each.

Every frame is one msgpack array on the supervisor link: a tag, then the
frame's fields in the order the type declares them. The tag names the frame on
the wire (short, because a delivery and an acknowledgement travel with every
message); the type names it in code. Both sides build frames with these types
and read them with ``decode``, so a field added or moved here is added or moved
for both, and a frame from an older or broken peer fails as a ``FrameError``
instead of a misread field.

The rows inside a delivery and an acknowledgement stay plain tuples: there is
one per message, and a named type for each would cost the pipelined path more
than the rest of its bookkeeping. Their field order is ``Delivery`` and ``Ack``.

Order on the link is the contract: a ``Start`` comes before any ``Deliver``;
an ``Ack`` for a message comes before the ``Snapshot`` that covers it; an
agent's ``Failed`` is the last thing it says before it exits.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeAlias

__all__ = [
    "TAGS",
    "Ack",
    "Acks",
    "AgentFrame",
    "Deliver",
    "Delivery",
    "Failed",
    "FrameError",
    "Health",
    "Hello",
    "Log",
    "NodeFrame",
    "Probe",
    "Ready",
    "Snapshot",
    "Start",
    "Stop",
    "TakeSnapshot",
    "acks_frame",
    "acks_of",
    "decode_from_agent",
    "decode_from_node",
    "deliveries_of",
    "encode",
]

#: one message handed to the instance: (message_id, sender, payload, replay).
#: A replayed message rebuilds state after a restart; its outputs are dropped.
Delivery: TypeAlias = tuple[int, str, bytes, bool]
#: one message handled: (message_id, status, error_text, reply, sends, fuel);
#: ``sends`` is ``[[target, payload], ...]``, what the message sent other agents.
Ack: TypeAlias = tuple[int, str, str, bytes, list[Any], int]


class FrameError(ValueError):
    """A frame that is not one of this module's: a bug or a version skew, never guest input."""


# -- node -> agent -------------------------------------------------------------------------

class Start(NamedTuple):
    """The instance's start state: ``init`` bytes, or the snapshot to restore."""

    init: bytes
    snapshot: bytes | None


class Deliver(NamedTuple):
    """A window of messages, to be handled in order."""

    messages: list[Delivery]


class TakeSnapshot(NamedTuple):
    """Snapshot now, after everything delivered before this frame."""



class Probe(NamedTuple):
    """Ask the guest's own ``caxton_health``."""



class Stop(NamedTuple):
    """Everything before this is handled: exit normally."""



# -- agent -> node -------------------------------------------------------------------------

class Hello(NamedTuple):
    """The module is loaded and instantiated; waiting for its ``Start``."""

    pid: int
    has_snapshot: bool


class Ready(NamedTuple):
    """Started (init or restore done); messages may be delivered."""

    info: dict[str, Any]


class Acks(NamedTuple):
    """Messages handled, each with its outputs; ``stats`` is [memory_bytes, fuel_total,
    logs_dropped, sends_refused] (the last two since the previous ``Acks``)."""

    acks: list[Ack]
    stats: list[int]


class Failed(NamedTuple):
    """The guest failed (trap, fuel, deadline, memory) on ``message_id``; the process exits."""

    message_id: int | None
    reason: str
    text: str


class Snapshot(NamedTuple):
    """State after ``last_message_id``; ``state`` is None when the guest has no snapshot."""

    last_message_id: int
    state: bytes | None


class Health(NamedTuple):
    """The guest's answer to a ``Probe``."""

    healthy: bool
    text: str


class Log(NamedTuple):
    """A line the guest logged (``caxton.log`` or WASI stdout/stderr)."""

    level: int
    text: str


NodeFrame: TypeAlias = Start | Deliver | TakeSnapshot | Probe | Stop
AgentFrame: TypeAlias = Hello | Ready | Acks | Failed | Snapshot | Health | Log

#: each frame's tag on the wire (unique per direction)
TAGS: dict[type[Any], str] = {
    Start: "start", Deliver: "d", TakeSnapshot: "snap", Probe: "h", Stop: "stop",
    Hello: "hello", Ready: "ready", Acks: "a", Failed: "failed", Snapshot: "snap",
    Health: "h", Log: "log",
}
_FROM_NODE = {TAGS[t]: t for t in (Start, Deliver, TakeSnapshot, Probe, Stop)}
_FROM_AGENT = {TAGS[t]: t for t in (Hello, Ready, Acks, Failed, Snapshot, Health, Log)}


def encode(frame: NodeFrame | AgentFrame) -> list[Any]:
    """The wire form of a frame (the supervisor link msgpack-encodes it)."""
    return [TAGS[type(frame)], *frame]


def _decode(raw: Any, types: dict[str, type[Any]], direction: str) -> Any:
    if not isinstance(raw, list) or not raw:
        raise FrameError(f"{direction} frame is not a tagged array: {str(raw)[:80]}")
    kind = types.get(raw[0]) if isinstance(raw[0], str) else None
    if kind is None:
        raise FrameError(f"unknown {direction} frame {str(raw[0])[:40]!r}")
    if len(raw) != len(kind._fields) + 1:
        raise FrameError(f"{direction} frame {raw[0]!r} has {len(raw) - 1} fields, "
                         f"expected {len(kind._fields)}")
    return kind._make(raw[1:])


# -- the per-message frames, read and written without a named tuple -------------------------
#
# A ``Deliver`` and an ``Acks`` cross the link with every message a caller waits
# on; building and unpacking a named tuple for each costs the round trip a few
# microseconds on each side. These read and write the same wire form; any other
# frame, or one of these malformed, goes through ``decode_from_*`` and its checks.

_DELIVER_TAG = TAGS[Deliver]
_ACKS_TAG = TAGS[Acks]


def deliveries_of(raw: Any) -> list[Delivery] | None:
    """The messages of a well-formed ``Deliver`` frame; None for any other frame."""
    if raw.__class__ is list and len(raw) == 2 and raw[0] == _DELIVER_TAG:
        messages: list[Delivery] = raw[1]
        return messages
    return None


def acks_of(raw: Any) -> tuple[list[Ack], list[int]] | None:
    """(acks, stats) of a well-formed ``Acks`` frame; None for any other frame."""
    if raw.__class__ is list and len(raw) == 3 and raw[0] == _ACKS_TAG:
        return raw[1], raw[2]
    return None


def acks_frame(acks: list[Ack], stats: list[int]) -> list[Any]:
    """The wire form of ``Acks(acks, stats)``."""
    return [_ACKS_TAG, acks, stats]


def decode_from_node(raw: Any) -> NodeFrame:
    """Read a frame the node sent (in the agent process)."""
    frame: NodeFrame = _decode(raw, _FROM_NODE, "node")
    return frame


def decode_from_agent(raw: Any) -> AgentFrame:
    """Read a frame an agent process sent (in the node)."""
    frame: AgentFrame = _decode(raw, _FROM_AGENT, "agent")
    return frame
