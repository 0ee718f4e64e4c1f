"""The audio of one segment waiting in the pacer, and what is needed to learn its hold."""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from .stats import SegmentStats

Pcm = npt.NDArray[np.int16]


class Segment:
    """Pushed audio cut into frames as it arrives, so sending a frame is one ``popleft``.

    Cutting at push time does the per-frame slicing in one vectorised pass while the chunk is
    hot in cache; the ticker, which touches every stream every 20 ms, then does almost nothing
    per stream. Frames are views of the pushed chunk (no copy) except one that straddles two
    chunks.
    """

    __slots__ = (
        "_frames",
        "_partial",
        "arrivals",
        "cover_samples",
        "covered_at",
        "earliest",
        "flushed_at",
        "frame_samples",
        "queued",
        "stats",
    )

    def __init__(self, stats: SegmentStats) -> None:
        self.stats = stats
        self.frame_samples = stats.frame_samples
        self._frames: deque[Pcm] = deque()
        self._partial: Pcm | None = None
        self.queued = 0
        self.arrivals: list[tuple[float, int]] = []
        self.flushed_at: float | None = None
        self.cover_samples: int | None = None
        """Start once this much is queued (the learned stall), if the rule says so."""
        self.covered_at: float | None = None
        self.earliest = stats.first_audio_at

    @property
    def flushed(self) -> bool:
        return self.flushed_at is not None

    def append(self, pcm: Pcm, now: float) -> None:
        stats = self.stats
        self.arrivals.append((now, stats.pushed_samples))
        n = len(pcm)
        self.queued += n
        stats.pushed_samples += n
        if self._partial is not None:
            pcm = np.concatenate((self._partial, pcm))
        whole = len(pcm) // self.frame_samples
        cut = whole * self.frame_samples
        if whole:
            self._frames.extend(pcm[:cut].reshape(whole, self.frame_samples))
        self._partial = pcm[cut:] if cut < len(pcm) else None
        if (
            self.covered_at is None
            and self.cover_samples is not None
            and stats.pushed_samples >= self.cover_samples
        ):
            self.covered_at = now

    def start_time(self) -> float:
        """When the segment may start: its hold, its cover, or its flush, whichever is first."""
        start = self.stats.first_audio_at + self.stats.hold_limit
        if self.covered_at is not None:
            start = min(start, max(self.covered_at, self.earliest))
        if self.flushed_at is not None:
            start = min(start, self.flushed_at)
        return start

    def take_frame(self) -> Pcm:
        """The next whole frame (``queued >= frame_samples``)."""
        self.queued -= self.frame_samples
        return self._frames.popleft()

    def take_rest(self) -> Pcm:
        """Everything queued, when less than a frame is left."""
        rest = self._partial
        self._partial = None
        self.queued = 0
        return rest if rest is not None else np.zeros(0, dtype=np.int16)
