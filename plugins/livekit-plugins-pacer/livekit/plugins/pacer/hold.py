"""How long a segment waits after its first audio before its first frame goes out.

Realtime models stall mid-reply for up to a few hundred milliseconds, and once a segment is
playing a stall can only be bridged with inserted silence. A hold measured in *time* absorbs
stalls; one measured in bytes does nothing, because the first model chunk is nearly always
larger than any sensible byte threshold. The right hold depends on the producer, so it is
learned: after each segment we compute the hold that would have avoided all of its underruns,
and the next segment uses a high percentile of the recent ones, capped so a pathological
producer cannot make every reply start late.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence


def needed_hold(
    arrivals: Sequence[tuple[float, int]],
    *,
    total_samples: int,
    flushed_at: float | None,
    frame_samples: int,
    sample_rate: int,
) -> float:
    """The smallest hold after the first arrival that gives a full frame at every deadline.

    ``arrivals`` are ``(time, samples already pushed before this chunk)`` per push. Frame ``j``
    is due ``j`` frames after the start and needs the chunk that holds its first sample (and
    every later chunk that completes it, which arrive later still, so the first is the binding
    one for its own frame index); a trailing partial frame needs the flush instead.
    """
    if not arrivals:
        return 0.0
    first = arrivals[0][0]
    frame = frame_samples / sample_rate
    worst = 0.0
    for at, before in arrivals:
        worst = max(worst, at - first - (before // frame_samples) * frame)
    if flushed_at is not None and total_samples % frame_samples:
        worst = max(worst, flushed_at - first - (total_samples // frame_samples) * frame)
    return worst


class AdaptiveHold:
    """Chooses each segment's hold from the needs of recent segments.

    Args:
        initial: hold for the first segment (nothing learned yet), seconds.
        percentile: which quantile of the recent needs to cover (nearest-rank).
        window: how many recent segments to learn from.
        max_hold: cap, seconds.
        min_hold: floor, seconds.
        adaptive: False keeps ``initial`` for every segment.
    """

    def __init__(
        self,
        *,
        initial: float = 0.06,
        percentile: float = 0.9,
        window: int = 16,
        max_hold: float = 0.25,
        min_hold: float = 0.0,
        adaptive: bool = True,
    ) -> None:
        if not 0.0 < percentile <= 1.0:
            raise ValueError("percentile must be in (0, 1]")
        if window < 1:
            raise ValueError("window must be at least 1")
        if not 0.0 <= min_hold <= max_hold:
            raise ValueError("need 0 <= min_hold <= max_hold")
        if initial < 0:
            raise ValueError("initial hold must be >= 0")
        self._initial = initial
        self._percentile = percentile
        self._max = max_hold
        self._min = min_hold
        self._adaptive = adaptive
        self._needs: deque[float] = deque(maxlen=window)

    @property
    def adaptive(self) -> bool:
        return self._adaptive

    @property
    def needs(self) -> list[float]:
        """The recent needed holds it is learning from, oldest first."""
        return list(self._needs)

    def current(self) -> float:
        """The hold for the next segment, seconds."""
        if not self._adaptive or not self._needs:
            return self._initial
        ranked = sorted(self._needs)
        pick = ranked[max(0, math.ceil(self._percentile * len(ranked)) - 1)]
        return min(self._max, max(self._min, pick))

    def observe(self, needed: float) -> None:
        """Learn from a segment that finished normally."""
        self._needs.append(max(0.0, needed))
