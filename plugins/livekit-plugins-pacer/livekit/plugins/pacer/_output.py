"""The pacer as a LiveKit Agents audio output decorator.

``session.output.audio = PacedAudioOutput(session.output.audio)`` puts the pacer in front of
whatever the session plays into: RoomIO's track in a room, or a telephony leaf. The session
sees the inner output's sample rate through this decorator, so it resamples the model's audio
once, to the rate the sink needs, before the pacer frames it.

Playback is reported from the inner output only — the pacer never claims audio it merely
queued — and the inner output's positions are mapped back past the silence the pacer inserted
and through any stretching, into the model's own time, so an interrupted reply is truncated
exactly where the listener stopped hearing it.

A leaf that is a :class:`DirectAudioOutput` gets its frames synchronously, inside the tick that
releases them; any other inner output gets them through ``capture_frame`` on a writer task.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from livekit import rtc
from livekit.agents.voice import io

from ._clock import Clock
from ._direct import DirectAudioOutput, count_segment, direct_leaf
from ._heard import SinkPlayout
from ._hold import AdaptiveHold
from ._source_sink import to_audio_frame
from ._stats import SegmentStats
from ._stream import PacedFrame, PacedStream
from ._stretch import Stretch
from ._ticker import Ticker
from ._timeline import Timeline
from ._writer import SinkWriter
from .log import logger

ROOM_LEAD_MS = 100
"""Lead used in front of RoomIO when ``lead_ms`` is left to choose.

