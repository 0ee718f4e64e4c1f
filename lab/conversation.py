"""The caller's side of a lab call on a path without Twilio's protocol (sip, webrtc, a browser).

The simulated Twilio caller (:mod:`lab.caller.call`) drives ``twilio-ws``; this driver does
the same as a person on any other line: wait for the greeting, speak a clip, listen to the
reply until the agent has been quiet for a while, talk over one reply (barge-in), hang up after
a short linger. A path plugs in as a :class:`Line` — what it sends and what arrives, every
chunk stamped with its arrival time — so the SIP caller, an SDK participant and a real
browser share one conversation and one set of measurements.

Measurements come from arrival stamps, never from when this loop happened to look: the loop
only decides *when to act* (the reply is over, time to barge in); when the first audible audio
of a reply arrived, when its last did, and what was heard in between are read afterwards from
the stamped chunks. A chunk is audible when its peak reaches :data:`AUDIBLE_PEAK` (−60 dBFS):
a SIP gateway keeps sending RTP between replies (silence), and a WebRTC receiver keeps
producing frames, so "a chunk arrived" cannot mean "the agent spoke".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

import numpy as np

from lab.heard import HeardTurn
from lab.pcm import Int16Array
from trunkline.paths import CallPath
from trunkline.turnlog import TurnRecord

#: A received chunk whose peak reaches this (−60 dBFS) carries agent audio.
AUDIBLE_PEAK: Final = 33
POLL_S: Final = 0.02


class Line(Protocol):
    """One caller's end of an established call."""

    @property
    def rate(self) -> int:
        """Sample rate of the audio that arrives."""
        ...

    @property
    def ended(self) -> bool:
        """The far end has hung up."""
        ...

    def take_arrivals(self) -> list[tuple[float, Int16Array]]:
        """Chunks of agent audio that arrived since the last call: (monotonic s, samples)."""
        ...

    async def say(self, pcm: Int16Array, rate: int) -> float:
        """Speak ``pcm`` in real time; returns (monotonic s) when its last audio left."""
        ...

    async def playout_counters(self) -> dict[str, float]:
        """The receiver's own playout statistics now (cumulative), or {} if it keeps none."""
        ...


@dataclass(frozen=True)
class CallerScript:
    """What the caller says and how it behaves (the Twilio caller's options, path-neutral)."""

    clips: Sequence[Int16Array]
    clip_rate: int
    turns: int
    barge_in_turns: frozenset[int] = frozenset()
    barge_after_ms: int = 1000
    #: agent silence that ends a reply (and the greeting)
    quiet_ms: int = 800
    greeting_timeout_s: float = 45.0
    reply_timeout_s: float = 25.0
    linger_s: float = 1.0


@dataclass(frozen=True)
class Chunk:
    at: float
    samples: int
    audible: bool


@dataclass
class Reply:
    """The agent's audio after ``since`` (monotonic), as it arrived."""

    since: float
    first: float | None = None
    last: float | None = None
    #: samples received from the first audible chunk on
    samples: int = 0
    #: stop taking chunks that arrive at or after this (the caller's next speech ended)
    until: float = float("inf")

    def feed(self, chunk: Chunk) -> None:
        if not self.since <= chunk.at < self.until:
            return
        if chunk.audible:
            self.first = chunk.at if self.first is None else self.first
            self.last = chunk.at
        if self.first is not None:
            self.samples += chunk.samples

    def finished(self, now: float, quiet_s: float) -> bool:
        return self.last is not None and now - self.last >= quiet_s


@dataclass
class CallerTurn:
    """One reply as the caller lived it; turn 0 is the greeting. Times are monotonic s."""

    turn: int
    speech_start: float | None
    speech_end: float | None
    reply: Reply
    #: the caller started talking over this reply here
    barge_start: float | None = None
    counters_before: dict[str, float] = field(default_factory=dict)
    counters_after: dict[str, float] = field(default_factory=dict)

    @property
    def latency_s(self) -> float | None:
        if self.speech_end is None or self.reply.first is None:
            return None
        return self.reply.first - self.speech_end

    @property
    def cutoff_ms(self) -> float | None:
        """Barge-in: from the caller's first word until the last agent audio arrived."""
        if self.barge_start is None:
            return None
        last = self.reply.last
        return 0.0 if last is None else max(0.0, 1000 * (last - self.barge_start))


@dataclass
class Conversation:
    turns: list[CallerTurn]
    chunks: list[Chunk]
    #: add to a monotonic reading to get epoch seconds (the turn log's clock)
    epoch_offset: float
    #: why the conversation stopped early, if it did
    problem: str | None = None

    def epoch(self, monotonic: float | None) -> float | None:
        return None if monotonic is None else monotonic + self.epoch_offset


def audible(pcm: Int16Array) -> bool:
    return len(pcm) > 0 and int(np.max(np.abs(pcm.astype(np.int32)))) >= AUDIBLE_PEAK


