"""The ``sip`` path: the SIP caller dials livekit-sip like a Twilio Elastic SIP trunk.

Each call is an INVITE (PCMU + telephone-event) to the arm's number at the gateway; the
inbound trunk admits it, the dispatch rule puts it in a fresh room and dispatches the arm's
worker by name; the worker answers labelled ``sip``. Media is G.711 μ-law at 8 kHz end to end:
the caller sends 20 ms RTP and records every packet livekit-sip sends back with its arrival
time (:mod:`lab.sipcaller`).

The caller records by RTP timestamp — the sender's own clock, as a jitter buffer deep enough
for any delay would play it — so what it heard is what livekit-sip sent: silence the gateway
inserted (its mixer rebuffering) is in the audio, and arrival jitter is not. A phone behind a
real carrier plays through a shallow buffer instead; **playout underruns** here are the runs
of packets that would have missed a fixed 60 ms playout buffer started at the reply's first
audible packet (a model of that phone, stated as such in the report).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Final

import numpy as np

from lab.call_windows import CallWindow, agent_records, agent_settled, model_heard
from lab.conversation import (
    CallerScript,
    CallerTurn,
    Conversation,
    caller_records,
    converse,
    heard_replies,
)
from lab.dispatch import Dispatcher, Watch, newest_with_prefix
from lab.path_runner import PathRun
from lab.pcm import Int16Array
from lab.sipcaller import CallStateError, DialOptions, Heard, SipCall, SipError
from sip import g711
from trunkline.paths import CallPath
from trunkline.turnlog import merge_turns

RATE: Final = 8000
#: livekit-sip answers once the agent publishes audio: a cold job process first
ANSWER_S: Final = 60.0
#: the playout buffer a phone behind the carrier is modelled with
PLAYOUT_BUFFER_S: Final = 0.06
PACKET_S: Final = 0.02


@dataclass(frozen=True)
class SipTarget:
    """Where the arm's calls go: the gateway, the provisioned number, this host's address."""

    gateway: str
    number: str
    local_host: str
    #: the dispatch rule's room prefix (its rooms are <prefix>_<caller>_<random>)
    room_prefix: str

    def dial(self, from_number: str) -> DialOptions:
        return DialOptions(
            target=f"sip:{self.number}@{self.gateway}",
            from_number=from_number,
            local_host=self.local_host,
        )


class SipLine:
    """A :class:`lab.conversation.Line` over an answered :class:`SipCall`."""

    rate = RATE

    def __init__(self, call: SipCall) -> None:
        self.call = call
        self._taken = 0

    @property
    def ended(self) -> bool:
        return self.call.ended.done()

    def take_arrivals(self) -> list[tuple[float, Int16Array]]:
        packets = self.call.heard().packets[self._taken :]
        self._taken += len(packets)
        return [(p.arrival, g711.decode(p.payload)) for p in packets]

    async def say(self, pcm: Int16Array, rate: int) -> float:
        return (await self.call.play(pcm, rate)).last_sent

    async def playout_counters(self) -> dict[str, float]:
        return {}


def cut(heard: Heard, first: float, last: float) -> Int16Array:
    """The audio of the packets that arrived in ``[first, last]``, laid out by timestamp."""
    pcm, positions = heard.pcm(), heard.positions()
    inside = [
        (pos, len(p.payload))
        for pos, p in zip(positions, heard.packets, strict=True)
        if first <= p.arrival <= last
    ]
    if not inside:
        return np.zeros(0, dtype=np.int16)
    start = min(pos for pos, _ in inside)
    end = max(pos + n for pos, n in inside)
    return pcm[start:end]


def missed_playout(heard: Heard, first: float, last: float) -> tuple[int, float]:
    """Runs of packets in ``[first, last]`` that missed a :data:`PLAYOUT_BUFFER_S` buffer started
    at ``first`` (a phone behind the carrier), and the audio they carried in ms (what such a
    phone conceals or drops)."""
    inside = sorted(
        (pos, p.arrival, len(p.payload))
        for pos, p in zip(heard.positions(), heard.packets, strict=True)
        if first <= p.arrival <= last
    )
    if not inside:
        return 0, 0.0
    origin = inside[0][0]
    runs, missed, late_before = 0, 0, False
    for pos, arrival, samples in inside:
        late = arrival > first + PLAYOUT_BUFFER_S + (pos - origin) / RATE
        runs += late and not late_before
        missed += samples if late else 0
        late_before = late
    return runs, 1000 * missed / RATE


def late_runs(heard: Heard, first: float, last: float) -> int:
    """Runs of packets that missed a :data:`PLAYOUT_BUFFER_S` buffer started at ``first``."""
    return missed_playout(heard, first, last)[0]


def _late_runs(heard: Heard, turn: CallerTurn) -> int:
    first, last = turn.reply.first, turn.reply.last
    return 0 if first is None or last is None else late_runs(heard, first, last)


@dataclass
class _Placed:
    window: CallWindow
    conversation: Conversation | None
    heard: Heard | None
    redispatched: int


@dataclass
class SipRunner:
    """The arm's ``sip`` calls, placed one at a time (:class:`lab.path_runner.CallRunner`)."""

    target: SipTarget
    script: CallerScript
    #: the arm's worker's turn log and its simulator's recordings
    agent_log: Path
    model_recordings: Path
    name: str = "sip"
    path: CallPath = "sip"
    #: distinguishes the arm's callers (the From number's last digit)
    arm_digit: int = 0
    #: re-dispatches the arm's agent when LiveKit found no worker free (None: never)
    dispatcher: Dispatcher | None = None
    placed: list[_Placed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    async def place(self, call: int) -> None:
        call_id = f"sip-{self.arm_digit}-{call + 1}"
        started = time.time()
        conversation: Conversation | None = None
        heard: Heard | None = None
        caller = f"+1555010{self.arm_digit}{call % 1000:03d}"
        rooms = newest_with_prefix(f"{self.target.room_prefix}_{caller}_", started)
        watch = Watch(self.dispatcher, rooms)
        try:
            async with watch, SipCall.dial(self.target.dial(caller)) as sip_call:
                await asyncio.wait_for(sip_call.answered(), ANSWER_S)
                conversation = await converse(SipLine(sip_call), self.script)
                heard = sip_call.heard()
        except (SipError, CallStateError, TimeoutError, OSError) as exc:
            self.problems.append(f"{self.name} call {call + 1} failed: {exc!r}")
        if conversation is not None and conversation.problem:
            self.problems.append(f"{self.name} call {call + 1}: {conversation.problem}")
        window = CallWindow(call_id, started, time.time())
        self.placed.append(_Placed(window, conversation, heard, watch.redispatched))

    async def settle(self) -> None:
        if self.placed and (conv := self.placed[-1].conversation) is not None:
            last = conv.turns[-1].turn
            await agent_settled(self.agent_log, self.placed[-1].window, self.path, last)

    def collect(self) -> PathRun:
        windows = [p.window for p in self.placed]
        agent, problems = agent_records(self.agent_log, windows, self.path)
        upstream, connections = model_heard(self.model_recordings, windows)
        caller = []
        replies = []
        calls = []
        for p in self.placed:
            conv, heard = p.conversation, p.heard
            calls.append(
                {
                    "call_id": p.window.call_id,
                    "duration_s": round(p.window.ended - p.window.started, 2),
                    "model_connections": connections.get(p.window.call_id, []),
                    "redispatched": p.redispatched,
                }
            )
            if conv is None or heard is None:
                continue
            caller += caller_records(conv, p.window.call_id, self.path)
            replies += heard_replies(
                conv,
                p.window.call_id,
                RATE,
                partial(cut, heard),
                underruns=partial(_late_runs, heard),
            )
        merged = merge_turns([*agent, *caller])
        return PathRun(
            name=self.name,
            path=self.path,
            receiver="opus-ulaw",
            records=merged.records,
            heard=replies,
            upstream=upstream,
            calls=calls,
            problems=[*self.problems, *problems, *(str(p) for p in merged.problems)],
        )