RoomIO re-chunks into 50 ms frames and feeds an ``rtc.AudioSource`` that runs its own 10 ms
clock with a 200 ms queue. Strict one-frame-per-tick pacing in front of it leaves that queue
nearly empty, so the two clocks' jitter turns into inserted silence (measured); a lead of two
RoomIO frames keeps it fed. Barge-in is unaffected: RoomIO clears its queue on interruption.
"""


DEFAULT_STRETCH = Stretch()
"""Adaptive playout is the decorator's default: on LiveKit's real ``AudioSource`` path, with
a realtime-model-like producer, it inserted less silence than the start hold alone at a lower
median added first-audio delay in every run (e.g. 24 % of the bare source's silence at +15 ms
against 26 % at +113 ms; ``bench/pacer_gaps.py`` in trunkline, PESQ-WB of stretched replies
4.24)."""


def default_lead_ms(inner: io.AudioOutput | None) -> int:
    """The lead that suits the chain below: ``ROOM_LEAD_MS`` above RoomIO, else 0."""
    node = inner
    while node is not None:
        if node.label == "RoomIO":
            return ROOM_LEAD_MS
        node = node.next_in_chain
    return 0


@dataclass(eq=False)
class _Entry:
    """One upstream segment, from its first captured frame to its reported playback."""

    segment: SegmentStats | None = None
    timeline: Timeline | None = None
    handed: bool = False
    """Some of its frames reached the inner output, which will report its playback."""
    complete: bool = False
    """All of its frames reached the inner output, and then its end (a flush)."""
    cut: bool = False
    """A clear came before it was complete: audio of it that never reached the inner output
    was dropped, so it is reported as interrupted whatever the inner output says."""
    done: bool = False
    position: float = 0.0
    interrupted: bool = False
    transcript: str | None = None


class PacedAudioOutput(io.AudioOutput):
    """Paces the agent's audio into ``next_in_chain``.

    Args:
        next_in_chain: the output to decorate (``session.output.audio``).
        frame_ms, prebuffer_ms, adaptive_hold, max_buffer_ms, stretch, ticker: as
            :class:`PacedStream`.
        lead_ms: how far ahead of real time frames may go; None picks
            ``ROOM_LEAD_MS`` (100) above RoomIO, 0 otherwise.
        stretch: adaptive playout (``Stretch()``, the measured defaults); None keeps the start
            hold alone.
        on_segment: called with each segment's :class:`SegmentStats` when it ends.

    Frames must be mono PCM16. The session resamples to ``sample_rate`` (the inner output's
    rate) before capture; a frame at another rate is resampled here, and if the inner rate
    changes (a hot-swapped leaf) the pacer follows it at the next segment boundary.
    """

    ROOM_LEAD_MS: ClassVar[int] = ROOM_LEAD_MS
    """The lead it takes above RoomIO when ``lead_ms`` is left to choose (ms)."""

    def __init__(
        self,
        next_in_chain: io.AudioOutput,
        *,
        frame_ms: int = 20,
        prebuffer_ms: float = 60,
        lead_ms: int | None = None,
        adaptive_hold: bool | AdaptiveHold = True,
        max_buffer_ms: float = 5000,
        stretch: Stretch | None = DEFAULT_STRETCH,
        ticker: Ticker | None = None,
        on_segment: Callable[[SegmentStats], None] | None = None,
        label: str = "Pacer",
    ) -> None:
        super().__init__(
            label=label,
            capabilities=io.AudioOutputCapabilities(pause=True),
            next_in_chain=next_in_chain,
        )
        self._frame_ms = frame_ms
        self._prebuffer_ms = prebuffer_ms
        self._lead_ms = default_lead_ms(next_in_chain) if lead_ms is None else lead_ms
        self._hold = (
            adaptive_hold
            if isinstance(adaptive_hold, AdaptiveHold)
            else AdaptiveHold(initial=prebuffer_ms / 1000.0, adaptive=adaptive_hold)
        )
        self._max_buffer_ms = max_buffer_ms
        self._stretch = stretch
        self._ticker = ticker
        self._on_segment = on_segment
        self._stream: PacedStream | None = None
        self._clock: Clock | None = None
        self._playout: SinkPlayout | None = None
        self._pending_stats: deque[SegmentStats] = deque()
        self._writer: SinkWriter | None = None
        self._resampler: rtc.AudioResampler | None = None
        self._entries: deque[_Entry] = deque()
        self._capturing: _Entry | None = None
        self._by_segment: dict[int, _Entry] = {}
        self._inner_entry: _Entry | None = None
        """The entry whose frames the inner output's open segment holds (until its flush)."""
        self._paused = False

    @property
    def lead_ms(self) -> int:
        return self._lead_ms

    @property
    def stream(self) -> PacedStream | None:
        """The pacing stream (None until the first frame fixes the sample rate)."""
        return self._stream

    @property
    def sample_rate(self) -> int | None:
        if self._sample_rate is not None:
            return self._sample_rate
        return self.next_in_chain.sample_rate if self.next_in_chain else None

    # ---- upstream (the session) ----------------------------------------------------------

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        if frame.num_channels != 1:
            raise ValueError(f"PacedAudioOutput takes mono audio, got {frame.num_channels} ch")
        before = self.captured_playout_segments
        await super().capture_frame(frame)
        if self.captured_playout_segments != before:
            self._capturing = _Entry()
            self._entries.append(self._capturing)
        entry = self._capturing
        if entry is None:
            return  # the rest of a segment that clear_buffer() cut: it never plays
        stream = self._stream_for(frame.sample_rate, new_segment=entry.segment is None)
        for pcm in self._to_stream_rate(frame, stream.sample_rate):
            stats = stream.push_nowait(pcm)
            if stats is not None and entry.segment is None:
                self._bind(entry, stats)
        await stream.wait_for_space()

    def flush(self) -> None:
        super().flush()
        entry, self._capturing = self._capturing, None
        if entry is None:
            return
        if self._stream is not None:
            for pcm in self._drain_resampler():
                self._stream.push_nowait(pcm)
        if entry.segment is None:
            # only empty frames were captured: there is nothing to play
            self._resolve(entry, 0.0, interrupted=False)
            return
        assert self._stream is not None
        self._stream.flush()

    def clear_buffer(self) -> None:
        self._capturing = None
        self._resampler = None
        self._report_pending()
        if self._playout is not None:
            self._playout.reset()
        if self._stream is not None:
            self._stream.clear()
        # segments none of whose frames reached the inner output played nothing; one the inner
        # output holds is reported by it once the interrupt below reaches it, as interrupted if
        # the clear dropped any of it here (an inner output that plays frames as they come
        # reports the part it got as played in full)
        for entry in list(self._entries):
            if entry.done:
                continue
            if not entry.handed:
                self._resolve(entry, 0.0, interrupted=True)
            elif not entry.complete:
                entry.cut = True
        if self._writer is not None:
            self._writer.interrupt(self._interrupt_inner)
        else:
            self._interrupt_inner()

    def pause(self) -> None:
        super().pause()
        self._paused = True
        if self._playout is not None:
            self._playout.reset()
        if self._stream is not None:
            self._stream.pause()

    def resume(self) -> None:
        super().resume()
        self._paused = False
        if self._stream is not None:
            self._stream.resume()

    async def aclose(self) -> None:
        """Stop pacing: drop queued audio and stop the delivery task."""
        self._report_pending()
        if self._stream is not None:
            await self._stream.aclose()
        if self._writer is not None:
            await self._writer.aclose()

    # ---- playback reports from the inner output ------------------------------------------

    def on_playback_finished(
        self,
        *,
        playback_position: float,
        interrupted: bool,
        synchronized_transcript: str | None = None,
    ) -> None:
        entry = self._playing_entry()
        if entry is None:
            logger.warning("inner output reported a playback the pacer did not hand it")
            return
        assert entry.timeline is not None
        self._resolve(
            entry,
            entry.timeline.content_seconds(playback_position),
            interrupted=interrupted or entry.cut,
            transcript=synchronized_transcript,
        )

    def on_playback_progressed(self, *, started_at: float, offset: float, duration: float) -> None:
        entry = self._playing_entry()
        if entry is None or entry.timeline is None:
            return
        timeline = entry.timeline
        rate = timeline.sample_rate
        for run in timeline.runs_within(round(offset * rate), round(duration * rate)):
            super().on_playback_progressed(
                started_at=started_at + run.sent_start / rate,
                offset=run.content_start / rate,
                duration=run.content_length / rate,
            )

    def _playing_entry(self) -> _Entry | None:
        return next((e for e in self._entries if e.handed and not e.done), None)

    def _resolve(
        self, entry: _Entry, position: float, *, interrupted: bool, transcript: str | None = None
    ) -> None:
        entry.done = True
        entry.position = position
        entry.interrupted = interrupted
        entry.transcript = transcript
        while self._entries and self._entries[0].done:
            head = self._entries.popleft()
            if head.segment is not None:
                self._by_segment.pop(id(head.segment), None)
            super().on_playback_finished(
                playback_position=head.position,
                interrupted=head.interrupted,
                synchronized_transcript=head.transcript,
            )

    # ---- the paced side (called by the ticker) -------------------------------------------

    def on_segment_start(self, segment: SegmentStats) -> None:
        # with no hold left to wait, a segment starts inside the push that opened it
        entry = self._capturing
        if id(segment) not in self._by_segment and entry is not None and entry.segment is None:
            self._bind(entry, segment)

    def _bind(self, entry: _Entry, segment: SegmentStats) -> None:
        entry.segment = segment
        entry.timeline = Timeline(segment.sample_rate)
        self._by_segment[id(segment)] = entry

    def on_frame(self, frame: PacedFrame) -> None:
        entry = self._by_segment.get(id(frame.segment))
        if entry is None:
            return
        leaf = direct_leaf(self.next_in_chain)
        if leaf is not None:
            self._hand_over_direct(leaf, entry, frame)
            return

        async def hand_over() -> None:  # on the writer's task, off the ticker's hot path
            assert self.next_in_chain is not None
            self._handed(entry, frame)
            await self.next_in_chain.capture_frame(to_audio_frame(frame))

        self._writer_for_inner().submit(hand_over)

    def _hand_over_direct(self, leaf: DirectAudioOutput, entry: _Entry, frame: PacedFrame) -> None:
        """The frame goes to the leaf now, from the tick: it does not block (see
        :class:`DirectAudioOutput`), so no task sits between the deadline and the leaf."""
        opening = self._inner_entry is not entry
        self._handed(entry, frame)
        if opening:
            # what capture_frame would have counted on the way down: the swap proxy between
            # this output and the leaf (the leaf counts itself when its segment starts)
            node = self.next_in_chain
            while node is not None and node is not leaf:
                count_segment(node)
                node = node.next_in_chain
            leaf.on_segment_start(frame.segment)
        leaf.on_frame(frame)

    def _handed(self, entry: _Entry, frame: PacedFrame) -> None:
        """Bookkeeping for a frame reaching the inner output: where it sits in the segment's
        timeline, whether it came late for the sink's playout, whose segment the inner holds."""
        assert entry.timeline is not None
        entry.timeline.add_frame(len(frame.pcm), frame.content_samples, frame.model_samples)
        if self._playout is not None and self._clock is not None:
            self._playout.given(frame.segment, self._clock.now(), first=not entry.handed)
        entry.handed = True
        self._inner_entry = entry

    def _writer_for_inner(self) -> SinkWriter:
        if self._writer is None:
            self._writer = SinkWriter(name="pacer-audio-output")
        return self._writer

    def on_segment_end(self, segment: SegmentStats) -> None:
        if segment.interrupted:
            return  # clear_buffer() interrupts the inner output itself
        if self._writer is not None:
            self._writer.submit(self._end_inner_segment)  # after the frames queued before it
        else:
            self._end_inner_segment()  # every frame went to a direct leaf already

    def _on_stats(self, stats: SegmentStats) -> None:
        """Report a segment once its frames are handed over (a cut one at once)."""
        if self._on_segment is None:
            return
        if stats.interrupted or self._writer is None:
            self._report_pending()
            self._on_segment(stats)
            return
        self._pending_stats.append(stats)
        self._writer.submit(self._report_one)

    def _report_one(self) -> None:
        if self._pending_stats and self._on_segment is not None:
            self._on_segment(self._pending_stats.popleft())

    def _report_pending(self) -> None:
        """A barge-in drops queued hand-overs: report finished segments now, in order."""
        while self._pending_stats and self._on_segment is not None:
            self._on_segment(self._pending_stats.popleft())

    def _end_inner_segment(self) -> None:
        """The segment's last frame reached the inner output: end its segment there too."""
        if self._inner_entry is not None:
            self._inner_entry.complete = True
        self._flush_inner()

    def _flush_inner(self) -> None:
        if self._inner_entry is not None and self.next_in_chain is not None:
            self._inner_entry = None
            self.next_in_chain.flush()

    def _interrupt_inner(self) -> None:
        # the inner output counts a segment per flush, so its open one is closed first; one
        # that reports playback at flush (it played each frame as it came) has then reported
        # it, and a clear would only make it report the same segment again
        self._flush_inner()
        if self.next_in_chain is not None and self._playing_entry() is not None:
            self.next_in_chain.clear_buffer()

    # ---- sample rates --------------------------------------------------------------------

    def _stream_for(self, frame_rate: int, *, new_segment: bool) -> PacedStream:
        rate = self.sample_rate or frame_rate
        stream = self._stream
        if stream is not None and (stream.sample_rate == rate or not new_segment):
            return stream
        if stream is not None and (stream.queued_samples or stream.current_segment):
            return stream  # still playing the previous segment; resample into its rate
        if self._writer is None and direct_leaf(self.next_in_chain) is None:
            self._writer = SinkWriter(name="pacer-audio-output")
        self._stream = PacedStream(
            self,
            sample_rate=rate,
            frame_ms=self._frame_ms,
            prebuffer_ms=self._prebuffer_ms,
            lead_ms=self._lead_ms,
            adaptive_hold=self._hold,
            max_buffer_ms=self._max_buffer_ms,
            stretch=self._stretch,
            count_late_gaps=False,
            ticker=self._ticker,
            on_stats=self._on_stats,
        )
        self._clock = self._stream.clock
        self._playout = SinkPlayout(self._frame_ms / 1000.0, rate)
        if self._paused:
            self._stream.pause()
        return self._stream

    def _to_stream_rate(self, frame: rtc.AudioFrame, rate: int) -> list[np.ndarray]:
        pcm = np.frombuffer(frame.data, dtype=np.int16)
        if frame.sample_rate == rate:
            self._resampler = None
            return [pcm]
        if self._resampler is None:
            self._resampler = rtc.AudioResampler(
                input_rate=frame.sample_rate, output_rate=rate, num_channels=1
            )
        return [np.frombuffer(f.data, dtype=np.int16) for f in self._resampler.push(frame)]

    def _drain_resampler(self) -> list[np.ndarray]:
        resampler, self._resampler = self._resampler, None
        if resampler is None:
            return []
        return [np.frombuffer(f.data, dtype=np.int16) for f in resampler.flush()]
