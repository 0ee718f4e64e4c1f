"""The audio of one segment waiting in the pacer, and what is needed to learn its hold."""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from .stats import SegmentStats

Pcm = npt.NDArray[np.int16]


class Segment:
    """FIFO of pushed chunks, cut into frames without copying when a frame lies in one chunk."""

    __slots__ = (
        "_chunks",
        "_head",
        "arrivals",
        "cover_samples",
        "covered_at",
        "earliest",
        "flushed_at",
        "queued",
        "stats",
    )

    def __init__(self, stats: SegmentStats) -> None:
        self.stats = stats
        self._chunks: deque[Pcm] = deque()
        self._head = 0
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
        self.arrivals.append((now, self.stats.pushed_samples))
        self._chunks.append(pcm)
        self.queued += len(pcm)
        self.stats.pushed_samples += len(pcm)
        if (
            self.covered_at is None
            and self.cover_samples is not None
            and self.stats.pushed_samples >= self.cover_samples
        ):
            self.covered_at = now

    def start_time(self) -> float:
        """When the segment may start: its hold, its cover, or its flush, whichever is first."""
        start = self.stats.first_audio_at + self.stats.hold
        if self.covered_at is not None:
            start = min(start, max(self.covered_at, self.earliest))
        if self.flushed_at is not None:
            start = min(start, self.flushed_at)
        return start

    def take(self, n: int) -> Pcm:
        """Remove and return the next ``n`` samples (``n <= queued``)."""
        head = self._chunks[0]
        start = self._head
        end = start + n
        size = len(head)
        if end < size:
            self._head = end
            self.queued -= n
            return head[start:end]
        if end == size:
            self._chunks.popleft()
            self._head = 0
            self.queued -= n
            return head[start:end]
        parts: list[Pcm] = []
        need = n
        while need:
            head = self._chunks[0]
            avail = len(head) - self._head
            if avail <= need:
                parts.append(head[self._head :])
                self._chunks.popleft()
                self._head = 0
                need -= avail
            else:
                parts.append(head[self._head : self._head + need])
                self._head += need
                need = 0
        self.queued -= n
        return np.concatenate(parts)
