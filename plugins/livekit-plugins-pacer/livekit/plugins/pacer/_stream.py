"""The transport-agnostic pacer: bursty PCM in, one fixed-size frame per deadline out.

A producer pushes mono PCM16 of any chunk size, faster than real time and with stalls. The
stream cuts it into frames and hands each to a sink when its deadline comes, on the shared
ticker's drift-free grid. Segments (one model reply each) start after a hold measured in time,
end on ``flush()`` with the last partial frame padded, and are dropped at once by ``clear()``.

Deadlines are ``start + n·frame`` on the grid. A frame may go out up to ``lead`` before its
deadline, so a sink that buffers (Twilio, an rtc.AudioSource queue) never notices this
process's scheduling jitter; barge-in still cuts within ``lead`` plus one frame. When the
producer is late, a frame of silence goes out at the deadline (the sink stays continuous and
the underrun is counted) and the schedule carries on: the late audio follows at one frame per
deadline, never in a burst. When this *process* wakes late, the frames it owed go out at once
so the grid never drifts, up to ``CATCH_UP_LIMIT``; beyond that the grid re-anchors.

A frame sent after the sink has played everything before it reaches the listener as a gap
however it was caused, so the stream keeps a model of a sink that plays what it is given in
real time (:class:`.heard.SinkPlayout`) and counts such *late gaps* per segment, with their
length: the product's own count of what an independent listener hears.

With :class:`Stretch` (adaptive playout) a segment starts early and each frame's rate is
chosen when it is made: slower while little is ahead of the listener, faster while catching
up, 1.0× otherwise (see :mod:`.stretch`).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ._heard import SinkPlayout
from ._hold import AdaptiveHold, StartRule, longest_stall, needed_hold
from ._segment import Pcm, Segment
from ._stats import SegmentStats, StreamStats
from ._stretch import Stretch, Stretcher
from ._ticker import QUANTUM_MS, Ticker, shared_ticker

if TYPE_CHECKING:
    from ._clock import Clock

_EPS = 1e-9

CATCH_UP_LIMIT = 0.2
"""Longest stall of this process that is made good by sending the overdue frames at once.

A late wake-up is the process's fault, not the producer's: the frames it owed are sent as soon
as it runs again, so the schedule keeps its absolute grid and nothing drifts. A stall longer
than this is not caught up — a burst that large would overflow an rtc.AudioSource queue
(200 ms in LiveKit Agents) — and the grid re-anchors at the current slot instead.
"""


class PacerClosedError(RuntimeError):
    """Audio was pushed into a stream that has been closed."""


@dataclass(slots=True)
class PacedFrame:
    """One frame leaving the pacer."""

    pcm: Pcm
    """Exactly ``frame_samples`` mono PCM16 samples; read-only, may view pushed audio."""
    content_samples: int
    """How many leading samples are pushed audio; the rest is inserted silence or padding."""
    model_samples: int
    """How many of the model's samples those stand for (differs only when stretched)."""
    deadline: float
    """Monotonic time this frame is due to start playing."""
    segment: SegmentStats


class PacedSink(Protocol):
    """Where paced frames go. Called synchronously from the ticker, so it must not block:
    hand the frame to a socket buffer, a queue or a task (see ``AsyncSinkWriter``)."""

    def on_segment_start(self, segment: SegmentStats) -> None:
        """The segment's first frame is about to be sent."""

    def on_frame(self, frame: PacedFrame) -> None: ...

    def on_segment_end(self, segment: SegmentStats) -> None:
        """The segment's last frame has been sent (or ``segment.interrupted``: it was
        cleared). Only segments that started are reported."""


def as_pcm(pcm: bytes | bytearray | memoryview | Pcm) -> Pcm:
    """Validate and adopt mono PCM16; the result is never mutated by the caller afterwards."""
    if isinstance(pcm, np.ndarray):
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"expected 1-D int16 PCM, got {pcm.dtype} with shape {pcm.shape}")
        return pcm.copy()
    raw = bytes(pcm) if not isinstance(pcm, bytes) else pcm
    if len(raw) % 2:
        raise ValueError(f"PCM16 needs an even number of bytes, got {len(raw)}")
    return np.frombuffer(raw, dtype=np.int16)


