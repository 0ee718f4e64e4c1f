"""One runner per caller path and pacer arm: places the lab's calls and says what was heard.

The paths section knows nothing about how a path is reached. It asks each runner for one call
at a time — so calls on different paths interleave and machine load hits every path alike —
and at the end for a :class:`PathRun`: the merged turn log (the waterfall), each reply as its
receiver heard it and each caller turn as the model heard it. Runners: twilio-ws in local
mode and through the bridge (:mod:`lab.twilio_runner`), sip (:mod:`lab.sip_runner`), webrtc
through an SDK participant (:mod:`lab.webrtc_runner`) and through headless Chromium on the
product's call page (:mod:`lab.browser_runner`).
A path this run cannot reach is :class:`Unmeasured`, with the reason and never with numbers.

Adding a caller: write a :class:`lab.conversation.Line` for it
— ``say`` speaks a clip, ``take_arrivals`` hands over what the page played with the time each
piece arrived, ``playout_counters`` its jitter buffer's statistics if it keeps any — and a
:class:`CallRunner` that places one call on it (as :class:`lab.webrtc_runner.WebrtcRunner`
does with a token dispatching the arm's agent) and collects with
:func:`lab.call_windows.agent_records`, :func:`lab.conversation.caller_records` and
:func:`lab.conversation.heard_replies`; then list it in :func:`lab.paths_section.runners`
where its program is installed. The schedule, the A/B, the sweep and the report need nothing
else: a runner's ``name`` becomes its column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from lab.chains import Receiver
from lab.heard import HeardTurn
from trunkline.paths import CallPath
from trunkline.turnlog import TurnRecord


@dataclass
class PathRun:
    name: str
    path: CallPath
    #: The codecs between the agent and what the caller's receiver decodes.
    receiver: Receiver = "ulaw"
    #: One merged record per (call, turn): what the agent, the sidecar and the caller saw.
    records: list[TurnRecord] = field(default_factory=list)
    heard: list[HeardTurn] = field(default_factory=list)
    #: What the model heard of each caller turn (the simulator's recordings, 24 kHz).
    upstream: list[HeardTurn] = field(default_factory=list)
    #: Per call: id, duration, the simulator connections that served it, and the like.
    calls: list[dict[str, Any]] = field(default_factory=list)
    #: Anything that went wrong (a call that failed, a bad turn line), one sentence each.
    problems: list[str] = field(default_factory=list)


class CallRunner(Protocol):
    """A path, ready to take calls (its servers are up), for one pacer arm."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> CallPath: ...

    async def place(self, call: int) -> None:
        """Place the ``call``-th call (0-based) and keep what it measured; a failed call is a
        problem for :meth:`collect` to report, never an exception."""
        ...

    async def settle(self) -> None:
        """Wait (bounded) until the agent side has logged the last call placed."""
        ...

    def collect(self) -> PathRun:
        """Everything the calls placed so far measured, joined to the agent's turn log."""
        ...


@dataclass(frozen=True)
class Unmeasured:
    """A path this run could not reach, and why."""

    name: str
    path: CallPath
    reason: str
