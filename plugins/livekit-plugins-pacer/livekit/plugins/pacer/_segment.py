"""The audio of one segment waiting in the pacer, and what is needed to learn its hold."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ._stats import SegmentStats

if TYPE_CHECKING:
    from ._stretch import Stretcher

Pcm = npt.NDArray[np.int16]
_EMPTY: Pcm = np.zeros(0, dtype=np.int16)


class Segment:
    """Pushed audio cut into frames as it arrives, so sending a frame is one ``popleft``.

    Cutting at push time does the per-frame slicing in one vectorised pass while the chunk is
    hot in cache; the ticker, which touches every stream every 20 ms, then does almost nothing
    per stream. Frames are views of the pushed chunk (no copy) except one that straddles two
    chunks.

    Adaptive playout takes model audio in amounts that are not whole frames; after that the
    head frame is consumed from ``_offset`` on and whole frames are copied together from two.
    """

    __slots__ = (
        "_frames",
        "_offset",
        "_partial",
        "arrivals",
        "cover_samples",
        "covered_at",
        "earliest",
        "flushed_at",
        "frame_samples",
        "model_position",
        "plain",
        "queued",
        "stats",
        "stretcher",
        "target_samples",
    )

    def __init__(self, stats: SegmentStats) -> None:
        self.stats = stats
        self.frame_samples = stats.frame_samples
        self._frames: deque[Pcm] = deque()
        self._partial: Pcm | None = None
        self._offset = 0
        self.queued = 0
        self.arrivals: list[tuple[float, int]] = []
        self.flushed_at: float | None = None
        self.cover_samples: int | None = None
        """Start once this much is queued (the learned stall), if the rule says so."""
        self.covered_at: float | None = None
        self.earliest = stats.first_audio_at
        self.stretcher: Stretcher | None = None
        """Adaptive playout's time-scale modification (None: playout at 1.0× only)."""
        self.target_samples = 0
        """Adaptive playout slows down while less than this is ahead of the listener."""
        self.model_position = 0.0
        """Model samples that left the pacer, exactly (stretched frames stand for fractions)."""
        self.plain = True
        """The last frame was played at 1.0× from whole queued frames: the next may take the
        inline path if enough is queued."""

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
        if self._offset:
            return self.take(self.frame_samples)
        self.queued -= self.frame_samples
        return self._frames.popleft()

    def take(self, n: int) -> Pcm:
        """The next ``n`` queued samples, or all of them if fewer are queued."""
        parts: list[Pcm] = []
        want = min(n, self.queued)
        self.queued -= want
        while want and self._frames:
            head = self._frames[0]
            avail = len(head) - self._offset
            if avail <= want:
                parts.append(head[self._offset :])
                self._frames.popleft()
                self._offset = 0
                want -= avail
            else:
                parts.append(head[self._offset : self._offset + want])
                self._offset += want
                want = 0
        if want:
            assert self._partial is not None
            parts.append(self._partial[:want])
            self._partial = self._partial[want:] if want < len(self._partial) else None
        if not parts:
            return _EMPTY
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def take_rest(self) -> Pcm:
        """Everything queued, when less than a frame is left."""
        return self.take(self.queued)