class PacedStream:
    """Paces one outbound audio stream.

    Args:
        sink: receives segment starts, frames and segment ends.
        sample_rate: of both the pushed audio and the frames (a multiple of 100 Hz).
        frame_ms: frame length, a multiple of 10 ms (10 and 20 are usual).
        prebuffer_ms: hold of the first segment; later ones learn when to start if adaptive.
        lead_ms: how far ahead of its deadline a frame may go out (multiple of 10 ms).
        adaptive_hold: True (learn, waiting at most 250 ms), False (always ``prebuffer_ms``),
            or a configured :class:`AdaptiveHold`.
        max_buffer_ms: ``push`` waits while more than this is queued (backpressure).
        stretch: adaptive playout (None: every frame at 1.0×, start by the hold's rule). With
            it, segments start by ``Stretch.start_cover`` and the hold only learns stalls.
        count_late_gaps: count late gaps as frames leave the pacer; False when the sink
            counts them itself where it really hands them on (``PacedAudioOutput`` does).
        ticker: defaults to the running loop's shared ticker.
        on_stats: called with each segment's stats when it ends, cleared or not.
    """

    def __init__(
        self,
        sink: PacedSink,
        *,
        sample_rate: int,
        frame_ms: int = 20,
        prebuffer_ms: float = 60,
        lead_ms: int = 0,
        adaptive_hold: bool | AdaptiveHold = True,
        max_buffer_ms: float = 5000,
        stretch: Stretch | None = None,
        count_late_gaps: bool = True,
        ticker: Ticker | None = None,
        on_stats: Callable[[SegmentStats], None] | None = None,
    ) -> None:
        if sample_rate <= 0 or sample_rate % 100:
            raise ValueError(f"sample_rate must be a positive multiple of 100 Hz: {sample_rate}")
        if frame_ms <= 0 or frame_ms % QUANTUM_MS:
            raise ValueError(f"frame_ms must be a positive multiple of {QUANTUM_MS}: {frame_ms}")
        if lead_ms < 0 or lead_ms % QUANTUM_MS:
            raise ValueError(f"lead_ms must be a non-negative multiple of {QUANTUM_MS}: {lead_ms}")
        if prebuffer_ms < 0:
            raise ValueError("prebuffer_ms must be >= 0")
        if max_buffer_ms <= 0:
            raise ValueError("max_buffer_ms must be > 0")
        self._sink = sink
        self._on_stats = on_stats
        self.tick_slot: int | None = None
        self._ticker = ticker if ticker is not None else shared_ticker()
        self._clock = self._ticker.clock
        self._origin = self._ticker.slot_time(0)
        self._quantum = self._ticker.quantum
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.lead_ms = lead_ms
        self.frame_samples = sample_rate * frame_ms // 1000
        self._frame_s = frame_ms / 1000.0
        self._frame_slots = frame_ms // QUANTUM_MS
        self._lead_s = lead_ms / 1000.0
        self._lead_slots = lead_ms // QUANTUM_MS
        self._max_queued = round(max_buffer_ms * sample_rate / 1000)
        if isinstance(adaptive_hold, AdaptiveHold):
            self._hold = adaptive_hold
        else:
            self._hold = AdaptiveHold(initial=prebuffer_ms / 1000.0, adaptive=adaptive_hold)
        self._stretch = stretch
        self._catch_up = stretch is not None and stretch.max_rate > 1.0
        self._feed_min = max(1, self.frame_samples // 4)
        self._silence: Pcm = np.zeros(self.frame_samples, dtype=np.int16)
        self._silence.flags.writeable = False
        self._playout: SinkPlayout | None = (
            SinkPlayout(self._frame_s, sample_rate) if count_late_gaps else None
        )

        self._segments: deque[Segment] = deque()
        self._open: Segment | None = None
        self._next_index = 0
        self._playing = False
        self._starved = False
        self._awaiting_audio = False
        self._next_slot = 0
        self._resume_slot: int | None = None
        self._queued = 0
        self._paused = False
        self._closed = False
        self._generation = 0
        self._space = asyncio.Event()
        self._space.set()
        self._blocked = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.stats = StreamStats(sample_rate=sample_rate)
        self.history: deque[SegmentStats] = deque(maxlen=64)
        """Stats of the most recent finished segments, oldest first."""

    # ---- producer side -------------------------------------------------------------------

    @property
    def queued_samples(self) -> int:
        return self._queued

    @property
    def hold(self) -> AdaptiveHold:
        return self._hold

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def stretch(self) -> Stretch | None:
        return self._stretch

    @property
    def current_segment(self) -> SegmentStats | None:
        """The segment playing or holding now."""
        return self._segments[0].stats if self._segments else None

    async def push(self, pcm: bytes | bytearray | memoryview | Pcm) -> None:
        """Queue audio for the open segment (opening one if needed); waits while more than
        ``max_buffer_ms`` is queued. A ``clear()`` drops it and releases the wait."""
        self.push_nowait(pcm)
        await self.wait_for_space()

    async def wait_for_space(self) -> None:
        """Until no more than ``max_buffer_ms`` is queued, or a ``clear()`` emptied the queue."""
        generation = self._generation
        while self._queued > self._max_queued and generation == self._generation:
            self._blocked = True
            self._space.clear()
            await self._space.wait()
        if self._closed:
            raise PacerClosedError("PacedStream closed while push was waiting")

    def push_nowait(self, pcm: bytes | bytearray | memoryview | Pcm) -> SegmentStats | None:
        """Queue audio without backpressure; returns the segment it joined (None if empty)."""
        if self._closed:
            raise PacerClosedError("push on a closed PacedStream")
        samples = as_pcm(pcm)
        seg = self._open
        if not len(samples):
            return seg.stats if seg is not None else None
        now = self._clock.now()
        if seg is None:
            seg = self._open_segment(now)
        seg.append(samples, now)
        self._queued += len(samples)
        if self._queued > seg.stats.queue_high_water_samples:
            seg.stats.queue_high_water_samples = self._queued
        if seg is self._segments[0]:
            if self._playing:
                if self._awaiting_audio:
                    self._run(now)
            elif seg.covered_at == now or not self._ticker.is_booked(self):
                self._run(now)
        return seg.stats

    def flush(self) -> None:
        """End the open segment: it plays out with its last partial frame padded, and starts
        at once if it was still holding."""
        seg = self._open
        if seg is None:
            return
        self._open = None
        seg.flushed_at = self._clock.now()
        seg.stats.flushed = True
        if seg is self._segments[0]:
            self._run(seg.flushed_at)

    def clear(self) -> SegmentStats | None:
        """Drop everything queued at once (barge-in).

        Returns the stats of the segment that was playing or holding, whose
        ``emitted_samples`` is the exact position, in samples, of what left the pacer; None if
        nothing was queued. Every dropped segment that had started is reported to the sink as
        interrupted.
        """
        now = self._clock.now()
        cut = self._segments[0].stats if self._segments else None
        was_playing = self._playing
        for i, seg in enumerate(self._segments):
            seg.stats.interrupted = True
            seg.stats.ended_at = now
            if i == 0 and was_playing:
                self._sink.on_segment_end(seg.stats)
            self._finish(seg.stats)
        self._segments.clear()
        self._open = None
        self._queued = 0
        if self._playout is not None:
            self._playout.reset()  # the sink is cleared too: nothing it plays is late
        self._reset_playhead()
        self._resume_slot = None
        self._ticker.cancel(self)
        self._generation += 1
        self._blocked = False
        self._space.set()
        self._idle.set()
        return cut

    def pause(self) -> None:
        """Stop sending frames, keeping the queue; no underruns are counted while paused."""
        self._paused = True
        if self._playout is not None:
            self._playout.reset()  # the sink drains while paused; resuming is no gap
        self._ticker.cancel(self)

    def resume(self) -> None:
        """Carry on from where ``pause`` stopped, on a fresh anchor."""
        if not self._paused:
            return
        self._paused = False
        now = self._clock.now()
        if self._playing:
            self._next_slot = self._ticker.slot_at_or_after(now)
        self._run(now)

    async def wait_idle(self) -> None:
        """Until every queued segment has been flushed and sent (or cleared)."""
        while self._segments:
            self._idle.clear()
            await self._idle.wait()

    async def aclose(self) -> None:
        """Drop queued audio and refuse further pushes; waiting pushes raise."""
        if self._closed:
            return
        self._closed = True
        self.clear()

    # ---- ticker side ---------------------------------------------------------------------

    def _run(self, now: float) -> None:
        nxt = self.on_tick(now)
        if nxt is None:
            self._ticker.cancel(self)
        else:
            self._ticker.book(self, nxt)

    def _open_segment(self, now: float) -> Segment:
        stretch = self._stretch
        target: float | None = None
        if stretch is None:
            rule = self._hold.rule()
        else:
            learned = self._hold.learned_stall()
            if learned is None:
                # nothing learned: start as the hold would (after ``prebuffer_ms``), and slow
                # while less than the prior cover is ahead
                target = stretch.first_cover
                rule = self._hold.rule()
            else:
                target = learned
                rule = StartRule(
                    hold=self._hold.max_hold,
                    cover=stretch.start_cover * target,
                    min_hold=self._hold.min_hold,
                )
        stats = SegmentStats(
            index=self._next_index,
            sample_rate=self.sample_rate,
            frame_samples=self.frame_samples,
            first_audio_at=now,
            hold=rule.hold,
            hold_limit=rule.hold,
            cover=rule.cover,
            target_cover=target,
        )
        self._next_index += 1
        seg = Segment(stats)
        if target is not None:
            seg.stretcher = Stretcher(self.sample_rate)
            seg.target_samples = round(target * self.sample_rate)
        if rule.cover is not None:
            seg.cover_samples = round(rule.cover * self.sample_rate)
            seg.earliest = now + rule.min_hold
        self._segments.append(seg)
        self._open = seg
        self._idle.clear()
        return seg

    def _reset_playhead(self) -> None:
        self._playing = False
        self._starved = False
        self._awaiting_audio = False

    def on_tick(self, now: float) -> int | None:
        """Send whatever is due at ``now``; return the slot to wake at next (None: nothing to
        do until the producer acts). The ticker calls this; so do push, flush and resume.

        The steady state — playing at 1.0×, a whole frame queued that is not the segment's
        last (and, with adaptive playout, enough beyond it that no slowing is due), exactly one
        frame due, on time — is served inline: it is what runs for every stream every frame,
        and the general path below costs about twice as much per frame.
        """
        seg = self._segments[0] if self._playing and not self._paused else None
        if (
            seg is not None
            and seg.plain
            and (seg.queued > self.frame_samples or seg.flushed_at is None)
            and seg.queued >= self.frame_samples + seg.target_samples
            and not self._blocked
        ):
            slot = self._next_slot
            deadline = self._origin + slot * self._quantum
            lateness = now - deadline
            horizon = now + self._lead_s + _EPS
            nxt = slot + self._frame_slots
            stats = seg.stats
            if (
                deadline <= horizon < self._origin + nxt * self._quantum
                and lateness < self._frame_s - _EPS
                and stats.frames_out
            ):
                if lateness > stats.max_lateness:
                    stats.max_lateness = lateness
                self._next_slot = nxt
                self._queued -= self.frame_samples
                self._starved = False
                if self._playout is not None:
                    self._playout.given(stats, now, first=False)
                stats.frames_out += 1
                stats.emitted_samples += self.frame_samples
                seg.model_position += self.frame_samples
                self._sink.on_frame(
                    PacedFrame(
                        seg.take_frame(), self.frame_samples, self.frame_samples, deadline, stats
                    )
                )
                return nxt - self._lead_slots
        return self._service(now)

    def _service(self, now: float) -> int | None:
        """The general path: holds, starts, ends, underruns, lead refills and catch-up."""
        if self._paused or self._closed:
            return None
        ticker = self._ticker
        while self._segments:
            seg = self._segments[0]
            if not self._playing:
                start = seg.start_time()
                hold_slot = ticker.slot_at_or_after(start)
                if ticker.slot_time(hold_slot) > now + _EPS:
                    return hold_slot
                seg.stats.hold = start - seg.stats.first_audio_at
                first = hold_slot
                if self._resume_slot is not None:
                    first = max(first, self._resume_slot)
                self._next_slot = first
                self._playing = True
            generation = self._generation
            wake = self._emit_due(seg, now)
            if generation != self._generation:
                return None  # the sink cleared the stream from a callback
            if wake is not None:
                return wake
            self._end_segment(seg, now)
        return None

    def _emit_due(self, seg: Segment, now: float) -> int | None:
        """Send the head segment's due frames. Returns the wake slot, or None when the segment
        has been sent completely."""
        stats = seg.stats
        frame_samples = self.frame_samples
        origin, quantum = self._origin, self._quantum
        self._awaiting_audio = False
        slot = self._next_slot
        lateness = now - (origin + slot * quantum)
        if lateness > 0.0 and stats.frames_out:
            if lateness > stats.max_lateness:
                stats.max_lateness = lateness
            if lateness >= self._frame_s - _EPS:
                stats.late_ticks += 1
                if lateness > CATCH_UP_LIMIT:
                    slot = self._ticker.slot_at_or_before(now)
        elif lateness >= self._frame_s - _EPS:
            slot = self._ticker.slot_at_or_before(now)  # a start long after its slot
        horizon = now + self._lead_s + _EPS
        generation = self._generation
        sink = self._sink
        silence = self._silence
        step = self._frame_slots
        stretcher = seg.stretcher
        while True:
            queued = seg.queued
            flushed = seg.flushed_at is not None
            held = stretcher is not None and (stretcher.active or stretcher.buffered > 0)
            if not queued and flushed and not held:
                self._next_slot = slot
                return None
            deadline = origin + slot * quantum
            if deadline > horizon:
                self._next_slot = slot
                return slot - self._lead_slots
            rate = 1.0
            if stretcher is not None:
                rate = self._choose_rate(seg, stretcher, deadline, now, flushed)
                held = held or rate != 1.0
            if held:
                assert stretcher is not None
                made = self._stretched(seg, stretcher, rate, due=deadline <= now + _EPS)
                if made is None:
                    self._awaiting_audio = True  # ahead of time: wait for audio until due
                    self._next_slot = slot
                    return slot
                pcm, content, model = made
                if content < frame_samples:
                    pcm = np.concatenate([pcm, silence[content:]])
                    self._short_frame(seg, frame_samples - content, flushed and not seg.queued)
                if model != content:
                    stats.stretched_samples += model
                    stats.stretched_out_samples += content
                seg.plain = False
            elif queued >= frame_samples:
                pcm = seg.take_frame()
                content = model = frame_samples
                self._queued -= content
                self._starved = False
                seg.model_position += content
                # time lost to slowing is caught up on the general path
                seg.plain = (
                    not self._catch_up or stats.stretched_out_samples <= stats.stretched_samples
                )
            elif flushed:
                pcm = np.concatenate([seg.take_rest(), silence[queued:]])
                content = model = queued
                self._queued -= content
                seg.model_position += content
                stats.padded_samples += frame_samples - queued
            elif deadline > now + _EPS:
                # ahead of time and short of a frame: wait for audio until the frame is due
                self._awaiting_audio = True
                self._next_slot = slot
                return slot
            else:
                # due and short of a frame: the producer is late
                pcm = np.concatenate([seg.take_rest(), silence[queued:]]) if queued else silence
                content = model = queued
                self._queued -= content
                seg.model_position += content
                self._short_frame(seg, frame_samples - queued, False)
            if self._playout is not None:
                self._playout.given(stats, now, first=not stats.frames_out)
            stats.frames_out += 1
            stats.emitted_samples += model
            slot += step
            self._next_slot = slot
            if self._blocked and self._queued <= self._max_queued:
                self._blocked = False
                self._space.set()
            if stats.first_frame_at is None:
                stats.first_frame_at = now
                sink.on_segment_start(stats)
            sink.on_frame(PacedFrame(pcm, content, model, deadline, stats))
            if generation != self._generation:
                return None
            held = stretcher is not None and (stretcher.active or stretcher.buffered > 0)
            if origin + slot * quantum > horizon and (seg.queued or held or seg.flushed_at is None):
                return slot - self._lead_slots  # the usual case: one frame, nothing more due

    def _short_frame(self, seg: Segment, missing: int, last: bool) -> None:
        """A frame with ``missing`` samples of silence: the padding of the segment's last frame,
        or an underrun (the producer is late)."""
        stats = seg.stats
        if last:
            stats.padded_samples += missing
            return
        if not self._starved:
            stats.underruns += 1
            self._starved = True
        stats.underrun_samples += missing

    def _choose_rate(
        self, seg: Segment, stretcher: Stretcher, deadline: float, now: float, flushed: bool
    ) -> float:
        """Slow while less than the target is ahead of the listener; catch up the time lost
        once well ahead (or once everything is queued); 1.0× otherwise. An episode that has
        begun carries on past the threshold that started it (``Stretch.hysteresis``)."""
        stretch = self._stretch
        assert stretch is not None
        stats = seg.stats
        # audio ahead of the listener, less a frame: a frame goes out only once all of its
        # audio is there, so the last partial frame's worth covers nothing yet
        ahead = (
            max(0.0, deadline - now) * self.sample_rate
            + seg.queued
            + stretcher.pending_model
            - self.frame_samples
        )
        target = seg.target_samples
        current = stretcher.rate if stretcher.active else 1.0
        if not flushed and (
            ahead < target or (current < 1.0 and ahead < (1.0 + stretch.hysteresis) * target)
        ):
            return stretch.min_rate
        lost = stats.stretched_out_samples - stats.stretched_samples
        if lost > 0 and (flushed or current != 1.0 or ahead >= stretch.ahead * target):
            return stretch.max_rate
        return 1.0

    def _stretched(
        self, seg: Segment, stretcher: Stretcher, rate: float, *, due: bool
    ) -> tuple[Pcm, int, int] | None:
        """One frame's audio through the stretcher: ``(pcm, content, model)`` with ``content``
        output samples standing for ``model`` model samples; None to wait for more audio.

        At 1.0× the episode ends (Sonic is flushed) and queued audio follows its output
        unstretched. An episode also ends when the queue runs dry — the segment's end, or an
        underrun — so what Sonic holds plays before any padding or inserted silence.
        """
        frame_samples = self.frame_samples
        stats = seg.stats
        if rate != 1.0:
            stats.min_rate = min(stats.min_rate, rate)
            stats.max_rate = max(stats.max_rate, rate)
            while stretcher.buffered < frame_samples and seg.queued:
                want = math.ceil((frame_samples - stretcher.buffered) * rate)
                pcm = seg.take(max(self._feed_min, want))
                self._queued -= len(pcm)
                stretcher.feed(pcm, rate)
        else:
            stretcher.finish()
        if stretcher.buffered < frame_samples and not stretcher.active and seg.queued:
            pcm = seg.take(frame_samples - stretcher.buffered)
            self._queued -= len(pcm)
            stretcher.pass_through(pcm)
        if stretcher.buffered < frame_samples:
            if not seg.flushed and not due:
                return None
            stretcher.finish()
        pcm, model_f = stretcher.take(frame_samples)
        before = seg.model_position
        seg.model_position = before + model_f
        last = seg.flushed and not seg.queued and not stretcher.buffered and not stretcher.active
        if last:
            model = stats.pushed_samples - stats.emitted_samples
        else:
            model = max(0, round(seg.model_position) - round(before))
        if len(pcm) == frame_samples:
            self._starved = False
        return pcm, len(pcm), model

    def _end_segment(self, seg: Segment, now: float) -> None:
        stats = seg.stats
        stats.ended_at = now
        stats.needed_hold = needed_hold(
            seg.arrivals,
            total_samples=stats.pushed_samples,
            flushed_at=seg.flushed_at,
            frame_samples=self.frame_samples,
            sample_rate=self.sample_rate,
        )
        stats.longest_stall = longest_stall(seg.arrivals)
        self._hold.observe(needed=stats.needed_hold, stall=stats.longest_stall)
        self._segments.popleft()
        self._resume_slot = self._next_slot
        self._reset_playhead()
        if stats.first_frame_at is not None:
            self._sink.on_segment_end(stats)
        self._finish(stats)
        if not self._segments:
            self._idle.set()

    def _finish(self, stats: SegmentStats) -> None:
        self.stats.add(stats)
        self.history.append(stats)
        if self._on_stats is not None:
            self._on_stats(stats)
