"""What a listener hears when frames reach a sink late: the sink's playout, modelled.

Telephony and WebRTC sinks play what they are given in order, whole frames on a clock of
their own (Twilio's media buffer, 20 ms at a time; an ``rtc.AudioSource`` queue, 10 ms at a
time), from the moment the first frame of a stretch arrives. A frame that arrives after
everything before it has played leaves the listener a gap of whole frames, and the playout runs
that much behind from then on, so later lateness is measured from the shifted playout, not from
the grid. Counting this where frames are handed over gives the product its own count of the
gaps an independent listener hears, whatever made the process late.

The one thing the sender cannot know is the phase of the sink's clock: a frame late by less
than that phase still plays on time. Uniform over a frame, the phase makes a lateness of ``d``
heard with probability ``d / frame``; each late frame is counted the way it is more likely
heard — as a gap of ``round(d / frame)`` frames, none below half a frame. Counting every
sub-millisecond of scheduling jitter as a gap, as a phase of zero would, counted gaps no
listener heard (measured against the Twilio-like caller, ``bench/sidecar_calls.py``).
"""

from __future__ import annotations

import math

from ._stats import SegmentStats


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
        elif now > end:
            frames = math.floor((now - end) / self._frame_s + 0.5)
            if frames:
                stats.late_gaps += 1
                stats.late_gap_samples += round(frames * self._frame_s * self._rate)
                end += frames * self._frame_s
        self._end = end + self._frame_s
