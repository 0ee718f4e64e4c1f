"""Where pushed audio sits inside what the sink was given.

A sink reports playback in its own terms: how much of what it received has played. What it
received also holds silence the pacer inserted on underruns and the padding of the last frame,
and those must not count as heard speech — the realtime model truncates its context to the
reported position. A timeline maps a position in the sink's stream back to pushed audio.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Run:
    """``length`` pushed samples starting at ``content_start``, placed at ``sent_start``."""

    sent_start: int
    content_start: int
    length: int


class Timeline:
    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.runs: list[Run] = []
        self.sent = 0
        self.content = 0

    def add_frame(self, frame_samples: int, content_samples: int) -> None:
        """Record a frame whose first ``content_samples`` are pushed audio."""
        if content_samples:
            last = self.runs[-1] if self.runs else None
            if last is not None and last.sent_start + last.length == self.sent:
                last.length += content_samples
            else:
                self.runs.append(Run(self.sent, self.content, content_samples))
            self.content += content_samples
        self.sent += frame_samples

    def content_before(self, sent_position: int) -> int:
        """Pushed samples among the first ``sent_position`` samples given to the sink."""
        total = 0
        for run in self.runs:
            if run.sent_start >= sent_position:
                break
            total += min(run.length, sent_position - run.sent_start)
        return total

    def content_seconds(self, sent_seconds: float) -> float:
        return self.content_before(round(sent_seconds * self.sample_rate)) / self.sample_rate

    def runs_within(self, sent_offset: int, sent_length: int) -> list[Run]:
        """The pushed audio inside a stretch of the sink's stream, one run per contiguous
        piece (``sent_start`` relative to ``sent_offset``)."""
        lo, hi = sent_offset, sent_offset + sent_length
        out: list[Run] = []
        for run in self.runs:
            start = max(lo, run.sent_start)
            end = min(hi, run.sent_start + run.length)
            if end > start:
                out.append(Run(start - lo, run.content_start + start - run.sent_start, end - start))
        return out
