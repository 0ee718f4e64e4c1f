"""The caller's audio into the room: one microphone track fed from Twilio's 20 ms frames.

The track's ``AudioSource`` runs at 8 kHz, the rate the caller's audio really has; the SDK
upsamples it once for Opus, and the agent resamples for its model — nothing is gained by a
third rate here. (The contract allows 8 kHz or 48 kHz; this is the documented choice.)

An ``AudioSource`` plays its queue on its own 10 ms clock and inserts silence whenever the queue
runs dry. Twilio's frames cross the internet, so they arrive with jitter: after every late
frame the queue holds a little more, and that lag never drains by itself because frames arrive
exactly as fast as they play. Left alone, each hiccup would add to the delay before the agent
hears the caller, for the rest of the call. So while the queue is above ``target_lag_ms`` the
feeder drops *quiet* frames (pauses, line noise), which returns it to the target without losing
speech, and above ``max_lag_ms`` it drops whatever comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from livekit import rtc

from sip.twilio.protocol import SAMPLE_RATE

logger = logging.getLogger(__name__)

TRACK_NAME = "twilio-caller"


@dataclass(frozen=True)
class InboundSettings:
    target_lag_ms: float = 60.0
    max_lag_ms: float = 200.0
    quiet_dbfs: float = -45.0
    """RMS below which a frame is a pause or line noise, droppable while the source lags."""
    max_backlog_ms: int = 2000
    """Caller audio held while the track is not yet published (joining the room)."""


def rms_dbfs(pcm: npt.NDArray[np.int16]) -> float:
    if not len(pcm):
        return -np.inf
    rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
    return 20 * float(np.log10(rms / 32768)) if rms > 0 else -np.inf


def keep_frame(lag_s: float, pcm: npt.NDArray[np.int16], settings: InboundSettings) -> bool:
    """Whether a frame goes into a source that already holds ``lag_s`` of audio."""
    if lag_s * 1000 <= settings.target_lag_ms:
        return True
    if lag_s * 1000 > settings.max_lag_ms:
        return False
    return rms_dbfs(pcm) >= settings.quiet_dbfs


class CallerAudio:
    def __init__(self, call_id: str, settings: InboundSettings | None = None) -> None:
        self.call_id = call_id
        self.settings = settings or InboundSettings()
        frame_samples = SAMPLE_RATE // 50
        self._backlog: deque[npt.NDArray[np.int16]] = deque(
            maxlen=max(1, self.settings.max_backlog_ms * SAMPLE_RATE // 1000 // frame_samples)
        )
        self._wake = asyncio.Event()
        self._source: rtc.AudioSource | None = None
        self._task: asyncio.Task[None] | None = None
        self.received_samples = 0
        self.dropped_samples = 0
        """Dropped to keep the lag bounded, or because the backlog overflowed before publishing."""

    def push(self, pcm: npt.NDArray[np.int16]) -> None:
        self.received_samples += len(pcm)
        if len(self._backlog) == self._backlog.maxlen:
            self.dropped_samples += len(self._backlog[0])
        self._backlog.append(pcm)
        self._wake.set()

    async def publish(self, room: rtc.Room) -> rtc.LocalTrackPublication:
        """Publish the caller's track and start feeding it (backlog first)."""
        queue_ms = int(self.settings.max_lag_ms) + 100  # capture never waits below max lag
        self._source = rtc.AudioSource(SAMPLE_RATE, 1, queue_size_ms=queue_ms)
        track = rtc.LocalAudioTrack.create_audio_track(TRACK_NAME, self._source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        publication = await room.local_participant.publish_track(track, options)
        self._task = asyncio.create_task(
            self._feed(self._source), name=f"bridge-caller-audio-{self.call_id}"
        )
        return publication

    async def _feed(self, source: rtc.AudioSource) -> None:
        while True:
            while not self._backlog:
                self._wake.clear()
                await self._wake.wait()
            pcm = self._backlog.popleft()
            if not keep_frame(source.queued_duration, pcm, self.settings):
                self.dropped_samples += len(pcm)
                continue
            frame = rtc.AudioFrame(pcm.tobytes(), SAMPLE_RATE, 1, len(pcm))
            await source.capture_frame(frame)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._source is not None:
            await self._source.aclose()
        if self.dropped_samples:
            logger.info(
                "call %s: dropped %.0f ms of %.0f ms of caller audio to keep its delay bounded",
                self.call_id,
                self.dropped_samples * 1000 / SAMPLE_RATE,
                self.received_samples * 1000 / SAMPLE_RATE,
            )
