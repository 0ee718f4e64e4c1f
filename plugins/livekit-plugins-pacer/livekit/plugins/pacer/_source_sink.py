"""Paced frames into an ``rtc.AudioSource`` (a room track, or a local loopback)."""

from __future__ import annotations

from livekit import rtc

from ._stats import SegmentStats
from ._stream import PacedFrame
from ._writer import SinkWriter


def to_audio_frame(frame: PacedFrame) -> rtc.AudioFrame:
    return rtc.AudioFrame(
        data=frame.pcm.tobytes(),
        sample_rate=frame.segment.sample_rate,
        num_channels=1,
        samples_per_channel=len(frame.pcm),
    )


class AudioSourceSink:
    """A :class:`PacedSink` that captures each frame into an ``rtc.AudioSource``.

    The source runs its own 10 ms clock and queue; give the pacer a lead (e.g. 40–100 ms,
    below the source's ``queue_size_ms``) so the two clocks do not fight — with no lead the
    source's queue runs empty between frames and any jitter becomes inserted silence. A cleared
    segment also clears the source's queue, so barge-in cuts what the source was holding too.
    """

    def __init__(self, source: rtc.AudioSource) -> None:
        self._source = source
        self._writer = SinkWriter(name="pacer-audio-source")

    def on_segment_start(self, segment: SegmentStats) -> None:
        pass

    def on_frame(self, frame: PacedFrame) -> None:
        self._writer.submit(lambda: self._source.capture_frame(to_audio_frame(frame)))

    def on_segment_end(self, segment: SegmentStats) -> None:
        if segment.interrupted:
            self._writer.interrupt(self._source.clear_queue)

    async def drain(self) -> None:
        """Until every frame sent so far is in the source's queue."""
        await self._writer.drain()

    async def aclose(self) -> None:
        await self._writer.aclose()
