"""Adaptive playout and late-send accounting on a virtual clock.

Grid origin t=1000.000 s, 8 kHz, 20 ms frames (160 samples). Sonic's output is deterministic,
so totals are asserted exactly; per-frame amounts only where the design fixes them.
"""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest
from helpers import Leaf, RecordingSink, frame, ramp, voice
from livekit.plugins.pacer import (
    AdaptiveHold,
    PacedAudioOutput,
    PacedFrame,
    PacedStream,
    SegmentStats,
    Stretch,
)
from livekit.plugins.pacer.testing import Ticker, VirtualClock, run_for

T0 = 1000.0
F = 160
AT_ONCE = Stretch(start_cover=0.0)


def stream(sink: RecordingSink, ticker: Ticker, **kw: object) -> PacedStream:
    return PacedStream(sink, sample_rate=8000, ticker=ticker, **kw)  # type: ignore[arg-type]


def balanced(seg: SegmentStats) -> bool:
    """Every sent sample is the model's audio (stretched or not), silence or padding."""
    audio_out = seg.emitted_samples + seg.stretched_out_samples - seg.stretched_samples
    return seg.frames_out * F == audio_out + seg.underrun_samples + seg.padded_samples


async def test_starts_at_once_and_plays_a_thin_queue_slower(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, stretch=AT_ONCE, prebuffer_ms=0)
    await s.push(voice(800))  # 100 ms, and nothing learned yet: the target is 300 ms
    assert sink.times() == [T0]
    seg = s.current_segment
    assert seg is not None and seg.hold == 0.0 and seg.target_cover == 0.3
    clock.advance(0.2)
    slowed = [f for f in sink.frames if f.content]
    # 100 ms of the model's audio lasted 6 frames (at 0.9× it plays 111 ms), not 5
    assert [f.content for f in slowed] == [F] * 5 + [sum(f.content for f in slowed) - 5 * F]
    # 889 samples, give or take the pitch period Sonic works in (at most 8000 / 65)
    assert 800 / 0.9 - 8000 // 65 <= sum(f.content for f in slowed) <= 800 / 0.9 + 8000 // 65
    assert sum(f.model for f in slowed) == 800  # all of it, before any silence
    assert all(f.model < f.content for f in slowed[:5])
    assert seg.min_rate == 0.9 and seg.underruns == 1


async def test_every_model_sample_is_accounted_for_exactly(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, stretch=AT_ONCE, lead_ms=60)
    audio = voice(24000)
    cuts = [0, 600, 2600, 3000, 9000, 14000, 24000]
    gaps = [0.0, 0.12, 0.2, 0.05, 0.28, 0.1]
    for (a, b), gap in zip(itertools.pairwise(cuts), gaps, strict=True):
        clock.advance(gap)
        await s.push(audio[a:b])
    s.flush()
    clock.advance(5.0)
    seg = sink.ended[0]
    assert seg.emitted_samples == sink.model() == len(audio)
    assert seg.stretched_samples > 0 and balanced(seg)
    assert s.queued_samples == 0


async def test_rates_stay_in_bounds_and_the_time_lost_is_caught_up(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, stretch=Stretch(min_rate=0.9, max_rate=1.1, start_cover=0.0))
    audio = voice(12000)
    await s.push(audio[:1600])  # 200 ms: below the 300 ms target, so it plays slower ...
    clock.advance(0.1)
    await s.push(audio[1600:])  # ... until 1.3 s more arrives
    clock.advance(0.1)
    s.flush()  # all queued: catch up at 1.1×
    clock.advance(3.0)
    seg = sink.ended[0]
    assert (seg.min_rate, seg.max_rate) == (0.9, 1.1)
    played = sum(f.content for f in sink.frames)
    assert len(audio) / 1.1 <= played <= len(audio) / 0.9
    # slowing added time and the catch-up took it back, to within a frame
    assert abs(played - len(audio)) <= F
    assert seg.underruns == 0 and balanced(seg) and sink.model() == len(audio)


async def test_enough_queued_plays_at_one_bit_exact(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, stretch=AT_ONCE)
    audio = ramp(4000)  # 500 ms, more than the 300 ms target, flushed: nothing to absorb
    await s.push(audio)
    s.flush()
    clock.advance(1.0)
    np.testing.assert_array_equal(sink.content(), audio)
    seg = sink.ended[0]
    assert seg.stretched_samples == 0 and (seg.min_rate, seg.max_rate) == (1.0, 1.0)


