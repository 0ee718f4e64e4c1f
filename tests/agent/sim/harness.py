"""A room-less ``AgentSession`` rig: a scripted microphone and a simulated loudspeaker.

``Mic`` delivers 20 ms frames on a real-time, drift-free schedule — silence, or speech queued
with ``say()`` — as a phone would. ``Speaker`` plays what it is given at real time from its first
frame, records when each frame arrived and how long it was (the simulator's timing model is
observable there), and reports the played position when interrupted, which is what the
plugin truncates the model's item at.
"""

from __future__ import annotations

import asyncio
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.agents import Agent, AgentSession, io
from livekit.agents.voice.events import ConversationItemAddedEvent, UserInputTranscribedEvent
from openai.types.realtime.realtime_server_event import RealtimeServerEvent

from agent.sim.protocol import types_by_name
from sip import g711
from trunkline.resample import resample

RATE = 24000
SPEECH = Path(__file__).resolve().parents[3] / "trunkline" / "data" / "speech"


def speech_clip(name: str = "arctic_a0009.wav") -> npt.NDArray[np.int16]:
    """A bundled CMU ARCTIC clip as it reaches the model from a phone: μ-law 8 kHz, 24 kHz."""
    with wave.open(str(SPEECH / name)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        rate = w.getframerate()
    line = g711.decode(g711.encode(resample(pcm, rate, 8000)))
    return resample(line, 8000, RATE)


def speech_span(pcm: npt.NDArray[np.int16]) -> tuple[float, float]:
    """Where speech starts and ends in a clip, in seconds: 10 ms frames within 30 dB of the
    loudest."""
    frame = RATE // 100
    n = len(pcm) // frame
    energy = (pcm[: n * frame].astype(np.float64).reshape(n, frame) ** 2).mean(axis=1)
    db = 10 * np.log10(energy + 1e-9)
    active = np.flatnonzero(db > db.max() - 30)
    return active[0] / 100, (active[-1] + 1) / 100


class Mic(io.AudioInput):
    FRAME = RATE // 50

    def __init__(self, noise_dbfs: float = -60.0) -> None:
        super().__init__(label="test-mic")
        self._pending = np.zeros(0, dtype=np.int16)
        self._next: float | None = None
        self._rng = np.random.default_rng(7)
        self._noise = 32768 * 10 ** (noise_dbfs / 20)

    def say(self, pcm: npt.NDArray[np.int16]) -> None:
        self._pending = np.concatenate([self._pending, pcm])

    @property
    def speaking(self) -> bool:
        return len(self._pending) > 0

    async def __anext__(self) -> rtc.AudioFrame:
        loop = asyncio.get_running_loop()
        self._next = loop.time() if self._next is None else self._next + self.FRAME / RATE
        await asyncio.sleep(max(0.0, self._next - loop.time()))
        chunk, self._pending = self._pending[: self.FRAME], self._pending[self.FRAME :]
        noise = self._rng.standard_normal(self.FRAME) * self._noise
        frame = np.zeros(self.FRAME)
        frame[: len(chunk)] = chunk
        pcm = np.clip(frame + noise, -32768, 32767).astype(np.int16)
        return rtc.AudioFrame(pcm.tobytes(), RATE, 1, self.FRAME)


@dataclass(frozen=True)
class Arrival:
    at: float
    samples: int
    sample_rate: int


class Speaker(io.AudioOutput):
    def __init__(self) -> None:
        super().__init__(label="test-speaker", capabilities=io.AudioOutputCapabilities(pause=False))
        self.arrivals: list[Arrival] = []
        self.interruptions: list[float] = []
        self.finished: list[float] = []
        self._started: float | None = None
        self._pushed = 0.0
        self._finish: asyncio.Task[None] | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        now = asyncio.get_running_loop().time()
        if self._started is None:
            self._started = now
            self.on_playback_started(created_at=time.time())
        self.arrivals.append(Arrival(now, frame.samples_per_channel, frame.sample_rate))
        self._pushed += frame.duration

    def flush(self) -> None:
        super().flush()
        if self._started is not None and self._finish is None:
            self._finish = asyncio.create_task(self._play_out())

    async def _play_out(self) -> None:
        assert self._started is not None
        await asyncio.sleep(max(0.0, self._started + self._pushed - self._loop_time()))
        position = self._pushed
        self._reset()
        self.finished.append(position)
        self.on_playback_finished(playback_position=position, interrupted=False)

    def clear_buffer(self) -> None:
        if self._started is None:
            return
        position = min(self._loop_time() - self._started, self._pushed)
        if self._finish is not None:
            self._finish.cancel()
        self._reset()
        self.interruptions.append(position)
        self.on_playback_finished(playback_position=position, interrupted=True)

    def _reset(self) -> None:
        self._started = None
        self._pushed = 0.0
        self._finish = None

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()


class Greeter(Agent):
    """Greets on entering, as a phone agent does."""

    def __init__(self, instructions: str = "You are a test agent.") -> None:
        super().__init__(instructions=instructions)

    async def on_enter(self) -> None:
        self.session.generate_reply()


class Transcript:
    """What the session said and heard, in order, as its events report it."""

    def __init__(self, session: AgentSession[Any]) -> None:
        self.items: list[tuple[str, str]] = []
        self.user: list[str] = []
        self._changed = asyncio.Event()
        session.on("conversation_item_added", self._on_item)
        session.on("user_input_transcribed", self._on_user)

    def _on_item(self, ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if item.type == "message":
            self.items.append((item.role, item.text_content or ""))
            self._changed.set()

    def _on_user(self, ev: UserInputTranscribedEvent) -> None:
        if ev.is_final:
            self.user.append(ev.transcript)
            self._changed.set()

    def said(self, role: str) -> list[str]:
        return [text for r, text in self.items if r == role]

    async def wait_for(self, role: str, count: int) -> list[str]:
        """Wait until ``role`` has said ``count`` messages (bound it with ``asyncio.timeout``)."""
        while len(self.said(role)) < count:
            self._changed.clear()
            await self._changed.wait()
        return self.said(role)


SERVER_EVENTS = types_by_name(RealtimeServerEvent)


def check_server_event(event: dict[str, Any]) -> None:
    """Fail unless ``event`` is a server event as the OpenAI SDK models it, no unknown fields."""
    model = SERVER_EVENTS[event["type"]]
    model.model_validate(event)
    unknown = set(event) - set(model.model_fields)
    assert not unknown, f"{event['type']} has fields the service does not send: {unknown}"
