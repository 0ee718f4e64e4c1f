"""What the pacer did, per segment and per stream, in units a listener would notice.

Underruns (silence the pacer inserted because the producer was late) and late gaps (the sink
ran dry because this process sent late) are what a caller hears as gaps; the hold and
first-frame latency are what the pacer adds to response time; stretched audio is what adaptive
playout played slower or faster than the model made it. Times are monotonic seconds from the
pacer's clock (``time.monotonic()`` in production) so a latency waterfall can line them up
with its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SegmentStats:
    """One segment: the audio between a first push and ``flush()`` / ``clear()``."""

    index: int
    sample_rate: int
    frame_samples: int
    first_audio_at: float
    """When the segment's first audio was pushed."""
    hold: float = 0.0
    """The start hold it got: seconds from its first audio to the start the pacer chose
    (before grid alignment and lateness; see ``first_frame_latency`` for both). Until it
    starts, the longest it may wait."""
    hold_limit: float = 0.0
    """The longest it could have waited to start."""
    cover: float | None = None
    """It could start sooner, once this much audio (seconds) was queued: the learned stall
    (adaptive playout: ``Stretch.start_cover`` of its target)."""
    target_cover: float | None = None
    """Adaptive playout: it played slower while less than this (seconds) was ahead."""
    first_frame_at: float | None = None
    """When its first frame left the pacer (None if it never started)."""
    ended_at: float | None = None
    pushed_samples: int = 0
    emitted_samples: int = 0
    """Pushed samples that left the pacer (silence and padding not counted), in the model's
    own samples however fast they were played."""
    frames_out: int = 0
    padded_samples: int = 0
    underruns: int = 0
    """Runs of consecutive starved frames (one stall is one underrun however long)."""
    underrun_samples: int = 0
    """Silence the pacer inserted because the producer was late."""
    late_ticks: int = 0
    """Wake-ups a whole frame or more after the deadline (this process was busy)."""
    max_lateness: float = 0.0
    late_gaps: int = 0
    """Frames sent after the sink had played everything before them: a gap the listener
    heard because this process was late by more than the sink held (lead included)."""
    late_gap_samples: int = 0
    """How long the sink ran dry, in total, over those gaps."""
    stretched_samples: int = 0
    """Model samples adaptive playout played at a rate other than 1.0×."""
    stretched_out_samples: int = 0
    """What they became at the sink (more than ``stretched_samples`` when slowed)."""
    min_rate: float = 1.0
    """The slowest rate it was played at (1.0: never slowed)."""
    max_rate: float = 1.0
    """The fastest rate it was played at (1.0: never hurried)."""
    queue_high_water_samples: int = 0
    flushed: bool = False
    interrupted: bool = False
    needed_hold: float | None = None
    """The hold that would have avoided every underrun, known once the segment has ended."""
    longest_stall: float | None = None
    """The longest wait between two of its chunks, known once the segment has ended."""

    @property
    def first_frame_latency(self) -> float | None:
        """Time from first audio in to first frame out (hold + grid alignment + lateness)."""
        if self.first_frame_at is None:
            return None
        return self.first_frame_at - self.first_audio_at

    @property
    def underrun_ms(self) -> float:
        return self.underrun_samples * 1000.0 / self.sample_rate

    @property
    def queue_high_water_ms(self) -> float:
        return self.queue_high_water_samples * 1000.0 / self.sample_rate

    @property
    def emitted_duration(self) -> float:
        return self.emitted_samples / self.sample_rate

    @property
    def late_gap_ms(self) -> float:
        return self.late_gap_samples * 1000.0 / self.sample_rate

    @property
    def stretched_share(self) -> float:
        """Share of the segment's audio played stretched."""
        return self.stretched_samples / self.emitted_samples if self.emitted_samples else 0.0

    @property
    def stretch_ms(self) -> float:
        """Playout time stretching added (negative: saved) over the model's own duration."""
        return (self.stretched_out_samples - self.stretched_samples) * 1000.0 / self.sample_rate


@dataclass(slots=True)
class StreamStats:
    """Totals over a stream's life."""

    sample_rate: int
    segments: int = 0
    interrupted_segments: int = 0
    frames_out: int = 0
    emitted_samples: int = 0
    underruns: int = 0
    underrun_samples: int = 0
    late_ticks: int = 0
    max_lateness: float = 0.0
    late_gaps: int = 0
    late_gap_samples: int = 0
    stretched_samples: int = 0
    stretched_out_samples: int = 0
    queue_high_water_samples: int = 0
    holds: list[float] = field(default_factory=list)
    """Hold chosen for each segment, in order (bounded to the most recent 256)."""

    @property
    def underrun_ms(self) -> float:
        return self.underrun_samples * 1000.0 / self.sample_rate

    @property
    def late_gap_ms(self) -> float:
        return self.late_gap_samples * 1000.0 / self.sample_rate

    @property
    def queue_high_water_ms(self) -> float:
        return self.queue_high_water_samples * 1000.0 / self.sample_rate

    def add(self, seg: SegmentStats) -> None:
        """Fold a finished segment into the totals."""
        self.segments += 1
        self.interrupted_segments += int(seg.interrupted)
        self.frames_out += seg.frames_out
        self.emitted_samples += seg.emitted_samples
        self.underruns += seg.underruns
        self.underrun_samples += seg.underrun_samples
        self.late_ticks += seg.late_ticks
        self.max_lateness = max(self.max_lateness, seg.max_lateness)
        self.late_gaps += seg.late_gaps
        self.late_gap_samples += seg.late_gap_samples
        self.stretched_samples += seg.stretched_samples
        self.stretched_out_samples += seg.stretched_out_samples
        self.queue_high_water_samples = max(
            self.queue_high_water_samples, seg.queue_high_water_samples
        )
        self.holds.append(seg.hold)
        del self.holds[:-256]
