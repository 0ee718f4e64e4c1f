"""The ``webrtc`` path: an SDK participant calls the agent the way a browser or an app does.

It joins a fresh room with a token whose room configuration dispatches the arm's worker (as
``trunkline token`` makes them), publishes a microphone track of 48 kHz speech, and records the
agent's track through ``rtc.AudioStream`` at 48 kHz: wideband Opus both ways, through the real
SFU. The SDK is libwebrtc, so what it hands over has been through the same kind of jitter
buffer (NetEq) a browser plays from: on this path "first audio received" is first audio out
of that buffer, and its own statistics say how long the buffer held the audio (the mean
jitter-buffer delay over the reply, reported as this path's playout, *inside* its transport
stage) and how often it ran dry and concealed (its **playout underruns**: NetEq concealment
events during the reply).

A real browser plays the same part through the product's call page: :mod:`lab.browser_runner`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Final

import numpy as np
from livekit import rtc

from lab.call_windows import CallWindow, agent_records, agent_settled, model_heard
from lab.conversation import (
    CallerScript,
    CallerTurn,
    Conversation,
    caller_records,
    converse,
    heard_replies,
)
from lab.dispatch import Dispatcher, Watch, named
from lab.path_runner import PathRun
from lab.pcm import Int16Array
from sip.browser_token import join_token
from trunkline.config import LiveKitCredentials
from trunkline.paths import CallPath
from trunkline.resample import resample
from trunkline.turnlog import merge_turns

RATE: Final = 48000
FRAME: Final = RATE // 100
#: the agent joins a fresh room through dispatch: a cold job process first
AGENT_TRACK_S: Final = 60.0
#: NetEq counters (inbound-rtp statistics) the report reads
COUNTERS: Final = (
    "concealment_events",
    "concealed_samples",
    "silent_concealed_samples",
    "jitter_buffer_delay",
    "jitter_buffer_emitted_count",
    "inserted_samples_for_deceleration",
    "removed_samples_for_acceleration",
)


def _is_agent(participant: rtc.Participant) -> bool:
    return participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT


class Arrivals:
    """The agent's audio as a WebRTC receiver played it, each piece stamped (monotonic s) when
    it came out of the receiver's jitter buffer: the part of a :class:`lab.conversation.Line`
    the SDK participant and the browser share."""

    rate = RATE

    def __init__(self) -> None:
        self.frames: list[tuple[float, Int16Array]] = []
        self._taken = 0

    def take_arrivals(self) -> list[tuple[float, Int16Array]]:
        new = self.frames[self._taken :]
        self._taken += len(new)
        return new

    def cut(self, first: float, last: float) -> Int16Array:
        inside = [pcm for at, pcm in self.frames if first <= at <= last]
        return np.concatenate(inside) if inside else np.zeros(0, dtype=np.int16)


class WebrtcLine(Arrivals):
    """A :class:`lab.conversation.Line` over a joined room: speaks into a microphone track,
    records the agent's track as it comes out of the SDK."""

    def __init__(self, room: rtc.Room) -> None:
        super().__init__()
        self.room = room
        self.source = rtc.AudioSource(RATE, 1, queue_size_ms=100)
        self.agent_track: asyncio.Future[rtc.Track] = asyncio.get_running_loop().create_future()
        self._left = False
        self._tasks: list[asyncio.Task[None]] = []
        room.on("track_subscribed", self._on_track_subscribed)
        room.on("disconnected", self._on_disconnected)

    async def publish(self) -> None:
        track = rtc.LocalAudioTrack.create_audio_track("microphone", self.source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(track, options)

    def _on_track_subscribed(
        self, track: rtc.Track, _: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if _is_agent(participant) and not self.agent_track.done():
            self.agent_track.set_result(track)
            self._tasks.append(asyncio.create_task(self._record(track)))

    def _on_disconnected(self, _reason: int) -> None:
        self._left = True

    async def _record(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1)
        try:
            async for event in stream:
                pcm = np.frombuffer(event.frame.data, dtype=np.int16).copy()
                self.frames.append((time.monotonic(), pcm))
        finally:
            await stream.aclose()

    @property
    def ended(self) -> bool:
        return self._left

    async def say(self, pcm: Int16Array, rate: int) -> float:
        x = resample(pcm, rate, RATE) if rate != RATE else pcm
        x = np.concatenate([x, np.zeros(-len(x) % FRAME, dtype=np.int16)])
        for i in range(0, len(x), FRAME):
            chunk = x[i : i + FRAME]
            await self.source.capture_frame(rtc.AudioFrame(chunk.tobytes(), RATE, 1, FRAME))
        await self.source.wait_for_playout()
        return time.monotonic()

    async def playout_counters(self) -> dict[str, float]:
        if not self.agent_track.done():
            return {}
        try:
            stats = await self.agent_track.result().get_stats()
        except Exception:
            return {}
        for s in stats:
            if s.HasField("inbound_rtp"):
                inbound = s.inbound_rtp.inbound
                return {name: float(getattr(inbound, name)) for name in COUNTERS}
        return {}

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.source.aclose()


def _delta(turn: CallerTurn, name: str) -> float | None:
    before, after = turn.counters_before.get(name), turn.counters_after.get(name)
    return None if before is None or after is None else after - before


def playout_delay(turn: CallerTurn) -> float | None:
    """NetEq's mean jitter-buffer delay over the reply (seconds per emitted sample)."""
    delay, emitted = (
        _delta(turn, "jitter_buffer_delay"),
        _delta(turn, "jitter_buffer_emitted_count"),
    )
    return delay / emitted if delay is not None and emitted else None


def concealments(turn: CallerTurn) -> int:
    events = _delta(turn, "concealment_events")
    return 0 if events is None else round(events)


def stretched_ms(turn: CallerTurn) -> float | None:
    """Audio NetEq added (deceleration) or removed (acceleration) during the reply to follow
    the jitter — time-scale changes the caller hears as slightly faster or slower speech."""
    added = _delta(turn, "inserted_samples_for_deceleration")
    removed = _delta(turn, "removed_samples_for_acceleration")
    if added is None or removed is None:
        return None
    return 1000 * (added + removed) / RATE


@dataclass
class Placed:
    """One call of a WebRTC caller (an SDK participant or a browser), as placed."""

    window: CallWindow
    conversation: Conversation | None
    #: what the caller played between two monotonic instants (None: the call never started)
    cut: Callable[[float, float], Int16Array] | None
    redispatched: int


@dataclass
class WebrtcCalls:
    """What a WebRTC caller's runner keeps, and how it becomes a :class:`PathRun`: both
    receivers are libwebrtc's NetEq at 48 kHz, so playout and underruns read alike."""

    name: str
    agent_log: Path
    model_recordings: Path
    path: CallPath = "webrtc"
    placed: list[Placed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def ended(self, call: int, conversation: Conversation | None) -> None:
        if conversation is not None and conversation.problem:
            self.problems.append(f"{self.name} call {call + 1}: {conversation.problem}")

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
            calls.append(
                {
                    "call_id": p.window.call_id,
                    "duration_s": round(p.window.ended - p.window.started, 2),
                    "model_connections": connections.get(p.window.call_id, []),
                    "redispatched": p.redispatched,
                }
            )
            conv = p.conversation
            if conv is None or p.cut is None:
                continue
            caller += caller_records(conv, p.window.call_id, self.path)
            replies += heard_replies(
                conv,
                p.window.call_id,
                RATE,
                p.cut,
                playout=playout_delay,
                underruns=concealments,
                stretched=stretched_ms,
            )
        merged = merge_turns([*agent, *caller])
        return PathRun(
            name=self.name,
            path=self.path,
            receiver="opus",
            records=merged.records,
            heard=replies,
            upstream=upstream,
            calls=calls,
            problems=[*self.problems, *problems, *(str(p) for p in merged.problems)],
        )


@dataclass
class WebrtcRunner:
    """The arm's ``webrtc`` calls, placed one at a time (:class:`lab.path_runner.CallRunner`)."""

    livekit: LiveKitCredentials
    agent_name: str
    script: CallerScript
    agent_log: Path
    model_recordings: Path
    name: str = "webrtc"
    path: CallPath = "webrtc"
    room_prefix: str = "lab-webrtc"
    #: re-dispatches the arm's agent when LiveKit found no worker free (None: never)
    dispatcher: Dispatcher | None = None

    def __post_init__(self) -> None:
        self.calls = WebrtcCalls(self.name, self.agent_log, self.model_recordings, self.path)

    async def place(self, call: int) -> None:
        call_id = f"{self.room_prefix}-{call + 1}-{secrets.token_hex(3)}"
        started = time.time()
        token = join_token(
            self.livekit,
            room=call_id,
            identity=f"lab-caller-{call + 1}",
            agent=self.agent_name,
            ttl=timedelta(minutes=30),
        )
        room = rtc.Room()
        line = WebrtcLine(room)
        conversation: Conversation | None = None
        watch = Watch(self.dispatcher, named(call_id))
        try:
            async with watch:
                await room.connect(self.livekit.url, token)
                await line.publish()
                await asyncio.wait_for(asyncio.shield(line.agent_track), AGENT_TRACK_S)
                conversation = await converse(line, self.script)
        except (rtc.ConnectError, TimeoutError, OSError) as exc:
            self.calls.problems.append(f"{self.name} call {call + 1} failed: {exc!r}")
        finally:
            await line.aclose()
            with contextlib.suppress(Exception):
                await room.disconnect()
        self.calls.ended(call, conversation)
        window = CallWindow(call_id, started, time.time())
        self.calls.placed.append(Placed(window, conversation, line.cut, watch.redispatched))

    async def settle(self) -> None:
        await self.calls.settle()

    def collect(self) -> PathRun:
        return self.calls.collect()
