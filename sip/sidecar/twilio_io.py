"""The agent session's audio input from one Twilio media stream (local mode).

(Its output is :class:`sip.sidecar.twilio_sink.TwilioSink`, shared with bridge mode.)

Caller audio (8 kHz, gaps already filled) resampled once with soxr to the model's
24 kHz, so the plugin does not resample again with a lower-quality filter.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.agents.voice import io

from sip.twilio.protocol import SAMPLE_RATE
from trunkline.resample import StreamResampler

logger = logging.getLogger(__name__)

MODEL_RATE: Final = 24000
#: Caller audio held while the session is not reading (starting up): 10 s of 20 ms frames.
MAX_QUEUED_INPUT_FRAMES: Final = 500


class TwilioAudioInput(io.AudioInput):
    """Caller audio for the agent session, resampled to the model's rate."""

    def __init__(self, call_id: str, rate: int = MODEL_RATE) -> None:
        super().__init__(label="twilio")
        self.call_id = call_id
        self.rate = rate
        self.dropped_frames = 0
        self._resampler = StreamResampler(SAMPLE_RATE, rate)
        self._queue: asyncio.Queue[rtc.AudioFrame | None] = asyncio.Queue()
        self._closed = False

    def push(self, pcm: npt.NDArray[np.int16]) -> None:
        if self._closed:
            return
        out = self._resampler.push(pcm)
        if not len(out):
            return
        if self._queue.qsize() >= MAX_QUEUED_INPUT_FRAMES:
            self._queue.get_nowait()
            self.dropped_frames += 1
            if self.dropped_frames in (1, 100, 1000):
                logger.warning(
                    "call %s: agent is not reading caller audio; dropped %d frames",
                    self.call_id,
                    self.dropped_frames,
                )
        self._queue.put_nowait(
            rtc.AudioFrame(out.tobytes(), self.rate, num_channels=1, samples_per_channel=len(out))
        )

    def close(self) -> None:
        self._closed = True
        self._queue.put_nowait(None)

    async def __anext__(self) -> rtc.AudioFrame:
        frame = await self._queue.get()
        if frame is None:
            self._queue.put_nowait(None)  # stay ended for any later reader
            raise StopAsyncIteration
        return frame
