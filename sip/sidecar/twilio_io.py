"""The agent session's audio I/O bound to one Twilio media stream (local mode).

Output: a leaf :class:`io.AudioOutput` at 8 kHz. It sends each frame the pacer releases as
μ-law ``media`` followed by a ``mark`` naming the segment and the audio position after it.
Twilio echoes a mark once the audio before it has played, so the last echoed mark *is* the
caller's playback position — what the realtime model truncates its context to on barge-in —
measured, not guessed from wall-clock time. Marks Twilio echoes because of our ``clear`` are
not playback and are ignored.

Input: caller audio (8 kHz, gaps already filled) resampled once with soxr to the model's
24 kHz, so the plugin does not resample again with a lower-quality filter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.agents.voice import io

from sip import g711
from sip.sidecar.link import TwilioLink
from sip.twilio.protocol import SAMPLE_RATE
from trunkline.resample import StreamResampler

logger = logging.getLogger(__name__)

MODEL_RATE: Final = 24000
#: Caller audio held while the session is not reading (starting up): 10 s of 20 ms frames.
MAX_QUEUED_INPUT_FRAMES: Final = 500


class TwilioAudioOutput(io.AudioOutput):
    """Sends agent audio to Twilio; reports playback from echoed marks."""

    def __init__(self, link: TwilioLink) -> None:
        super().__init__(
            label="twilio",
            capabilities=io.AudioOutputCapabilities(pause=False),
            sample_rate=SAMPLE_RATE,
        )
        self.link = link
        self._segment = 0
        self._capturing = False
        self._sent_samples = 0
        self._played_samples = 0
        self._started = False
        self._open = False  # a segment awaits its playback_finished
        self._flushed = False
        self._muted = False
        link.add_mark_listener(self._on_mark)

    def mute(self) -> None:
        """Send nothing more (the call is ending: an apology follows on the same stream).

        Playback is still reported — as interrupted, with what was heard so far — so a session
        waiting for it does not wait for ever."""
        self._muted = True
        if self._open:
            self._finish(interrupted=True)

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if frame.sample_rate != SAMPLE_RATE or frame.num_channels != 1:
            raise ValueError(
                f"TwilioAudioOutput needs 8 kHz mono frames, got "
                f"{frame.sample_rate} Hz x{frame.num_channels}"
            )
        if not self._capturing:
            self._capturing = True
            self._segment += 1
            self._sent_samples = self._played_samples = 0
            self._started = self._flushed = False
            self._open = True
        if self._muted:
            return
        pcm = np.frombuffer(frame.data, dtype=np.int16)
        self.link.send_media(g711.encode(pcm))
        self._sent_samples += len(pcm)
        self.link.send_mark(f"{self._segment}:{self._sent_samples}")

    def flush(self) -> None:
        super().flush()
        if not self._capturing:
            return
        self._capturing = False
        self._flushed = True
        if self._muted:
            if self._open:
                self._finish(interrupted=True)
            return
        self.link.send_mark(f"{self._segment}:end")

    def clear_buffer(self) -> None:
        self._capturing = False
        if not self._open:
            return
        if not self._muted:
            self.link.send_clear()
        self._finish(interrupted=True)

    def _finish(self, *, interrupted: bool) -> None:
        self._open = False
        position = self._played_samples / SAMPLE_RATE
        self.on_playback_finished(playback_position=position, interrupted=interrupted)

    def _on_mark(self, name: str) -> None:
        segment, _, where = name.partition(":")
        if self._muted or not self._open or segment != str(self._segment):
            return  # an older segment's mark, or echoed by our clear
        if where == "end":
            if self._flushed:
                self._played_samples = self._sent_samples
                self._finish(interrupted=False)
            return
        try:
            played = int(where)
        except ValueError:
            logger.warning("call %s: unexpected mark %r", self.link.call_id, name)
            return
        if not self._started:
            self._started = True
            start = time.time() - played / SAMPLE_RATE
            self.on_playback_started(created_at=start)
        self._played_samples = max(self._played_samples, played)


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