async def test_a_true_underrun_plays_what_the_stretcher_held_then_counted_silence(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, stretch=AT_ONCE)
    await s.push(voice(800))
    clock.advance(0.5)  # the model stalls for half a second
    await s.push(voice(1600))
    s.flush()
    clock.advance(1.0)
    first_silent = next(i for i, f in enumerate(sink.frames) if not f.content)
    assert sum(f.model for f in sink.frames[:first_silent]) == 800
    seg = sink.ended[0]
    silent = sum(F - f.content for f in sink.frames[:-1])
    assert seg.underruns == 1 and seg.underrun_samples == silent
    assert seg.emitted_samples == 2400 and balanced(seg)


async def test_stretching_never_crosses_a_segment_end(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, stretch=AT_ONCE, prebuffer_ms=0)
    await s.push(voice(800))  # plays slower: only 100 ms are queued ...
    clock.advance(0.04)
    s.flush()  # ... until the reply ends: its tail plays out, at most caught up
    await s.push(voice(1200))  # the next reply, queued behind it and complete
    s.flush()
    clock.advance(1.0)
    first, second = sink.ended
    assert sink.model(0) == 800 and sink.model(1) == 1200
    assert first.min_rate == 0.9 and first.emitted_samples == 800
    assert second.stretched_samples == 0  # complete before it started: nothing to absorb
    assert [f.segment for f in sink.frames] == sorted(f.segment for f in sink.frames)
    assert [e[0] for e in sink.events] == ["start", "end", "start", "end"]


async def test_the_first_reply_starts_after_the_prebuffer_and_slows_toward_the_prior(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, stretch=Stretch(first_cover=0.2))
    await s.push(voice(800))  # nothing learned: the hold's 60 ms, as without stretching
    clock.advance(0.061)
    seg = s.current_segment
    assert seg is not None and seg.first_frame_at == pytest.approx(T0 + 0.06)
    assert seg.target_cover == 0.2 and seg.min_rate == 0.9


