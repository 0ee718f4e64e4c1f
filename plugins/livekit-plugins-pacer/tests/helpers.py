"""Shared test doubles for the pacer: a sink that records everything with virtual times."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from livekit.plugins.pacer import PacedFrame, SegmentStats
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
