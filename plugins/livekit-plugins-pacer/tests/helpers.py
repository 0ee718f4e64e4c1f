"""Shared test doubles for the pacer: a sink that records everything with virtual times, and a
leaf output that reports playback like a real one."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.agents.voice import io
from livekit.plugins.pacer import DirectAudioOutput, PacedFrame, SegmentStats
from livekit.plugins.pacer.testing import Clock

Pcm = npt.NDArray[np.int16]


def voice(n: int, rate: int = 8000) -> Pcm:
    """A voiced, periodic signal (140 Hz and a harmonic): what time-scale modification is
    made for, so stretching it keeps it a clean tone."""
    t = np.arange(n) / rate
    wave = 6000 * np.sin(2 * np.pi * 140 * t) + 2000 * np.sin(2 * np.pi * 420 * t)
    pcm: Pcm = wave.astype(np.int16)
    return pcm


def ramp(n: int, start: int = 1) -> Pcm:
    """Distinct, never-zero samples, so lost, repeated or inserted audio is visible."""
    return ((np.arange(n, dtype=np.int64) + start) % 30000 + 1).astype(np.int16)


@dataclass
class Sent:
    at: float
    deadline: float
    content: int
    pcm: Pcm
    segment: int
    model: int


@dataclass
class RecordingSink:
    clock: Clock
    frames: list[Sent] = field(default_factory=list)
    events: list[tuple[str, float, int]] = field(default_factory=list)
    ended: list[SegmentStats] = field(default_factory=list)

    def on_segment_start(self, segment: SegmentStats) -> None:
        self.events.append(("start", self.clock.now(), segment.index))

    def on_frame(self, frame: PacedFrame) -> None:
        self.frames.append(
            Sent(
                self.clock.now(),
                frame.deadline,
                frame.content_samples,
                frame.pcm.copy(),
                frame.segment.index,
                frame.model_samples,
            )
        )

    def on_segment_end(self, segment: SegmentStats) -> None:
        self.events.append(("end", self.clock.now(), segment.index))
        self.ended.append(segment)

    def content(self, segment: int | None = None) -> Pcm:
        """The pushed audio that went out, silence and padding removed."""
        parts = [f.pcm[: f.content] for f in self.frames if segment in (None, f.segment)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def model(self, segment: int | None = None) -> int:
        """Model samples the frames sent stand for."""
        return sum(f.model for f in self.frames if segment in (None, f.segment))

    def times(self) -> list[float]:
        return [f.at for f in self.frames]


class Leaf(io.AudioOutput):
    """A leaf that reports like a real one: playback_started on its first frame,
    playback_finished when told (``finish``: the far end acknowledged the segment) or cleared
    (what it played so far)."""

    def __init__(self, sample_rate: int | None = 8000, label: str = "Leaf") -> None:
        super().__init__(
            label=label,
            capabilities=io.AudioOutputCapabilities(pause=True),
            sample_rate=sample_rate,
        )
        self.frames: list[rtc.AudioFrame] = []
        self.calls: list[str] = []
        self.received = 0.0
        self.played: float | None = None  # what a clear reports; None: all received
        self.open = False
        self.flushed = asyncio.Event()
        self.busy = asyncio.Event()  # set once ``busy_after`` frames have arrived
        self.busy_after = 10

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if not self.open:
            self.open = True
            self.on_playback_started(created_at=time.time())
        self.frames.append(frame)
        self.received += frame.duration
        if len(self.frames) >= self.busy_after:
            self.busy.set()

    def flush(self) -> None:
        super().flush()
        self.calls.append("flush")
        self.flushed.set()

    def clear_buffer(self) -> None:
        self.calls.append("clear")
        if self.received:
            played = self.received if self.played is None else self.played
            self._finish(played, interrupted=True)

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")

    def finish(self) -> None:
        """The far end acknowledged the whole segment (a Twilio mark, a drained source)."""
        self._finish(self.received, interrupted=False)

    def _finish(self, played: float, *, interrupted: bool) -> None:
        self.open = False
        self.received = 0.0
        self.on_playback_finished(playback_position=played, interrupted=interrupted)

    def pcm(self) -> np.ndarray:
        return np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in self.frames])


class DirectLeaf(DirectAudioOutput):
    """A leaf that takes paced frames from the tick, reporting like a telephony socket: one
    report per segment, when the far end acknowledged all of it after its flush (``finish``)
    or at a clear, with what the far end had played (``heard``, in samples, set by the test)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(
            label="Direct", capabilities=io.AudioOutputCapabilities(pause=False), sample_rate=8000
        )
        self.clock = clock
        self.frames: list[tuple[float, int]] = []
        """(time, samples) of each frame, as it arrived."""
        self.calls: list[str] = []
        self.sent = 0
        self.heard = 0
        self.pending = False
        self.reports: list[tuple[float, bool]] = []

    def on_segment_start(self, segment: SegmentStats) -> None:
        self.begin_segment()
        self.calls.append("start")
        self.pending = True
        self.sent = self.heard = 0

    def on_frame(self, frame: PacedFrame) -> None:
        self.frames.append((self.clock.now(), len(frame.pcm)))
        self.sent += len(frame.pcm)

    def on_segment_end(self, segment: SegmentStats) -> None:
        if segment.interrupted:
            io.AudioOutput.flush(self)
            self.clear_buffer()
        else:
            self.flush()

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        raise AssertionError("a direct leaf gets its frames from the tick")

    def flush(self) -> None:
        super().flush()
        self.calls.append("flush")

    def clear_buffer(self) -> None:
        self.calls.append("clear")
        if self.pending:
            self._report(interrupted=True)

    def finish(self) -> None:
        """The far end acknowledged the whole segment."""
        self.heard = self.sent
        self._report(interrupted=False)

    def _report(self, *, interrupted: bool) -> None:
        self.pending = False
        self.reports.append((self.heard / 8000, interrupted))
        self.on_playback_finished(playback_position=self.heard / 8000, interrupted=interrupted)


def frame(pcm: np.ndarray, rate: int = 8000) -> rtc.AudioFrame:
    return rtc.AudioFrame(pcm.tobytes(), rate, 1, len(pcm))