async def test_start_waits_for_a_share_of_the_learned_stall(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    hold = AdaptiveHold(max_hold=0.25)
    s = stream(sink, ticker, stretch=Stretch(start_cover=0.5), adaptive_hold=hold)
    await s.push(voice(400))  # reply 1: 50 ms, a 200 ms stall, the rest
    clock.advance(0.2)
    await s.push(voice(1600))
    s.flush()
    clock.advance(1.0)
    assert hold.learned_stall() == pytest.approx(0.2)
    t = ticker.slot_time(ticker.slot_at_or_after(clock.now()))
    clock.advance_to(t)
    await s.push(voice(640))  # 80 ms queued: less than half of 200 ms, so it waits ...
    clock.advance(0.05)
    second = s.current_segment
    assert second is not None and second.first_frame_at is None
    assert second.target_cover == pytest.approx(0.2) and second.cover == pytest.approx(0.1)
    await s.push(voice(160))  # ... until 100 ms are queued
    assert second.first_frame_at == pytest.approx(t + 0.05)
    assert second.hold == pytest.approx(0.05)


async def test_the_output_reports_model_time_through_stretched_frames(clock: VirtualClock) -> None:
    leaf = Leaf()
    out = PacedAudioOutput(leaf, ticker=Ticker(clock), stretch=AT_ONCE, prebuffer_ms=0)
    sent: list[PacedFrame] = []
    hand_over = out.on_frame

    def spy(f: PacedFrame) -> None:
        sent.append(f)
        hand_over(f)

    out.on_frame = spy  # type: ignore[method-assign,assignment]
    await out.capture_frame(frame(voice(800)))
    await run_for(clock, 0.1)
    assert len(leaf.frames) >= 3 and all(f.model_samples < F for f in sent[:3])
    leaf.played = 0.05  # the far end played two and a half slowed frames
    out.clear_buffer()
    ev = await asyncio.wait_for(out.wait_for_playout(), 1.0)
    expected = sent[0].model_samples + sent[1].model_samples + sent[2].model_samples * 80 // F
    assert ev.interrupted and ev.playback_position == expected / 8000
    assert ev.playback_position < 0.05

    out.flush()  # the session ends the cut segment; the next reply is a new one
    sent.clear()
    audio = voice(1200)
    await out.capture_frame(frame(audio[:400]))
    await run_for(clock, 0.1)
    await out.capture_frame(frame(audio[400:]))
    out.flush()
    await run_for(clock, 0.5)
    assert any(f.model_samples != f.content_samples for f in sent)
    leaf.finish()
    ev = await asyncio.wait_for(out.wait_for_playout(), 1.0)
    assert not ev.interrupted and ev.playback_position == 1200 / 8000
    await out.aclose()


async def test_a_late_send_beyond_what_the_sink_held_is_a_heard_gap(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, lead_ms=60)
    await s.push(ramp(8000))
    s.flush()  # starts at once: frames due .00-.06 go out now, then one 60 ms ahead per tick
    clock.advance(0.1)  # sent up to the frame due at .16: the sink plays until .18
    clock.lag = 0.1  # the tick due at .12 runs at .22: 40 ms after the sink ran dry
    clock.advance(0.12)
    clock.lag = 0.0
    clock.advance(1.0)
    seg = sink.ended[0]
    assert seg.late_ticks == 1
    assert seg.late_gaps == 1 and seg.late_gap_samples == 320 and seg.late_gap_ms == 40.0
    assert s.stats.late_gaps == 1 and s.stats.late_gap_ms == 40.0


async def test_lateness_the_lead_absorbs_is_no_gap(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, lead_ms=60)
    await s.push(ramp(8000))
    s.flush()
    clock.advance(0.1)
    clock.lag = 0.055  # the process stalls for longer than two frames, but the sink still
    clock.advance(0.1)  # held the 60 ms lead
    clock.lag = 0.0
    clock.advance(1.0)
    assert sink.ended[0].late_gaps == 0


async def test_a_late_gap_after_one_is_measured_from_the_shifted_playout(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)  # no lead: the sink holds only the frame it is playing
    await s.push(ramp(8000))
    s.flush()
    clock.advance(0.1)
    clock.lag = 0.03  # each tick 30 ms late: the first leaves a gap of (more likely) two
    clock.advance(0.3)  # whole frames, then the sink plays 40 ms behind the grid and the
    clock.lag = 0.0  # same lateness is absorbed
    clock.advance(1.0)
    seg = sink.ended[0]
    assert seg.late_gaps == 1 and seg.late_gap_ms == pytest.approx(40.0)


@pytest.mark.parametrize(
    ("lag_s", "gaps", "gap_ms"),
    [(0.0004, 0, 0.0), (0.0099, 0, 0.0), (0.0101, 1, 20.0), (0.029, 1, 20.0), (0.031, 1, 40.0)],
)
async def test_a_late_frame_is_a_gap_of_whole_frames_when_more_likely_heard_than_not(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink, lag_s: float, gaps: int, gap_ms: float
) -> None:
    """The sink plays whole 20 ms frames on a clock whose phase the sender cannot know: a
    frame late by less than half a frame more likely plays on time (scheduling jitter of a
    fraction of a millisecond is no gap), one late by more is heard as round(lateness / frame)
    frames of silence."""
    s = stream(sink, ticker)  # no lead: any lateness is lateness at the sink
    await s.push(ramp(8000))
    s.flush()
    clock.advance(0.1)
    clock.lag = lag_s  # the tick due at .12 runs lag_s late
    clock.advance(0.02 + lag_s)
    clock.lag = 0.0
    clock.advance(1.0)
    seg = sink.ended[0]
    assert seg.late_gaps == gaps and seg.late_gap_ms == pytest.approx(gap_ms)


async def test_replies_and_barge_in_start_the_sink_afresh(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    await s.push(ramp(1600))
    s.flush()
    clock.advance(1.0)  # played out; the next reply starts long after: no gap
    await s.push(ramp(1600))
    clock.advance(0.1)
    s.clear()
    clock.advance(0.5)  # a barge-in cleared the sink: the next reply is no gap either
    await s.push(ramp(1600))
    s.flush()
    clock.advance(1.0)
    assert s.stats.late_gaps == 0


@pytest.mark.parametrize(
    "kw",
    [
        {"min_rate": 0.4},
        {"min_rate": 1.2},
        {"max_rate": 0.9},
        {"max_rate": 2.5},
        {"start_cover": -0.1},
        {"start_cover": 1.5},
        {"first_cover": -1.0},
        {"ahead": 0.5},
    ],
)
def test_bad_stretch_settings(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Stretch(**kw)


async def test_a_sink_that_counts_for_itself_turns_the_streams_count_off(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, count_late_gaps=False)
    await s.push(ramp(8000))
    s.flush()
    clock.advance(0.1)
    clock.lag = 0.1
    clock.advance(0.12)
    clock.lag = 0.0
    clock.advance(1.0)
    assert sink.ended[0].late_ticks == 1 and sink.ended[0].late_gaps == 0
