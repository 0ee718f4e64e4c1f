"""A stand-in for the worker in bridge tests: a real SDK participant of kind ``agent``.

It does what the contract asks of the agent side and nothing more: it finds the bridge by its
attributes, greets with a tone when the caller's track arrives, answers each caller utterance
it hears with another tone, records what it hears, collects SIP DTMF, and calls the bridge's
RPCs on request. Tones (not speech) make what the caller heard checkable by frequency.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from livekit import api, rtc

from sip.bridge import contract
from trunkline.stack import LocalStack

IDENTITY = "agent-standin"
RATE = 8000
FRAME = RATE // 100  # 10 ms
TONE_HZ = 600.0
#: RMS above which a frame of what the agent hears is caller speech (line noise is -60 dBFS).
SPEECH_RMS = 400.0


def tone(
    seconds: float, frequency: float = TONE_HZ, amplitude: float = 0.3
) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def agent_token(call_sid: str, api_key: str, api_secret: str) -> str:
    """What a dispatched agent joins the call's room with (kind ``agent``)."""
    grants = api.VideoGrants(room_join=True, room=contract.room_name(call_sid))
    return (
        api.AccessToken(api_key, api_secret)
        .with_identity(IDENTITY)
        .with_kind("agent")
        .with_grants(grants)
        .to_jwt()
    )


@dataclass
class Utterance:
    """Caller speech as the agent heard it: from its first to its last loud frame."""

    frames: int = 0
    quiet_after: int = 0


@dataclass
class StandInAgent:
    url: str
    token: str
    call_sid: str
    greeting_s: float = 0.6
    reply_s: float = 0.8
    auto_reply: bool = True
    room: rtc.Room = field(default_factory=rtc.Room)
    heard: list[npt.NDArray[np.int16]] = field(default_factory=list)
    dtmf: list[tuple[int, str, str]] = field(default_factory=list)
    utterances: list[int] = field(default_factory=list)
    """Length in 10 ms frames of each caller utterance heard (a reply followed each)."""
    bridge: rtc.RemoteParticipant | None = None
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    disconnect_reason: int | None = None
    greeted: asyncio.Event = field(default_factory=asyncio.Event)
    pings: int = 0
    """Liveness pings answered (see :meth:`answer_pings`)."""
    ping_delay_s: float = 0.0
    _answering: asyncio.Event = field(default_factory=asyncio.Event)
    _source: rtc.AudioSource | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def on(cls, stack: LocalStack, call_sid: str, **options: Any) -> StandInAgent:
        token = agent_token(call_sid, stack.api_key, stack.api_secret)
        return cls(stack.url, token, call_sid, **options)

    async def join(self) -> None:
        """Join the call's room (creating it if the webhook has not yet: either is fine)."""
        room = self.room
        room.on("track_subscribed", self._on_track)
        room.on("sip_dtmf_received", self._on_dtmf)
        room.on("disconnected", self._on_disconnected)
        await room.connect(self.url, self.token)
        self._source = rtc.AudioSource(RATE, 1, queue_size_ms=5000)
        track = rtc.LocalAudioTrack.create_audio_track("agent-voice", self._source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await room.local_participant.publish_track(track, options)

    def answer_pings(self, delay_s: float = 0.0) -> None:
        """Answer the bridge's ``trunkline.ping`` as the worker does, each ``delay_s`` late
        (a busy agent); until then the SDK answers "unsupported method", which is an answer
        too."""
        self.ping_delay_s = delay_s
        self._answering.set()
        self.room.local_participant.register_rpc_method(contract.RPC_PING, self._pong)

    def stop_answering_pings(self) -> None:
        """Hang like a dead worker: pings from now on get no answer at all."""
        self._answering.clear()

    async def _pong(self, _data: rtc.RpcInvocationData) -> str:
        await asyncio.sleep(self.ping_delay_s)
        await self._answering.wait()
        self.pings += 1
        return contract.PONG

    def _spawn(self, coro: object) -> None:
        assert asyncio.iscoroutine(coro)
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_track(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        if participant.attributes.get(contract.PATH_ATTRIBUTE) != contract.TWILIO_WS_PATH:
            return
        self.bridge = participant
        self._spawn(self._listen(track))
        self._spawn(self._greet())

    async def _greet(self) -> None:
        await self.say(self.greeting_s)
        self.greeted.set()

    def _on_dtmf(self, dtmf: rtc.SipDTMF) -> None:
        sender = dtmf.participant.identity if dtmf.participant else ""
        self.dtmf.append((dtmf.code, dtmf.digit, sender))

    def _on_disconnected(self, reason: int) -> None:
        self.disconnect_reason = reason
        self.disconnected.set()

    async def say(self, seconds: float) -> None:
        """Queue a tone on the agent's track (the source plays it in real time)."""
        assert self._source is not None
        pcm = tone(seconds)
        for i in range(0, len(pcm) - FRAME + 1, FRAME):
            await self._source.capture_frame(
                rtc.AudioFrame(pcm[i : i + FRAME].tobytes(), RATE, 1, FRAME)
            )

    def stop_speaking(self) -> None:
        assert self._source is not None
        self._source.clear_queue()

    async def _listen(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1)
        utterance = Utterance()
        try:
            async for event in stream:
                pcm = np.frombuffer(event.frame.data, dtype=np.int16)
                self.heard.append(pcm)
                loud = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) > SPEECH_RMS
                if loud:
                    utterance.frames += 1
                    utterance.quiet_after = 0
                elif utterance.frames:
                    utterance.quiet_after += 1
                if utterance.frames >= 30 and utterance.quiet_after >= 40:
                    self.utterances.append(utterance.frames)
                    utterance = Utterance()
                    if self.auto_reply:
                        self._spawn(self.say(self.reply_s))
        finally:
            await stream.aclose()

    async def rpc(self, method: str, payload: str = "{}") -> str:
        return await self.room.local_participant.perform_rpc(
            destination_identity=contract.bridge_identity(self.call_sid),
            method=method,
            payload=payload,
        )

    def heard_audio(self) -> npt.NDArray[np.int16]:
        return np.concatenate(self.heard) if self.heard else np.zeros(0, dtype=np.int16)

    async def aclose(self) -> None:
        self._answering.set()  # let hung ping handlers finish rather than be destroyed
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.room.disconnect()
        # A room the server has closed (the bridge deleted it) returns from disconnect() at
        # once, while its listener still waits for the SDK's end of stream: let that come
        # before the test's loop closes, or the listener is left pending (seen once under load)
        listener: asyncio.Task[None] | None = getattr(self.room, "_task", None)
        if listener is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(listener), 5)
        if self._source is not None:
            await self._source.aclose()