class _Listener:
    def __init__(self, line: Line) -> None:
        self.line = line
        self.chunks: list[Chunk] = []
        self.replies: list[Reply] = []

    def poll(self) -> None:
        for at, pcm in self.line.take_arrivals():
            chunk = Chunk(at, len(pcm), audible(pcm))
            self.chunks.append(chunk)
            for reply in self.replies:
                reply.feed(chunk)

    def follow(self, reply: Reply) -> Reply:
        """Listen to ``reply`` from its start on; earlier replies end where it begins."""
        for earlier in self.replies:
            earlier.until = min(earlier.until, reply.since)
        self.poll()  # what arrived so far still reaches them, up to that point
        for chunk in self.chunks:
            reply.feed(chunk)
        self.replies = [reply]
        return reply


async def converse(line: Line, script: CallerScript) -> Conversation:
    """Hold the whole conversation on ``line``; a far-end hang-up ends it early."""
    listener = _Listener(line)
    offset = time.time() - time.monotonic()
    turns: list[CallerTurn] = []
    problem: str | None = None
    quiet_s = script.quiet_ms / 1000

    async def listen(reply: Reply, timeout_s: float, barge: bool) -> float | None:
        """Until the reply is over (None) or it is time to talk over it (the time)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not line.ended:
            listener.poll()
            now = time.monotonic()
            if reply.finished(now, quiet_s):
                return None
            if barge and reply.samples >= script.barge_after_ms * line.rate // 1000:
                return now
            await asyncio.sleep(POLL_S)
        return None

    greeting = CallerTurn(0, None, None, listener.follow(Reply(time.monotonic())))
    greeting.counters_before = await line.playout_counters()
    await listen(greeting.reply, script.greeting_timeout_s, barge=False)
    greeting.counters_after = await line.playout_counters()
    turns.append(greeting)
    if greeting.reply.first is None:
        problem = "no greeting arrived"
    barge_start: float | None = None
    for n in range(1, script.turns + 1):
        if line.ended or problem:
            break
        clip = script.clips[(n - 1) % len(script.clips)]
        start = barge_start if barge_start is not None else time.monotonic()
        speech_end = await line.say(clip, script.clip_rate)
        turn = CallerTurn(n, start, speech_end, listener.follow(Reply(speech_end)))
        if barge_start is not None:
            turns[-1].barge_start = barge_start
            turns[-1].counters_after = await line.playout_counters()
        turn.counters_before = await line.playout_counters()
        turns.append(turn)
        barge = n in script.barge_in_turns and n < script.turns
        barge_start = await listen(turn.reply, script.reply_timeout_s, barge)
        if barge_start is None:
            turn.counters_after = await line.playout_counters()
            if turn.reply.first is None and not line.ended:
                problem = f"no reply to turn {n} within {script.reply_timeout_s:.0f} s"
    if not line.ended:
        await asyncio.sleep(script.linger_s)
    listener.poll()
    if line.ended and problem is None and len(turns) <= script.turns:
        problem = "the far end hung up"
    return Conversation(turns, listener.chunks, offset, problem)


def caller_records(conv: Conversation, call_id: str, path: CallPath) -> list[TurnRecord]:
    """The caller's half of each turn line: its speech end, first agent audio received."""
    records = []
    for t in conv.turns[1:]:
        first = t.reply.first
        latency = None if first is None or t.speech_end is None else first - t.speech_end
        records.append(
            TurnRecord(
                call_id=call_id,
                path=path,
                turn=t.turn,
                caller_speech_end=conv.epoch(t.speech_end),
                caller_first_audio=conv.epoch(first) if latency is not None else None,
                latency_s=None if latency is None else round(max(latency, 0.0), 4),
                source="caller",
            )
        )
    return records


def heard_replies(
    conv: Conversation,
    call_id: str,
    rate: int,
    cut: Callable[[float, float], Int16Array],
    *,
    playout: Callable[[CallerTurn], float | None] = lambda _t: None,
    underruns: Callable[[CallerTurn], int] = lambda _t: 0,
    stretched: Callable[[CallerTurn], float | None] = lambda _t: None,
) -> list[HeardTurn]:
    """Each reply the caller heard: ``cut(first, last)`` lays out what arrived between the
    reply's first and last audible chunk (monotonic s) as the receiver played it."""
    replies = []
    for t in conv.turns:
        first, last = t.reply.first, t.reply.last
        if first is None or last is None:
            continue
        replies.append(
            HeardTurn(
                call_id=call_id,
                turn=t.turn,
                rate=rate,
                audio=cut(first, last),
                receiver_gaps=underruns(t),
                arrivals=tuple(
                    (c.at + conv.epoch_offset, c.samples / rate)
                    for c in conv.chunks
                    if first <= c.at <= last
                ),
                barge_in_cutoff_ms=t.cutoff_ms,
                playout_s=playout(t),
                stretched_ms=stretched(t),
            )
        )
    return replies
