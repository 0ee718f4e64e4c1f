"""When a segment's first frame goes out, learned from how the producer stalled before.

Realtime models stall mid-reply for up to a few hundred milliseconds, and once a segment is
playing a stall can only be bridged with inserted silence. Waiting before the start absorbs
stalls; a fixed byte threshold does nothing, because the first model chunk is nearly always
larger than any sensible one. What to wait for depends on the producer, so it is learned from
recent segments, and the wait is capped so a pathological producer cannot make every reply
start late. The first segment, with nothing learned, waits ``initial`` (the prebuffer).

Two ways to learn, measured against each other in ``bench/pacer_gaps.py``:

- ``"delay"``: after each segment compute the start delay that would have avoided all of its
  underruns (:func:`needed_hold`); hold the next one for a high percentile of the recent ones.
  Simple, but a stall hurts only the segments whose first chunk was short, so the percentile
  makes *every* reply wait for the worst case it has seen.
- ``"cover"`` (default): learn the longest stall between chunks in recent segments; start as
  soon as the queued audio covers it (a reply that opens with a long chunk starts at once), and
  at the latest after ``max_hold``. It waits only when the reply opens short.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


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


def longest_stall(arrivals: Sequence[tuple[float, int]]) -> float:
    """The longest wait between two consecutive chunks of a segment."""
    return max((b[0] - a[0] for a, b in itertools.pairwise(arrivals)), default=0.0)


@dataclass(frozen=True, slots=True)
class StartRule:
    """A segment starts ``hold`` after its first audio, or as soon as ``cover`` seconds of it
    are queued (and no sooner than ``min_hold``), or at once when flushed."""

    hold: float
    cover: float | None = None
    min_hold: float = 0.0


Strategy = Literal["cover", "delay"]


class AdaptiveHold:
    """Chooses each segment's start rule from what recent segments needed.

    Args:
        initial: hold for the first segment (nothing learned yet), seconds.
        strategy: ``"cover"`` or ``"delay"`` (see the module docstring).
        percentile: which quantile of the recent needs to cover (nearest-rank).
        window: how many recent segments to learn from.
        max_hold: cap on any wait, seconds.
        min_hold: floor on any wait, seconds.
        adaptive: False keeps ``initial`` for every segment.
    """

    def __init__(
        self,
        *,
        initial: float = 0.06,
        strategy: Strategy = "cover",
        percentile: float = 0.9,
        window: int = 16,
        max_hold: float = 0.25,
        min_hold: float = 0.0,
        adaptive: bool = True,
    ) -> None:
        if strategy not in ("cover", "delay"):
            raise ValueError(f"unknown strategy {strategy!r}")
        if not 0.0 < percentile <= 1.0:
            raise ValueError("percentile must be in (0, 1]")
        if window < 1:
            raise ValueError("window must be at least 1")
        if not 0.0 <= min_hold <= max_hold:
            raise ValueError("need 0 <= min_hold <= max_hold")
        if initial < 0:
            raise ValueError("initial hold must be >= 0")
        self._initial = initial
        self._strategy = strategy
        self._percentile = percentile
        self._max = max_hold
        self._min = min_hold
        self._adaptive = adaptive
        self._needs: deque[float] = deque(maxlen=window)
        self._stalls: deque[float] = deque(maxlen=window)

    @property
    def adaptive(self) -> bool:
        return self._adaptive

    @property
    def strategy(self) -> Strategy:
        return self._strategy

    @property
    def max_hold(self) -> float:
        return self._max

    @property
    def min_hold(self) -> float:
        return self._min

    @property
    def needs(self) -> list[float]:
        """Recent needed holds, oldest first."""
        return list(self._needs)

    @property
    def stalls(self) -> list[float]:
        """Recent longest stalls, oldest first."""
        return list(self._stalls)

    def rule(self) -> StartRule:
        """The start rule for the next segment."""
        if not self._adaptive or not self._needs:
            return StartRule(hold=self._initial)
        if self._strategy == "delay":
            pick = self._pick(self._needs)
            return StartRule(hold=min(self._max, max(self._min, pick)))
        return StartRule(hold=self._max, cover=self._pick(self._stalls), min_hold=self._min)

    def learned_stall(self) -> float | None:
        """The stall to cover (its ``percentile`` of recent segments' longest), None before
        any segment finished; adaptive playout uses it as its target cover."""
        return self._pick(self._stalls) if self._stalls else None

    def observe(self, *, needed: float, stall: float) -> None:
        """Learn from a segment that finished normally."""
        self._needs.append(max(0.0, needed))
        self._stalls.append(max(0.0, stall))

    def _pick(self, values: deque[float]) -> float:
        ranked = sorted(values)
        return ranked[max(0, math.ceil(self._percentile * len(ranked)) - 1)]
