"""One runner per caller path: places the lab's live calls on it and says what was heard.

The live section knows nothing about how a path is reached. A runner places ``plan.calls``
calls of ``plan.turns`` turns, and returns the merged turn log (the waterfall) and each reply
as its receiver heard it (:class:`lab.heard.HeardTurn`). twilio-ws in local mode always runs
(:mod:`lab.twilio_runner`). The room paths need a LiveKit server and the room worker: until
their runners exist they are listed as :class:`Unmeasured` with the reason, never with numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lab.heard import HeardTurn
from lab.live_plan import LivePlan
from lab.paths import CallPath
from lab.turnlog import TurnRecord


@dataclass
class PathRun:
    name: str
    path: CallPath
    #: One merged record per (call, turn): what the agent, the sidecar and the caller saw.
    records: list[TurnRecord] = field(default_factory=list)
    heard: list[HeardTurn] = field(default_factory=list)
    #: Per call: id, who hung up, cadence and the like, for lab.json.
    calls: list[dict[str, Any]] = field(default_factory=list)
    #: Anything that went wrong (a call that failed, a bad turn line), one sentence each.
    problems: list[str] = field(default_factory=list)


class PathRunner(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def path(self) -> CallPath: ...

    def run(self, plan: LivePlan, workdir: Path, on_call: Callable[[int], None]) -> PathRun:
        """Place the plan's calls (``on_call(i)`` after the i-th); files go under ``workdir``."""
        ...


@dataclass(frozen=True)
class Unmeasured:
    """A path this run could not reach, and why."""

    name: str
    path: CallPath
    reason: str


#: The LiveKit room paths: the twilio-ws bridge into a room, a browser, a SIP participant.
ROOM_ROUTES: tuple[tuple[str, CallPath], ...] = (
    ("twilio-ws (bridge)", "twilio-ws"),
    ("webrtc", "webrtc"),
    ("sip", "sip"),
)


def room_routes(env: Mapping[str, str]) -> list[Unmeasured]:
    """The room paths and why they are not measured in this run."""
    if not env.get("LIVEKIT_URL"):
        reason = "LIVEKIT_URL not set"
    else:
        reason = "LIVEKIT_URL is set, but this build has no runner for the room paths yet"
    return [Unmeasured(name, path, reason) for name, path in ROOM_ROUTES]
