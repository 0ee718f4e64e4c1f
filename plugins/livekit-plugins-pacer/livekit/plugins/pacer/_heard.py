"""What a listener hears when frames reach a sink late: the sink's playout, modelled.

Telephony and WebRTC sinks play what they are given in order and in real time, from the moment
it arrives (Twilio's media buffer, an ``rtc.AudioSource`` queue). A frame that arrives after
everything before it has played leaves the listener a gap as long as it was late, and the
playout runs that much behind from then on, so later lateness is measured from the shifted
playout, not from the grid. Counting this where frames are handed over gives the product its
own count of the gaps an independent listener hears, whatever made the process late.
"""

from __future__ import annotations

from ._stats import SegmentStats

_EPS = 1e-9


class SinkPlayout:
    """Tracks when the sink will have played everything it was given."""

    __slots__ = ("_end", "_frame_s", "_rate")

    def __init__(self, frame_s: float, sample_rate: int) -> None:
        self._frame_s = frame_s
        self._rate = sample_rate
        self._end: float | None = None

    def reset(self) -> None:
        """The sink was cleared or paused: whatever comes next is no gap."""
        self._end = None

    def given(self, stats: SegmentStats, now: float, *, first: bool) -> None:
        """A frame of ``stats``'s segment reached the sink at ``now``; ``first``: the segment's
        first, which starts after quiet and is no gap."""
        end = self._end
        if end is None or (first and now > end):
            end = now
        elif now > end + _EPS:
            stats.late_gaps += 1
            stats.late_gap_samples += round((now - end) * self._rate)
            end = now
        self._end = end + self._frame_s
