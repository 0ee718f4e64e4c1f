"""Where pushed audio sits inside what the sink was given.

A sink reports playback in its own terms: how much of what it received has played. What it
received also holds silence the pacer inserted on underruns and the padding of the last frame,
and those must not count as heard speech — the realtime model truncates its context to the
reported position. Adaptive playout also stretches audio, so a second of what the sink played
may stand for 0.9 or 1.1 s of the model's. A timeline maps a position in the sink's stream
back to the model's own samples.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Run:
    """``content_length`` model samples from ``content_start`` on, played as ``sent_length``
    samples placed at ``sent_start`` (equal lengths unless stretched)."""

    sent_start: int
    content_start: int
    sent_length: int
    content_length: int

    def content_at(self, sent_offset: int) -> int:
        """Model samples heard ``sent_offset`` samples into the run (rounded down: never
        claims a model sample whose playout has not finished)."""
        if self.sent_length == self.content_length:
            return sent_offset
        return sent_offset * self.content_length // self.sent_length


class Timeline:
    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.runs: list[Run] = []
        self.sent = 0
        self.content = 0

    def add_frame(self, frame_samples: int, content_samples: int, model_samples: int) -> None:
        """Record a frame whose first ``content_samples`` are pushed audio standing for
        ``model_samples`` of the model's."""
        if content_samples:
            last = self.runs[-1] if self.runs else None
            if (
                last is not None
                and last.sent_start + last.sent_length == self.sent
                and last.sent_length == last.content_length
                and content_samples == model_samples
            ):
                last.sent_length += content_samples
                last.content_length += model_samples
            else:
                self.runs.append(Run(self.sent, self.content, content_samples, model_samples))
        self.content += model_samples
        self.sent += frame_samples

    def content_before(self, sent_position: int) -> int:
        """Model samples among the first ``sent_position`` samples given to the sink."""
        total = 0
        for run in self.runs:
            if run.sent_start >= sent_position:
                break
            total += run.content_at(min(run.sent_length, sent_position - run.sent_start))
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
            end = min(hi, run.sent_start + run.sent_length)
            if end > start:
                first = run.content_at(start - run.sent_start)
                last = run.content_at(end - run.sent_start)
                out.append(Run(start - lo, run.content_start + first, end - start, last - first))
        return out
