"""Real ``livekit.rtc`` participants for tests against the server: join, tones, events.

These drive the SDK exactly as product code would; nothing here talks to the server's
internals, so a test built from them checks the protocol, not our assumptions about it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
from livekit import rtc
from livekit.rtc.room import EventTypes

from .server import LiveKitTestServer

SAMPLE_RATE = 48000
FRAME_MS = 10
EVENT_TIMEOUT_S = 10.0


class Events:
    """A room's events, queued so a test can await them in order."""

    def __init__(self, room: rtc.Room, *names: EventTypes) -> None:
        self._queues: defaultdict[EventTypes, asyncio.Queue[tuple[Any, ...]]] = defaultdict(
            asyncio.Queue
        )
        for name in names:
            room.on(name, self._collector(name))

    def _collector(self, name: EventTypes) -> Callable[..., None]:
        queue = self._queues[name]
        return lambda *args: queue.put_nowait(args)

    async def next(
        self,
        name: EventTypes,
        where: Callable[..., bool] = lambda *args: True,
    ) -> tuple[Any, ...]:
        """The next ``name`` event whose arguments satisfy ``where`` (earlier ones dropped)."""
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while True:
                args = await self._queues[name].get()
                if where(*args):
                    return args

    def pending(self, name: EventTypes) -> int:
        return self._queues[name].qsize()


async def join(
    server: LiveKitTestServer,
    identity: str,
    room: str,
    *,
    auto_subscribe: bool = True,
    **token: Any,
) -> rtc.Room:
    """A connected SDK participant; ``token`` goes to :meth:`LiveKitTestServer.token`."""
    client = rtc.Room()
    await client.connect(
        server.url,
        server.token(identity, room, **token),
        rtc.RoomOptions(auto_subscribe=auto_subscribe),
    )
    return client


@contextlib.asynccontextmanager
async def joined(
    server: LiveKitTestServer, identity: str, room: str, **kwargs: Any
) -> AsyncIterator[rtc.Room]:
    client = await join(server, identity, room, **kwargs)
    try:
        yield client
    finally:
        await client.disconnect()


def sine(
    frequency: float, start: int, count: int, sample_rate: int = SAMPLE_RATE, amplitude: float = 0.3
) -> np.ndarray:
    t = (np.arange(count) + start) / sample_rate
    return (amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


class Tone:
    """A microphone track playing a sine wave, paced by the SDK's AudioSource.

    ``sample_rate`` is what the publisher captures at (8000 for a telephony bridge); the SDK
    resamples to Opus' 48 kHz as it would for product code.
    """

    def __init__(self, frequency: float, sample_rate: int = SAMPLE_RATE) -> None:
        self.frequency = frequency
        self.sample_rate = sample_rate
        self.source = rtc.AudioSource(sample_rate, 1)
        self.track = rtc.LocalAudioTrack.create_audio_track(f"tone-{frequency:g}", self.source)
        self._task: asyncio.Task[None] | None = None

    async def _play(self) -> None:
        count = self.sample_rate * FRAME_MS // 1000
        start = 0
        while True:
            samples = sine(self.frequency, start, count, self.sample_rate)
            start += count
            await self.source.capture_frame(
                rtc.AudioFrame(samples.tobytes(), self.sample_rate, 1, count)
            )

    async def publish(self, room: rtc.Room) -> rtc.LocalTrackPublication:
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        publication = await room.local_participant.publish_track(self.track, options)
        self._task = asyncio.create_task(self._play())
        return publication

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.source.aclose()


async def record(track: rtc.Track, seconds: float, skip_seconds: float = 0.5) -> np.ndarray:
    """Mono 48 kHz samples received on ``track``, after a settling period."""
    wanted = int(seconds * SAMPLE_RATE)
    skip = int(skip_seconds * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    have = 0
    stream = rtc.AudioStream(track, sample_rate=SAMPLE_RATE, num_channels=1)
    try:
        async for event in stream:
            chunk = np.frombuffer(event.frame.data, dtype=np.int16)
            if skip > 0:
                skip -= len(chunk)
                continue
            chunks.append(chunk)
            have += len(chunk)
            if have >= wanted:
                break
    finally:
        await stream.aclose()
    return np.concatenate(chunks)[:wanted]


def dominant_frequency(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    windowed = samples.astype(np.float64) * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(windowed))
    spectrum[0] = 0.0
    return float(np.argmax(spectrum) * sample_rate / len(samples))


def tone_to_noise_db(
    samples: np.ndarray, frequency: float, sample_rate: int = SAMPLE_RATE
) -> float:
    """Energy within ±20 Hz of ``frequency`` against everything else, in dB."""
    windowed = samples.astype(np.float64) * np.hanning(len(samples))
    power = np.abs(np.fft.rfft(windowed)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / sample_rate)
    band = np.abs(freqs - frequency) <= 20.0
    return float(10 * np.log10(power[band].sum() / max(power[~band].sum(), 1e-12)))
